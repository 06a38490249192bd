// The Evaluate tab (issue 7, item 5) on the demo model: ROME over two demo
// facts with few optimisation steps fills the table (an efficacy row with a
// percentage) and the chart (bars), leaves the weights as they were, keeps
// the run for a second method; a fact file that does not exist is an inline
// error, not a crash; the main window holds the tab with the demo facts
// prefilled. On a tiny random model (milliseconds a run): a run is saved in
// the session and a reopened session shows the same cells; the first run
// without a session creates one and keeps its run; damaged saved runs are
// skipped; sequential and one-batch runs show their own rows.
#include <QtTest>

#include <QCheckBox>
#include <QComboBox>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <nlohmann/json.hpp>

#include "app/gui/JobRunner.h"
#include "app/gui/MainWindow.h"
#include "app/gui/SessionController.h"
#include "app/gui/tabs/EvaluateTab.h"
#include "engine/core/Paths.h"
#include "engine/eval/EvalJson.h"
#include "engine/model/Model.h"
#include "engine/session/SessionStore.h"
#include "engine/session/Sqlite.h"
#include "tests/app/TinyFactFile.h"
#include "tests/app/TinyModelFolder.h"
#include "widgets/QCustomPlotInclude.h"

using namespace kme::app;

namespace {
constexpr int kJobTimeoutMs = 1200000;

int barCount(QCustomPlot* plot) {
    int n = 0;
    for (int i = 0; i < plot->plottableCount(); ++i)
        if (auto* bars = qobject_cast<QCPBars*>(plot->plottable(i))) n += bars->dataCount();
    return n;
}

// Every row of the table: "metric key | header | edited | unedited | 95%".
QStringList cells(const QTableWidget* table) {
    QStringList out;
    for (int r = 0; r < table->rowCount(); ++r) {
        QStringList row{table->verticalHeaderItem(r)->data(Qt::UserRole).toString(),
                        table->verticalHeaderItem(r)->text()};
        for (int c = 0; c < table->columnCount(); ++c) row << (table->item(r, c) ? table->item(r, c)->text() : QString());
        out << row.join(QStringLiteral(" | "));
    }
    return out;
}

bool loadModel(SessionController& session, const QString& folder) {
    QSignalSpy loaded(&session, &SessionController::modelLoadFinished);
    if (!session.loadModelFolder(folder)) return false;
    if (loaded.isEmpty() && !loaded.wait(kJobTimeoutMs)) return false;
    return loaded.first().first().toBool();
}

bool openSession(SessionController& session, const QString& path) {
    QSignalSpy opened(&session, &SessionController::sessionOpenFinished);
    if (!session.openSession(path)) return false;
    if (opened.isEmpty() && !opened.wait(kJobTimeoutMs)) return false;
    return opened.first().first().toBool();
}

void removeSessionFile(const QString& path) {
    for (const char* suffix : {"", "-wal", "-shm"}) QFile::remove(path + QLatin1String(suffix));
}
}  // namespace

class TestEvaluateTab final : public QObject {
    Q_OBJECT

private:
    QString demoModel_;
    std::shared_ptr<kme::Model> model_;
    QTemporaryDir tmp_;
    QString tinyModel_;  // a random 2-layer model with default layers for ROME / MEMIT / FT-L
    QString tinyFacts_;  // 3 records; a neighbour prompt of each is another record's prompt

    // A tab on the tiny model and its facts: ROME, `records` records, 2 steps.
    static void prepareTiny(EvaluateTab& tab, std::shared_ptr<kme::Model> model, const QString& facts, int records) {
        tab.setModel(std::move(model));
        tab.factFileEdit()->setText(facts);
        tab.recordsSpin()->setValue(records);
        tab.stepsSpin()->setValue(2);
    }

    // Runs ROME on the tiny model in a new session at `path`; returns the table's cells.
    QStringList saveOneRun(const QString& path, QString* caption = nullptr) {
        JobRunner runner;
        SessionController session(&runner);
        QString error;
        if (!session.newSession(path, &error) || !loadModel(session, tinyModel_)) return {};
        EvaluateTab tab(&runner, &session);
        prepareTiny(tab, session.model(), tinyFacts_, 2);
        if (!runAndWait(tab)) return {};
        if (caption) *caption = tab.captionLabel()->text();
        return cells(tab.table());
    }

    static bool runAndWait(EvaluateTab& tab) {
        QSignalSpy done(&tab, &EvaluateTab::evaluationFinished);
        if (!tab.runButton()->isEnabled()) return false;
        QTest::mouseClick(tab.runButton(), Qt::LeftButton);
        if (done.isEmpty() && !done.wait(kJobTimeoutMs)) return false;
        return done.first().first().toBool();
    }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("KME-tests"));
        QCoreApplication::setApplicationName(QStringLiteral("test_evaluatetab"));
        QSettings().clear();
        demoModel_ = QString::fromStdString(kme::demoModelFolder());
        QVERIFY2(!demoModel_.isEmpty() && QFileInfo::exists(demoModel_ + QStringLiteral("/model.safetensors")),
                 "the demo model (projects/demo/model) is part of the repository");
        model_ = kme::Model::load(demoModel_.toStdString());
        QVERIFY(model_);

        QVERIFY(tmp_.isValid());
        tinyModel_ = tmp_.filePath(QStringLiteral("tiny-gpt2"));
        QVERIFY(QDir().mkpath(tinyModel_));
        kme::testing::writeTinyModelFolder(tinyModel_.toStdString());
        QFile defaults(tinyModel_ + QStringLiteral("/kme_edit_defaults.json"));
        QVERIFY(defaults.open(QIODevice::WriteOnly));
        defaults.write(R"({"rome": {"layers": [0]}, "memit": {"layers": [0, 1]}, "ft-l": {"layers": [0]}})");
        defaults.close();
        auto tiny = kme::Model::load(tinyModel_.toStdString());
        tinyFacts_ = tmp_.filePath(QStringLiteral("facts.json"));
        QCOMPARE(kme::testing::writeTinyFactFile(*tiny, tinyFacts_.toStdString(), 3, 0).records, 3);
        // Neighbours that other edits rewrite (records 0 and 1 point at each
        // other): batched and sequential runs leave them out.
        QFile f(tinyFacts_);
        QVERIFY(f.open(QIODevice::ReadOnly));
        nlohmann::json records = nlohmann::json::parse(f.readAll().toStdString());
        f.close();
        for (size_t i = 0; i < records.size(); ++i) {
            const size_t partner = (i ^ 1) < records.size() ? (i ^ 1) : 0;
            const auto& other = records[partner]["requested_rewrite"];
            std::string prompt = other["prompt"];
            prompt.replace(prompt.find("{}"), 2, other["subject"].get<std::string>());
            records[i]["neighborhood_prompts"] = {prompt, "The river of Rome is"};
        }
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write(QByteArray::fromStdString(records.dump(1)));
        f.close();
    }

    void romeOnTwoDemoFacts() {
        JobRunner runner;
        EvaluateTab tab(&runner, nullptr);
        tab.resize(1200, 700);
        tab.show();
        QVERIFY(QTest::qWaitForWindowExposed(&tab));
        QVERIFY(!tab.runButton()->isEnabled());  // no model yet
        tab.setModel(model_);
        QVERIFY2(tab.factFileEdit()->text().endsWith(QStringLiteral("facts.json")),
                 qPrintable(tab.factFileEdit()->text()));
        QVERIFY(QFileInfo::exists(tab.factFileEdit()->text()));
        QCOMPARE(tab.recordsSpin()->value(), 20);
        QVERIFY(!tab.fluencyCheck()->isChecked());
        tab.recordsSpin()->setValue(2);
        tab.stepsSpin()->setValue(3);
        const std::string hash = model_->weightsHash();

        QVERIFY(runAndWait(tab));
        QCOMPARE(model_->weightsHash(), hash);  // restored
        QCOMPARE(tab.runCount(), 1);
        const int row = tab.rowOf(QStringLiteral("efficacy_score"));
        QVERIFY(row >= 0);
        for (int col : {int(EvaluateTab::kEditedCol), int(EvaluateTab::kUneditedCol)}) {
            bool ok = false;
            const double v = tab.table()->item(row, col)->text().toDouble(&ok);
            QVERIFY2(ok, qPrintable(tab.table()->item(row, col)->text()));
            QVERIFY(v >= 0 && v <= 100);
        }
        QVERIFY(tab.rowOf(QStringLiteral("neighborhood_score")) >= 0);
        QCOMPARE(tab.rowOf(QStringLiteral("fluency")), -1);  // off by default
        QVERIFY(barCount(tab.chart()) > 0);
        QVERIFY(tab.captionLabel()->text().contains(QString::fromStdString(hash).left(12)));
        const int barsAfterOne = barCount(tab.chart());

        // A second method adds a series: the chart compares methods.
        tab.methodCombo()->setCurrentIndex(tab.methodCombo()->findText(QStringLiteral("FT-L")));
        QVERIFY(runAndWait(tab));
        QCOMPARE(tab.runCount(), 2);
        QVERIFY(barCount(tab.chart()) > barsAfterOne);
        QCOMPARE(model_->weightsHash(), hash);
        QVERIFY(tab.chart()->legend->itemCount() >= 3);  // unedited, ROME, FT-L
        if (qEnvironmentVariableIsSet("KME_EVAL_SHOT")) {
            QTest::qWait(100);
            tab.grab().save(qEnvironmentVariable("KME_EVAL_SHOT"));
        }
    }

    void badFactFileIsAnInlineError() {
        JobRunner runner;
        EvaluateTab tab(&runner, nullptr);
        tab.setModel(model_);
        tab.factFileEdit()->setText(QStringLiteral("/no/such/dir/facts.json"));
        QVERIFY(!tab.runButton()->isEnabled());
        QVERIFY(tab.messageLabel()->text().contains(QStringLiteral("does not exist")));
        QVERIFY(!tab.runEvaluation());

        // A file that exists but is no fact file: the job fails, the message says why.
        QTemporaryDir dir;
        const QString bad = dir.filePath(QStringLiteral("bad.json"));
        QFile f(bad);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"not\": \"a fact file\"");
        f.close();
        tab.factFileEdit()->setText(bad);
        QSignalSpy done(&tab, &EvaluateTab::evaluationFinished);
        QVERIFY(tab.runEvaluation());
        QVERIFY(done.wait(kJobTimeoutMs) || !done.isEmpty());
        QCOMPARE(done.first().first().toBool(), false);
        QVERIFY2(tab.messageLabel()->text().contains(QStringLiteral("failed")), qPrintable(tab.messageLabel()->text()));
        QCOMPARE(tab.runCount(), 0);
        QVERIFY(tab.runButton()->isEnabled());
    }

    void runIsSavedAndShownAgainWhenTheSessionReopens() {
        const QString path = tmp_.filePath(QStringLiteral("eval.kmes"));
        QString caption;
        const QStringList before = saveOneRun(path, &caption);
        QVERIFY(!before.isEmpty());
        QVERIFY2(caption.contains(QStringLiteral("Saved in the session")), qPrintable(caption));
        {
            kme::SessionStore store(path.toStdString());
            const auto runs = store.listMetricRuns();
            QCOMPARE(int(runs.size()), 1);
            QCOMPARE(runs[0].method, std::string("rome"));
            QCOMPARE(QString::fromStdString(runs[0].dataset), tinyFacts_);
            const auto params = nlohmann::json::parse(runs[0].paramsJson);
            QCOMPARE(params.at("mode").get<std::string>(), std::string("fresh"));
            QCOMPARE(params.at("records").get<int>(), 2);
            QCOMPARE(params.at("steps").get<int>(), 2);
            const kme::EvalRunSummary s = kme::evalRunSummaryFromJson(runs[0].resultsJson);
            QCOMPARE(s.recordCount, 2);
            QCOMPARE(s.method, kme::EditMethod::Rome);
            QCOMPARE(s.layers, (std::vector<int>{0}));
            QCOMPARE(s.edited.find("efficacy_score")->count, 2);
            QCOMPARE(s.baseline.find("efficacy_score")->count, 2);
            QCOMPARE(QString::fromStdString(s.weightsHash), QString::fromStdString(params.at("weights_hash")));
        }

        // Another window opens the session: the same run, cell for cell.
        JobRunner runner;
        SessionController session(&runner);
        EvaluateTab tab(&runner, &session);
        QCOMPARE(tab.runCount(), 0);
        QVERIFY(openSession(session, path));
        QCOMPARE(tab.runCount(), 1);
        QCOMPARE(cells(tab.table()), before);
        QCOMPARE(tab.captionLabel()->text(), caption);
        QVERIFY(barCount(tab.chart()) > 0);

        // A fresh session has no runs: nothing is shown.
        QString error;
        QVERIFY2(session.newSession(tmp_.filePath(QStringLiteral("empty.kmes")), &error), qPrintable(error));
        QCOMPARE(tab.runCount(), 0);
        QCOMPARE(tab.table()->rowCount(), 0);
        QCOMPARE(barCount(tab.chart()), 0);
    }

    void firstRunCreatesASessionAndKeepsItsRuns() {
        // No session open: saving creates an autosave session, whose
        // sessionChanged must not replace the runs being shown.
        JobRunner runner;
        SessionController session(&runner);
        QVERIFY(loadModel(session, tinyModel_));
        QVERIFY(!session.hasSession());
        EvaluateTab tab(&runner, &session);
        prepareTiny(tab, session.model(), tinyFacts_, 1);
        QSignalSpy changed(&session, &SessionController::sessionChanged);
        QVERIFY(runAndWait(tab));
        QVERIFY(session.hasSession());
        const QString path = session.sessionPath();
        QVERIFY(changed.size() >= 1);
        QCOMPARE(tab.runCount(), 1);
        QVERIFY(tab.rowOf(QStringLiteral("efficacy_score")) >= 0);
        QVERIFY2(tab.messageLabel()->text().contains(QStringLiteral("Saved in session")),
                 qPrintable(tab.messageLabel()->text()));
        QCOMPARE(int(session.store()->listMetricRuns().size()), 1);
        QVERIFY(runAndWait(tab));  // a second run joins the first
        QCOMPARE(tab.runCount(), 2);
        QCOMPARE(int(session.store()->listMetricRuns().size()), 2);
        QVERIFY(tab.chart()->legend->itemCount() >= 3);  // unedited, ROME, ROME #2
        removeSessionFile(path);
    }

    void damagedSavedRunsAreSkipped() {
        const QString path = tmp_.filePath(QStringLiteral("damaged.kmes"));
        const QStringList good = saveOneRun(path);
        QVERIFY(!good.isEmpty());
        {
            kme::SessionStore store(path.toStdString());
            kme::MetricRunRecord notARun;
            notARun.method = "rome";
            notARun.dataset = "facts.json";
            notARun.resultsJson = R"({"method": "rome", "metrics": {}})";
            store.addMetricRun(notARun);
            const int64_t broken = store.addMetricRun(notARun);
            // Past the store's own check: the column itself is not JSON.
            kme::sqlite::Connection db(path.toStdString(), false, false, 5000);
            db.exec("UPDATE metric_runs SET results_json = '{\"metrics\": [1, 2' WHERE id = " + std::to_string(broken),
                    "damage a run");
        }
        JobRunner runner;
        SessionController session(&runner);
        EvaluateTab tab(&runner, &session);
        QVERIFY(openSession(session, path));
        QCOMPARE(tab.runCount(), 1);
        QCOMPARE(cells(tab.table()), good);
        QVERIFY2(tab.captionLabel()->text().contains(QStringLiteral("2 saved evaluation run(s) could not be read")),
                 qPrintable(tab.captionLabel()->text()));
        QVERIFY(tab.captionLabel()->text().contains(QStringLiteral("\"dataset\" is missing")));
    }

    void sequentialAndOneBatchRunsShowTheirRows() {
        JobRunner runner;
        EvaluateTab tab(&runner, nullptr);
        auto tiny = kme::Model::load(tinyModel_.toStdString());
        prepareTiny(tab, tiny, tinyFacts_, 2);
        QComboBox* mode = tab.modeCombo();
        QCOMPARE(mode->count(), 3);
        for (int i = 0; i < mode->count(); ++i) QVERIFY(!mode->itemData(i, Qt::ToolTipRole).toString().isEmpty());
        const std::string hash = tiny->weightsHash();

        mode->setCurrentIndex(mode->findData(int(EvaluateTab::kSequentialMode)));
        QVERIFY(runAndWait(tab));
        QCOMPARE(tiny->weightsHash(), hash);  // restored at the end
        QCOMPARE(tab.runCount(), 1);
        const int atEdit = tab.rowOf(QStringLiteral("efficacy_at_edit_score"));
        QVERIFY(atEdit >= 0);
        bool ok = false;
        const double v = tab.table()->item(atEdit, EvaluateTab::kEditedCol)->text().toDouble(&ok);
        QVERIFY(ok && v >= 0 && v <= 100);
        QCOMPARE(tab.table()->item(atEdit, EvaluateTab::kUneditedCol)->text(), QStringLiteral("—"));
        // Each record's neighbour is the other edited record's prompt: both left out.
        const int excluded = tab.rowOf(QStringLiteral("neighborhood_excluded"));
        QVERIFY(excluded >= 0);
        QCOMPARE(tab.table()->item(excluded, EvaluateTab::kEditedCol)->text(), QStringLiteral("2"));
        QVERIFY(tab.rowOf(QStringLiteral("neighborhood_score")) >= 0);
        QVERIFY2(tab.captionLabel()->text().contains(QStringLiteral("Sequential")), qPrintable(tab.captionLabel()->text()));
        QVERIFY2(tab.messageLabel()->text().contains(QStringLiteral("Not saved")), qPrintable(tab.messageLabel()->text()));
        QStringList names;
        for (int i = 0; i < tab.chart()->plottableCount(); ++i) names << tab.chart()->plottable(i)->name();
        QVERIFY2(names.contains(QStringLiteral("ROME, sequential")), qPrintable(names.join(QLatin1Char(','))));

        mode->setCurrentIndex(mode->findData(int(EvaluateTab::kOneBatchMode)));
        QVERIFY(runAndWait(tab));
        QCOMPARE(tab.runCount(), 2);
        QCOMPARE(tab.rowOf(QStringLiteral("efficacy_at_edit_score")), -1);
        QVERIFY(tab.rowOf(QStringLiteral("neighborhood_excluded")) >= 0);
        QVERIFY(tab.captionLabel()->text().contains(QStringLiteral("One batch")));

        mode->setCurrentIndex(mode->findData(int(EvaluateTab::kFreshMode)));
        QVERIFY(runAndWait(tab));
        QCOMPARE(tab.rowOf(QStringLiteral("neighborhood_excluded")), -1);  // nothing applied together
        QCOMPARE(tiny->weightsHash(), hash);
    }

    void mainWindowHoldsTheTab() {
        MainWindow w;
        auto* tab = w.tabs()->findChild<EvaluateTab*>();
        QVERIFY(tab);
        QSignalSpy loaded(&w, &MainWindow::modelLoadFinished);
        QVERIFY(w.openModelFolder(demoModel_));
        QVERIFY(loaded.wait(kJobTimeoutMs) || !loaded.isEmpty());
        QVERIFY(loaded.first().first().toBool());
        QVERIFY(tab->factFileEdit()->text().endsWith(QStringLiteral("facts.json")));
        QElapsedTimer clock;
        clock.start();
        while (w.jobRunner()->isBusy() && clock.elapsed() < kJobTimeoutMs) QTest::qWait(20);
        QVERIFY(tab->runButton()->isEnabled());
    }
};

QTEST_MAIN(TestEvaluateTab)
#include "test_evaluatetab.moc"
