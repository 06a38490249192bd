#include "app/gui/tabs/CompareResultsView.h"

#include <QEvent>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <cmath>

#include "widgets/Colours.h"
#include "widgets/ProbabilityBars.h"
#include "widgets/TokenText.h"

namespace kme::app {

namespace {

constexpr int kTopShown = 5;  // tokens in the bar charts

QString prob(double p) {
    if (std::isnan(p)) return QStringLiteral("—");
    if (p != 0 && p < 1e-4) return QString::number(p, 'e', 1);
    return QString::number(p, 'f', 4);
}

}  // namespace

CompareResultsView::CompareResultsView(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    table_ = new QTableWidget(0, kColumnCount, this);
    table_->setObjectName(QStringLiteral("compareTable"));
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setWordWrap(true);
    table_->setAlternatingRowColors(false);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    table_->horizontalHeader()->setStretchLastSection(false);
    table_->horizontalHeader()->setDefaultAlignment(Qt::AlignLeft | Qt::AlignVCenter);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table_->viewport()->installEventFilter(this);

    auto* detail = new QWidget(this);
    auto* detailLayout = new QVBoxLayout(detail);
    detailLayout->setContentsMargins(0, 0, 0, 0);
    detailTitle_ = new QLabel(detail);
    detailTitle_->setObjectName(QStringLiteral("compareDetailTitle"));
    detailTitle_->setTextFormat(Qt::PlainText);
    detailTitle_->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);
    detailLayout->addWidget(detailTitle_);
    auto* charts = new QHBoxLayout;
    beforeBars_ = new kme::widgets::ProbabilityBars(detail);
    beforeBars_->setObjectName(QStringLiteral("compareBeforeBars"));
    afterBars_ = new kme::widgets::ProbabilityBars(detail);
    afterBars_->setObjectName(QStringLiteral("compareAfterBars"));
    for (auto* bars : {beforeBars_, afterBars_}) {
        bars->setMinimumHeight(200);
        bars->setPlaceholderText(tr("Select a row to see its top-5 next tokens."));
        charts->addWidget(bars);
    }
    detailLayout->addLayout(charts, 1);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->setObjectName(QStringLiteral("compareSplitter"));
    split->addWidget(table_);
    split->addWidget(detail);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    split->setChildrenCollapsible(false);
    layout->addWidget(split, 1);
    connect(table_, &QTableWidget::currentCellChanged, this, [this](int row) { showDetail(row); });
}

void CompareResultsView::setRows(const std::vector<kme::CompareRow>* rows, const QString& beforeLabel,
                                 const QString& afterLabel) {
    rows_ = rows;
    table_->clearContents();
    table_->setRowCount(0);
    const QString b = beforeLabel.isEmpty() ? tr("before") : beforeLabel;
    const QString a = afterLabel.isEmpty() ? tr("after") : afterLabel;
    auto elide = [](const QString& s) { return s.size() > 28 ? s.left(27) + QChar(0x2026) : s; };
    beforeLabel_ = b;
    afterLabel_ = a;
    table_->setHorizontalHeaderLabels({tr("Prompt"), tr("Continuation\n%1").arg(elide(b)),
                                       tr("Continuation\n%1").arg(elide(a)), tr("p(new)\n%1").arg(elide(b)),
                                       tr("p(new)\n%1").arg(elide(a)), tr("p(true)\n%1").arg(elide(b)),
                                       tr("p(true)\n%1").arg(elide(a)), tr("Next token\n%1").arg(elide(b)),
                                       tr("Next token\n%1").arg(elide(a))});
    for (int c = 0; c < kColumnCount; ++c)
        table_->horizontalHeaderItem(c)->setToolTip(
            c == kPromptCol ? tr("The prompt; the row header says where it comes from")
                            : (c % 2 == 1 ? tr("Before: %1").arg(b) : tr("After: %1").arg(a)));
    if (!rows_ || rows_->empty()) {
        showDetail(-1);
        return;
    }
    const QPalette pal = palette();
    const QColor changed = kme::widgets::mix(pal.color(QPalette::Base), pal.color(QPalette::Highlight), 0.3);
    table_->setRowCount(int(rows_->size()));
    QStringList kinds;
    for (int r = 0; r < int(rows_->size()); ++r) {
        const kme::CompareRow& row = (*rows_)[size_t(r)];
        const QString kind = row.kind == "edit" ? tr("edit") : row.kind == "paraphrase" ? tr("paraphrase")
                             : row.kind == "neighbour"                                  ? tr("neighbour")
                                                                                        : tr("yours");
        kinds << kind;
        auto* prompt = new QTableWidgetItem(QString::fromStdString(row.prompt));
        QString tip = tr("%1 prompt\np(new) = p(%2), p(true) = p(%3)")
                          .arg(kind, QString::fromStdString(row.targetNew), QString::fromStdString(row.targetTrue));
        if (!row.note.empty()) tip += QLatin1Char('\n') + QString::fromStdString(row.note);
        prompt->setToolTip(tip);
        table_->setItem(r, kPromptCol, prompt);

        auto text = [&](int col, const QString& s, bool isChanged, const QString& tooltip, bool numeric) {
            auto* item = new QTableWidgetItem(s);
            item->setToolTip(tooltip.isEmpty() ? s : tooltip);
            if (numeric) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            item->setData(kChangedRole, isChanged);
            if (isChanged) item->setBackground(changed);
            table_->setItem(r, col, item);
        };
        auto cont = [](const kme::CompareSide& s) {
            return s.error.empty() ? QString::fromStdString(s.continuation)
                                   : QStringLiteral("⚠ ") + QString::fromStdString(s.error);
        };
        const bool contChanged = row.before.continuation != row.after.continuation;
        text(kContBeforeCol, cont(row.before), false, {}, false);
        text(kContAfterCol, cont(row.after), contChanged, {}, false);
        text(kNewBeforeCol, prob(row.before.pNew), false, QString::number(row.before.pNew, 'g', 6), true);
        text(kNewAfterCol, prob(row.after.pNew), kme::compareProbabilityChanged(row.before.pNew, row.after.pNew),
             QString::number(row.after.pNew, 'g', 6), true);
        text(kTrueBeforeCol, prob(row.before.pTrue), false, QString::number(row.before.pTrue, 'g', 6), true);
        text(kTrueAfterCol, prob(row.after.pTrue), kme::compareProbabilityChanged(row.before.pTrue, row.after.pTrue),
             QString::number(row.after.pTrue, 'g', 6), true);

        // The most likely next token; its top five are the charts under the table.
        const bool nextChanged = kme::compareTopChanged(row.before, row.after);
        for (const bool isAfter : {false, true}) {
            const kme::CompareSide& side = isAfter ? row.after : row.before;
            QStringList tokens;
            for (size_t i = 0; i < side.top.size() && int(i) < kTopShown; ++i)
                tokens << QString::fromStdString(side.top[i].first);
            const QString shown =
                side.top.empty() ? QStringLiteral("—")
                                 : QStringLiteral("%1  %2").arg(kme::widgets::visibleTokenElided(tokens.front(), 14),
                                                                prob(side.top.front().second));
            text(isAfter ? kTopAfterCol : kTopBeforeCol, shown, isAfter && nextChanged,
                 tr("Top-5: %1").arg(tokens.join(QStringLiteral(" · "))), false);
            table_->item(r, isAfter ? kTopAfterCol : kTopBeforeCol)->setData(Qt::UserRole, tokens);
        }
    }
    table_->setVerticalHeaderLabels(kinds);
    for (int c : {kContBeforeCol, kContAfterCol}) table_->setColumnWidth(c, 130);
    for (int c : {kNewBeforeCol, kNewAfterCol, kTrueBeforeCol, kTrueAfterCol}) table_->setColumnWidth(c, 74);
    for (int c : {kTopBeforeCol, kTopAfterCol}) table_->setColumnWidth(c, 104);
    fitPromptColumn();
    table_->resizeRowsToContents();
    table_->setCurrentCell(0, kPromptCol);
    showDetail(0);
}

void CompareResultsView::showDetail(int row) {
    if (!rows_ || row < 0 || row >= int(rows_->size())) {
        detailTitle_->setText(!rows_ || rows_->empty() ? QString() : tr("Select a row to see its top-5 next tokens."));
        beforeBars_->clear();
        afterBars_->clear();
        return;
    }
    const kme::CompareRow& r = (*rows_)[size_t(row)];
    detailTitle_->setText(tr("Top-5 next tokens after “%1”").arg(QString::fromStdString(r.prompt)));
    auto fill = [this](kme::widgets::ProbabilityBars* bars, const kme::CompareSide& side, const kme::CompareSide& other,
                       const QString& label, const QString& otherLabel, bool withOther) {
        QStringList tokens;
        QVector<double> probs, others;
        for (size_t i = 0; i < side.top.size() && int(i) < kTopShown; ++i) {
            tokens << QString::fromStdString(side.top[i].first);
            probs << side.top[i].second;
            others << kme::sideProbabilityOf(other, side.top[i].first);
        }
        bars->setTitle(label);
        bars->setSeriesNames(label, otherLabel);
        bars->setPlaceholderText(side.error.empty() ? tr("No data.") : QString::fromStdString(side.error));
        bars->setData(tokens, probs, withOther ? others : QVector<double>{});
    };
    fill(beforeBars_, r.before, r.after, beforeLabel_, afterLabel_, false);
    // The "after" chart also shows the same tokens' "before" probabilities.
    fill(afterBars_, r.after, r.before, afterLabel_, beforeLabel_, true);
}

bool CompareResultsView::isChanged(int row, int column) const {
    const QTableWidgetItem* item = table_->item(row, column);
    return item && item->data(kChangedRole).toBool();
}

QString CompareResultsView::cellText(int row, int column) const {
    const QTableWidgetItem* item = table_->item(row, column);
    if (!item) return {};
    if (column == kTopBeforeCol || column == kTopAfterCol)
        return item->data(Qt::UserRole).toStringList().join(QLatin1Char('|'));
    return item->text();
}

void CompareResultsView::fitPromptColumn() {
    constexpr int kMinPromptWidth = 220;
    int others = 0;
    for (int c = 0; c < kColumnCount; ++c)
        if (c != kPromptCol) others += table_->columnWidth(c);
    const int width = std::max(kMinPromptWidth, table_->viewport()->width() - others);
    if (table_->columnWidth(kPromptCol) != width) {
        table_->setColumnWidth(kPromptCol, width);
        table_->resizeRowsToContents();
    }
}

bool CompareResultsView::eventFilter(QObject* watched, QEvent* event) {
    if (watched == table_->viewport() && event->type() == QEvent::Resize) fitPromptColumn();
    return QWidget::eventFilter(watched, event);
}

}  // namespace kme::app
