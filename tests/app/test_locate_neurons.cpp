// The Locate tab's "Knowledge neurons" view (LocateNeuronsView, offscreen):
// defaults, a run on the demo model (or the tiny model) on the job runner
// filling the heat strip, the completeness bars and the table, hover texts,
// cancel, a bad input refused, and the PNG / SVG / PDF export.
#include <QtTest>

#include <QDir>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>

#include "app/gui/JobRunner.h"
#include "app/gui/tabs/LocateNeuronsView.h"
#include "app/gui/tabs/LocateTab.h"
#include "engine/core/Paths.h"
#include "engine/model/Model.h"
#include "engine/trace/NeuronAttribution.h"
#include "tests/app/TinyModelFolder.h"
#include "widgets/NeuronAttributionPlot.h"
#include "widgets/QCustomPlotInclude.h"

using namespace kme::app;

namespace {
constexpr int kJobTimeoutMs = 1200000;
}

class TestLocateNeurons final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

    std::shared_ptr<kme::Model> demoOrTiny() {
        const std::string demo = kme::demoModelFolder();
        if (!demo.empty()) return kme::Model::load(demo);
        const std::string dir = tmp_.path().toStdString() + "/tiny";
        kme::testing::writeTinyModelFolder(dir);
        return kme::Model::load(dir);
    }

private Q_SLOTS:
    void initTestCase() { kme::initComputeRuntime(1); }

    void isTheThirdViewOfTheLocateTab() {
        JobRunner runner;
        LocateTab tab(&runner);
        QCOMPARE(tab.viewTabs()->count(), 3);
        QCOMPARE(tab.viewTabs()->tabText(2), QStringLiteral("Knowledge neurons"));
        QCOMPARE(tab.viewTabs()->widget(2), tab.neuronsView());
        LocateNeuronsView* view = tab.neuronsView();
        QCOMPARE(view->stepsSpin()->value(), 20);
        QCOMPARE(view->thresholdSpin()->value(), 0.2);
        QCOMPARE(view->shareSpin()->text(), QStringLiteral("adaptive"));
        QVERIFY(!view->runButton()->isEnabled());  // no model
        QVERIFY(!view->runAttribution());
    }

    void runsAndShowsRows() {
        JobRunner runner;
        LocateNeuronsView view(&runner);
        view.resize(1100, 800);
        view.show();
        auto model = demoOrTiny();
        view.setModel(model);
        const bool demo = !kme::demoModelFolder().empty();
        if (!demo) {  // the tiny model: its own prompt, no paraphrases
            view.promptEdit()->setText(QStringLiteral("The old man said that the"));
            view.answerEdit()->clear();
            view.paraphrasesEdit()->clear();
        }
        QVERIFY(view.runButton()->isEnabled());
        QSignalSpy finished(&view, &LocateNeuronsView::attributionFinished);
        QVERIFY(view.runAttribution());
        QVERIFY(view.isRunning());
        QVERIFY(!view.runButton()->isEnabled());
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, kJobTimeoutMs);
        QCOMPARE(finished.first().first().toBool(), true);
        qInfo("%s", qPrintable(view.statusLabel()->text()));
        const auto result = view.lastResult();
        QVERIFY(result);
        const int nLayer = model->config().nLayer;
        kme::widgets::NeuronAttributionPlot* plot = view.plot();
        QVERIFY(!plot->isEmpty());
        QCOMPARE(plot->data().nLayer, nLayer);
        QCOMPARE(plot->data().topK, 12);
        QCOMPARE(plot->heatMap()->data()->keySize(), 12);
        QCOMPARE(plot->heatMap()->data()->valueSize(), nLayer);
        QCOMPARE(plot->sumBars()->data()->size(), nLayer);
        QCOMPARE(plot->expectedGraph()->data()->size(), nLayer);
        QCOMPARE(plot->outlinedCells() <= int(result->neurons.size()), true);
        QVERIFY(view.table()->rowCount() >= 40);
        // The strongest neuron of the prompt heads the table (rank 1) and the strip's best row.
        QCOMPARE(view.table()->item(0, 0)->data(Qt::DisplayRole).toInt(), 1);
        const int layer = view.table()->item(0, 1)->data(Qt::DisplayRole).toInt();
        const int index = view.table()->item(0, 2)->data(Qt::DisplayRole).toInt();
        QCOMPARE(plot->data().indices[layer][0], index);
        QVERIFY(plot->cellToolTip(layer, 0).contains(QString::number(index)));
        QVERIFY(view.table()->item(0, 3)->toolTip().contains(QStringLiteral("score on the prompt")));
        QVERIFY(plot->layerToolTip(0).contains(QStringLiteral("p(a) − p(0)")));
        QVERIFY(plot->cellToolTip(nLayer, 0).isEmpty());
        if (demo) {
            QCOMPARE(result->prompts.size(), size_t(4));
            QVERIFY(!result->neurons.empty());
            QCOMPARE(plot->outlinedCells() > 0, true);
            int selectedRows = 0;
            for (int r = 0; r < view.table()->rowCount(); ++r)
                selectedRows += !view.table()->item(r, 5)->text().isEmpty();
            QCOMPARE(selectedRows, int(result->neurons.size()));
        }
        for (const QString suffix : {QStringLiteral("png"), QStringLiteral("svg"), QStringLiteral("pdf")}) {
            const QString path = tmp_.filePath(QStringLiteral("neurons.") + suffix);
            QString error;
            QVERIFY2(view.exportPlot(path, &error), qPrintable(error));
            QVERIFY(QFileInfo(path).size() > 1000);
        }
        const QImage image = plot->toImage(QSize(900, 420));
        QCOMPARE(image.size(), QSize(900, 420));
    }

    // KME_SHOT_DIR=DIR: the Locate tab on its "Knowledge neurons" view
    // after a run on the demo model, grabbed into DIR/locate-neurons.png
    // (docs/locate-neurons.png is made so).
    void screenshot() {
        const QString dir = qEnvironmentVariable("KME_SHOT_DIR");
        if (dir.isEmpty() || kme::demoModelFolder().empty()) QSKIP("KME_SHOT_DIR not set (or no demo model)");
        JobRunner runner;
        LocateTab tab(&runner);
        tab.resize(1280, 900);
        tab.show();
        tab.setModel(kme::Model::load(kme::demoModelFolder()));
        tab.viewTabs()->setCurrentIndex(2);
        QSignalSpy finished(tab.neuronsView(), &LocateNeuronsView::attributionFinished);
        QVERIFY(tab.neuronsView()->runAttribution());
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, kJobTimeoutMs);
        for (int i = 0; i < 5; ++i) QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
        const QString path = QDir(dir).filePath(QStringLiteral("locate-neurons.png"));
        QVERIFY(tab.grab().save(path, "PNG"));
        qInfo("wrote %s", qPrintable(path));
    }

    void cancelStopsTheRun() {
        JobRunner runner;
        LocateNeuronsView view(&runner);
        view.setModel(demoOrTiny());
        view.stepsSpin()->setValue(2000);  // long enough to cancel
        QSignalSpy finished(&view, &LocateNeuronsView::attributionFinished);
        QVERIFY(view.runAttribution());
        view.cancelAttribution();
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, kJobTimeoutMs);
        QCOMPARE(finished.first().first().toBool(), false);
        QVERIFY(view.statusLabel()->text().startsWith(QStringLiteral("Cancelled")));
        QVERIFY(view.plot()->isEmpty());
    }

    void badInputIsRefusedOrReported() {
        JobRunner runner;
        LocateNeuronsView view(&runner);
        view.setModel(demoOrTiny());
        view.promptEdit()->setText(QStringLiteral("   "));
        QVERIFY(!view.inputError().isEmpty());
        QVERIFY(!view.runButton()->isEnabled());
        QVERIFY(!view.runAttribution());
        // A prompt longer than the context: the engine's message in the status line.
        view.promptEdit()->setText(QString(QStringLiteral("word ")).repeated(400));
        QSignalSpy finished(&view, &LocateNeuronsView::attributionFinished);
        QVERIFY(view.runAttribution());
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, kJobTimeoutMs);
        QCOMPARE(finished.first().first().toBool(), false);
        qInfo("%s", qPrintable(view.statusLabel()->text()));
        QVERIFY(view.statusLabel()->text().startsWith(QStringLiteral("Attribution failed")));
        QString error;
        QVERIFY(!view.exportPlot(tmp_.filePath(QStringLiteral("none.png")), &error));
        QVERIFY(!error.isEmpty());
    }
};

QTEST_MAIN(TestLocateNeurons)
#include "test_locate_neurons.moc"
