// The Locate tab and the session: a finished trace and a finished dataset run
// are saved as trace records; when the session is opened again they are shown
// as saved (the same numbers, nothing recomputed) with their settings in the
// fields; the "Saved" combo boxes list them; the first save into a fresh
// autosave session keeps what is on screen; a session without traces clears
// the views; damaged or foreign records are skipped with a message.
#include <QtTest>

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QLabel>
#include <QLineEdit>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <cmath>

#include "app/gui/JobRunner.h"
#include "app/gui/MainWindow.h"
#include "app/gui/SessionController.h"
#include "app/gui/tabs/LocateDatasetView.h"
#include "app/gui/tabs/LocateTab.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"
#include "engine/session/SessionStore.h"
#include "engine/trace/CausalTrace.h"
#include "engine/trace/TraceDataset.h"
#include "engine/trace/TraceJson.h"
#include "tests/app/TinyFactFile.h"
#include "tests/app/AppTestSupport.h"
#include "tests/app/TinyModelFolder.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/TraceDatasetPlot.h"
#include "widgets/TraceHeatmap.h"
#include "widgets/TraceHeatmapPanel.h"

using namespace kme::app;
using kme::testing::loadModel;
using kme::testing::waitIdle;
using json = nlohmann::json;

namespace {
constexpr int kJobTimeoutMs = kme::testing::kAppJobTimeoutMs;  // generous: CI machines are slow and shared
const QString kPrompt = QStringLiteral("The Colosseum is located in the city of");
}  // namespace

class TestLocateSession final : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    QString modelDir_;
    QString factsPath_;
    std::shared_ptr<kme::Model> model_;

    static bool traceAndWait(LocateTab& tab) {
        QSignalSpy finished(&tab, &LocateTab::traceFinished);
        if (!tab.runTrace()) return false;
        if (!finished.wait(kJobTimeoutMs) && finished.isEmpty()) return false;
        return finished.first().first().toBool();
    }

    static bool datasetAndWait(LocateDatasetView& view) {
        QSignalSpy finished(&view, &LocateDatasetView::datasetFinished);
        if (!view.runDataset()) return false;
        if (!finished.wait(kJobTimeoutMs) && finished.isEmpty()) return false;
        return finished.first().first().toBool();
    }

    static bool openAndWait(SessionController& session, const QString& path) {
        QSignalSpy done(&session, &SessionController::sessionOpenFinished);
        if (!session.openSession(path)) return false;
        if (!done.wait(kJobTimeoutMs) && done.isEmpty()) return false;
        return done.first().first().toBool();
    }

    // Titles of the jobs started that trace ("Tracing …"): none when a session opens.
    static int tracingJobs(const QSignalSpy& started) {
        int n = 0;
        for (const auto& args : started) n += args.first().toString().startsWith(QStringLiteral("Tracing"));
        return n;
    }


    // The heatmaps show exactly `expected`'s scores, cell by cell.
    static void checkHeatmaps(const LocateTab& tab, const kme::TraceResult& expected) {
        QCOMPARE(tab.panel()->mapCount(), int(expected.kinds.size()));
        for (kme::TraceKind kind : expected.kinds) {
            const auto* map = tab.panel()->mapForKind(QString::fromStdString(kme::traceKindName(kind)));
            QVERIFY(map);
            const auto& rows = expected.scores.at(kind);
            QCOMPARE(map->rowLabels().size(), int(rows.size()));
            for (int t = 0; t < int(rows.size()); ++t)
                for (int l = 0; l < int(rows[t].size()); ++l) {
                    QVERIFY(!std::isnan(rows[t][l]));
                    QVERIFY2(map->cellValue(t, l) == rows[t][l],
                             qPrintable(QStringLiteral("%1 [%2][%3]: shown %4, saved %5")
                                            .arg(QString::fromStdString(kme::traceKindName(kind)))
                                            .arg(t)
                                            .arg(l)
                                            .arg(map->cellValue(t, l), 0, 'g', 17)
                                            .arg(rows[t][l], 0, 'g', 17)));
                }
        }
    }

    // The dataset plot shows exactly `expected`'s means and bands.
    static void checkPlot(const LocateDatasetView& view, const kme::TraceDatasetResult& expected) {
        const auto* plot = view.plot();
        QCOMPARE(plot->kindCount(), int(expected.kinds.size()));
        for (int k = 0; k < int(expected.kinds.size()); ++k) {
            const kme::TraceKind kind = expected.kinds[k];
            for (int b = 0; b < int(expected.buckets.size()); ++b)
                for (int l = 0; l < expected.nLayer; ++l) {
                    const double v = (plot->meanGraph(k, b)->data()->constBegin() + l)->value;
                    const double hi = (plot->bandUpperGraph(k, b)->data()->constBegin() + l)->value;
                    if (expected.count.at(kind)[b][l] == 0) {
                        QVERIFY(std::isnan(v));
                        continue;
                    }
                    QVERIFY2(v == expected.mean.at(kind)[b][l], qPrintable(QStringLiteral("kind %1 bucket %2 layer %3")
                                                                               .arg(k)
                                                                               .arg(b)
                                                                               .arg(l)));
                    QVERIFY(hi == expected.mean.at(kind)[b][l] + expected.ci95.at(kind)[b][l]);
                }
        }
    }

    // ROME's edit layer of a trace, computed here: the MLP row of the subject's last token peaks there.
    static int peakMlpLayer(const kme::TraceResult& r) {
        const auto& row = r.scores.at(kme::TraceKind::Mlp)[r.subjectEnd - 1];
        int best = 0;
        for (int l = 1; l < int(row.size()); ++l)
            if (row[l] > row[best]) best = l;
        return best;
    }

    static std::vector<kme::TraceRecord> traces(SessionController& session) {
        return session.store() ? session.store()->listTraces(true) : std::vector<kme::TraceRecord>{};
    }

    static json requestOf(const kme::TraceRecord& r) { return json::parse(r.requestJson); }

    kme::TraceParams promptParams(uint64_t seed) const {
        kme::TraceParams p;
        p.prompt = kPrompt.toStdString();
        p.subject = "Colosseum";
        p.samples = 2;
        p.seed = seed;
        return p;
    }

private Q_SLOTS:
    void initTestCase() {
        kme::testing::isolateSettings("test_locate_session");
        QVERIFY(tmp_.isValid());
        modelDir_ = tmp_.filePath(QStringLiteral("tiny-gpt2"));
        QVERIFY(QDir().mkpath(modelDir_));
        kme::testing::writeTinyModelFolder(modelDir_.toStdString());
        model_ = kme::Model::load(modelDir_.toStdString());
        factsPath_ = tmp_.filePath(QStringLiteral("facts.json"));
        QVERIFY(kme::testing::writeTinyFactFile(*model_, factsPath_.toStdString(), 3, 1).known >= 2);
    }

    void savedTracesComeBackWithTheSession() {
        const QString path = tmp_.filePath(QStringLiteral("locate.kmes"));
        kme::TraceResult first, second;  // as shown after the run
        kme::TraceDatasetResult run;
        {
            MainWindow w;
            QVERIFY(w.newSession(path));
            QVERIFY(loadModel(w, modelDir_));
            LocateTab* tab = w.locateTab();
            QCOMPARE(tab->savedTracesCombo()->count(), 0);
            QVERIFY(!tab->savedTracesCombo()->isEnabled());
            // Settings other than the defaults, to find them again.
            tab->setPrompt(kPrompt);
            tab->setSubject(QStringLiteral("Colosseum"));
            tab->answerEdit()->setText(QStringLiteral("Rome"));
            tab->noiseEdit()->setText(QStringLiteral("0.1"));
            tab->samplesSpin()->setValue(2);
            tab->windowSpin()->setValue(1);
            tab->seedSpin()->setValue(5);
            tab->kindCheck(QStringLiteral("attn"))->setChecked(false);
            QVERIFY(traceAndWait(*tab));
            first = *tab->lastResult();
            // Saved once (MainWindow's connection), as a single-prompt trace.
            auto saved = traces(*w.session());
            QCOMPARE(int(saved.size()), 1);
            QVERIFY(requestOf(saved[0]).at("type") == "prompt");
            QVERIFY(requestOf(saved[0]).contains("weights_hash"));
            QCOMPARE(kme::traceParamsFromJson(requestOf(saved[0])).seed, uint64_t(5));  // still a TraceParams
            QCOMPARE(tab->shownSavedTrace(), qint64(saved[0].id));
            QVERIFY2(tab->statusLabel()->text().startsWith(QStringLiteral("Done in")),
                     qPrintable(tab->statusLabel()->text()));

            tab->seedSpin()->setValue(6);
            QVERIFY(traceAndWait(*tab));
            second = *tab->lastResult();
            saved = traces(*w.session());
            QCOMPARE(int(saved.size()), 2);
            // The combo box lists both, newest first: "prompt — subject — HH:MM".
            QComboBox* combo = tab->savedTracesCombo();
            QCOMPARE(combo->count(), 2);
            QVERIFY(combo->isEnabled());
            QCOMPARE(combo->currentIndex(), 0);
            QCOMPARE(combo->itemData(0).toLongLong(), qint64(saved[1].id));
            QVERIFY2(QRegularExpression(QStringLiteral("^The Colosseum is located in the city of — Colosseum — "
                                                       "\\d\\d:\\d\\d$"))
                         .match(combo->itemText(0))
                         .hasMatch(),
                     qPrintable(combo->itemText(0)));

            LocateDatasetView* view = tab->datasetView();
            view->setFactFile(factsPath_);
            view->limitSpin()->setValue(0);
            view->samplesSpin()->setValue(2);
            QSignalSpy recorded(view, &LocateDatasetView::datasetRecorded);
            QVERIFY(datasetAndWait(*view));
            QCOMPARE(recorded.size(), 1);
            run = *view->lastResult();
            QVERIFY(run.traced >= 2);
            saved = traces(*w.session());
            QCOMPARE(int(saved.size()), 3);
            const json request = requestOf(saved[2]);
            QVERIFY(request.at("type") == "dataset");
            QCOMPARE(QString::fromStdString(request.at("facts").get<std::string>()), factsPath_);
            QCOMPARE(request.at("limit").get<int>(), 0);
            QCOMPARE(request.at("samples").get<int>(), 2);
            QVERIFY(!request.contains("prompt"));
            QCOMPARE(kme::traceDatasetResultFromJson(json::parse(saved[2].resultJson)).traced, run.traced);
            QCOMPARE(view->savedRunsCombo()->count(), 1);
            QCOMPARE(view->shownSavedRun(), qint64(saved[2].id));
            QVERIFY(view->savedRunsCombo()->itemText(0).startsWith(QStringLiteral("facts.json — all facts — ")));
            // Saving a dataset run left the single-prompt view alone.
            QCOMPARE(tab->shownSavedTrace(), qint64(saved[1].id));
            QVERIFY(!tab->panel()->isEmpty());
            w.close();
        }

        // A new window opens the session: the last trace and run, as saved.
        MainWindow w;
        LocateTab* tab = w.locateTab();
        QVERIFY(tab->panel()->isEmpty());
        QSignalSpy started(w.jobRunner(), &JobRunner::started);
        QVERIFY(openAndWait(*w.session(), path));
        QCOMPARE(tracingJobs(started), 0);  // nothing traced again
        const auto saved = traces(*w.session());
        QCOMPARE(int(saved.size()), 3);
        const kme::TraceResult stored = kme::traceResultFromJson(json::parse(saved[1].resultJson));
        checkHeatmaps(*tab, stored);
        if (QTest::currentTestFailed()) return;
        checkHeatmaps(*tab, second);  // and the trace as it was shown when it ran
        if (QTest::currentTestFailed()) return;
        QVERIFY(tab->lastResult());
        QCOMPARE(tab->shownSavedTrace(), qint64(saved[1].id));
        QCOMPARE(tab->prompt(), kPrompt);
        QCOMPARE(tab->subject(), QStringLiteral("Colosseum"));
        QCOMPARE(tab->answerEdit()->text(), QStringLiteral("Rome"));
        QCOMPARE(tab->noiseEdit()->text(), QStringLiteral("0.1"));
        QCOMPARE(tab->samplesSpin()->value(), 2);
        QCOMPARE(tab->windowSpin()->value(), 1);
        QCOMPARE(tab->seedSpin()->value(), 6);
        QVERIFY(tab->kindCheck(QStringLiteral("hidden"))->isChecked());
        QVERIFY(tab->kindCheck(QStringLiteral("mlp"))->isChecked());
        QVERIFY(!tab->kindCheck(QStringLiteral("attn"))->isChecked());
        QVERIFY2(tab->statusLabel()->text().startsWith(QStringLiteral("Saved trace of ")),
                 qPrintable(tab->statusLabel()->text()));
        QCOMPARE(tab->suggestedEditLayer(), peakMlpLayer(stored));
        QVERIFY(tab->statusLabel()->text().contains(
            QStringLiteral("peaks at layer %1").arg(peakMlpLayer(stored))));
        QVERIFY(tab->exportButton()->isEnabled());
        QCOMPARE(tab->savedTracesCombo()->count(), 2);
        QCOMPARE(tab->savedTracesCombo()->currentIndex(), 0);

        // Choosing the older trace in the combo box shows it.
        tab->savedTracesCombo()->setCurrentIndex(1);
        QCOMPARE(tab->shownSavedTrace(), qint64(saved[0].id));
        checkHeatmaps(*tab, first);
        if (QTest::currentTestFailed()) return;
        QCOMPARE(tab->seedSpin()->value(), 5);
        QCOMPARE(tracingJobs(started), 0);

        // The dataset view: the saved run's plot, caption and settings.
        LocateDatasetView* view = tab->datasetView();
        checkPlot(*view, kme::traceDatasetResultFromJson(json::parse(saved[2].resultJson)));
        if (QTest::currentTestFailed()) return;
        checkPlot(*view, run);
        if (QTest::currentTestFailed()) return;
        QCOMPARE(view->shownSavedRun(), qint64(saved[2].id));
        QCOMPARE(view->factFile(), factsPath_);
        QCOMPARE(view->limitSpin()->value(), 0);
        QCOMPARE(view->samplesSpin()->value(), 2);
        QVERIFY2(view->statusLabel()->text().startsWith(QStringLiteral("Saved run of ")),
                 qPrintable(view->statusLabel()->text()));
        const int peak = run.peakLayer(kme::TraceKind::Mlp, kme::kLastSubjectBucket);
        QCOMPARE(view->suggestedEditLayer(), peak);
        QVERIFY2(view->captionLabel()->text().contains(QStringLiteral("peaks at <b>layer %1</b>").arg(peak)),
                 qPrintable(view->captionLabel()->text()));
        QCOMPARE(view->savedRunsCombo()->count(), 1);
        QCOMPARE(view->savedRunsCombo()->currentIndex(), 0);
    }

    void firstSaveIntoAnAutosaveSessionKeepsTheViews() {
        JobRunner runner;
        SessionController session(&runner);
        LocateTab tab(&runner, &session);
        connect(&tab, &LocateTab::traceRecorded, &session, &SessionController::recordTrace);  // as MainWindow does
        tab.setModel(model_);
        QVERIFY(!session.hasSession());
        QSignalSpy changed(&session, &SessionController::sessionChanged);

        // The dataset run first: saving it creates the autosave session.
        LocateDatasetView* view = tab.datasetView();
        view->setFactFile(factsPath_);
        view->limitSpin()->setValue(0);
        view->samplesSpin()->setValue(2);
        QVERIFY(datasetAndWait(*view));
        QVERIFY(session.hasSession());
        QCOMPARE(changed.size(), 1);
        QVERIFY(view->lastResult());
        QVERIFY(!view->plot()->isEmpty());
        QVERIFY2(view->statusLabel()->text().startsWith(QStringLiteral("Done in")),
                 qPrintable(view->statusLabel()->text()));
        QCOMPARE(int(traces(session).size()), 1);
        QCOMPARE(view->savedRunsCombo()->count(), 1);
        const QString autosave = session.sessionPath();
        const kme::TraceDatasetResult run = *view->lastResult();

        // A trace into a fresh autosave session too.
        QVERIFY(session.newSession(tmp_.filePath(QStringLiteral("empty.kmes"))));
        QVERIFY(view->plot()->isEmpty());  // a session without dataset runs
        SessionController fresh(&runner);
        LocateTab second(&runner, &fresh);
        connect(&second, &LocateTab::traceRecorded, &fresh, &SessionController::recordTrace);
        second.setModel(model_);
        second.samplesSpin()->setValue(2);
        QVERIFY(traceAndWait(second));
        QVERIFY(fresh.hasSession());
        QVERIFY(second.lastResult());
        QVERIFY(!second.panel()->isEmpty());
        QVERIFY2(second.statusLabel()->text().startsWith(QStringLiteral("Done in")),
                 qPrintable(second.statusLabel()->text()));
        QCOMPARE(int(traces(fresh).size()), 1);
        QCOMPARE(second.savedTracesCombo()->count(), 1);
        QCOMPARE(second.shownSavedTrace(), qint64(traces(fresh)[0].id));

        // A session without traces clears both views.
        QVERIFY(fresh.newSession(tmp_.filePath(QStringLiteral("empty2.kmes"))));
        QVERIFY(second.panel()->isEmpty());
        QVERIFY(!second.lastResult());
        QVERIFY(second.statusLabel()->text().isEmpty());
        QCOMPARE(second.savedTracesCombo()->count(), 0);
        QCOMPARE(second.shownSavedTrace(), qint64(0));
        QVERIFY(second.datasetView()->plot()->isEmpty());

        // And the autosave session with the dataset run shows it again.
        QVERIFY(openAndWait(fresh, autosave));
        QVERIFY(!second.datasetView()->plot()->isEmpty());
        QVERIFY(second.panel()->isEmpty());  // it has no single-prompt trace
        QCOMPARE(second.datasetView()->savedRunsCombo()->count(), 1);
        checkPlot(*second.datasetView(), run);
    }

    void damagedRecordsAreSkipped() {
        const QString path = tmp_.filePath(QStringLiteral("damaged.kmes"));
        const kme::TraceResult good = kme::causalTrace(*model_, promptParams(3));
        kme::TraceDatasetParams dp;
        dp.trace.samples = 2;
        dp.trace.noise.factsPath = factsPath_.toStdString();
        const kme::TraceDatasetResult goodRun =
            kme::traceDataset(*model_, kme::loadDataset(factsPath_.toStdString()), dp);
        json request = kme::traceParamsToJson(promptParams(3));
        request["type"] = "prompt";
        json datasetRequest = {{"type", "dataset"}, {"facts", factsPath_.toStdString()}, {"limit", 0}, {"samples", 2}};
        // Another model's trace: three layers where the loaded model has two.
        kme::TraceResult wide = good;
        wide.nLayer = 3;
        for (auto& [kind, rows] : wide.scores)
            for (auto& row : rows) row.push_back(0.5);
        int64_t goodId = 0, goodRunId = 0;
        {
            kme::SessionStore store(path.toStdString());
            goodId = store.addTrace({0, "", request.dump(), kme::traceResultToJson(good).dump()});
            goodRunId = store.addTrace({0, "", datasetRequest.dump(), kme::traceDatasetResultToJson(goodRun).dump()});
            store.addTrace({0, "", request.dump(), R"({"tokens": "not a list"})"});
            store.addTrace({0, "", R"({"type": "prompt", "samples": "many"})", kme::traceResultToJson(good).dump()});
            store.addTrace({0, "", request.dump(), kme::traceResultToJson(wide).dump()});
            store.addTrace({0, "", datasetRequest.dump(), "{}"});
        }
        JobRunner runner;
        SessionController session(&runner);
        LocateTab tab(&runner, &session);
        tab.setModel(model_);
        QVERIFY(openAndWait(session, path));
        // The newest record that reads is shown; the newer ones are named.
        const QString status = tab.statusLabel()->text();
        QVERIFY2(status.startsWith(QStringLiteral("Saved trace of ")), qPrintable(status));
        QVERIFY2(status.contains(QStringLiteral("Skipped saved traces that cannot be shown: #5 (it has 3 layers, "
                                                "the loaded model 2); #4 (")),
                 qPrintable(status));
        QVERIFY2(status.contains(QStringLiteral("#3 (trace result JSON")), qPrintable(status));
        QCOMPARE(tab.shownSavedTrace(), qint64(goodId));
        checkHeatmaps(tab, good);
        if (QTest::currentTestFailed()) return;
        LocateDatasetView* view = tab.datasetView();
        QVERIFY2(view->statusLabel()->text().contains(QStringLiteral("Skipped saved dataset runs that cannot be "
                                                                     "shown: #6 (trace-dataset JSON")),
                 qPrintable(view->statusLabel()->text()));
        QCOMPARE(view->shownSavedRun(), qint64(goodRunId));
        checkPlot(*view, goodRun);
        if (QTest::currentTestFailed()) return;

        // Choosing a damaged one: a message, and the view stays as it was.
        QComboBox* combo = tab.savedTracesCombo();
        QCOMPARE(combo->count(), 4);
        QCOMPARE(combo->itemData(0).toLongLong(), qint64(5));
        QVERIFY(!tab.showSavedTrace(5));
        QVERIFY2(
            tab.statusLabel()->text().startsWith(QStringLiteral("Saved trace #5 cannot be shown: it has 3 layers")),
            qPrintable(tab.statusLabel()->text()));
        combo->setCurrentIndex(1);  // #4
        QVERIFY2(tab.statusLabel()->text().startsWith(QStringLiteral("Saved trace #4 cannot be shown")),
                 qPrintable(tab.statusLabel()->text()));
        QCOMPARE(combo->currentIndex(), combo->findData(qint64(goodId)));
        QCOMPARE(tab.shownSavedTrace(), qint64(goodId));
        checkHeatmaps(tab, good);
        if (QTest::currentTestFailed()) return;
        view->savedRunsCombo()->setCurrentIndex(0);  // #6
        QVERIFY2(view->statusLabel()->text().startsWith(QStringLiteral("Saved dataset run #6 cannot be shown")),
                 qPrintable(view->statusLabel()->text()));
        QCOMPARE(view->savedRunsCombo()->currentIndex(), 1);
        QCOMPARE(view->shownSavedRun(), qint64(goodRunId));

        // Only damaged records: empty views and the message.
        const QString bad = tmp_.filePath(QStringLiteral("only-damaged.kmes"));
        {
            kme::SessionStore store(bad.toStdString());
            store.addTrace({0, "", request.dump(), "[1, 2, 3]"});
        }
        QVERIFY(openAndWait(session, bad));
        QVERIFY(tab.panel()->isEmpty());
        QVERIFY(!tab.lastResult());
        QVERIFY2(tab.statusLabel()->text().startsWith(QStringLiteral("Skipped saved traces that cannot be shown: #1")),
                 qPrintable(tab.statusLabel()->text()));
        QVERIFY(view->plot()->isEmpty());
        QVERIFY(view->statusLabel()->text().isEmpty());
    }
};

QTEST_MAIN(TestLocateSession)
#include "test_locate_session.moc"
