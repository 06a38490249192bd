// The Evaluate tab's several-methods page (issue 16, item 2) on a tiny random
// model: FT-L and GRACE on the same three records fill the six-property
// table (one row each, the accuracy equal to a direct engine run of the same
// records), the grouped chart, the retention curve (both methods) and the
// scalability curve (FT-L only: GRACE is not a batch method); one progress
// bar per method; the weights unchanged; CSV / PNG / SVG / PDF exports; the
// comparison saved in the session and shown again when it is reopened (and
// not mixed into the one-method page's runs).
#include <QtTest>

#include <algorithm>

#include <QCheckBox>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>

#include "app/gui/JobRunner.h"
#include "app/gui/SessionController.h"
#include "app/gui/tabs/EvaluateMethodsPanel.h"
#include "app/gui/tabs/EvaluateTab.h"
#include "engine/edit/EditDefaults.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/EditEvaluation.h"
#include "engine/model/Model.h"
#include "tests/app/TinyFactFile.h"
#include "tests/app/TinyModelFolder.h"
#include "widgets/CurvePlot.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/ScoreBarChart.h"

using namespace kme::app;

namespace {
constexpr int kJobTimeoutMs = 1200000;

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

QStringList cells(const QTableWidget* t) {
    QStringList out;
    for (int r = 0; r < t->rowCount(); ++r) {
        QStringList row{t->verticalHeaderItem(r) ? t->verticalHeaderItem(r)->text() : QString()};
        for (int c = 0; c < t->columnCount() - 1; ++c) row << (t->item(r, c) ? t->item(r, c)->text() : QString());
        out << row.join(QStringLiteral(" | "));  // seconds (last column) left out
    }
    return out;
}
}  // namespace

class TestEvaluateMethods final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString model_, facts_;

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("KME-tests"));
        QCoreApplication::setApplicationName(QStringLiteral("test_evaluate_methods"));
        QSettings().clear();
        QVERIFY(tmp_.isValid());
        model_ = tmp_.filePath(QStringLiteral("tiny-gpt2"));
        QVERIFY(QDir().mkpath(model_));
        kme::testing::writeTinyModelFolder(model_.toStdString());
        QFile defaults(model_ + QStringLiteral("/kme_edit_defaults.json"));
        QVERIFY(defaults.open(QIODevice::WriteOnly));
        defaults.write(R"({"ft-l": {"layers": [0], "num_steps": 4, "lr": 0.05, "norm_constraint": 0.05},
                           "grace": {"layers": [0], "n_iter": 10}})");
        defaults.close();
        auto tiny = kme::Model::load(model_.toStdString());
        facts_ = tmp_.filePath(QStringLiteral("facts.json"));
        QCOMPARE(kme::testing::writeTinyFactFile(*tiny, facts_.toStdString(), 3, 0).records, 3);
    }

    void twoMethodsOnTheSameRecords() {
        const QString path = tmp_.filePath(QStringLiteral("compare.kmes"));
        QStringList before;
        {
            JobRunner runner;
            SessionController session(&runner);
            QString error;
            QVERIFY2(session.newSession(path, &error), qPrintable(error));
            QVERIFY(loadModel(session, model_));
            EvaluateTab tab(&runner, &session);
            tab.resize(1300, 900);
            tab.show();
            QVERIFY(QTest::qWaitForWindowExposed(&tab));
            tab.setModel(session.model());
            tab.factFileEdit()->setText(facts_);
            tab.pages()->setCurrentWidget(tab.methodsPanel());
            EvaluateMethodsPanel* panel = tab.methodsPanel();
            panel->setMethods({kme::EditMethod::FtL, kme::EditMethod::Grace});
            panel->recordsSpin()->setValue(3);
            QVERIFY(panel->retainCheck()->isChecked());
            QVERIFY(panel->scaleCheck()->isChecked());
            const std::string hash = session.model()->weightsHash();

            QSignalSpy done(panel, &EvaluateMethodsPanel::comparisonFinished);
            QVERIFY2(panel->runButton()->isEnabled(), qPrintable(panel->messageLabel()->text()));
            QTest::mouseClick(panel->runButton(), Qt::LeftButton);
            QVERIFY(panel->isRunning());
            QVERIFY(panel->cancelButton()->isEnabled());
            QCOMPARE(panel->progressBars().size(), size_t(2));
            QVERIFY(done.wait(kJobTimeoutMs));
            QVERIFY2(done.first().first().toBool(), qPrintable(panel->messageLabel()->text()));
            QCOMPARE(session.model()->weightsHash(), hash);  // restored
            for (QProgressBar* bar : panel->progressBars()) QCOMPARE(bar->value(), 1000);

            // One row per method, in run order.
            QTableWidget* t = panel->table();
            QCOMPARE(t->rowCount(), 2);
            QCOMPARE(t->verticalHeaderItem(0)->text(), QStringLiteral("FT-L"));
            QCOMPARE(t->verticalHeaderItem(1)->text(), QStringLiteral("GRACE"));
            before = cells(t);
            qInfo("%s", qPrintable(before.join(QLatin1Char('\n'))));
            for (int r = 0; r < 2; ++r)
                for (int c : {int(EvaluateMethodsPanel::kAccuracy), int(EvaluateMethodsPanel::kRetainability)}) {
                    bool ok = false;
                    const double v = t->item(r, c)->text().toDouble(&ok);
                    QVERIFY2(ok && v >= 0 && v <= 100, qPrintable(t->item(r, c)->text()));
                }
            QVERIFY(t->item(0, EvaluateMethodsPanel::kScalability)->text().contains(QStringLiteral("b=3")));
            QCOMPARE(t->item(1, EvaluateMethodsPanel::kScalability)->text(), QStringLiteral("n/a"));

            // FT-L's accuracy is a direct engine run on the same three records.
            kme::EvalParams p;
            p.edit = kme::defaultEditParams(*session.model(), kme::EditMethod::FtL);
            p.generation.enabled = false;
            const kme::Dataset d = kme::loadDataset(facts_.toStdString());
            const kme::EvalResult direct = kme::evaluateEdits(*session.model(), d, {0, 1, 2}, p);
            const double expected = 100 * direct.edited.find("efficacy_score")->mean;
            QCOMPARE(t->item(0, EvaluateMethodsPanel::kAccuracy)->text(), QString::number(expected, 'f', 1));

            // The chart: a bar group per property; the curves: efficacy and
            // neighbourhood per method (retention: both; scale: FT-L only).
            QVERIFY(panel->chart()->groups().size() >= 6);
            int coloured = 0;
            for (const auto& s : panel->chart()->series()) coloured += !s.baseline;
            QCOMPARE(coloured, 2);
            QCOMPARE(panel->retentionPlot()->lines().size(), size_t(4));
            QCOMPARE(panel->retentionPlot()->lines()[0].x, (QVector<double>{1, 2, 3}));
            QCOMPARE(panel->scalePlot()->lines().size(), size_t(2));
            QCOMPARE(panel->scalePlot()->lines()[0].x, (QVector<double>{1, 3}));

            // Exports.
            error.clear();
            const QString csv = tmp_.filePath(QStringLiteral("methods.csv"));
            QVERIFY2(panel->exportCsv(csv, &error), qPrintable(error));
            QFile f(csv);
            QVERIFY(f.open(QIODevice::ReadOnly));
            const QString text = QString::fromUtf8(f.readAll());
            QVERIFY(text.startsWith(QStringLiteral("method,series,x,metric,value\n")));
            QVERIFY(text.contains(QStringLiteral("ft-l,retain,3,efficacy,")));
            QVERIFY(text.contains(QStringLiteral("grace,properties,,accuracy,")));
            for (const char* suffix : {"png", "svg", "pdf"}) {
                const QString file = tmp_.filePath(QStringLiteral("retention.%1").arg(QLatin1String(suffix)));
                QVERIFY2(panel->retentionPlot()->exportTo(file, &error), qPrintable(error));
                QVERIFY(QFileInfo(file).size() > 0);
            }
            QVERIFY2(panel->exportChart(tmp_.filePath(QStringLiteral("chart.png")), &error), qPrintable(error));
            QVERIFY2(panel->scalePlot()->exportTo(tmp_.filePath(QStringLiteral("scale.svg")), &error), qPrintable(error));
            // Hostile: an export into a folder that does not exist is an error, not a crash.
            QVERIFY(!panel->exportCsv(tmp_.filePath(QStringLiteral("no/such/dir/x.csv")), &error));
            QVERIFY(!error.isEmpty());
        }
        // Reopened: the same comparison, the same cells; the one-method page keeps out of it.
        JobRunner runner;
        SessionController session(&runner);
        QVERIFY(openSession(session, path));
        EvaluateTab tab(&runner, &session);
        QCOMPARE(tab.methodsPanel()->methodsShown(), (std::vector<std::string>{"ft-l", "grace"}));
        QCOMPARE(cells(tab.methodsPanel()->table()), before);
        QCOMPARE(tab.methodsPanel()->retentionPlot()->lines().size(), size_t(4));
        QCOMPARE(tab.runCount(), 0);
        // The controls show what the restored comparison ran with (its methods
        // and record count), not the page's defaults, so Run repeats it.
        const auto sorted = [](std::vector<kme::EditMethod> v) {
            std::sort(v.begin(), v.end());
            return v;
        };
        const std::vector<kme::EditMethod> ran = sorted({kme::EditMethod::FtL, kme::EditMethod::Grace});
        {
            JobRunner idle;
            EvaluateTab fresh(&idle, nullptr);  // the premise: the defaults differ from the comparison's inputs
            QVERIFY(sorted(fresh.methodsPanel()->checkedMethods()) != ran);
            QVERIFY(fresh.methodsPanel()->recordsSpin()->value() != 3);
        }
        QVERIFY(sorted(tab.methodsPanel()->checkedMethods()) == ran);
        QCOMPARE(tab.methodsPanel()->recordsSpin()->value(), 3);
        QVERIFY(tab.methodsPanel()->retainCheck()->isChecked());
        QVERIFY(tab.methodsPanel()->scaleCheck()->isChecked());
    }

    void inputsAreCheckedFirst() {
        JobRunner runner;
        EvaluateTab tab(&runner, nullptr);
        EvaluateMethodsPanel* panel = tab.methodsPanel();
        QVERIFY(!panel->runButton()->isEnabled());  // no model
        tab.setModel(kme::Model::load(model_.toStdString()));
        tab.factFileEdit()->setText(facts_);
        panel->setMethods({});
        QVERIFY(!panel->runButton()->isEnabled());
        QVERIFY(panel->inputError().contains(QStringLiteral("method")));
        panel->setMethods({kme::EditMethod::FtL});
        QVERIFY(panel->runButton()->isEnabled());
        tab.factFileEdit()->setText(tmp_.filePath(QStringLiteral("missing.json")));
        QVERIFY(!panel->runButton()->isEnabled());
        QVERIFY(panel->inputError().contains(QStringLiteral("does not exist")));
        // ROME has no default layer on this model: a one-line failure naming it, no crash.
        tab.factFileEdit()->setText(facts_);
        panel->setMethods({kme::EditMethod::FtL, kme::EditMethod::Rome});
        QSignalSpy done(panel, &EvaluateMethodsPanel::comparisonFinished);
        QVERIFY(panel->runComparison());
        QVERIFY(done.wait(kJobTimeoutMs));
        QVERIFY(!done.first().first().toBool());
        QVERIFY2(panel->messageLabel()->text().contains(QStringLiteral("ROME")), qPrintable(panel->messageLabel()->text()));
        QVERIFY(panel->methodsShown().empty());
    }
};

QTEST_MAIN(TestEvaluateMethods)
#include "test_evaluate_methods.moc"
