#include "app/gui/widgets/SavedRunsCombo.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>

namespace kme::app {

SavedRunsCombo::SavedRunsCombo(const QString& label, const QString& objectName, const QString& toolTip, QWidget* parent)
    : QWidget(parent) {
    combo_ = new QComboBox(this);
    combo_->setObjectName(objectName);
    combo_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    combo_->setMinimumContentsLength(28);
    combo_->setToolTip(toolTip);
    label_ = new QLabel(label, this);
    label_->setBuddy(combo_);
    // Label and box centred on each other, the pair at the top of a row that wraps.
    auto* pair = new QHBoxLayout(this);
    pair->setContentsMargins(0, 0, 0, 0);
    pair->addWidget(label_);
    pair->addWidget(combo_);
    pair->setAlignment(Qt::AlignTop);
    connect(combo_, &QComboBox::currentIndexChanged, this, [this](int index) {
        if (const qint64 id = combo_->itemData(index).toLongLong(); id > 0) Q_EMIT chosen(id);
    });
    updateState();
}

int SavedRunsCombo::count() const { return combo_->count(); }

void SavedRunsCombo::setItems(const QVector<SavedRunItem>& items, qint64 shown) {
    {
        const QSignalBlocker block(combo_);
        combo_->clear();
        for (const SavedRunItem& item : items) {
            combo_->addItem(item.label, item.id);
            combo_->setItemData(combo_->count() - 1, item.toolTip, Qt::ToolTipRole);
        }
    }
    select(shown);
    updateState();
}

void SavedRunsCombo::select(qint64 id) {
    const QSignalBlocker block(combo_);
    combo_->setCurrentIndex(id ? combo_->findData(id) : -1);
}

qint64 SavedRunsCombo::selectedId() const {
    return combo_->currentIndex() >= 0 ? combo_->currentData().toLongLong() : 0;
}

void SavedRunsCombo::setAvailable(bool available) {
    available_ = available;
    updateState();
}

void SavedRunsCombo::updateState() {
    const bool any = combo_->count() > 0;
    combo_->setPlaceholderText(any ? tr("none shown") : tr("none saved yet"));
    combo_->setEnabled(any && available_);
}

}  // namespace kme::app
