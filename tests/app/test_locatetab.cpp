// The Locate tab with QTest: inputs and the inline error, a trace through the
// job runner that fills the heatmaps in row by row, choosing the edit layer,
// cancel, failure, export.
#include <QtTest>

#include <QCheckBox>
#include <QDir>
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
#include "app/gui/tabs/LocateTab.h"
#include "engine/model/Model.h"
#include "engine/trace/CausalTrace.h"
#include "tests/app/TinyModelFolder.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/TraceHeatmap.h"
#include "widgets/TraceHeatmapPanel.h"

using namespace kme::app;
using kme::widgets::TraceHeatmap;

namespace {
constexpr int kJobTimeoutMs = 120000;  // generous: CI machines are slow and shared
}

class TestLocateTab final : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    QString modelDir_;
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

        // Cancel right after the start: never a result.
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
