#pragma once
// The Compare tab's results: a table with one row per prompt (for each of the
// two states: the greedy continuation, p(target_new), p(target_true), the
// most likely next token; cells that changed are highlighted) over two bar
// charts of the selected prompt's top-5 next tokens (the second chart with
// the first state's probabilities of the same tokens as thin bars). Shows
// plain kme::CompareRow data; computes nothing.
#include <QString>
#include <QWidget>
#include <vector>

#include "engine/eval/Comparison.h"

class QLabel;
class QTableWidget;

namespace kme::widgets {
class ProbabilityBars;
}

namespace kme::app {

class CompareResultsView final : public QWidget {
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

    explicit CompareResultsView(QWidget* parent = nullptr);

    // Shows `rows` (kept by the caller, which must outlive the view's use of them).
    void setRows(const std::vector<kme::CompareRow>* rows, const QString& beforeLabel, const QString& afterLabel);
    void showDetail(int row);
    bool isChanged(int row, int column) const;
    QString cellText(int row, int column) const;

    QTableWidget* table() const { return table_; }
    kme::widgets::ProbabilityBars* beforeBars() const { return beforeBars_; }
    kme::widgets::ProbabilityBars* afterBars() const { return afterBars_; }

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    // The prompt column takes the table's free width, but never less than a readable minimum
    // (narrow windows scroll sideways instead of squeezing the prompts).
    void fitPromptColumn();

    const std::vector<kme::CompareRow>* rows_ = nullptr;
    QTableWidget* table_ = nullptr;
    QLabel* detailTitle_ = nullptr;
    kme::widgets::ProbabilityBars* beforeBars_ = nullptr;
    kme::widgets::ProbabilityBars* afterBars_ = nullptr;
    QString beforeLabel_, afterLabel_;
};

}  // namespace kme::app
