// MEND in the window (issue 15, item 4): the Edit tab's MEND editor box on
// the demo model (the shipped editor: its path, "matches"), a MEND edit seen
// in History and Compare, the box explaining why the editor no longer fits
// once the edit changed the weights, undo bringing the original weights hash
// back; Evaluate running MEND. On a tiny model without an editor: the train
// offer, a training job cancelled (no editor file, no side file, no
// checkpoint), a short training run whose editor is then used, an editor
// trained for the edited weights found again by their hash, an editor for
// other weights, and files that are not editors.
#include <QtTest>

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QTreeWidget>

#include <nlohmann/json.hpp>

#include <fstream>

#include "app/gui/JobRunner.h"
#include "app/gui/MainWindow.h"
#include "app/gui/SessionController.h"
#include "app/gui/docks/HistoryDock.h"
#include "app/gui/tabs/CompareTab.h"
#include "app/gui/tabs/EditTab.h"
#include "app/gui/tabs/EvaluateTab.h"
#include "app/gui/tabs/HparamForm.h"
#include "app/gui/tabs/MendEditorPanel.h"
#include "engine/core/Paths.h"
#include "engine/model/Model.h"
#include "tests/app/AppTestSupport.h"
#include "tests/app/TinyModelFolder.h"

using namespace kme::app;
using kme::testing::loadModel;
using kme::testing::waitIdle;
using State = MendEditorPanel::State;

namespace {

constexpr int kJobTimeoutMs = kme::testing::kAppJobTimeoutMs;
const QString kTemplate = QStringLiteral("The {} is located in the city of");  // demo fact case 245

// Short CounterFact records for the tiny model (its context is 32 tokens of a
// ~300-token BPE: about one token a character): 12 subjects, each with a
// paraphrase and two neighbourhood prompts.
void writeTinyFacts(const QString& path) {
    nlohmann::json records = nlohmann::json::array();
    for (int i = 0; i < 12; ++i) {
        const std::string s = std::string("X") + char('a' + i);
        const std::string other = std::string("X") + char('a' + (i + 1) % 12);
        records.push_back({{"case_id", i},
                           {"requested_rewrite",
                            {{"prompt", "{} is in"}, {"subject", s}, {"target_new", {{"str", "Q"}}},
                             {"target_true", {{"str", "R"}}}}},
                           {"paraphrase_prompts", {"So " + s + " is in"}},
                           {"neighborhood_prompts", {other + " is in", "Yb is in"}}});
    }
    std::ofstream f(path.toStdString());
    f << records.dump(1);
}

bool runEdit(EditTab* tab) {
    if (!tab->runButton()->isEnabled()) return false;
    QSignalSpy done(tab, &EditTab::editFinished);
    QTest::mouseClick(tab->runButton(), Qt::LeftButton);
    if (done.isEmpty() && !done.wait(kJobTimeoutMs)) return false;
    return done.first().first().toBool();
}

// Undo / redo through the session, waiting for the rebuilt weights.
bool toggle(MainWindow& w, bool undo) {
    QSignalSpy rebuilt(w.session(), &SessionController::weightsChanged);
    if (!(undo ? w.session()->undo() : w.session()->redo())) return false;
    if (rebuilt.isEmpty() && !rebuilt.wait(kJobTimeoutMs)) return false;
    return waitIdle(w);
}

bool waitState(MendEditorPanel* panel, State s) {
    QElapsedTimer clock;
    clock.start();
    while (panel->state() != s && clock.elapsed() < kJobTimeoutMs) QTest::qWait(20);
    return panel->state() == s;
}

QString live(MainWindow& w) { return QString::fromStdString(w.model()->weightsHash()); }

bool train(MendEditorPanel* panel) {
    QSignalSpy done(panel, &MendEditorPanel::trainingFinished);
    if (!panel->trainButton()->isEnabled()) return false;
    QTest::mouseClick(panel->trainButton(), Qt::LeftButton);
    if (done.isEmpty() && !done.wait(kJobTimeoutMs)) return false;
    return done.first().first().toBool();
}

}  // namespace

class TestMendPanel final : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;

private Q_SLOTS:
    void initTestCase() {
        kme::testing::isolateSettings("test_mend_panel");
        QVERIFY(tmp_.isValid());
        QDir(MendEditorPanel::trainedEditorFolder()).removeRecursively();
    }

    void demoEditorMatchesEditUndo() {
        const QString demo = QString::fromStdString(kme::demoModelFolder());
        QVERIFY2(!demo.isEmpty() && QFileInfo::exists(demo + QStringLiteral("/mend-editor.safetensors")),
                 "the demo model ships its MEND editor");
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.newSession(tmp_.filePath(QStringLiteral("demo.kmes"))));
        QVERIFY(loadModel(w, demo));
        QVERIFY(waitIdle(w));
        const QString base = w.session()->baseHash();
        EditTab* tab = w.editTab();
        MendEditorPanel* panel = tab->mendPanel();
        w.tabs()->setCurrentWidget(tab);
        QVERIFY(panel->isHidden());  // ROME is the first method
        tab->setMethod(kme::EditMethod::Mend);
        QVERIFY(!panel->isHidden());
        QVERIFY(tab->batchBox()->isHidden());
        QVERIFY(waitState(panel, State::Matches));
        const QString status = panel->statusLabel()->text();
        qInfo("demo: %s", qPrintable(panel->statusLabel()->text().left(400)));
        QVERIFY(status.contains(QStringLiteral("mend-editor.safetensors")));
        QVERIFY(status.contains(QStringLiteral("matches")));
        QCOMPARE(panel->header().weightsHash, base);
        QVERIFY(panel->header().steps > 0);
        QVERIFY(panel->header().trainSubjects > 0 && panel->header().testSubjects > 0);
        QVERIFY(panel->trainBox()->isHidden());  // nothing to offer: the editor fits

        tab->setRequest(kTemplate, QStringLiteral("Colosseum"), QStringLiteral("Paris"), QStringLiteral("Rome"));
        QVERIFY2(tab->inputError().isEmpty(), qPrintable(tab->inputError()));
        QVERIFY(runEdit(tab));
        const QString summary = tab->summary()->toPlainText();
        QVERIFY(summary.contains(QStringLiteral("MEND")));
        QVERIFY(summary.contains(QStringLiteral("mend-editor.safetensors")));  // the engine's note: which editor
        const QString edited = w.session()->currentHash();
        QVERIFY(edited != base);
        QCOMPARE(live(w), edited);

        // History lists it as any other method.
        QTreeWidget* tree = w.historyDock()->tree();
        QCOMPARE(tree->topLevelItemCount(), 1);
        QCOMPARE(tree->topLevelItem(0)->text(HistoryDock::kMethodCol), QStringLiteral("MEND"));
        qInfo("history: name '%s', layer column '%s'", qPrintable(tree->topLevelItem(0)->text(HistoryDock::kNameCol)),
              qPrintable(tree->topLevelItem(0)->text(HistoryDock::kLayerCol)));
        // The layers its delta changed: the editor's (5, 6, 7 on the demo), as "5–7".
        const QList<int> layers = panel->header().layers;
        QVERIFY(layers.size() > 2 && layers.back() - layers.front() == layers.size() - 1);
        QCOMPARE(tree->topLevelItem(0)->text(HistoryDock::kLayerCol),
                 QStringLiteral("%1\u2013%2").arg(layers.front()).arg(layers.back()));

        // Compare original with now: p(Paris) after the Colosseum prompt rose.
        CompareTab* cmp = w.compareTab();
        cmp->setPoints(0, -1);
        QSignalSpy compared(cmp, &CompareTab::comparisonFinished);
        QVERIFY(cmp->compare());
        QVERIFY(compared.wait(kJobTimeoutMs) || !compared.isEmpty());
        QVERIFY(compared.first().first().toBool());
        int row = -1;
        for (int r = 0; r < cmp->table()->rowCount(); ++r)
            if (cmp->cellText(r, CompareTab::kPromptCol) == QStringLiteral("The Colosseum is located in the city of"))
                row = r;
        QVERIFY(row >= 0);
        const double before = cmp->cellText(row, CompareTab::kNewBeforeCol).toDouble();
        const double after = cmp->cellText(row, CompareTab::kNewAfterCol).toDouble();
        qInfo("compare: p(Paris) %.4f -> %.4f", before, after);
        QVERIFY(after > before);

        // The editor was made for the original weights: the box says why it no longer fits, Run is off.
        QVERIFY(waitState(panel, State::EditsApplied));
        QVERIFY(panel->statusLabel()->text().contains(QStringLiteral("does not match the live weights")));
        QVERIFY(panel->statusLabel()->text().contains(QStringLiteral("Undo")));
        QVERIFY(!panel->trainBox()->isHidden());  // ... or train one for the edited weights
        QVERIFY(panel->trainOutputPath().startsWith(MendEditorPanel::trainedEditorFolder()));
        QVERIFY(!tab->runButton()->isEnabled());
        QVERIFY(tab->inputError().contains(QStringLiteral("undo")));

        // Undo: the original weights, bit for bit (hash), and the editor fits again.
        QVERIFY(toggle(w, true));
        QCOMPARE(w.session()->currentHash(), base);
        QCOMPARE(live(w), base);
        QVERIFY(waitState(panel, State::Matches));
        QVERIFY(tab->runButton()->isEnabled());

        // Evaluate: MEND over two facts, one at a time; sequential is refused before it starts.
        auto* ev = w.tabs()->findChild<EvaluateTab*>();
        QVERIFY(ev);
        ev->methodCombo()->setCurrentIndex(ev->methodCombo()->findData(int(kme::EditMethod::Mend)));
        ev->modeCombo()->setCurrentIndex(ev->modeCombo()->findData(int(EvaluateTab::kSequentialMode)));
        QVERIFY(ev->inputError().contains(QStringLiteral("fresh")));
        ev->modeCombo()->setCurrentIndex(ev->modeCombo()->findData(int(EvaluateTab::kFreshMode)));
        ev->recordsSpin()->setValue(2);
        ev->fluencyCheck()->setChecked(false);
        QVERIFY2(ev->inputError().isEmpty(), qPrintable(ev->inputError()));
        QSignalSpy evaluated(ev, &EvaluateTab::evaluationFinished);
        QVERIFY(ev->runEvaluation());
        QVERIFY(evaluated.wait(kJobTimeoutMs) || !evaluated.isEmpty());
        QVERIFY2(evaluated.first().first().toBool(), qPrintable(ev->messageLabel()->text()));
        QVERIFY(ev->rowOf(QStringLiteral("efficacy_score")) >= 0);
        QCOMPARE(live(w), base);  // evaluating restores the weights
        QVERIFY(waitIdle(w));
    }

    void tinyModelTrainOfferCancelTrainUse() {
        const QString project = tmp_.filePath(QStringLiteral("tiny"));
        const QString folder = project + QStringLiteral("/model");
        QVERIFY(QDir().mkpath(folder));
        kme::testing::writeTinyModelFolder(folder.toStdString(), 7);
        writeTinyFacts(project + QStringLiteral("/facts.json"));
        const QString own = folder + QStringLiteral("/mend-editor.safetensors");

        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.newSession(tmp_.filePath(QStringLiteral("tiny.kmes"))));
        QVERIFY(loadModel(w, folder));
        QVERIFY(waitIdle(w));
        const QString base = w.session()->baseHash();
        EditTab* tab = w.editTab();
        MendEditorPanel* panel = tab->mendPanel();
        w.tabs()->setCurrentWidget(tab);
        tab->setMethod(kme::EditMethod::Mend);
        tab->setRequest(QStringLiteral("{} is in"), QStringLiteral("Xa"), QStringLiteral("Q"), QStringLiteral("R"));

        // No editor: the offer to train one, Run off with the reason.
        QVERIFY(waitState(panel, State::NoEditor));
        QVERIFY(panel->statusLabel()->text().contains(QStringLiteral("No editor")));
        QVERIFY(!panel->trainBox()->isHidden());
        QCOMPARE(panel->factsEdit()->text(), QDir::cleanPath(project + QStringLiteral("/facts.json")));
        QCOMPARE(panel->trainOutputPath(), own);
        QVERIFY(!tab->runButton()->isEnabled());
        QVERIFY(tab->inputError().contains(QStringLiteral("train")));

        // A training run cancelled once it is under way leaves nothing behind.
        panel->minutesSpin()->setValue(0.5);
        {
            QSignalSpy progressed(w.jobRunner(), &JobRunner::progress);
            QSignalSpy done(panel, &MendEditorPanel::trainingFinished);
            QTest::mouseClick(panel->trainButton(), Qt::LeftButton);
            QVERIFY(panel->isTraining());
            QVERIFY(!tab->runButton()->isEnabled());
            QVERIFY(panel->cancelTrainButton()->isEnabled());
            // Under way: it reports progress (scoring the fresh editor, then each step).
            QVERIFY(progressed.wait(kJobTimeoutMs) || !progressed.isEmpty());
            QTest::mouseClick(panel->cancelTrainButton(), Qt::LeftButton);
            QVERIFY(done.wait(kJobTimeoutMs) || !done.isEmpty());
            QCOMPARE(done.first().first().toBool(), false);
        }
        QVERIFY(!panel->isTraining());
        QVERIFY(panel->trainLogLabel()->text().contains(QStringLiteral("cancelled")));
        QVERIFY(!QFileInfo::exists(own));
        QVERIFY(!QFileInfo::exists(own + QStringLiteral(".training")));
        QVERIFY(!QFileInfo::exists(own + QStringLiteral(".kme-checkpoint")));
        QCOMPARE(QDir(folder).entryList(QDir::Files | QDir::Hidden).filter(QStringLiteral("mend")), QStringList());
        QCOMPARE(panel->state(), State::NoEditor);
        QCOMPARE(live(w), base);  // training leaves the weights as they were

        // A short run (3 steps) writes the model folder's editor, which then fits.
        panel->setTrainStepLimit(3);
        QVERIFY(train(panel));
        QVERIFY(QFileInfo::exists(own));
        QVERIFY(!QFileInfo::exists(own + QStringLiteral(".training")));
        QVERIFY(!QFileInfo::exists(own + QStringLiteral(".kme-checkpoint")));
        QVERIFY(waitState(panel, State::Matches));
        QVERIFY(panel->statusLabel()->text().contains(own));
        QVERIFY(panel->statusLabel()->text().contains(QStringLiteral("matches")));
        QCOMPARE(panel->header().steps, qint64(3));
        QCOMPARE(panel->header().trainSubjects + panel->header().validationSubjects + panel->header().testSubjects, 12);
        QCOMPARE(live(w), base);

        // ... and a MEND edit runs with it; undo restores the weights hash.
        QVERIFY2(tab->inputError().isEmpty(), qPrintable(tab->inputError()));
        QVERIFY(runEdit(tab));
        QVERIFY(tab->summary()->toPlainText().contains(own));
        const QString edited = live(w);
        QVERIFY(edited != base);
        QCOMPARE(w.session()->currentHash(), edited);
        QVERIFY(waitState(panel, State::EditsApplied));

        // Training now makes an editor for the edited weights, kept under their hash and found by it.
        const QString forEdited = panel->trainOutputPath();
        QCOMPARE(forEdited, QDir(MendEditorPanel::trainedEditorFolder()).filePath(edited.left(16) + QStringLiteral(".safetensors")));
        panel->setTrainStepLimit(2);
        QVERIFY(train(panel));
        QVERIFY(waitState(panel, State::Matches));
        QCOMPARE(panel->editorPath(), forEdited);
        QCOMPARE(panel->header().weightsHash, edited);

        QVERIFY(toggle(w, true));
        QCOMPARE(live(w), base);
        QCOMPARE(w.session()->currentHash(), base);
        QVERIFY(waitState(panel, State::Matches));
        QCOMPARE(panel->editorPath(), own);  // the original weights: the folder's editor again
        QVERIFY(toggle(w, false));
        QCOMPARE(live(w), edited);
        QVERIFY(waitState(panel, State::Matches));
        QCOMPARE(panel->editorPath(), forEdited);
        QVERIFY(toggle(w, true));

        // Files that are not editors: one line naming the file, Run off, nothing else changes.
        const QString junk = tmp_.filePath(QStringLiteral("junk.safetensors"));
        {
            QFile f(junk);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("not a safetensors file at all");
        }
        for (const QString& bad : {junk, tmp_.filePath(QStringLiteral("missing.safetensors")), tmp_.path()}) {
            panel->chooseFile(bad);
            QVERIFY(waitState(panel, State::Unreadable));
            const QString text = panel->statusLabel()->text();
            qInfo("%s: %s", qPrintable(QFileInfo(bad).fileName()), qPrintable(panel->header().error));
            QVERIFY(!panel->header().error.contains(QLatin1Char('\n')));
            QVERIFY(panel->header().error.contains(QFileInfo(bad).fileName()));
            QVERIFY(text.contains(QStringLiteral("Not a usable editor")));
            QVERIFY(!tab->runButton()->isEnabled());
        }
        // The chosen file went into the "editor" hyper-parameter; forgetting it brings the folder's back.
        QCOMPARE(QString::fromStdString(tab->hparamForm()->hparams({}).mendEditor), tmp_.path());
        panel->chooseFile(QString());
        QVERIFY(waitState(panel, State::Matches));
        QCOMPARE(panel->editorPath(), own);
        QVERIFY(tab->runButton()->isEnabled());
    }

    // An editor for other weights (another tiny model's) is named as such, and training is offered.
    void editorForOtherWeights() {
        const QString folder = tmp_.filePath(QStringLiteral("other/model"));
        QVERIFY(QDir().mkpath(folder));
        kme::testing::writeTinyModelFolder(folder.toStdString(), 8);  // other random weights
        const QString trained = tmp_.filePath(QStringLiteral("tiny/model/mend-editor.safetensors"));
        QVERIFY(QFile::exists(trained));  // written by the previous test
        QVERIFY(QFile::copy(trained, folder + QStringLiteral("/mend-editor.safetensors")));
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.newSession(tmp_.filePath(QStringLiteral("other.kmes"))));
        QVERIFY(loadModel(w, folder));
        QVERIFY(waitIdle(w));
        EditTab* tab = w.editTab();
        MendEditorPanel* panel = tab->mendPanel();
        tab->setMethod(kme::EditMethod::Mend);
        tab->setRequest(QStringLiteral("{} is in"), QStringLiteral("Xa"), QStringLiteral("Q"), QStringLiteral("R"));
        QVERIFY(waitState(panel, State::OtherWeights));
        QVERIFY(panel->header().weightsHash != w.session()->baseHash());
        QVERIFY(panel->statusLabel()->text().contains(QStringLiteral("other weights")));
        QVERIFY(!panel->trainBox()->isHidden());
        QVERIFY2(tab->inputError().contains(QStringLiteral("other weights")), qPrintable(tab->inputError()));
        QVERIFY(!tab->runButton()->isEnabled());
        // Its own folder holds an editor already: training writes beside the others, not over it.
        QVERIFY(panel->trainOutputPath().startsWith(MendEditorPanel::trainedEditorFolder()));
    }
};

QTEST_MAIN(TestMendPanel)
#include "test_mend_panel.moc"
