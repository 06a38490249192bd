#pragma once
// The "Compare" tab: the model's answers at two points of the edit history,
// side by side. Rows are prompts: the edit's own prompt, its paraphrases and
// neighbours (when the edit matches a record of a fact file: efficacy,
// generality, locality) and the user's own prompts. For each point: the
// greedy continuation, p(target_new), p(target_true) and the top-5 next
// tokens (the top one in the table, all five as two bar charts under it for
// the selected prompt, the "after" chart with the "before" probabilities of
// the same tokens as thin bars); cells that changed are highlighted.
//
// Computing a point rebuilds its weights on the worker thread (originals +
// the enabled edits up to it) and restores the live weights afterwards.
// Every comparison is saved in the session as previews, and the last saved
// one is shown again when a session opens.
#include <QStringList>
#include <QVector>
#include <QWidget>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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

class JobRunner;
class SessionController;

// One point's answer to one prompt.
struct CompareSide {
    std::string continuation;                       // greedy, a few tokens
    double pNew = 0;                                // p(target_new), 0..1; NaN without a target
    double pTrue = 0;                               // p(target_true), 0..1; NaN without a target
    std::vector<std::pair<std::string, double>> top;  // top-20 next tokens, most likely first (5 shown)
    std::string error;                              // why this prompt could not be run ("" = fine)
};

struct CompareRow {
    std::string prompt;
    std::string kind;        // "edit" | "paraphrase" | "neighbour" | "yours"
    std::string targetNew;   // " Paris"
    std::string targetTrue;  // " Rome" ("" unknown)
    std::string note;        // a neighbour's own answer, ...
    CompareSide before, after;
};

class CompareTab final : public QWidget {
    Q_OBJECT

public:
    enum Column {
        kPromptCol,
        kContBeforeCol,
        kContAfterCol,
        kNewBeforeCol,
        kNewAfterCol,
        kTrueBeforeCol,
        kTrueAfterCol,
        kTopBeforeCol,  // the most likely next token (UserRole: the top-5, "|"-joined by cellText)
        kTopAfterCol,
        kColumnCount
    };
    static constexpr int kChangedRole = Qt::UserRole + 1;  // bool on the "after" cells

    CompareTab(JobRunner* runner, SessionController* session, QWidget* parent = nullptr);
    ~CompareTab() override;

    void setModel(std::shared_ptr<kme::Model> model);

    // History points by SessionController position: 0 original, k after edit k, -1 now.
    void setPoints(int beforePosition, int afterPosition);
    int beforePosition() const;
    int afterPosition() const;
    void addUserPrompt(const QString& prompt);
    QStringList userPrompts() const { return userPrompts_; }
    // A CounterFact-style file whose records give paraphrases and neighbours.
    void addFactFile(const QString& path);

    const std::vector<CompareRow>& rows() const { return rows_; }
    bool isChanged(int row, int column) const;
    QString cellText(int row, int column) const;
    bool isStale() const;

    QComboBox* beforeCombo() const { return before_; }
    QComboBox* afterCombo() const { return after_; }
    QLineEdit* userPromptEdit() const { return userPrompt_; }
    QPushButton* compareButton() const { return compare_; }
    QTableWidget* table() const { return table_; }
    QLabel* statusLabel() const { return status_; }
    // The selected prompt's top-5 next tokens at each point.
    kme::widgets::ProbabilityBars* beforeBars() const { return beforeBars_; }
    kme::widgets::ProbabilityBars* afterBars() const { return afterBars_; }
    void showDetail(int row);

public Q_SLOTS:
    // Computes the two chosen points; false when nothing can run now.
    bool compare();
    // Shows the session's last saved comparison.
    void showSaved();

Q_SIGNALS:
    void comparisonFinished(bool ok);

protected:
    void showEvent(QShowEvent* event) override;
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void refreshPoints();
    void fillTable(const QString& beforeLabel, const QString& afterLabel);
    void savePreviews(const QString& beforeLabel, const QString& afterLabel, int beforePos, int afterPos);
    void updateEnabled();
    // The prompt column takes the table's free width, but never less than a readable minimum
    // (narrow windows scroll sideways instead of squeezing the prompts).
    void fitPromptColumn();
    void maybeAutoCompare();
    std::vector<int64_t> pointEdits(int position) const;

    JobRunner* runner_;
    SessionController* session_;
    std::shared_ptr<kme::Model> model_;
    QComboBox* before_ = nullptr;
    QComboBox* after_ = nullptr;
    QPushButton* compare_ = nullptr;
    QLineEdit* userPrompt_ = nullptr;
    QPushButton* addPrompt_ = nullptr;
    QPushButton* clearPrompts_ = nullptr;
    QLabel* targets_ = nullptr;
    QLabel* status_ = nullptr;
    QTableWidget* table_ = nullptr;
    QLabel* detailTitle_ = nullptr;
    kme::widgets::ProbabilityBars* beforeBars_ = nullptr;
    kme::widgets::ProbabilityBars* afterBars_ = nullptr;
    QString beforeLabel_, afterLabel_;  // the points the table shows
    QTimer* autoTimer_ = nullptr;
    QStringList userPrompts_;
    QStringList factFiles_;
    std::vector<CompareRow> rows_;
    // What the table shows: the enabled edits of each side, and the user's prompts then.
    std::vector<int64_t> shownBefore_, shownAfter_;
    QStringList shownUserPrompts_;
    bool shown_ = false;      // the table holds a comparison
    bool computing_ = false;
    bool saving_ = false;     // previews are being written (a new session must not clear the table)
    int comparisonCounter_ = 0;
};

}  // namespace kme::app
