// The guided walk-through (issue 7, item 6) on the demo model: every step
// done with "Do it for me" really happens in the window (trace, layer, ROME
// edit, comparison, undo) and the panel reports this model's numbers; a step
// done by hand in the tab completes too; steps that cannot run say why.
#include <QtTest>

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <cmath>

#include "app/gui/JobRunner.h"
#include "app/gui/MainWindow.h"
#include "app/gui/SessionController.h"
#include "app/gui/docks/WalkthroughDock.h"
#include "app/gui/tabs/CompareTab.h"
#include "app/gui/tabs/EditTab.h"
#include "app/gui/tabs/LocateTab.h"
#include "engine/core/Paths.h"
#include "engine/trace/CausalTrace.h"
#include "tests/app/AppTestSupport.h"
#include "tests/app/TinyModelFolder.h"

using namespace kme::app;
using kme::testing::loadModel;
using kme::testing::waitIdle;

namespace {
constexpr int kJobTimeoutMs = kme::testing::kAppJobTimeoutMs;
}

class TestWalkthrough final : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    QString demoModel_;
    QString tinyModel_;



    // Presses "Do it for me" and waits until the step is marked done.
    static bool doIt(WalkthroughDock* dock) {
        if (dock->stepDone()) return true;
        QSignalSpy completed(dock, &WalkthroughDock::stepCompleted);
        QTest::mouseClick(dock->doItButton(), Qt::LeftButton);
        if (completed.isEmpty() && !completed.wait(kJobTimeoutMs)) return false;
        return dock->stepDone();
    }

    static void newSession(MainWindow& w, const QString& path) { QVERIFY(w.newSession(path)); }

private Q_SLOTS:
    void initTestCase() {
        kme::testing::isolateSettings("test_walkthrough");
        QVERIFY(tmp_.isValid());
        demoModel_ = QString::fromStdString(kme::demoModelFolder());
        QVERIFY(QFileInfo::exists(demoModel_ + QStringLiteral("/model.safetensors")));
        tinyModel_ = tmp_.filePath(QStringLiteral("tiny-gpt2"));
        QVERIFY(QDir().mkpath(tinyModel_));
        kme::testing::writeTinyModelFolder(tinyModel_.toStdString());
    }

    void wholeWalkthroughOnTheDemo() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(loadModel(w, demoModel_));
        QVERIFY(waitIdle(w));
        newSession(w, tmp_.filePath(QStringLiteral("walk.kmes")));
        const QString baseHash = w.session()->baseHash();

        WalkthroughDock* dock = w.walkthroughDock();
        QVERIFY(!dock->isVisible());
        w.startWalkthrough();
        QVERIFY(dock->isVisible());
        QCOMPARE(dock->step(), WalkthroughDock::kWelcome);
        QVERIFY(dock->browser()->toPlainText().contains(QStringLiteral("The Colosseum is located in the city of")));
        QVERIFY(!dock->backButton()->isEnabled());
        QTest::mouseClick(dock->nextButton(), Qt::LeftButton);

        // 1. Locate: the trace runs on the fact, and the panel names the layer the trace found.
        QCOMPARE(dock->step(), WalkthroughDock::kLocate);
        QCOMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(w.locateTab()));
        QVERIFY(!dock->stepDone());
        QCOMPARE(dock->nextButton()->text(), QStringLiteral("Skip →"));
        QVERIFY(doIt(dock));
        const auto trace = w.locateTab()->lastResult();
        QVERIFY(trace);
        QCOMPARE(w.locateTab()->prompt(), QStringLiteral("The Colosseum is located in the city of"));
        QCOMPARE(QString::fromStdString(trace->answerToken), QStringLiteral(" Rome"));  // the demo knows it
        const int layer = w.locateTab()->suggestedEditLayer();
        QVERIFY(layer >= 0 && layer < trace->nLayer);
        QVERIFY2(dock->resultText().contains(QStringLiteral("layer %1").arg(layer)), qPrintable(dock->resultText()));
        QVERIFY(dock->resultLabel()->isVisible());
        QVERIFY(dock->resultLabel()->text().contains(QStringLiteral("What happened")));
        QCOMPARE(dock->nextButton()->text(), QStringLiteral("Next →"));
        QVERIFY(!dock->doItButton()->isEnabled());
        QVERIFY(waitIdle(w));

        // 2. The layer: the Edit tab gets the template and that layer.
        QTest::mouseClick(dock->nextButton(), Qt::LeftButton);
        QCOMPARE(dock->step(), WalkthroughDock::kLayer);
        QVERIFY(!dock->resultLabel()->isVisible());
        QVERIFY(doIt(dock));
        QCOMPARE(w.locateTab()->chosenEditLayer(), layer);
        QCOMPARE(w.editTab()->templateEdit()->text(), QStringLiteral("The {} is located in the city of"));
        QCOMPARE(w.editTab()->layers(), std::vector<int>{layer});
        QVERIFY(waitIdle(w));

        // 3. The edit: ROME at that layer, recorded in the session. (Few v* steps and C = identity keep the test short.)
        QTest::mouseClick(dock->nextButton(), Qt::LeftButton);
        QCOMPARE(dock->step(), WalkthroughDock::kEdit);
        QCOMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(w.editTab()));
        const QString shots = qEnvironmentVariable("KME_SCREENSHOT_DIR");
        if (shots.isEmpty()) {
            w.editTab()->vStepsSpin()->setValue(12);
            w.editTab()->mom2Check()->setChecked(false);
        }  // else the model's defaults, as a user gets them, for the picture
        QVERIFY(doIt(dock));
        QCOMPARE(int(w.session()->edits().size()), 1);
        QCOMPARE(w.editTab()->method(), kme::EditMethod::Rome);
        QCOMPARE(w.editTab()->targetNewEdit()->text().trimmed(), QStringLiteral("Paris"));
        const QString editedHash = w.session()->currentHash();
        QVERIFY(editedHash != baseHash);
        QVERIFY(dock->resultText().contains(editedHash.left(12)));
        QVERIFY(waitIdle(w));

        // 4. Compare: original vs now; the panel's numbers are the table's.
        QTest::mouseClick(dock->nextButton(), Qt::LeftButton);
        QCOMPARE(dock->step(), WalkthroughDock::kCompare);
        QVERIFY(doIt(dock));
        const CompareRow* editRow = nullptr;
        for (const CompareRow& r : w.compareTab()->rows())
            if (r.kind == "edit") editRow = &r;
        QVERIFY(editRow);
        qInfo("walk-through edit: p(Paris) %.4f -> %.4f", editRow->before.pNew, editRow->after.pNew);
        QVERIFY(editRow->after.pNew > editRow->before.pNew);
        QVERIFY2(dock->resultText().contains(QStringLiteral("p(Paris)")), qPrintable(dock->resultText()));
        QVERIFY2(dock->resultText().contains(QStringLiteral("paraphrases")), qPrintable(dock->resultText()));
        QVERIFY(waitIdle(w));
        // A picture for docs/ when asked (KME_SCREENSHOT_DIR): the panel after the comparison.
        if (!shots.isEmpty()) {
            QTest::qWait(200);
            QVERIFY(w.grab().save(QDir(shots).filePath(QStringLiteral("walkthrough.png"))));
        }

        // 5. Undo: the checkpoint's weights, bit for bit.
        QTest::mouseClick(dock->nextButton(), Qt::LeftButton);
        QCOMPARE(dock->step(), WalkthroughDock::kUndo);
        QVERIFY(doIt(dock));
        QVERIFY(waitIdle(w));
        QCOMPARE(w.session()->currentHash(), baseHash);
        QVERIFY(!w.session()->edits().front().enabled);
        QVERIFY2(dock->resultText().contains(QStringLiteral("bit for bit")), qPrintable(dock->resultText()));

        QTest::mouseClick(dock->nextButton(), Qt::LeftButton);
        QCOMPARE(dock->step(), WalkthroughDock::kFinished);
        QVERIFY(!dock->doItButton()->isVisible());
        QTest::mouseClick(dock->nextButton(), Qt::LeftButton);  // Close
        QVERIFY(!dock->isVisible());
    }

    void aStepDoneByHandCompletes() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        WalkthroughDock* dock = w.walkthroughDock();
        w.startWalkthrough();
        dock->goTo(WalkthroughDock::kLocate);
        // Nothing loaded: the step says so, nothing crashes.
        QVERIFY(!dock->doStep());
        QVERIFY(dock->stateLabel()->text().contains(QStringLiteral("Load a model")));
        QVERIFY(!dock->stepDone());

        QVERIFY(loadModel(w, tinyModel_));
        QVERIFY(waitIdle(w));
        // The layer step without a trace: a message, not a crash.
        dock->goTo(WalkthroughDock::kLayer);
        QVERIFY(!dock->doStep());
        QVERIFY(dock->stateLabel()->text().contains(QStringLiteral("no finished trace")));
        // The user traces in the tab: the locate step completes.
        dock->goTo(WalkthroughDock::kLocate);
        LocateTab* locate = w.locateTab();
        locate->setPrompt(QStringLiteral("The capital of France is"));
        locate->setSubject(QStringLiteral("France"));
        locate->samplesSpin()->setValue(2);
        QSignalSpy completed(dock, &WalkthroughDock::stepCompleted);
        QVERIFY(locate->runTrace());
        QVERIFY(completed.wait(kJobTimeoutMs) || !completed.isEmpty());
        QCOMPARE(completed.first().first().toInt(), int(WalkthroughDock::kLocate));
        QVERIFY(dock->stepDone());
        // Clicking a heatmap column by hand completes the layer step.
        dock->goTo(WalkthroughDock::kLayer);
        QVERIFY(!dock->stepDone());
        locate->chooseEditLayer(1);
        QVERIFY(dock->stepDone());
        QVERIFY(dock->resultText().contains(QStringLiteral("Layer 1")));
        // Going back re-opens a step as not done.
        QTest::mouseClick(dock->backButton(), Qt::LeftButton);
        QCOMPARE(dock->step(), WalkthroughDock::kLocate);
        QVERIFY(!dock->stepDone());
        QVERIFY(waitIdle(w));
        // Undo with nothing to undo.
        dock->goTo(WalkthroughDock::kUndo);
        QVERIFY(!dock->doStep());
        QVERIFY(dock->stateLabel()->text().contains(QStringLiteral("no enabled edit")));
    }

    void anotherFactFromTheFactFile() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(loadModel(w, tinyModel_));
        QVERIFY(waitIdle(w));
        WalkthroughDock* dock = w.walkthroughDock();
        w.startWalkthrough();
        // The Colosseum first, then facts of the fact file (the demo's, next to no project of the tiny model).
        QComboBox* facts = dock->factCombo();
        QVERIFY(facts->isVisible());
        QVERIFY2(facts->count() > 10, qPrintable(QString::number(facts->count())));
        QCOMPARE(facts->itemText(0), QStringLiteral("Colosseum: Rome → Paris"));
        QCOMPARE(int(dock->factChoices().size()), facts->count());
        facts->setCurrentIndex(3);
        const WalkthroughFact chosen = dock->factChoices()[3];
        QCOMPARE(dock->fact().prompt, chosen.prompt);
        QVERIFY(chosen.prompt.contains(chosen.subject));
        QVERIFY(facts->currentText().startsWith(chosen.subject + QStringLiteral(": ")));
        QVERIFY(dock->browser()->toPlainText().contains(chosen.subject));  // the page names the chosen fact
        QVERIFY(dock->browser()->toPlainText().contains(chosen.targetNew.trimmed()));
        // The steps use it.
        QTest::mouseClick(dock->nextButton(), Qt::LeftButton);
        QVERIFY(!facts->isVisible());
        w.locateTab()->samplesSpin()->setValue(2);
        QSignalSpy completed(dock, &WalkthroughDock::stepCompleted);
        QVERIFY(dock->doStep());
        QVERIFY(completed.wait(kJobTimeoutMs) || !completed.isEmpty());
        QCOMPARE(w.locateTab()->prompt(), chosen.prompt);
        QCOMPARE(w.locateTab()->subject(), chosen.subject);
        QVERIFY(waitIdle(w));
    }

    void offeredOnceOnFirstStart() {
        QSettings().clear();
        {
            MainWindow w;
            w.show();
            w.offerWalkthroughOnce();
            QVERIFY(w.walkthroughDock()->isVisible());
        }
        MainWindow again;
        again.show();
        again.offerWalkthroughOnce();
        QVERIFY(!again.walkthroughDock()->isVisible());
    }
};

QTEST_MAIN(TestWalkthrough)
#include "test_walkthrough.moc"
