#pragma once
// The "Compare" tab: the model's answers in two *states* side by side. A
// state is a set of the session's edits applied in history order on the
// original weights: a point of the history (original, after #k, now), one
// edit alone, or any set (issue 16, item 3) -- so "after the ROME edit alone"
// and "after the GRACE edit alone" are two states (the History dock's
// "Compare with…" sets them in one click).
//
// Rows are prompts: the edit prompts of the edits in which the two states
// differ, their paraphrases and neighbours (when the edit matches a record of
// a fact file: efficacy, generality, locality) and the user's own prompts
// (engine/eval/Comparison.h: the same rows and numbers as `kme compare`).
// Results: CompareResultsView.
//
// Computing builds each state on the worker thread (JobRunner, with progress
// and cancel) on the live model's stack and restores the live state
// afterwards, its state hash checked (engine/session/StateComparison.h); the
// session's switches never change. Each state's hash is shown. Every
// comparison is saved in the session as previews (CompareRecords.h), and the
// last saved one is shown again when a session opens.
#include <QStringList>
#include <QWidget>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/session/SessionStore.h"

#include "app/gui/tabs/CompareResultsView.h"
#include "engine/eval/Comparison.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QTableWidget;
class QTimer;

namespace kme {
class Model;
}
namespace kme::widgets {
class ProbabilityBars;
}

namespace kme::app {

class CompareStatePicker;
class JobControls;
class SavedRunsCombo;
struct SavedComparison;
class JobRunner;
class SessionController;
struct ComparedStates;

using kme::CompareRow;
using kme::CompareSide;

class CompareTab final : public QWidget {
    Q_OBJECT

public:
    enum Column {
        kPromptCol = CompareResultsView::kPromptCol,
        kContBeforeCol = CompareResultsView::kContBeforeCol,
        kContAfterCol = CompareResultsView::kContAfterCol,
        kNewBeforeCol = CompareResultsView::kNewBeforeCol,
        kNewAfterCol = CompareResultsView::kNewAfterCol,
        kTrueBeforeCol = CompareResultsView::kTrueBeforeCol,
        kTrueAfterCol = CompareResultsView::kTrueAfterCol,
        kTopBeforeCol = CompareResultsView::kTopBeforeCol,
        kTopAfterCol = CompareResultsView::kTopAfterCol,
        kColumnCount = CompareResultsView::kColumnCount
    };
    static constexpr int kChangedRole = CompareResultsView::kChangedRole;

    CompareTab(JobRunner* runner, SessionController* session, QWidget* parent = nullptr);
    ~CompareTab() override;

    void setModel(std::shared_ptr<kme::Model> model);

    // History points by SessionController position: 0 original, k after edit k, -1 now.
    void setPoints(int beforePosition, int afterPosition);
    int beforePosition() const;  // WeightState::kNoPosition when state A is a set that is no history point
    int afterPosition() const;
    // Any two states: exactly these edits (ids) on each side.
    void setStates(const std::vector<int64_t>& a, const std::vector<int64_t>& b);
    std::vector<int64_t> stateA() const;  // the chosen states' edits, history order
    std::vector<int64_t> stateB() const;
    void addUserPrompt(const QString& prompt);
    QStringList userPrompts() const { return userPrompts_; }
    // A CounterFact-style file whose records give paraphrases and neighbours.
    void addFactFile(const QString& path);

    const std::vector<CompareRow>& rows() const { return rows_; }
    bool isChanged(int row, int column) const { return results_->isChanged(row, column); }
    QString cellText(int row, int column) const { return results_->cellText(row, column); }
    bool isStale() const;
    // The state hashes of the shown comparison (Model::stateHash() of each built state; "" unknown).
    QString shownHashA() const { return shownHashA_; }
    QString shownHashB() const { return shownHashB_; }

    QComboBox* beforeCombo() const;
    QComboBox* afterCombo() const;
    CompareStatePicker* beforePicker() const { return pickerA_; }
    CompareStatePicker* afterPicker() const { return pickerB_; }
    QLineEdit* userPromptEdit() const { return userPrompt_; }
    QPushButton* compareButton() const;
    QPushButton* cancelButton() const;
    JobControls* jobControls() const { return controls_; }
    QComboBox* savedCombo() const;  // the saved comparisons, newest first
    QTableWidget* table() const { return results_->table(); }
    QLabel* statusLabel() const { return status_; }
    QLabel* statesLabel() const { return states_; }
    // The selected prompt's top-5 next tokens in each state.
    kme::widgets::ProbabilityBars* beforeBars() const { return results_->beforeBars(); }
    kme::widgets::ProbabilityBars* afterBars() const { return results_->afterBars(); }
    void showDetail(int row) { results_->showDetail(row); }

public Q_SLOTS:
    // Computes the two chosen states; false when nothing can run now.
    bool compare();
    // Lists the session's saved comparisons and shows the last one.
    void showSaved();
    // Shows the saved comparison whose first preview is `firstPreviewId` (as
    // the "Saved comparisons" list names it); false when it cannot be shown.
    bool showSavedComparison(qint64 firstPreviewId);

Q_SIGNALS:
    void comparisonFinished(bool ok);

protected:
    void showEvent(QShowEvent* event) override;

private:
    void refreshPoints();
    void fillTable(const QString& beforeLabel, const QString& afterLabel);
    void showStates(const ComparedStates& states);
    void savePreviews(const ComparedStates& states);
    void showComparison(SavedComparison saved);  // a saved comparison in the table and the pickers
    // Fills the saved list from previews (selecting `shownId`); the newest's first preview id (0: none).
    qint64 listSaved(const std::vector<kme::PreviewRecord>& previews, const std::string& shownId);
    void updateEnabled();
    void maybeAutoCompare();

    JobRunner* runner_;
    SessionController* session_;
    std::shared_ptr<kme::Model> model_;
    CompareStatePicker* pickerA_ = nullptr;
    CompareStatePicker* pickerB_ = nullptr;
    JobControls* controls_ = nullptr;  // Compare, Cancel, progress, the status, the saved comparisons
    SavedRunsCombo* saved_ = nullptr;
    QLineEdit* userPrompt_ = nullptr;
    QPushButton* addPrompt_ = nullptr;
    QPushButton* clearPrompts_ = nullptr;
    QLabel* targets_ = nullptr;
    QLabel* states_ = nullptr;  // the two states and their hashes
    QLabel* status_ = nullptr;  // controls_'s status line
    CompareResultsView* results_ = nullptr;
    QTimer* autoTimer_ = nullptr;
    QStringList userPrompts_;
    QStringList factFiles_;
    std::vector<CompareRow> rows_;
    // What the table shows: the edits of each state, their hashes, and the user's prompts then.
    std::vector<int64_t> shownBefore_, shownAfter_;
    QString shownHashA_, shownHashB_;
    QStringList shownUserPrompts_;
    bool shown_ = false;      // the table holds a comparison
    bool computing_ = false;
    bool saving_ = false;     // previews are being written (a new session must not clear the table)
    int comparisonCounter_ = 0;
};

}  // namespace kme::app
