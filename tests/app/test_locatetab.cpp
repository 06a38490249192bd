// The Locate tab with QTest: inputs and the inline error, a trace through the
// job runner that fills the heatmaps in row by row, choosing the edit layer,
// cancel, failure, export, the trace's JSON for the session; the "Dataset
// average" view on a tiny model and a tiny fact file.
#include <QtTest>

#include <QCheckBox>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <cmath>

#include "app/gui/JobRunner.h"
#include "app/gui/MainWindow.h"
#include "app/gui/tabs/LocateDatasetView.h"
#include "app/gui/tabs/LocateTab.h"
#include "engine/core/Paths.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"
#include "engine/trace/CausalTrace.h"
#include "engine/trace/TraceDataset.h"
#include "engine/trace/TraceJson.h"
#include "tests/app/TinyFactFile.h"
#include "tests/app/TinyModelFolder.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/TraceDatasetPlot.h"
#include "widgets/TraceHeatmap.h"
#include "widgets/TraceHeatmapPanel.h"

using namespace kme::app;
using kme::widgets::TraceHeatmap;

namespace {
constexpr int kJobTimeoutMs = 1200000;  // generous: CI machines are slow and shared
}

class TestLocateTab final : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    QString modelDir_;
    QString factsPath_;
    kme::testing::TinyFactFile facts_;
    std::shared_ptr<kme::Model> model_;

    // Runs a trace through the tab and waits for its end; returns its outcome.
    bool traceAndWait(LocateTab& tab) {
        QSignalSpy finished(&tab, &LocateTab::traceFinished);
        if (!tab.runTrace()) return false;
        if (!finished.wait(kJobTimeoutMs) && finished.isEmpty()) return false;
        return finished.first().first().toBool();
    }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("KME-tests"));
        QCoreApplication::setApplicationName(QStringLiteral("test_locatetab"));
        QSettings().clear();
        QVERIFY(tmp_.isValid());
        modelDir_ = tmp_.filePath(QStringLiteral("tiny-gpt2"));
        QVERIFY(QDir().mkpath(modelDir_));
        kme::testing::writeTinyModelFolder(modelDir_.toStdString());
        model_ = kme::Model::load(modelDir_.toStdString());
        factsPath_ = tmp_.filePath(QStringLiteral("facts.json"));
        facts_ = kme::testing::writeTinyFactFile(*model_, factsPath_.toStdString());
        QVERIFY2(facts_.known >= 3, "the tiny model predicts too few facts to average");
        QCOMPARE(facts_.records, facts_.known + 2);
    }

    void defaults() {
        JobRunner runner;
        LocateTab tab(&runner);
        QCOMPARE(tab.prompt(), QStringLiteral("The Colosseum is located in the city of"));
        QCOMPARE(tab.subject(), QStringLiteral("Colosseum"));
        QVERIFY(tab.answerEdit()->text().isEmpty());  // automatic
        QCOMPARE(tab.samplesSpin()->value(), 10);
        QCOMPARE(tab.noiseEdit()->text(), QStringLiteral("3x"));
        QCOMPARE(tab.windowSpin()->text(), QStringLiteral("auto"));
        QCOMPARE(tab.seedSpin()->value(), 1);
        for (const char* kind : {"hidden", "mlp", "attn"}) QVERIFY(tab.kindCheck(QLatin1String(kind))->isChecked());
        QVERIFY(tab.inputError().isEmpty());
        QVERIFY(!tab.runButton()->isEnabled());  // no model yet
        QVERIFY(!tab.runTrace());
        // The subject is highlighted in the prompt preview.
        QVERIFY2(tab.messageLabel()->text().contains(QStringLiteral(">&nbsp;Colosseum&nbsp;</span> is located")),
                 qPrintable(tab.messageLabel()->text()));
        tab.setModel(model_);
        QVERIFY(tab.runButton()->isEnabled());
        QVERIFY(!tab.exportButton()->isEnabled());  // nothing to export yet
        QCOMPARE(tab.windowSpin()->maximum(), 2);   // the tiny model's layers
    }

    void subjectNotInPromptIsAnInlineError() {
        JobRunner runner;
        LocateTab tab(&runner);
        tab.setModel(model_);
        tab.subjectEdit()->clear();
        QTest::keyClicks(tab.subjectEdit(), QStringLiteral("Coloseum"));  // while typing
        QVERIFY2(tab.messageLabel()->text().contains(QStringLiteral("subject not found in prompt")),
                 qPrintable(tab.messageLabel()->text()));
        QVERIFY(!tab.runButton()->isEnabled());
        QSignalSpy started(&runner, &JobRunner::started);
        QTest::keyClick(tab.subjectEdit(), Qt::Key_Return);
        QVERIFY(!tab.runTrace());
        QCOMPARE(started.size(), 0);
        QVERIFY(!runner.isBusy());
        tab.subjectEdit()->clear();
        QTest::keyClicks(tab.subjectEdit(), QStringLiteral("Colosseum"));
        QVERIFY(tab.inputError().isEmpty());
        QVERIFY(!tab.messageLabel()->text().contains(QStringLiteral("not found")));
        QVERIFY(tab.runButton()->isEnabled());
        // Case counts, as in the engine's search.
        tab.setSubject(QStringLiteral("colosseum"));
        QVERIFY(tab.inputError().contains(QStringLiteral("subject not found in prompt")));
        tab.setSubject(QStringLiteral("Colosseum"));
        tab.noiseEdit()->setText(QStringLiteral("loud"));
        QVERIFY(tab.inputError().contains(QStringLiteral("Noise")));
        tab.noiseEdit()->setText(QStringLiteral("0.1"));
        QVERIFY(tab.inputError().isEmpty());
        for (const char* kind : {"hidden", "mlp", "attn"}) tab.kindCheck(QLatin1String(kind))->setChecked(false);
        QVERIFY(!tab.inputError().isEmpty());
        QVERIFY(!tab.runButton()->isEnabled());
    }

    void traceFillsInRowByRow() {
        JobRunner runner;
        LocateTab tab(&runner);
        tab.resize(1300, 700);
        tab.show();
        QVERIFY(QTest::qWaitForWindowExposed(&tab));
        tab.setModel(model_);
        tab.samplesSpin()->setValue(2);
        QSignalSpy rows(&tab, &LocateTab::traceRowsUpdated);
        QSignalSpy finished(&tab, &LocateTab::traceFinished);
        QTest::mouseClick(tab.runButton(), Qt::LeftButton);
        QVERIFY(tab.isTracing());
        QVERIFY(tab.cancelButton()->isEnabled());
        QVERIFY(!tab.runButton()->isEnabled());
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, kJobTimeoutMs);
        QCOMPARE(finished.first().first().toBool(), true);
        QVERIFY(!tab.isTracing());

        // The partial path: rows arrived on the GUI thread while the trace ran.
        QVERIFY(tab.partialUpdates() >= 1);
        QVERIFY(rows.size() >= 1);
        const int T = static_cast<int>(model_->encodePrompt(tab.prompt().toStdString()).size());
        QCOMPARE(rows.last().at(1).toInt(), 3 * T);
        for (int i = 1; i < rows.size(); ++i) QVERIFY(rows[i].at(0).toInt() >= rows[i - 1].at(0).toInt());

        auto* panel = tab.panel();
        QCOMPARE(panel->mapCount(), 3);
        QVERIFY(tab.lastResult());
        const kme::TraceResult& r = *tab.lastResult();
        QCOMPARE(r.samples, 2);
        QVERIFY(panel->headerText().contains(QStringLiteral("p(clean)")));
        // The maps show exactly the engine's numbers: the same trace run directly.
        kme::TraceParams params;
        params.prompt = tab.prompt().toStdString();
        params.subject = tab.subject().toStdString();
        params.samples = 2;
        const kme::TraceResult direct = kme::causalTrace(*model_, params);
        const char* kinds[] = {"hidden", "mlp", "attn"};
        const kme::TraceKind engineKinds[] = {kme::TraceKind::Hidden, kme::TraceKind::Mlp, kme::TraceKind::Attn};
        for (int k = 0; k < 3; ++k) {
            TraceHeatmap* map = panel->mapForKind(QLatin1String(kinds[k]));
            QVERIFY(map);
            QCOMPARE(map->rowLabels().size(), T);
            for (int t = 0; t < T; ++t)
                for (int l = 0; l < 2; ++l) {
                    QVERIFY(!std::isnan(map->cellValue(t, l)));
                    QCOMPARE(map->cellValue(t, l), direct.scores.at(engineKinds[k])[t][l]);
                }
            int marked = 0;
            for (int t = 0; t < T; ++t) marked += map->rowLabels()[t].endsWith(QLatin1Char('*'));
            QCOMPARE(marked, direct.subjectEnd - direct.subjectBegin);
        }
        QVERIFY2(tab.statusLabel()->text().startsWith(QStringLiteral("Done in")), qPrintable(tab.statusLabel()->text()));
        QVERIFY(tab.statusLabel()->text().contains(QStringLiteral(" s")));
        QVERIFY(tab.exportButton()->isEnabled());
        QVERIFY(tab.runButton()->isEnabled());

        // Clicking a column chooses the edit layer.
        QSignalSpy chosen(&tab, &LocateTab::editLayerChosen);
        TraceHeatmap* mlp = panel->mapForKind(QStringLiteral("mlp"));
        mlp->plot()->replot();
        QTest::mouseClick(mlp->plot(), Qt::LeftButton, {}, mlp->cellCenter(direct.subjectEnd - 1, 1));
        QCOMPARE(chosen.size(), 1);
        QCOMPARE(chosen.first().first().toInt(), 1);
        QCOMPARE(tab.chosenEditLayer(), 1);
        QVERIFY(tab.editLayerLabel()->text().contains(QStringLiteral("<b>1</b>")));
        for (int i = 0; i < panel->mapCount(); ++i) QCOMPARE(panel->map(i)->markedLayer(), 1);

        // Export.
        const QString png = tmp_.filePath(QStringLiteral("locate.png"));
        QString error;
        QVERIFY2(tab.exportHeatmaps(png, &error), qPrintable(error));
        QVERIFY(!QImage(png).isNull());
        const QString shots = qEnvironmentVariable("KME_SHOT_DIR");  // to look at it
        if (!shots.isEmpty()) {
            QTest::qWait(50);  // let the queued replots run
            tab.grab().save(shots + QStringLiteral("/locate-tab.png"));
            QFile::remove(shots + QStringLiteral("/locate-export.png"));
            QFile::copy(png, shots + QStringLiteral("/locate-export.png"));
        }
    }

    void onlyTheChosenKinds() {
        JobRunner runner;
        LocateTab tab(&runner);
        tab.setModel(model_);
        tab.samplesSpin()->setValue(2);
        tab.kindCheck(QStringLiteral("hidden"))->setChecked(false);
        tab.kindCheck(QStringLiteral("attn"))->setChecked(false);
        QVERIFY(traceAndWait(tab));
        QCOMPARE(tab.panel()->mapCount(), 1);
        QCOMPARE(tab.panel()->map(0)->data().kind, QStringLiteral("mlp"));
    }

    void cancelKeepsTheRowsSoFar() {
        JobRunner runner;
        LocateTab tab(&runner);
        tab.setModel(model_);
        tab.samplesSpin()->setValue(2);
        QSignalSpy finished(&tab, &LocateTab::traceFinished);
        // Cancel as soon as the first row is on screen: the cancel reaches the
        // job before its end is reported, so the outcome is "cancelled".
        connect(&tab, &LocateTab::traceRowsUpdated, &tab, &LocateTab::cancelTrace, Qt::SingleShotConnection);
        QVERIFY(tab.runTrace());
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, kJobTimeoutMs);
        QCOMPARE(finished.first().first().toBool(), false);
        QVERIFY2(tab.statusLabel()->text().startsWith(QStringLiteral("Cancelled")),
                 qPrintable(tab.statusLabel()->text()));
        QVERIFY(!tab.lastResult());
        QVERIFY(!tab.panel()->isEmpty());  // the rows that arrived stay
        QVERIFY(!runner.isBusy());
        QVERIFY(tab.runButton()->isEnabled());
        QVERIFY(!tab.cancelButton()->isEnabled());

        // Cancel right after the start: never a result. (Shown: a button on a
        // page of the view tabs is laid out, and clickable, only on screen.)
        tab.show();
        QVERIFY(QTest::qWaitForWindowExposed(&tab));
        QSignalSpy again(&tab, &LocateTab::traceFinished);
        QVERIFY(tab.runTrace());
        QTest::mouseClick(tab.cancelButton(), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(again.size(), 1, kJobTimeoutMs);
        QCOMPARE(again.first().first().toBool(), false);
        QVERIFY(!tab.lastResult());
        // And the next trace runs normally.
        QVERIFY(traceAndWait(tab));
        QVERIFY(tab.lastResult());
    }

    void engineErrorIsAMessage() {
        JobRunner runner;
        LocateTab tab(&runner);
        tab.setModel(model_);
        // Longer than the tiny model's 32-token context: the engine refuses it.
        tab.setPrompt(QStringLiteral("Long ago and far away, the Colosseum was said to be located in the city of"));
        QVERIFY(tab.inputError().isEmpty());  // the plain check passes; the engine decides
        QVERIFY(!traceAndWait(tab));
        QVERIFY2(tab.statusLabel()->text().startsWith(QStringLiteral("Trace failed")),
                 qPrintable(tab.statusLabel()->text()));
        QVERIFY(tab.panel()->isEmpty());
        QVERIFY(tab.runButton()->isEnabled());
    }

    void traceRecordedCarriesRequestAndResult() {
        JobRunner runner;
        LocateTab tab(&runner);
        tab.setModel(model_);
        tab.samplesSpin()->setValue(2);
        tab.seedSpin()->setValue(5);
        QSignalSpy recorded(&tab, &LocateTab::traceRecorded);
        QVERIFY(traceAndWait(tab));
        QCOMPARE(recorded.size(), 1);
        const auto request = nlohmann::json::parse(recorded.first().at(0).toString().toStdString());
        QCOMPARE(QString::fromStdString(request.at("prompt").get<std::string>()), tab.prompt());
        QCOMPARE(QString::fromStdString(request.at("subject").get<std::string>()), tab.subject());
        QCOMPARE(request.at("samples").get<int>(), 2);
        QCOMPARE(request.at("seed").get<int>(), 5);
        QCOMPARE(request.at("noise").get<std::string>(), std::string("3x"));
        QCOMPARE(request.at("type").get<std::string>(), std::string("prompt"));  // a dataset run says "dataset"
        // The request replays to the same numbers.
        const kme::TraceResult again = kme::causalTrace(*model_, kme::traceParamsFromJson(request));
        const kme::TraceResult saved =
            kme::traceResultFromJson(nlohmann::json::parse(recorded.first().at(1).toString().toStdString()));
        const kme::TraceResult& shown = *tab.lastResult();
        QCOMPARE(saved.tokens, shown.tokens);
        QCOMPARE(saved.subjectBegin, shown.subjectBegin);
        QCOMPARE(saved.answerId, shown.answerId);
        QCOMPARE(saved.scores.size(), size_t(3));
        for (const auto& [kind, rows] : shown.scores)
            for (size_t t = 0; t < rows.size(); ++t)
                for (size_t l = 0; l < rows[t].size(); ++l) {
                    QCOMPARE(saved.scores.at(kind)[t][l], rows[t][l]);
                    QCOMPARE(again.scores.at(kind)[t][l], rows[t][l]);
                }
        // Cancelled and failed traces record nothing.
        connect(&tab, &LocateTab::traceRowsUpdated, &tab, &LocateTab::cancelTrace, Qt::SingleShotConnection);
        QVERIFY(!traceAndWait(tab));
        QCOMPARE(recorded.size(), 1);
    }

    void datasetViewDefaults() {
        JobRunner runner;
        LocateTab tab(&runner);
        QCOMPARE(tab.viewTabs()->count(), 3);
        QCOMPARE(tab.viewTabs()->tabText(0), QStringLiteral("This prompt"));
        QCOMPARE(tab.viewTabs()->tabText(1), QStringLiteral("Dataset average"));
        tab.showDatasetView(true);
        QCOMPARE(tab.viewTabs()->currentWidget(), tab.datasetView());
        LocateDatasetView* view = tab.datasetView();
        QCOMPARE(view->limitSpin()->value(), 40);
        QCOMPARE(view->samplesSpin()->value(), 10);
        // The demo's fact set, when the demo project is there.
        const QString demoFacts = LocateDatasetView::defaultFactFile(nullptr);
        if (!demoFacts.isEmpty()) {
            QVERIFY2(demoFacts.endsWith(QStringLiteral("projects/demo/facts.json")), qPrintable(demoFacts));
            QCOMPARE(view->factFile(), demoFacts);
        }
        QVERIFY(!view->runButton()->isEnabled());  // no model yet
        QVERIFY(!view->runDataset());
        tab.setModel(model_);
        QCOMPARE(view->runButton()->isEnabled(), view->inputError().isEmpty());
        view->setFactFile(tmp_.filePath(QStringLiteral("no-such-facts.json")));
        QVERIFY2(view->inputError().startsWith(QStringLiteral("No such file")), qPrintable(view->inputError()));
        QVERIFY(!view->runButton()->isEnabled());
        QVERIFY(view->messageLabel()->text().contains(QStringLiteral("No such file")));
        view->setFactFile(factsPath_);
        QVERIFY(view->inputError().isEmpty());
        QVERIFY(view->runButton()->isEnabled());
        QVERIFY(!view->cancelButton()->isEnabled());
        QVERIFY(!view->exportButton()->isEnabled());
        QVERIFY(view->plot()->isEmpty());
        QVERIFY(view->captionLabel()->text().contains(QStringLiteral("average indirect effect")));
        // A new model keeps a fact file the user chose.
        tab.setModel(model_);
        QCOMPARE(view->factFile(), factsPath_);
    }

    void datasetAverageFillsInAndChoosesTheLayer() {
        JobRunner runner;
        LocateTab tab(&runner);
        tab.resize(1300, 800);
        tab.show();
        QVERIFY(QTest::qWaitForWindowExposed(&tab));
        tab.setModel(model_);
        tab.showDatasetView(true);
        LocateDatasetView* view = tab.datasetView();
        view->setFactFile(factsPath_);
        view->limitSpin()->setValue(0);  // all
        view->samplesSpin()->setValue(2);
        QSignalSpy updated(view, &LocateDatasetView::datasetUpdated);
        QSignalSpy finished(view, &LocateDatasetView::datasetFinished);
        QSignalSpy recorded(view, &LocateDatasetView::datasetRecorded);
        QTest::mouseClick(view->runButton(), Qt::LeftButton);
        QVERIFY(view->isRunning());
        QVERIFY(view->cancelButton()->isEnabled());
        QVERIFY(!view->runButton()->isEnabled());
        QVERIFY(!tab.runButton()->isEnabled());  // one job at a time
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, kJobTimeoutMs);
        QCOMPARE(finished.first().first().toBool(), true);
        QVERIFY(!view->isRunning());
        QVERIFY2(view->statusLabel()->text().startsWith(QStringLiteral("Done in")), qPrintable(view->statusLabel()->text()));

        // The averages grew on screen, one traced fact at a time.
        QCOMPARE(view->partialUpdates(), facts_.known);
        QCOMPARE(updated.size(), facts_.known);
        QVERIFY(view->lastResult());
        const kme::TraceDatasetResult& r = *view->lastResult();
        QCOMPARE(r.considered, facts_.records);
        QCOMPARE(r.traced, facts_.known);
        // The run goes out as JSON for the session: a dataset request and its result.
        QCOMPARE(recorded.size(), 1);
        const auto request = nlohmann::json::parse(recorded.first().at(0).toString().toStdString());
        QCOMPARE(request.at("type").get<std::string>(), std::string("dataset"));
        QCOMPARE(QString::fromStdString(request.at("facts").get<std::string>()), factsPath_);
        QCOMPARE(request.at("limit").get<int>(), 0);
        QCOMPARE(request.at("samples").get<int>(), 2);
        const kme::TraceDatasetResult saved =
            kme::traceDatasetResultFromJson(nlohmann::json::parse(recorded.first().at(1).toString().toStdString()));
        QCOMPARE(saved.traced, r.traced);
        QCOMPARE(saved.mean, r.mean);

        // The plot shows exactly the engine's numbers: the same run, directly.
        kme::TraceDatasetParams params;
        params.trace.samples = 2;
        params.trace.noise.factsPath = factsPath_.toStdString();
        const kme::TraceDatasetResult direct =
            kme::traceDataset(*model_, kme::loadDataset(factsPath_.toStdString()), params);
        QCOMPARE(direct.traced, r.traced);
        auto* plot = view->plot();
        QCOMPARE(plot->kindCount(), 3);
        QCOMPARE(plot->plot()->graphCount(), 3 * 6 * 3);
        const kme::TraceKind kinds[] = {kme::TraceKind::Hidden, kme::TraceKind::Mlp, kme::TraceKind::Attn};
        for (int k = 0; k < 3; ++k)
            for (int b = 0; b < 6; ++b)
                for (int l = 0; l < 2; ++l) {
                    const double v = (plot->meanGraph(k, b)->data()->constBegin() + l)->value;
                    const double hi = (plot->bandUpperGraph(k, b)->data()->constBegin() + l)->value;
                    if (direct.count.at(kinds[k])[b][l] == 0) {
                        QVERIFY(std::isnan(v));
                        continue;
                    }
                    QCOMPARE(v, direct.mean.at(kinds[k])[b][l]);
                    QCOMPARE(hi, direct.mean.at(kinds[k])[b][l] + direct.ci95.at(kinds[k])[b][l]);
                }
        // The caption names the suggested layer.
        const int suggested = direct.peakLayer(kme::TraceKind::Mlp, kme::kLastSubjectBucket);
        QVERIFY(suggested >= 0);
        QCOMPARE(view->suggestedEditLayer(), suggested);
        QVERIFY2(view->captionLabel()->text().contains(QStringLiteral("peaks at <b>layer %1</b>").arg(suggested)),
                 qPrintable(view->captionLabel()->text()));
        QVERIFY(view->exportButton()->isEnabled());

        // Clicking a layer chooses the edit layer, as a heatmap column does.
        QSignalSpy chosen(&tab, &LocateTab::editLayerChosen);
        plot->plot()->replot();
        const QPoint at = plot->pointCenter(1, kme::kLastSubjectBucket, 1);
        QVERIFY(at.x() >= 0);
        QTest::mouseClick(plot->plot(), Qt::LeftButton, {}, at);
        QCOMPARE(chosen.size(), 1);
        QCOMPARE(chosen.first().first().toInt(), 1);
        QCOMPARE(tab.chosenEditLayer(), 1);
        QCOMPARE(plot->markedLayer(), 1);
        QVERIFY(tab.editLayerLabel()->text().contains(QStringLiteral("<b>1</b>")));
        tab.chooseEditLayer(0);  // and the other way round
        QCOMPARE(plot->markedLayer(), 0);

        const QString png = tmp_.filePath(QStringLiteral("dataset.png"));
        QString error;
        QVERIFY2(view->exportPlot(png, &error), qPrintable(error));
        QVERIFY(!QImage(png).isNull());
        const QString shots = qEnvironmentVariable("KME_SHOT_DIR");  // to look at it
        if (!shots.isEmpty()) {
            QTest::qWait(50);
            tab.grab().save(shots + QStringLiteral("/locate-dataset-tab.png"));
        }
    }

    void datasetCancelKeepsTheAveragesSoFar() {
        JobRunner runner;
        LocateTab tab(&runner);
        tab.setModel(model_);
        LocateDatasetView* view = tab.datasetView();
        view->setFactFile(factsPath_);
        view->limitSpin()->setValue(0);
        view->samplesSpin()->setValue(2);
        QSignalSpy finished(view, &LocateDatasetView::datasetFinished);
        connect(view, &LocateDatasetView::datasetUpdated, view, &LocateDatasetView::cancelDataset,
                Qt::SingleShotConnection);
        QVERIFY(view->runDataset());
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, kJobTimeoutMs);
        QCOMPARE(finished.first().first().toBool(), false);
        QVERIFY2(view->statusLabel()->text().startsWith(QStringLiteral("Cancelled")),
                 qPrintable(view->statusLabel()->text()));
        QVERIFY(!view->lastResult());
        QVERIFY(!view->plot()->isEmpty());  // the averages that arrived stay
        QVERIFY(view->plot()->data().traced >= 1);
        QVERIFY(view->plot()->data().traced < facts_.known);
        QVERIFY(!view->plot()->data().complete);
        QVERIFY(view->runButton()->isEnabled());
        QVERIFY(!view->cancelButton()->isEnabled());
        // And the next run goes to its end.
        QSignalSpy again(view, &LocateDatasetView::datasetFinished);
        QVERIFY(view->runDataset());
        QTRY_COMPARE_WITH_TIMEOUT(again.size(), 1, kJobTimeoutMs);
        QCOMPARE(again.first().first().toBool(), true);
        QCOMPARE(view->plot()->data().traced, facts_.known);
        QVERIFY(view->plot()->data().complete);
    }

    void datasetErrorsAreMessages() {
        JobRunner runner;
        LocateTab tab(&runner);
        tab.setModel(model_);
        LocateDatasetView* view = tab.datasetView();
        const QString bad = tmp_.filePath(QStringLiteral("bad-facts.json"));
        QFile f(bad);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("[{\"requested_rewrite\": ");
        f.close();
        view->setFactFile(bad);
        QSignalSpy finished(view, &LocateDatasetView::datasetFinished);
        QVERIFY(view->runDataset());
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, kJobTimeoutMs);
        QCOMPARE(finished.first().first().toBool(), false);
        QVERIFY2(view->statusLabel()->text().startsWith(QStringLiteral("Dataset trace failed")) &&
                     view->statusLabel()->text().contains(QStringLiteral("bad-facts.json")),
                 qPrintable(view->statusLabel()->text()));
        QVERIFY(view->plot()->isEmpty());
        // Facts the model does not know: nothing to average, and the view says so.
        const QString unknown = tmp_.filePath(QStringLiteral("unknown-facts.json"));
        QCOMPARE(kme::testing::writeTinyFactFile(*model_, unknown.toStdString(), 0, 2).records, 2);
        view->setFactFile(unknown);
        QSignalSpy done(view, &LocateDatasetView::datasetFinished);
        QVERIFY(view->runDataset());
        QTRY_COMPARE_WITH_TIMEOUT(done.size(), 1, kJobTimeoutMs);
        QCOMPARE(done.first().first().toBool(), true);
        QCOMPARE(view->lastResult()->traced, 0);
        QVERIFY(view->plot()->isEmpty());
        QVERIFY2(view->captionLabel()->text().contains(QStringLiteral("None of the facts")),
                 qPrintable(view->captionLabel()->text()));
        QCOMPARE(view->suggestedEditLayer(), -1);
    }

    void demoDatasetPicture() {
        // For looking at, not for checking: the view on the demo model with
        // its defaults (40 facts of projects/demo/facts.json, 10 samples).
        const QString shots = qEnvironmentVariable("KME_SHOT_DIR");
        const std::string demo = kme::demoModelFolder();
        if (shots.isEmpty() || demo.empty()) QSKIP("only with KME_SHOT_DIR and the demo model");
        JobRunner runner;
        LocateTab tab(&runner);
        tab.resize(1400, 860);
        tab.show();
        QVERIFY(QTest::qWaitForWindowExposed(&tab));
        tab.setModel(kme::Model::load(demo));
        tab.showDatasetView(true);
        QSignalSpy finished(tab.datasetView(), &LocateDatasetView::datasetFinished);
        QVERIFY(tab.datasetView()->runDataset());
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, kJobTimeoutMs);
        QVERIFY(finished.first().first().toBool());
        tab.chooseEditLayer(tab.datasetView()->suggestedEditLayer());
        QTest::qWait(100);
        tab.grab().save(shots + QStringLiteral("/locate-dataset-demo.png"));
    }

    void mainWindowHasTheLocateTab() {
        MainWindow w;
        QCOMPARE(w.tabs()->widget(1), w.locateTab());
        QCOMPARE(w.tabId(1), QStringLiteral("locate"));
        QSignalSpy loaded(&w, &MainWindow::modelLoadFinished);
        QVERIFY(w.openModelFolder(modelDir_));
        QTRY_COMPARE_WITH_TIMEOUT(loaded.size(), 1, kJobTimeoutMs);
        QVERIFY(w.locateTab()->runButton()->isEnabled());
        w.locateTab()->samplesSpin()->setValue(2);
        QVERIFY(traceAndWait(*w.locateTab()));
        QCOMPARE(w.locateTab()->panel()->mapCount(), 3);
    }
};

QTEST_MAIN(TestLocateTab)
#include "test_locatetab.moc"
