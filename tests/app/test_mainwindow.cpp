// Drives KME Studio's main window with QTest: load a model through the same
// path as File ▸ Open model folder, predict, generate, fail, cancel.
#include <QtTest>

#include <QApplication>
#include <QDir>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QThread>
#include <atomic>

#include "app/gui/JobRunner.h"
#include "app/gui/JobStatusWidget.h"
#include "app/gui/MainWindow.h"
#include "app/gui/RecentModels.h"
#include "app/gui/docks/LearnDock.h"
#include "app/gui/docks/ModelDock.h"
#include "app/gui/tabs/PredictTab.h"
#include "engine/core/Error.h"
#include "engine/model/Model.h"
#include "tests/app/TinyModelFolder.h"
#include "widgets/ProbabilityBars.h"
#include "widgets/QCustomPlotInclude.h"

using namespace kme::app;

namespace {
constexpr int kJobTimeoutMs = 1200000;  // generous: CI machines are slow and shared
}

class TestMainWindow final : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    QString modelDir_;

    // Loads the tiny model through the menu's code path and waits for it.
    bool loadModel(MainWindow& w, const QString& dir) {
        QSignalSpy done(&w, &MainWindow::modelLoadFinished);
        if (!w.openModelFolder(dir)) return false;
        if (!done.wait(kJobTimeoutMs) && done.isEmpty()) return false;
        return done.first().first().toBool();
    }

private Q_SLOTS:
    void initTestCase() {
        // Never touch the user's real settings.
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("KME-tests"));
        QCoreApplication::setApplicationName(QStringLiteral("test_mainwindow"));
        QSettings().clear();
        QVERIFY(tmp_.isValid());
        modelDir_ = tmp_.filePath(QStringLiteral("tiny-gpt2"));
        QVERIFY(QDir().mkpath(modelDir_));
        kme::testing::writeTinyModelFolder(modelDir_.toStdString());
        // Set KME_TINY_MODEL_DIR to keep a copy of the fixture (e.g. to look at it with kme-studio).
        const QString keep = qEnvironmentVariable("KME_TINY_MODEL_DIR");
        if (!keep.isEmpty() && QDir().mkpath(keep)) kme::testing::writeTinyModelFolder(keep.toStdString());
    }

    void startsEmpty() {
        MainWindow w;
        QCOMPARE(w.windowTitle(), QStringLiteral("KME Studio"));
        QVERIFY(!w.model());
        QCOMPARE(w.tabs()->count(), 6);
        QStringList ids;
        for (int i = 0; i < w.tabs()->count(); ++i) ids << w.tabId(i);
        QCOMPARE(ids, (QStringList{"predict", "locate", "edit", "compare", "evaluate", "methods"}));
        QVERIFY(!w.predictTab()->predictButton()->isEnabled());  // nothing loaded
        QVERIFY(w.size().width() >= 1000);
    }

    void loadPredictGenerate() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(loadModel(w, modelDir_));
        QVERIFY(w.model());
        QVERIFY(!w.jobRunner()->isBusy());
        QCOMPARE(w.windowTitle(), QStringLiteral("KME Studio — tiny-gpt2"));
        QCOMPARE(w.modelDock()->factText(QStringLiteral("Layers × width")), QStringLiteral("2 × 16"));
        QCOMPARE(w.modelDock()->factText(QStringLiteral("Architecture")), QStringLiteral("gpt2"));
        QVERIFY(w.modelDock()->factText(QStringLiteral("Weights hash")).endsWith(QChar(0x2026)));
        QCOMPARE(w.modelFacts().weightsHash.size(), 64);
        QVERIFY(!w.statusBar()->currentMessage().startsWith(QStringLiteral("Error")));
        QCOMPARE(RecentModels::folders().value(0), QDir::cleanPath(modelDir_));

        PredictTab* tab = w.predictTab();
        w.tabs()->setCurrentWidget(tab);
        QTest::keyClicks(tab->promptEdit(), QStringLiteral("The capital of France is"));
        QVERIFY(tab->predictButton()->isEnabled());
        QSignalSpy predicted(tab, &PredictTab::predictionFinished);
        QTest::mouseClick(tab->predictButton(), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(predicted.size(), 1, kJobTimeoutMs);
        QCOMPARE(predicted.first().first().toBool(), true);

        auto* bars = tab->bars();
        QCOMPARE(bars->barCount(), tab->topKSpin()->value());
        const QVector<double> p = bars->values();
        double sum = 0;
        for (int i = 0; i < p.size(); ++i) {
            QVERIFY(p[i] >= 0 && p[i] <= 1);
            if (i > 0) QVERIFY2(p[i] <= p[i - 1], "bars are sorted, most likely first");
            sum += p[i];
        }
        QVERIFY(sum <= 1.0 + 1e-9);
        QCOMPARE(bars->axisLabels().size(), p.size());
        QCOMPARE(bars->valueLabels().size(), p.size());
        QVERIFY(tab->promptTokensText().contains(QStringLiteral("␣capital")) ||
                tab->promptTokensText().contains(QStringLiteral("␣")));
        QVERIFY(!w.statusBar()->currentMessage().startsWith(QStringLiteral("Error")));

        // Enter in the prompt runs Predict too.
        tab->topKSpin()->setValue(3);
        QTest::keyClick(tab->promptEdit(), Qt::Key_Return);
        QTRY_COMPARE_WITH_TIMEOUT(predicted.size(), 2, kJobTimeoutMs);
        QCOMPARE(bars->barCount(), 3);

        // Ctrl+Return (Run ▸ Predict next token) from anywhere in the window.
        QApplication::setActiveWindow(&w);
        w.tabs()->setCurrentIndex(1);
        QTest::keyClick(&w, Qt::Key_Return, Qt::ControlModifier);
        QTRY_COMPARE_WITH_TIMEOUT(predicted.size(), 3, kJobTimeoutMs);
        QCOMPARE(w.tabs()->currentWidget(), tab);

        // Generate: greedy, so its first token is the top bar's token.
        QSignalSpy generated(tab, &PredictTab::generationFinished);
        tab->maxNewTokensSpin()->setValue(5);
        QTest::mouseClick(tab->generateButton(), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(generated.size(), 1, kJobTimeoutMs);
        QCOMPARE(generated.first().first().toBool(), true);
        const kme::Model& model = *w.model();
        const auto top = model.topNext(model.encodePrompt("The capital of France is"), 1);
        const auto eos = model.tokenizer().eosId();
        if (!(eos && top[0].id == *eos))
            QVERIFY2(tab->continuation().startsWith(QString::fromStdString(top[0].token)),
                     qPrintable(tab->continuation()));
    }

    void learnPanelFollowsTabs() {
        MainWindow w;
        for (int i = 0; i < w.tabs()->count(); ++i) {
            w.tabs()->setCurrentIndex(i);
            QCOMPARE(w.learnDock()->currentPage(), w.tabId(i));
            const QString text = w.learnDock()->browser()->toPlainText();
            QVERIFY2(text.size() > 200, qPrintable(w.tabId(i) + QLatin1Char(':') + text));
            QVERIFY(!text.contains(QStringLiteral("No explanation")));
        }
        w.tabs()->setCurrentIndex(1);
        QVERIFY(w.learnDock()->browser()->toPlainText().contains(QStringLiteral("indirect effect")));
    }

    void missingFolderShowsError() {
        MainWindow w;
        w.show();
        QSignalSpy done(&w, &MainWindow::modelLoadFinished);
        QVERIFY(w.openModelFolder(tmp_.filePath(QStringLiteral("no-such-model"))));
        QTRY_COMPARE_WITH_TIMEOUT(done.size(), 1, kJobTimeoutMs);
        QCOMPARE(done.first().first().toBool(), false);
        QVERIFY(!w.model());
        const QString message = w.statusBar()->currentMessage();
        QVERIFY2(message.startsWith(QStringLiteral("Error")) && message.contains(QStringLiteral("no-such-model")),
                 qPrintable(message));
        auto* box = w.findChild<QMessageBox*>(QStringLiteral("jobErrorBox"));
        QVERIFY(box);
        QVERIFY(box->informativeText().contains(QStringLiteral("no-such-model")));
        box->close();
        QVERIFY(!RecentModels::folders().contains(QDir::cleanPath(tmp_.filePath(QStringLiteral("no-such-model")))));
        // The window still works: a good folder loads afterwards.
        QVERIFY(loadModel(w, modelDir_));
    }

    void corruptConfigShowsEngineMessage() {
        const QString bad = tmp_.filePath(QStringLiteral("bad-config"));
        QVERIFY(QDir().mkpath(bad));
        kme::testing::writeTinyModelFolder(bad.toStdString());
        QFile config(bad + QStringLiteral("/config.json"));
        QVERIFY(config.open(QIODevice::WriteOnly | QIODevice::Truncate));
        config.write("{\"model_type\": \"gpt2\", \"n_layer\": ");  // truncated JSON
        config.close();
        MainWindow w;
        QVERIFY(!loadModel(w, bad));
        QVERIFY2(w.statusBar()->currentMessage().contains(QStringLiteral("config.json")),
                 qPrintable(w.statusBar()->currentMessage()));
    }

    void cancelRunningJob() {
        MainWindow w;
        w.show();
        std::atomic<int> steps{0};
        bool succeeded = false;
        // A job with progress calls, like a trace: it stops at the next call after Cancel.
        QVERIFY(w.jobRunner()->start(
            QStringLiteral("Slow test job"),
            [&steps](const kme::ProgressFn& progress) {
                for (int i = 0; i < 1000; ++i) {
                    if (!progress(i, 1000)) throw kme::Cancelled();
                    ++steps;
                    QThread::msleep(10);
                }
            },
            [&succeeded] { succeeded = true; }));
        QVERIFY(w.jobRunner()->isBusy());
        QVERIFY(w.jobStatus()->isVisible());
        // One job at a time: a load is refused while this runs.
        QVERIFY(!w.openModelFolder(modelDir_));
        QTRY_VERIFY_WITH_TIMEOUT(w.jobStatus()->progressBar()->maximum() > 0, kJobTimeoutMs);
        QVERIFY(w.jobStatus()->cancelButton()->isEnabled());
        QTest::mouseClick(w.jobStatus()->cancelButton(), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!w.jobRunner()->isBusy(), kJobTimeoutMs);
        QVERIFY(!succeeded);
        QVERIFY(steps.load() < 1000);
        QVERIFY2(w.statusBar()->currentMessage().startsWith(QStringLiteral("Cancelled")),
                 qPrintable(w.statusBar()->currentMessage()));
        QVERIFY(!w.jobStatus()->isVisible());
        QVERIFY(!w.findChild<QMessageBox*>(QStringLiteral("jobErrorBox")));  // a cancel is not an error
    }

    void cancelWithoutProgressDropsResult() {
        // Work that cannot stop (Model::load has no progress calls) runs to its end; its result is dropped.
        MainWindow w;
        QSignalSpy done(&w, &MainWindow::modelLoadFinished);
        QVERIFY(w.openModelFolder(modelDir_));
        w.jobRunner()->cancel();
        QTRY_COMPARE_WITH_TIMEOUT(done.size(), 1, kJobTimeoutMs);
        QCOMPARE(done.first().first().toBool(), false);
        QVERIFY(!w.model());
        QVERIFY(w.statusBar()->currentMessage().startsWith(QStringLiteral("Cancelled")));
    }

    void unexpectedExceptionIsAMessage() {
        MainWindow w;
        QVERIFY(w.jobRunner()->start(QStringLiteral("Broken job"),
                                     [](const kme::ProgressFn&) { throw std::runtime_error("boom"); }));
        QTRY_VERIFY_WITH_TIMEOUT(!w.jobRunner()->isBusy(), kJobTimeoutMs);
        QVERIFY(w.statusBar()->currentMessage().contains(QStringLiteral("boom")));
    }

    void recentListIsBounded() {
        RecentModels::clear();
        for (int i = 0; i < 12; ++i) RecentModels::add(QStringLiteral("/models/m%1").arg(i));
        RecentModels::add(QStringLiteral("/models/m3"));
        const QStringList list = RecentModels::folders();
        QCOMPARE(list.size(), RecentModels::kMax);
        QCOMPARE(list.first(), QStringLiteral("/models/m3"));
        QCOMPARE(list.count(QStringLiteral("/models/m3")), 1);
        MainWindow w;
        QVERIFY(w.recentMenu()->actions().size() >= RecentModels::kMax);
        RecentModels::clear();
    }

    void darkPaletteIsReadable() {
        // A dark palette as a desktop theme would set it: the chart and the
        // Learn panel must take their colours from it, not hard-code black on white.
        const QPalette saved = QApplication::palette();
        QPalette dark;
        dark.setColor(QPalette::Window, QColor(0x2b, 0x2b, 0x2b));
        dark.setColor(QPalette::WindowText, QColor(0xe0, 0xe0, 0xe0));
        dark.setColor(QPalette::Base, QColor(0x1e, 0x1e, 0x1e));
        dark.setColor(QPalette::AlternateBase, QColor(0x2b, 0x2b, 0x2b));
        dark.setColor(QPalette::Text, QColor(0xe8, 0xe8, 0xe8));
        dark.setColor(QPalette::Button, QColor(0x35, 0x35, 0x35));
        dark.setColor(QPalette::ButtonText, QColor(0xe0, 0xe0, 0xe0));
        dark.setColor(QPalette::Highlight, QColor(0x3d, 0x8e, 0xd8));
        dark.setColor(QPalette::Link, QColor(0x6c, 0xb4, 0xff));
        dark.setColor(QPalette::PlaceholderText, QColor(0x90, 0x90, 0x90));
        QApplication::setPalette(dark);
        {
            MainWindow w;
            w.show();
            QVERIFY(QTest::qWaitForWindowExposed(&w));
            QVERIFY(loadModel(w, modelDir_));
            w.predictTab()->setPrompt(QStringLiteral("The capital of France is"));
            QSignalSpy predicted(w.predictTab(), &PredictTab::predictionFinished);
            QVERIFY(w.predictTab()->predict());
            QTRY_COMPARE_WITH_TIMEOUT(predicted.size(), 1, kJobTimeoutMs);
            QCustomPlot* plot = w.predictTab()->bars()->plot();
            QCOMPARE(plot->yAxis->tickLabelColor(), dark.color(QPalette::Text));
            QCOMPARE(plot->xAxis->labelColor(), dark.color(QPalette::Text));
            const QImage chart = plot->toPixmap().toImage();
            QCOMPARE(QColor(chart.pixel(2, 2)), dark.color(QPalette::Base));
            const QString shots = qEnvironmentVariable("KME_SHOT_DIR");  // to look at it
            if (!shots.isEmpty()) w.grab().save(shots + QStringLiteral("/window-dark.png"));
        }
        QApplication::setPalette(saved);
    }

    void layoutIsRemembered() {
        {
            MainWindow w;
            w.tabs()->setCurrentIndex(2);
            w.saveLayout();
        }
        MainWindow again;
        QCOMPARE(again.tabId(again.tabs()->currentIndex()), QStringLiteral("edit"));
        again.tabs()->setCurrentIndex(0);
        again.saveLayout();
    }
};

QTEST_MAIN(TestMainWindow)
#include "test_mainwindow.moc"
