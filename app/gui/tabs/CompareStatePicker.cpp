#include "app/gui/tabs/CompareStatePicker.h"

#include <QAction>
#include <QComboBox>
#include <QHBoxLayout>
#include <QMenu>
#include <QToolButton>
#include <algorithm>

namespace kme::app {

namespace {

constexpr int kPositionRole = Qt::UserRole;      // int: a history point, or WeightState::kNoPosition
constexpr int kIdsRole = Qt::UserRole + 1;       // QVariantList of qlonglong: a set's edits
constexpr int kCustomRole = Qt::UserRole + 2;    // bool: the set of your own
constexpr int kAloneFromEdits = 2;               // "#k alone" items from this many edits on

QVariantList toVariant(const std::vector<int64_t>& ids) {
    QVariantList l;
    for (int64_t id : ids) l << qlonglong(id);
    return l;
}

std::vector<int64_t> fromVariant(const QVariant& v) {
    std::vector<int64_t> ids;
    for (const QVariant& x : v.toList()) ids.push_back(x.toLongLong());
    return ids;
}

}  // namespace

CompareStatePicker::CompareStatePicker(SessionController* session, int defaultPosition, QWidget* parent)
    : QWidget(parent), session_(session), defaultPosition_(defaultPosition) {
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    combo_ = new QComboBox(this);
    combo_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    combo_->setToolTip(tr("A model state: the original weights plus a set of the session's edits, applied in "
                          "history order. Points of the history, each edit alone, or a set of your own (Edits…)"));
    editsButton_ = new QToolButton(this);
    editsButton_->setText(tr("Edits…"));
    editsButton_->setToolTip(tr("Choose exactly which edits this state holds (a what-if: the session's own "
                                "switches do not change)"));
    editsButton_->setPopupMode(QToolButton::InstantPopup);
    editsMenu_ = new QMenu(editsButton_);
    editsButton_->setMenu(editsMenu_);
    layout->addWidget(combo_);
    layout->addWidget(editsButton_);
    connect(editsMenu_, &QMenu::aboutToShow, this, &CompareStatePicker::fillEditsMenu);
    connect(combo_, &QComboBox::activated, this, &CompareStatePicker::changed);
    refresh();
}

int CompareStatePicker::addSetItem(const WeightState& s, const QString& prefix) {
    combo_->addItem(prefix + s.label, WeightState::kNoPosition);
    const int index = combo_->count() - 1;
    combo_->setItemData(index, toVariant(s.editIds), kIdsRole);
    return index;
}

void CompareStatePicker::refresh() {
    const bool hadItems = combo_->count() > 0;
    const int position = hadItems ? this->position() : defaultPosition_;
    const std::vector<int64_t> ids = hadItems ? editIds() : std::vector<int64_t>{};
    combo_->blockSignals(true);
    combo_->clear();
    for (const WeightState& s : session_->historyPoints()) combo_->addItem(s.label, s.position);
    const auto& edits = session_->edits();
    if (int(edits.size()) >= kAloneFromEdits)
        for (const auto& e : edits) addSetItem(session_->stateOfEdits({e.id}), QString());
    combo_->blockSignals(false);
    if (hadItems && position == WeightState::kNoPosition) setEdits(ids);
    else setPosition(position);
}

void CompareStatePicker::setPosition(int position) {
    int i = combo_->findData(position, kPositionRole);
    if (position == WeightState::kNoPosition || i < 0) i = combo_->findData(defaultPosition_, kPositionRole);
    combo_->setCurrentIndex(std::max(0, i));
}

void CompareStatePicker::setEdits(const std::vector<int64_t>& given) {
    const std::vector<int64_t> ids = session_->stateOfEdits(given).editIds;  // history order, known edits only
    auto find = [&](bool sets) {
        for (int i = 0; i < combo_->count(); ++i) {
            const int pos = combo_->itemData(i, kPositionRole).toInt();
            if ((pos == WeightState::kNoPosition) != sets) continue;
            const std::vector<int64_t> itemIds =
                sets ? fromVariant(combo_->itemData(i, kIdsRole)) : session_->stateAt(pos).editIds;
            if (itemIds == ids) return i;
        }
        return -1;
    };
    // "only #k" before "after #k"; "original" and "now" before "after #k".
    int i = ids.size() == 1 ? find(true) : -1;
    for (int pos : {0, -1})
        if (i < 0 && session_->stateAt(pos).editIds == ids) i = combo_->findData(pos, kPositionRole);
    if (i < 0) i = find(false);
    if (i < 0) i = find(true);
    if (i < 0) {
        // A set of your own: one item for it, replaced by the next.
        for (int j = combo_->count() - 1; j >= 0; --j)
            if (combo_->itemData(j, kCustomRole).toBool()) combo_->removeItem(j);
        i = addSetItem(session_->stateOfEdits(ids), tr("edits "));
        combo_->setItemData(i, true, kCustomRole);
    }
    combo_->setCurrentIndex(i);
}

WeightState CompareStatePicker::state() const {
    const int i = combo_->currentIndex();
    if (i < 0) return session_->stateAt(defaultPosition_);
    const int pos = combo_->itemData(i, kPositionRole).toInt();
    if (pos != WeightState::kNoPosition) return session_->stateAt(pos);
    WeightState s = session_->stateOfEdits(fromVariant(combo_->itemData(i, kIdsRole)));
    return s;
}

int CompareStatePicker::position() const {
    const int i = combo_->currentIndex();
    return i < 0 ? defaultPosition_ : combo_->itemData(i, kPositionRole).toInt();
}

void CompareStatePicker::fillEditsMenu() {
    editsMenu_->clear();
    const std::vector<int64_t> current = editIds();
    if (session_->edits().empty()) {
        editsMenu_->addAction(tr("No edits yet"))->setEnabled(false);
        return;
    }
    for (const auto& e : session_->edits()) {
        QAction* a = editsMenu_->addAction(
            tr("#%1 %2%3").arg(e.position).arg(QString::fromStdString(e.name), e.enabled ? QString() : tr(" (off)")));
        a->setCheckable(true);
        a->setChecked(std::find(current.begin(), current.end(), e.id) != current.end());
        a->setData(qlonglong(e.id));
        connect(a, &QAction::toggled, this, [this, id = e.id](bool on) {
            std::vector<int64_t> ids = editIds();
            ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
            if (on) ids.push_back(id);
            setEdits(ids);
            Q_EMIT changed();
        });
    }
}

}  // namespace kme::app
