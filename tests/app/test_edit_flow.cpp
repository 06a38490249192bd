// The main path of issue 7 through the window: open the demo model in a
// session, author a ROME edit of a demo fact, see it in the history and in
// the Compare table, undo and redo it (weights hash back to the original and
// forward again), close, reopen the session file and find the same edits and
// the same weights. Plus the hostile side: files that are not sessions.
#include <QtTest>

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QToolButton>
#include <QTreeWidget>
#include <cmath>

#include "app/gui/JobRunner.h"
#include "app/gui/MainWindow.h"
#include "app/gui/SessionController.h"
#include "app/gui/StartupScript.h"
#include "app/gui/docks/HistoryDock.h"
#include "app/gui/tabs/CompareTab.h"
#include "app/gui/tabs/EditTab.h"
#include "app/gui/tabs/LocateTab.h"
#include "engine/core/Paths.h"
#include "engine/model/Model.h"
#include "tests/app/AppTestSupport.h"
#include "tests/app/TinyModelFolder.h"

using namespace kme::app;
using kme::testing::loadModel;
using kme::testing::waitIdle;

namespace {
constexpr int kJobTimeoutMs = kme::testing::kAppJobTimeoutMs;  // an edit computes key statistics the first time; shared CI cores
const QString kTemplate = QStringLiteral("The {} is located in the city of");  // demo fact case 245
const QString kPrompt = QStringLiteral("The Colosseum is located in the city of");
}  // namespace

class TestEditFlow final : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    QString demoModel_;
    QString tinyModel_;



    static bool openSession(MainWindow& w, const QString& path) {
        QSignalSpy done(w.session(), &SessionController::sessionOpenFinished);
        if (!w.openSession(path)) return false;
        if (!done.wait(kJobTimeoutMs) && done.isEmpty()) return false;
        return done.first().first().toBool();
    }

    // Runs the Edit tab's edit and waits for it to be applied and recorded.
    static bool runEdit(EditTab* tab) {
        if (!tab->runButton()->isEnabled()) return false;
        QSignalSpy done(tab, &EditTab::editFinished);
        QTest::mouseClick(tab->runButton(), Qt::LeftButton);
        if (done.isEmpty() && !done.wait(kJobTimeoutMs)) return false;
        return done.first().first().toBool();
    }

    static bool compare(CompareTab* tab, int before, int after) {
        tab->setPoints(before, after);
        QSignalSpy done(tab, &CompareTab::comparisonFinished);
        if (!tab->compare()) return false;
        if (!done.wait(kJobTimeoutMs) && done.isEmpty()) return false;
        return done.first().first().toBool();
    }

    static int rowOf(CompareTab* tab, const QString& prompt) {
        for (int r = 0; r < tab->table()->rowCount(); ++r)
            if (tab->cellText(r, CompareTab::kPromptCol) == prompt) return r;
        return -1;
    }

    static double number(const QString& s) { return s.toDouble(); }

    // Undo / redo through the window's shortcut, then wait for the rebuild.
    static void pressAndWait(MainWindow& w, Qt::KeyboardModifiers modifiers) {
        QSignalSpy rebuilt(w.session(), &SessionController::weightsChanged);
        QApplication::setActiveWindow(&w);
        w.tabs()->setFocus();
        QTest::keyClick(&w, Qt::Key_Z, modifiers);
        QTRY_VERIFY_WITH_TIMEOUT(!rebuilt.isEmpty(), kJobTimeoutMs);
        QVERIFY(waitIdle(w));
    }

private Q_SLOTS:
    void initTestCase() {
        kme::testing::isolateSettings("test_edit_flow");
        QVERIFY(tmp_.isValid());
        demoModel_ = QString::fromStdString(kme::demoModelFolder());
        QVERIFY2(!demoModel_.isEmpty() && QFileInfo::exists(demoModel_ + QStringLiteral("/model.safetensors")),
                 "the demo model (projects/demo/model) is part of the repository");
        tinyModel_ = tmp_.filePath(QStringLiteral("tiny-gpt2"));
        QVERIFY(QDir().mkpath(tinyModel_));
        kme::testing::writeTinyModelFolder(tinyModel_.toStdString());
    }

    void locatePrefillsTheEdit() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(loadModel(w, demoModel_));
        QVERIFY(waitIdle(w));
        LocateTab* locate = w.locateTab();
        locate->setPrompt(kPrompt);
        locate->setSubject(QStringLiteral("Colosseum"));
        locate->chooseEditLayer(2);  // what clicking column 2 of a heatmap does
        EditTab* edit = w.editTab();
        QCOMPARE(edit->templateEdit()->text(), kTemplate);
        QCOMPARE(edit->subjectEdit()->text(), QStringLiteral("Colosseum"));
        QCOMPARE(edit->layers(), std::vector<int>{2});
        // The current answer is read from the model by itself.
        QTRY_COMPARE_WITH_TIMEOUT(edit->targetTrueEdit()->text().trimmed(), QStringLiteral("Rome"), kJobTimeoutMs);
        QVERIFY(waitIdle(w));
    }

    void editCompareUndoRedoReopen() {
        const QString sessionPath = tmp_.filePath(QStringLiteral("flow.kmes"));
        QString baseHash, editedHash, editName;
        {
            MainWindow w;
            w.show();
            QVERIFY(QTest::qWaitForWindowExposed(&w));
            QVERIFY(w.newSession(sessionPath));
            QVERIFY(w.windowTitle().contains(QStringLiteral("flow")));
            QVERIFY(loadModel(w, demoModel_));
            QVERIFY(waitIdle(w));
            SessionController* session = w.session();
            baseHash = session->baseHash();
            QCOMPARE(baseHash.size(), 64);
            QCOMPARE(session->currentHash(), baseHash);
            QVERIFY(session->store()->model());  // the model is recorded in the session

            // Edit tab: the demo's ROME default layer (kme_edit_defaults.json) is prefilled.
            EditTab* tab = w.editTab();
            w.tabs()->setCurrentWidget(tab);
            QCOMPARE(tab->layers(), std::vector<int>{1});
            tab->setRequest(kTemplate, QStringLiteral("Colosseum"), QStringLiteral("Paris"));
            QTRY_COMPARE_WITH_TIMEOUT(tab->targetTrueEdit()->text(), QStringLiteral("Rome"), kJobTimeoutMs);
            QVERIFY(waitIdle(w));
            // Few optimisation steps keep the test short; key statistics stay on (cached after the first run).
            QTest::mouseClick(tab->advancedToggle(), Qt::LeftButton);
            QVERIFY(tab->advancedBox()->isVisible());
            tab->vStepsSpin()->setValue(5);
            QVERIFY(tab->mom2Check()->isChecked());
            QVERIFY(tab->inputError().isEmpty());
            QVERIFY(runEdit(tab));
            QVERIFY(tab->summary()->toPlainText().contains(QStringLiteral("h.1.mlp.c_proj.weight")));
            QVERIFY(tab->summary()->toPlainText().contains(QStringLiteral("rank 1")));

            // History: one edit, on, with its name; the weights changed and are what the session recorded.
            QTreeWidget* tree = w.historyDock()->tree();
            QCOMPARE(tree->topLevelItemCount(), 1);
            QTreeWidgetItem* item = tree->topLevelItem(0);
            QCOMPARE(item->checkState(HistoryDock::kEnabledCol), Qt::Checked);
            editName = item->text(HistoryDock::kNameCol);
            QCOMPARE(editName, QStringLiteral("Colosseum: Rome \u2192 Paris"));
            QCOMPARE(item->text(HistoryDock::kMethodCol), QStringLiteral("ROME"));
            QCOMPARE(item->text(HistoryDock::kLayerCol), QStringLiteral("1"));
            editedHash = session->currentHash();
            QVERIFY(editedHash != baseHash);
            QCOMPARE(QString::fromStdString(w.model()->weightsHash()), editedHash);
            const auto stored = session->store()->listEdits();
            QCOMPARE(int(stored.size()), 1);
            QCOMPARE(QString::fromStdString(stored[0].weightsHashAfter), editedHash);
            QCOMPARE(QString::fromStdString(stored[0].computedOnHash), baseHash);

            // Compare original with now: the edit prompt's after column changed.
            CompareTab* cmp = w.compareTab();
            QCOMPARE(cmp->beforeCombo()->count(), 3);  // original, after #1, now
            QVERIFY(compare(cmp, 0, -1));
            const int row = rowOf(cmp, kPrompt);
            QVERIFY(row >= 0);
            QCOMPARE(cmp->table()->verticalHeaderItem(row)->text(), QStringLiteral("edit"));
            const double newBefore = number(cmp->cellText(row, CompareTab::kNewBeforeCol));
            const double newAfter = number(cmp->cellText(row, CompareTab::kNewAfterCol));
            const double trueBefore = number(cmp->cellText(row, CompareTab::kTrueBeforeCol));
            const double trueAfter = number(cmp->cellText(row, CompareTab::kTrueAfterCol));
            QVERIFY2(newAfter > newBefore && newAfter > trueAfter,
                     qPrintable(QStringLiteral("p(new) %1 -> %2, p(true) %3 -> %4")
                                    .arg(newBefore).arg(newAfter).arg(trueBefore).arg(trueAfter)));
            QVERIFY(trueBefore > trueAfter);
            QVERIFY(cmp->isChanged(row, CompareTab::kNewAfterCol));
            QVERIFY(cmp->isChanged(row, CompareTab::kContAfterCol));
            QVERIFY(cmp->cellText(row, CompareTab::kContBeforeCol).startsWith(QStringLiteral(" Rome")));
            QVERIFY(cmp->cellText(row, CompareTab::kContAfterCol).startsWith(QStringLiteral(" Paris")));
            QVERIFY(cmp->cellText(row, CompareTab::kTopAfterCol).startsWith(QStringLiteral(" Paris")));
            QVERIFY(!cmp->isChanged(row, CompareTab::kNewBeforeCol));  // only "after" cells are marked
            // The demo fact record adds paraphrases and neighbours.
            QStringList kinds;
            for (int r = 0; r < cmp->table()->rowCount(); ++r) kinds << cmp->table()->verticalHeaderItem(r)->text();
            QVERIFY2(kinds.contains(QStringLiteral("paraphrase")) && kinds.contains(QStringLiteral("neighbour")),
                     qPrintable(kinds.join(QLatin1Char(','))));
            // Computing "original" did not leave the live weights there, and the comparison is saved.
            QCOMPARE(QString::fromStdString(w.model()->weightsHash()), editedHash);
            QCOMPARE(int(session->store()->listPreviews().size()), cmp->table()->rowCount());

            // Undo (Ctrl+Z): the original weights, bit for bit.
            pressAndWait(w, Qt::ControlModifier);
            QCOMPARE(tree->topLevelItem(0)->checkState(HistoryDock::kEnabledCol), Qt::Unchecked);
            QCOMPARE(session->currentHash(), baseHash);
            QCOMPARE(QString::fromStdString(w.model()->weightsHash()), baseHash);
            QVERIFY(!session->store()->listEdits()[0].enabled);
            // Original vs now now shows no change on the edit prompt.
            QVERIFY(compare(cmp, 0, -1));
            const int again = rowOf(cmp, kPrompt);
            QVERIFY(again >= 0);
            QVERIFY(!cmp->isChanged(again, CompareTab::kNewAfterCol));
            QCOMPARE(cmp->cellText(again, CompareTab::kNewAfterCol), cmp->cellText(again, CompareTab::kNewBeforeCol));
            // "After #1" holds the enabled edits up to #1: none while #1 is off.
            QVERIFY(cmp->afterCombo()->itemText(1).endsWith(QStringLiteral("(off)")));
            QVERIFY(compare(cmp, 0, 1));
            QVERIFY(!cmp->isChanged(rowOf(cmp, kPrompt), CompareTab::kNewAfterCol));

            // Redo (Ctrl+Shift+Z): the edited weights again, the same bytes.
            pressAndWait(w, Qt::ControlModifier | Qt::ShiftModifier);
            QCOMPARE(tree->topLevelItem(0)->checkState(HistoryDock::kEnabledCol), Qt::Checked);
            QCOMPARE(session->currentHash(), editedHash);
            QCOMPARE(QString::fromStdString(w.model()->weightsHash()), editedHash);
            // Any two history points: original vs after #1 (the last comparison saved).
            QVERIFY(compare(cmp, 0, 1));
            QVERIFY(cmp->isChanged(rowOf(cmp, kPrompt), CompareTab::kNewAfterCol));
            QCOMPARE(QString::fromStdString(w.model()->weightsHash()), editedHash);

            // A trace run in Locate is saved in the session too.
            w.locateTab()->samplesSpin()->setValue(2);
            QSignalSpy traced(w.locateTab(), &LocateTab::traceFinished);
            QVERIFY(w.locateTab()->runTrace());
            QTRY_COMPARE_WITH_TIMEOUT(traced.size(), 1, kJobTimeoutMs);
            QVERIFY2(traced.first().first().toBool(), qPrintable(w.locateTab()->statusLabel()->text()));
            const auto traces = session->store()->listTraces();
            QCOMPARE(int(traces.size()), 1);
            QVERIFY(QString::fromStdString(traces[0].requestJson).contains(editedHash));
            QVERIFY(QString::fromStdString(traces[0].resultJson).contains(QStringLiteral("\"mlp\"")));
            QVERIFY(waitIdle(w));
            w.close();
        }

        // Reopen the file in a new window: the same edit, on, and the same weights.
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(openSession(w, sessionPath));
        QVERIFY(w.model());
        QCOMPARE(w.session()->baseHash(), baseHash);
        QCOMPARE(w.session()->currentHash(), editedHash);
        QCOMPARE(QString::fromStdString(w.model()->weightsHash()), editedHash);
        QVERIFY(w.windowTitle().contains(QStringLiteral("flow")));
        QCOMPARE(w.historyDock()->tree()->topLevelItemCount(), 1);
        QCOMPARE(w.historyDock()->tree()->topLevelItem(0)->text(HistoryDock::kNameCol), editName);
        QCOMPARE(w.historyDock()->tree()->topLevelItem(0)->checkState(HistoryDock::kEnabledCol), Qt::Checked);
        // The last comparison is shown again, as saved (original vs after #1).
        CompareTab* cmp = w.compareTab();
        QVERIFY(rowOf(cmp, kPrompt) >= 0);
        QVERIFY(cmp->isChanged(rowOf(cmp, kPrompt), CompareTab::kNewAfterCol));
        QVERIFY(cmp->statusLabel()->text().startsWith(QStringLiteral("Saved comparison")));

        // Rename, undo, and the file keeps both.
        const int64_t id = w.session()->edits().front().id;
        QVERIFY(w.session()->renameEdit(id, QStringLiteral("Colosseum in Paris")));
        QVERIFY(w.session()->undo());
        QVERIFY(waitIdle(w));
        QCOMPARE(QString::fromStdString(w.model()->weightsHash()), baseHash);
        w.close();

        MainWindow third;
        QVERIFY(openSession(third, sessionPath));
        QCOMPARE(third.historyDock()->tree()->topLevelItem(0)->text(HistoryDock::kNameCol),
                 QStringLiteral("Colosseum in Paris"));
        QCOMPARE(third.historyDock()->tree()->topLevelItem(0)->checkState(HistoryDock::kEnabledCol), Qt::Unchecked);
        QCOMPARE(QString::fromStdString(third.model()->weightsHash()), baseHash);
        // Save as: a copy, and the window continues there.
        const QString copy = tmp_.filePath(QStringLiteral("copy.kmes"));
        QString error;
        QVERIFY2(third.session()->saveSessionAs(copy, &error), qPrintable(error));
        QCOMPARE(third.session()->sessionName(), QStringLiteral("copy"));
        QCOMPARE(int(third.session()->store()->listEdits().size()), 1);
        QVERIFY(SessionController::recentSessions().contains(QFileInfo(copy).absoluteFilePath()));
    }

    void tinyModelWithoutDefaults() {
        // A model without kme_edit_defaults.json: no default layer, no corpus for C.
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.newSession(tmp_.filePath(QStringLiteral("tiny.kmes"))));
        QVERIFY(loadModel(w, tinyModel_));
        QVERIFY(waitIdle(w));
        EditTab* tab = w.editTab();
        tab->setLayer(0);
        tab->setRequest(QStringLiteral("The capital of {} is"), QStringLiteral("France"), QStringLiteral("Rome"),
                        QStringLiteral("Paris"));
        tab->vStepsSpin()->setValue(3);
        QVERIFY(tab->mom2Check()->isChecked());
        QVERIFY(!runEdit(tab));  // no corpus known for C: a message, not a crash
        auto* box = w.findChild<QMessageBox*>(QStringLiteral("jobErrorBox"));
        QVERIFY(box);
        QVERIFY2(box->informativeText().contains(QStringLiteral("Key statistics")), qPrintable(box->informativeText()));
        box->close();
        QCOMPARE(int(w.session()->edits().size()), 0);
        QVERIFY(waitIdle(w));
        // With C = identity it runs; MEMIT with a second request from the batch table.
        tab->mom2Check()->setChecked(false);
        tab->setMethod(kme::EditMethod::Memit);
        // Layers 0-0: MEMIT's z at the tiny model's last layer (1) could not reach the target (refused).
        tab->layerSpin()->setValue(0);
        tab->lastLayerSpin()->setValue(0);
        tab->mom2Check()->setChecked(false);
        tab->vStepsSpin()->setValue(3);
        kme::EditRequest second;
        second.prompt = "The capital of {} is";
        second.subject = "Spain";
        second.targetNew = " Paris";
        tab->addBatchRow(second);
        QCOMPARE(int(tab->requests().size()), 2);
        QVERIFY(runEdit(tab));
        QCOMPARE(int(w.session()->edits().size()), 1);
        QCOMPARE(QString::fromStdString(w.session()->edits().front().method), QStringLiteral("memit"));
        QCOMPARE(SessionController::editLayers(w.session()->edits().front()), (std::vector<int>{0}));
        QCOMPARE(int(SessionController::editRequests(w.session()->edits().front()).size()), 2);
        QVERIFY(w.session()->currentHash() != w.session()->baseHash());
        // A bad batch row is an inline error, and Run stays off.
        tab->addBatchRow();
        tab->batchTable()->item(tab->batchTable()->rowCount() - 1, 0)->setText(QStringLiteral("no braces here"));
        QVERIFY(tab->inputError().contains(QStringLiteral("{}")));
        QVERIFY(!tab->runButton()->isEnabled());
        // Deleting the edit rebuilds the original weights.
        QVERIFY(w.session()->deleteEdit(w.session()->edits().front().id));
        QVERIFY(waitIdle(w));
        QCOMPARE(w.session()->currentHash(), w.session()->baseHash());
        QCOMPARE(w.historyDock()->tree()->topLevelItemCount(), 0);
    }

    void whatIfIsMarked() {
        // Two edits; switching off the first makes the second a what-if.
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.newSession(tmp_.filePath(QStringLiteral("whatif.kmes"))));
        QVERIFY(loadModel(w, tinyModel_));
        QVERIFY(waitIdle(w));
        EditTab* tab = w.editTab();
        tab->mom2Check()->setChecked(false);
        tab->vStepsSpin()->setValue(3);
        // Layer 0 of the tiny model's 2: the value written at the subject reaches
        // the target's tokens through layer 1's attention, so each edit moves the
        // weights by construction (at the last layer it could not: refused).
        tab->setLayer(0);
        tab->setRequest(QStringLiteral("The capital of {} is"), QStringLiteral("France"), QStringLiteral("Rome"),
                        QStringLiteral("Paris"));
        QVERIFY(runEdit(tab));
        tab->setRequest(QStringLiteral("The capital of {} is"), QStringLiteral("Spain"), QStringLiteral("Oslo"),
                        QStringLiteral("Madrid"));
        QVERIFY(runEdit(tab));
        QTreeWidget* tree = w.historyDock()->tree();
        QCOMPARE(tree->topLevelItemCount(), 2);
        // The premise of a what-if: both edits changed the weights they were computed on.
        for (const auto& e : w.session()->edits())
            QVERIFY2(e.weightsHashAfter != e.computedOnHash, qPrintable(QStringLiteral("edit #%1 changed nothing").arg(e.position)));
        QVERIFY(tree->topLevelItem(1)->text(HistoryDock::kWhatIfCol).isEmpty());
        // Comparing two points that are both not the live state (original, after #1)
        // rebuilds each and then restores the live weights (after #2).
        const QString live = w.session()->currentHash();
        QVERIFY(compare(w.compareTab(), 0, 1));
        QCOMPARE(QString::fromStdString(w.model()->weightsHash()), live);
        QCOMPARE(int(w.compareTab()->rows().size()), 1);  // #1's prompt (no fact file matches it)
        QCOMPARE(w.compareTab()->rows().front().prompt, std::string("The capital of France is"));
        // Unticking the first edit's box (what a click does).
        QSignalSpy rebuilt(w.session(), &SessionController::weightsChanged);
        tree->topLevelItem(0)->setCheckState(HistoryDock::kEnabledCol, Qt::Unchecked);
        QTRY_VERIFY_WITH_TIMEOUT(!rebuilt.isEmpty(), kJobTimeoutMs);
        QVERIFY(waitIdle(w));
        QCOMPARE(int(w.session()->whatIfNotes().size()), 1);
        QVERIFY(tree->topLevelItem(1)->text(HistoryDock::kWhatIfCol).contains(QStringLiteral("what-if")));
        QVERIFY(w.historyDock()->footer()->text().contains(QStringLiteral("what-if")));
        // Undo takes the last enabled edit off: the originals.
        QVERIFY(w.session()->undo());
        QVERIFY(waitIdle(w));
        QCOMPARE(w.session()->currentHash(), w.session()->baseHash());
        // Redo puts back the first edit after the last enabled one (#1), then #2.
        QVERIFY(w.session()->redo());
        QVERIFY(waitIdle(w));
        QVERIFY(w.session()->redo());
        QVERIFY(waitIdle(w));
        QCOMPARE(w.session()->currentHash(), QString::fromStdString(w.session()->edits().back().weightsHashAfter));
        QVERIFY(w.session()->whatIfNotes().empty());
    }

    void plainStartSavesAndReopens() {
        // What kme-studio without --model/--session does: the first time, a new
        // autosave session; the next time, the same session again.
        QSettings().remove(QStringLiteral("session/last"));
        StartupOptions options;
        options.modelFolder = tinyModel_;
        options.autoSession = true;
        QString path;
        {
            MainWindow w;
            StartupScript script(&w, options);
            QSignalSpy loaded(&w, &MainWindow::modelLoadFinished);
            script.start();
            QTRY_COMPARE_WITH_TIMEOUT(loaded.size(), 1, kJobTimeoutMs);
            QVERIFY(waitIdle(w));
            QVERIFY(w.session()->hasSession());
            path = w.session()->sessionPath();
            QVERIFY(path.startsWith(SessionController::autosaveFolder()));
            QVERIFY(w.session()->sessionName().startsWith(QStringLiteral("tiny-gpt2-")));
            QVERIFY(w.session()->store()->model());  // the model is recorded as soon as it loads
            QVERIFY(w.windowTitle().contains(w.session()->sessionName()));
        }
        MainWindow w;
        StartupScript script(&w, options);
        QSignalSpy opened(w.session(), &SessionController::sessionOpenFinished);
        script.start();
        QTRY_COMPARE_WITH_TIMEOUT(opened.size(), 1, kJobTimeoutMs);
        QVERIFY(opened.first().first().toBool());
        QVERIFY(waitIdle(w));
        QCOMPARE(w.session()->sessionPath(), path);
        QVERIFY(w.model());
    }

    void anotherModelGetsItsOwnSession() {
        // A session's edits belong to its model: loading other weights continues
        // in a new autosave session and leaves the first file as it was.
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        const QString first = tmp_.filePath(QStringLiteral("first.kmes"));
        QVERIFY(w.newSession(first));
        QVERIFY(loadModel(w, tinyModel_));
        QVERIFY(waitIdle(w));
        EditTab* tab = w.editTab();
        tab->mom2Check()->setChecked(false);
        tab->vStepsSpin()->setValue(3);
        tab->setLayer(0);
        tab->setRequest(QStringLiteral("The capital of {} is"), QStringLiteral("France"), QStringLiteral("Rome"),
                        QStringLiteral("Paris"));
        QVERIFY(runEdit(tab));
        QVERIFY(loadModel(w, demoModel_));
        QVERIFY(waitIdle(w));
        QVERIFY(w.session()->hasSession());
        QVERIFY(QFileInfo(w.session()->sessionPath()) != QFileInfo(first));
        QVERIFY(QFileInfo(w.session()->sessionPath()).absolutePath().startsWith(SessionController::autosaveFolder()));
        QVERIFY(w.session()->edits().empty());
        QCOMPARE(w.session()->currentHash(), w.session()->baseHash());
        QCOMPARE(QString::fromStdString(w.session()->store()->model()->weightsHash), w.session()->baseHash());
        // The first session still has its edit; reopening it brings the tiny model back, edited.
        QVERIFY(openSession(w, first));
        QCOMPARE(int(w.session()->edits().size()), 1);
        QCOMPARE(w.session()->facts().nLayer, 2);
        QCOMPARE(w.session()->currentHash(), QString::fromStdString(w.session()->edits().front().weightsHashAfter));
    }

    void hostileSessionFiles() {
        MainWindow w;
        w.show();
        QVERIFY(loadModel(w, tinyModel_));
        QVERIFY(waitIdle(w));
        const QString before = w.session()->currentHash();

        // Not SQLite at all.
        const QString text = tmp_.filePath(QStringLiteral("notes.kmes"));
        QFile f(text);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("These are my notes, not a session.\n");
        f.close();
        QVERIFY(!openSession(w, text));
        auto* box = w.findChild<QMessageBox*>(QStringLiteral("jobErrorBox"));
        QVERIFY(box);
        QVERIFY2(box->informativeText().contains(QStringLiteral("notes.kmes")), qPrintable(box->informativeText()));
        box->close();
        delete box;
        QVERIFY(!w.session()->hasSession());
        QVERIFY(w.model());  // the loaded model stays
        QCOMPARE(w.session()->currentHash(), before);

        // A truncated session (the first 100 bytes of a real one).
        const QString good = tmp_.filePath(QStringLiteral("good.kmes"));
        QVERIFY(w.newSession(good));
        QFile g(good);
        QVERIFY(g.open(QIODevice::ReadOnly));
        const QByteArray head = g.read(100);
        g.close();
        const QString cut = tmp_.filePath(QStringLiteral("cut.kmes"));
        QFile c(cut);
        QVERIFY(c.open(QIODevice::WriteOnly));
        c.write(head);
        c.close();
        QVERIFY(!openSession(w, cut));
        QCOMPARE(w.session()->sessionPath(), QFileInfo(good).absoluteFilePath());  // still the good one

        // A file that does not exist is not created by Open.
        const QString missing = tmp_.filePath(QStringLiteral("missing.kmes"));
        QVERIFY(!openSession(w, missing));
        QVERIFY(!QFileInfo::exists(missing));
        // The window still works.
        QVERIFY(loadModel(w, tinyModel_));
    }
};

QTEST_MAIN(TestEditFlow)
#include "test_edit_flow.moc"
