// The Evaluate tab (issue 7, item 5) on the demo model: ROME over two demo
// facts with few optimisation steps fills the table (an efficacy row with a
// percentage) and the chart (bars), leaves the weights as they were, keeps
// the run for a second method; a fact file that does not exist is an inline
// error, not a crash; the main window holds the tab with the demo facts
// prefilled.
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

#include "app/gui/JobRunner.h"
#include "app/gui/MainWindow.h"
#include "app/gui/tabs/EvaluateTab.h"
#include "engine/core/Paths.h"
#include "engine/model/Model.h"
#include "widgets/QCustomPlotInclude.h"

using namespace kme::app;

namespace {
constexpr int kJobTimeoutMs = 120000;

int barCount(QCustomPlot* plot) {
    int n = 0;
    for (int i = 0; i < plot->plottableCount(); ++i)
        if (auto* bars = qobject_cast<QCPBars*>(plot->plottable(i))) n += bars->dataCount();
    return n;
}
}  // namespace

class TestEvaluateTab final : public QObject {
    Q_OBJECT

private:
    QString demoModel_;
    std::shared_ptr<kme::Model> model_;

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
