#pragma once
// "Walk-through" dock (issue 7, item 6): a guided first tour of knowledge
// editing on the loaded model (the demo by default): locate a fact, choose
// the layer, rewrite the fact with ROME, compare before and after, undo.
//
// Each step says what to do and why (resources/walkthrough/<step>.html) and
// what to look at. The user can do the step by hand in the real tabs or press
// "Do it for me"; either way the step is marked done when the tab reports it
// (trace finished, layer chosen, edit finished, comparison finished, edit
// disabled), and the panel then adds what actually came out (numbers from
// this model, not canned text).
#include <QDockWidget>
#include <QString>
#include <cstdint>
#include <vector>

class QComboBox;
class QLabel;
class QPushButton;
class QTextBrowser;

namespace kme::app {

class MainWindow;

// The fact the walk-through edits. The default is the demo's Colosseum:
// located in Rome, rewritten to Paris.
struct WalkthroughFact {
    QString prompt = QStringLiteral("The Colosseum is located in the city of");
    QString subject = QStringLiteral("Colosseum");
    QString targetNew = QStringLiteral(" Paris");
    QString targetTrue = QStringLiteral(" Rome");
};

class WalkthroughDock final : public QDockWidget {
    Q_OBJECT

public:
    enum Step { kWelcome, kLocate, kLayer, kEdit, kCompare, kUndo, kFinished, kStepCount };

    explicit WalkthroughDock(MainWindow* window);

    void setFact(const WalkthroughFact& fact) { fact_ = fact; }
    const WalkthroughFact& fact() const { return fact_; }

    Step step() const { return step_; }
    static QString stepId(Step step);  // "welcome", "locate", ... (the resource's name)
    bool stepDone() const { return done_; }
    QString resultText() const { return result_; }  // what this step produced ("" before it is done)

    // The facts to walk through (welcome step): the Colosseum first, then
    // facts spread over the model's fact file (LocateDatasetView::defaultFactFile).
    QComboBox* factCombo() const { return factCombo_; }
    const std::vector<WalkthroughFact>& factChoices() const { return choices_; }
    QLabel* titleLabel() const { return title_; }
    QTextBrowser* browser() const { return browser_; }
    QLabel* resultLabel() const { return resultLabel_; }  // "What happened", shown once the step is done
    QLabel* stateLabel() const { return state_; }
    QPushButton* doItButton() const { return doIt_; }
    QPushButton* backButton() const { return back_; }
    QPushButton* nextButton() const { return next_; }

public Q_SLOTS:
    // Shows the dock at the first step.
    void start();
    void goTo(Step step);
    void next();
    void back();
    // Does the current step in the window (starts a trace, an edit, ...);
    // false when it cannot start now (nothing loaded, a job runs, ...), with
    // the reason in the state line.
    bool doStep();

Q_SIGNALS:
    void stepChanged(int step);
    void stepCompleted(int step);

private:
    void show(Step step);
    void complete(const QString& result);
    void setState(const QString& text, bool error = false);
    void updateButtons();
    void onTraceFinished(bool ok);
    void onLayerChosen(int layer);
    void onEditFinished(bool ok);
    void onComparisonFinished(bool ok);
    void onWeightsChanged();
    QString compareSummary() const;
    void fillFactChoices();

    MainWindow* window_;
    WalkthroughFact fact_;
    Step step_ = kWelcome;
    bool done_ = false;
    bool running_ = false;  // "Do it for me" started a job of this step
    int64_t editId_ = 0;    // the walk-through's edit (0: none yet)
    QMetaObject::Connection waitForRunner_;  // "Do it for me" waits for the running job to end
    QString result_;
    std::vector<WalkthroughFact> choices_;
    QString choicesSource_;  // the fact file choices_ came from
    QComboBox* factCombo_ = nullptr;
    QWidget* factRow_ = nullptr;
    QLabel* title_ = nullptr;
    QTextBrowser* browser_ = nullptr;
    QLabel* resultLabel_ = nullptr;
    QLabel* state_ = nullptr;
    QPushButton* back_ = nullptr;
    QPushButton* doIt_ = nullptr;
    QPushButton* next_ = nullptr;
};

}  // namespace kme::app
