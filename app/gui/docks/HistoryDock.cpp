#include "app/gui/docks/HistoryDock.h"

#include <QAction>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMenu>
#include <QMessageBox>
#include <QToolButton>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <map>

#include "app/gui/JobRunner.h"
#include "app/gui/SessionController.h"
#include "engine/edit/methods/MethodTable.h"

namespace kme::app {

namespace {

// The method's display name from the method table ("ROME", "GRACE").
QString methodLabel(const std::string& method) {
    if (const kme::MethodInfo* m = kme::findMethod(method)) return QString::fromUtf8(m->displayName);
    return QString::fromStdString(method);
}

// "External memorization, adapter" for the tooltip.
QString kindLabel(const kme::EditRecord& e) {
    const kme::MethodInfo* m = kme::findMethod(e.method);
    return (m ? QString::fromUtf8(kme::familyDisplayName(m->family)) + QStringLiteral(", ") : QString()) +
           QString::fromStdString(e.payloadKind);
}

QString layersLabel(const std::vector<int>& layers) {
    if (layers.empty()) return QStringLiteral("—");
    if (layers.size() > 2 && layers.back() - layers.front() == int(layers.size()) - 1)
        return QStringLiteral("%1–%2").arg(layers.front()).arg(layers.back());
    QStringList parts;
    for (int l : layers) parts << QString::number(l);
    return parts.join(QLatin1Char(','));
}

QToolButton* toolButton(QAction* action, QWidget* parent) {
    auto* b = new QToolButton(parent);
    b->setDefaultAction(action);
    b->setToolButtonStyle(Qt::ToolButtonTextOnly);
    b->setAutoRaise(true);
    return b;
}

}  // namespace

HistoryDock::HistoryDock(SessionController* session, JobRunner* runner, QWidget* parent)
    : QDockWidget(tr("History"), parent), session_(session), runner_(runner) {
    setObjectName(QStringLiteral("historyDock"));
    auto* body = new QWidget(this);
    auto* layout = new QVBoxLayout(body);
    layout->setContentsMargins(4, 4, 4, 4);

    undo_ = new QAction(tr("&Undo edit"), this);
    undo_->setObjectName(QStringLiteral("undoEditAction"));
    undo_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Z));
    undo_->setToolTip(tr("Switch off the last edit that is on (Ctrl+Z); the weights go back exactly"));
    redo_ = new QAction(tr("&Redo edit"), this);
    redo_->setObjectName(QStringLiteral("redoEditAction"));
    redo_->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z));
    redo_->setToolTip(tr("Switch the next edit back on (Ctrl+Shift+Z)"));
    delete_ = new QAction(tr("&Delete edit"), this);
    delete_->setObjectName(QStringLiteral("deleteEditAction"));
    delete_->setShortcut(QKeySequence::Delete);
    delete_->setShortcutContext(Qt::WidgetWithChildrenShortcut);  // not while typing elsewhere
    delete_->setToolTip(tr("Remove the selected edit from the session for good (Del)"));
    rename_ = new QAction(tr("Re&name edit"), this);
    rename_->setShortcut(QKeySequence(Qt::Key_F2));
    rename_->setShortcutContext(Qt::WidgetWithChildrenShortcut);

    auto* buttons = new QHBoxLayout;
    buttons->setSpacing(2);
    buttons->addWidget(toolButton(undo_, body));
    buttons->addWidget(toolButton(redo_, body));
    buttons->addStretch(1);
    compareButton_ = new QToolButton(body);
    compareButton_->setObjectName(QStringLiteral("compareWithButton"));
    compareButton_->setText(tr("Compare with…"));
    compareButton_->setToolTip(tr("Compare the selected edit alone with the original model, the current state or "
                                  "another edit alone (Compare tab)"));
    compareButton_->setAutoRaise(true);
    compareButton_->setPopupMode(QToolButton::InstantPopup);
    auto* compareMenu = new QMenu(compareButton_);
    compareButton_->setMenu(compareMenu);
    connect(compareMenu, &QMenu::aboutToShow, this, [this, compareMenu] { fillCompareMenu(compareMenu, selectedEditId()); });
    buttons->addWidget(compareButton_);
    buttons->addWidget(toolButton(delete_, body));
    layout->addLayout(buttons);

    tree_ = new QTreeWidget(body);
    tree_->setObjectName(QStringLiteral("historyTree"));
    tree_->setColumnCount(kColumnCount);
    tree_->setHeaderLabels({tr("#"), tr("Edit"), tr("Method"), tr("Layer"), QString()});
    tree_->setRootIsDecorated(false);
    tree_->setUniformRowHeights(true);
    tree_->setEditTriggers(QAbstractItemView::NoEditTriggers);  // the name only, see below
    tree_->setSelectionMode(QAbstractItemView::SingleSelection);
    tree_->header()->setStretchLastSection(false);
    tree_->header()->setSectionResizeMode(kNameCol, QHeaderView::Stretch);
    for (int c : {kEnabledCol, kMethodCol, kLayerCol, kWhatIfCol})
        tree_->header()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
    tree_->headerItem()->setToolTip(kEnabledCol, tr("On: the edit is applied. Off: undone (its weights are restored)."));
    tree_->headerItem()->setToolTip(kWhatIfCol, tr("⚠: a what-if (an edit before it is off)"));
    tree_->addAction(delete_);
    tree_->addAction(rename_);
    tree_->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(tree_, &QTreeWidget::customContextMenuRequested, this, &HistoryDock::showContextMenu);
    layout->addWidget(tree_, 1);

    footer_ = new QLabel(body);
    footer_->setObjectName(QStringLiteral("historyFooter"));
    footer_->setWordWrap(true);
    footer_->setTextFormat(Qt::RichText);
    layout->addWidget(footer_);
    setWidget(body);

    connect(undo_, &QAction::triggered, session_, &SessionController::undo);
    connect(redo_, &QAction::triggered, session_, &SessionController::redo);
    connect(delete_, &QAction::triggered, this, &HistoryDock::deleteSelected);
    connect(rename_, &QAction::triggered, this, [this] {
        if (QTreeWidgetItem* item = tree_->currentItem()) tree_->editItem(item, kNameCol);
    });
    connect(tree_, &QTreeWidget::itemDoubleClicked, this, [this](QTreeWidgetItem* item, int column) {
        if (column == kNameCol) tree_->editItem(item, kNameCol);
    });
    connect(tree_, &QTreeWidget::itemChanged, this, &HistoryDock::onItemChanged);
    connect(tree_, &QTreeWidget::currentItemChanged, this, &HistoryDock::updateActions);
    connect(session_, &SessionController::editsChanged, this, &HistoryDock::refresh);
    connect(session_, &SessionController::sessionChanged, this, &HistoryDock::refresh);
    connect(session_, &SessionController::weightsChanged, this, &HistoryDock::updateFooter);
    connect(runner_, &JobRunner::busyChanged, this, &HistoryDock::updateActions);
    refresh();
}

QTreeWidgetItem* HistoryDock::itemFor(int64_t editId) const {
    for (int i = 0; i < tree_->topLevelItemCount(); ++i)
        if (tree_->topLevelItem(i)->data(kEnabledCol, kEditIdRole).toLongLong() == editId) return tree_->topLevelItem(i);
    return nullptr;
}

int64_t HistoryDock::selectedEditId() const {
    const QTreeWidgetItem* item = tree_->currentItem();
    return item ? item->data(kEnabledCol, kEditIdRole).toLongLong() : 0;
}

QMenu* HistoryDock::compareWithMenu(int64_t editId, QWidget* parent) {
    auto* menu = new QMenu(tr("Compare with…"), parent);
    menu->setObjectName(QStringLiteral("compareWithMenu"));
    fillCompareMenu(menu, editId);
    return menu;
}

void HistoryDock::fillCompareMenu(QMenu* menu, int64_t editId) {
    menu->clear();
    const kme::EditRecord* e = session_->edit(editId);
    if (!e) {
        menu->addAction(tr("Select an edit first"))->setEnabled(false);
        return;
    }
    const QString self = tr("#%1 alone").arg(e->position);
    const QList<qint64> alone = {qlonglong(editId)};
    QList<qint64> now;
    for (int64_t id : session_->liveState().editIds) now << qlonglong(id);
    auto add = [&](const QString& text, const QString& name, const QList<qint64>& a, const QList<qint64>& b) {
        QAction* act = menu->addAction(text);
        act->setObjectName(name);
        connect(act, &QAction::triggered, this, [this, a, b] { Q_EMIT compareRequested(a, b); });
        return act;
    };
    add(tr("The original model (%1 against it)").arg(self), QStringLiteral("compareWithOriginal"), {}, alone);
    add(tr("Now: the enabled edits (%1 against them)").arg(self), QStringLiteral("compareWithNow"), alone, now);
    bool others = false;
    for (const kme::EditRecord& o : session_->edits()) {
        if (o.id == editId) continue;
        if (!others) menu->addSection(tr("Another edit alone"));
        others = true;
        add(tr("#%1 %2 (%3) alone").arg(o.position).arg(QString::fromStdString(o.name), methodLabel(o.method)),
            QStringLiteral("compareWithEdit%1").arg(o.id), alone, {qlonglong(o.id)});
    }
}

void HistoryDock::showContextMenu(const QPoint& pos) {
    QTreeWidgetItem* item = tree_->itemAt(pos);
    if (!item) return;
    tree_->setCurrentItem(item);
    const int64_t id = item->data(kEnabledCol, kEditIdRole).toLongLong();
    QMenu menu(this);
    QMenu* compare = compareWithMenu(id, &menu);
    compare->setEnabled(!runner_->isBusy());
    menu.addMenu(compare);
    menu.addSeparator();
    menu.addAction(rename_);
    menu.addAction(delete_);
    menu.exec(tree_->viewport()->mapToGlobal(pos));
}

void HistoryDock::refresh() {
    const int64_t selected = selectedEditId();
    updating_ = true;
    tree_->clear();
    const kme::EditHistory& history = session_->history();  // the chain, walked once per change
    const QColor off = palette().color(QPalette::Disabled, QPalette::Text);
    for (const kme::EditRecord& e : session_->edits()) {
        auto* item = new QTreeWidgetItem(tree_);
        item->setFlags(Qt::ItemIsSelectable | Qt::ItemIsEnabled | Qt::ItemIsUserCheckable | Qt::ItemIsEditable);
        item->setData(kEnabledCol, kEditIdRole, qlonglong(e.id));
        item->setText(kEnabledCol, QString::number(e.position));
        item->setCheckState(kEnabledCol, e.enabled ? Qt::Checked : Qt::Unchecked);
        item->setText(kNameCol, QString::fromStdString(e.name));
        item->setText(kMethodCol, methodLabel(e.method));
        item->setText(kLayerCol, layersLabel(session_->layersOf(e)));
        QString tip = tr("#%1 %2\n%3 (%4), layer %5\ncreated %6\npayload %7 bytes")
                          .arg(e.position)
                          .arg(QString::fromStdString(e.name), methodLabel(e.method), kindLabel(e),
                               layersLabel(session_->layersOf(e)), QString::fromStdString(e.created))
                          .arg(e.deltaBytes);
        if (!e.enabled) {
            tip += e.payloadKind == "weights" ? tr("\nOff: undone; its weights are the originals again.")
                                              : tr("\nOff: undone; its %1 is no longer part of the model.")
                                                    .arg(QString::fromStdString(e.payloadKind));
            for (int c = kNameCol; c < kColumnCount; ++c) item->setForeground(c, off);
        }
        if (const kme::WhatIfNote* note = history.whatIfNote(e.id)) {
            const QString why = QString::fromStdString(note->message);
            item->setText(kWhatIfCol, tr("⚠ what-if"));
            item->setToolTip(kWhatIfCol, why);
            tip += QLatin1Char('\n') + why;
        }
        for (int c = 0; c < kWhatIfCol; ++c) item->setToolTip(c, tip);
        if (e.id == selected) tree_->setCurrentItem(item);
    }
    tree_->setColumnHidden(kWhatIfCol, !history.hasWhatIf());  // room for the names while there is no what-if
    updating_ = false;
    updateActions();
    updateFooter();
}

void HistoryDock::updateActions() {
    const bool idle = !runner_->isBusy();
    const int64_t u = session_->undoTarget(), r = session_->redoTarget();
    undo_->setEnabled(idle && u != 0);
    redo_->setEnabled(idle && r != 0);
    auto name = [this](int64_t id) {
        const kme::EditRecord* e = session_->edit(id);
        return e ? QString::fromStdString(e->name) : QString();
    };
    // The menu names the edit; the dock's buttons stay short (iconText).
    undo_->setText(u ? tr("&Undo “%1”").arg(name(u)) : tr("&Undo edit"));
    redo_->setText(r ? tr("&Redo “%1”").arg(name(r)) : tr("&Redo edit"));
    undo_->setIconText(tr("Undo"));
    redo_->setIconText(tr("Redo"));
    delete_->setIconText(tr("Delete"));
    delete_->setEnabled(idle && selectedEditId() != 0);
    rename_->setEnabled(selectedEditId() != 0);
    compareButton_->setEnabled(idle && selectedEditId() != 0);
    tree_->setEnabled(session_->hasSession());
}

void HistoryDock::updateFooter() {
    QString text;
    if (!session_->hasSession()) {
        text = tr("No session yet: the first edit or trace starts one, or use File ▸ New session….");
    } else {
        text = tr("Session <b>%1</b>").arg(session_->sessionName().toHtmlEscaped());
        if (session_->edits().empty()) text += tr("<br>No edits yet: run one in the Edit tab.");
        const QString hash = session_->currentHash();
        if (session_->live()) {
            QString state;
            if (hash.isEmpty()) state = tr("being rebuilt");
            else if (hash == session_->baseHash()) state = tr("the original model");
            else if (session_->history().hasWhatIf()) state = tr("a what-if state");
            else state = tr("as recorded");
            // The state hash: weights + enabled adapters + enabled context.
            text += tr("<br>Model state <tt>%1</tt>: %2").arg(hash.left(12), state);
        }
    }
    footer_->setText(text);
    footer_->setToolTip(session_->hasSession() ? session_->sessionPath() + QLatin1Char('\n') + session_->currentHash()
                                               : QString());
}

void HistoryDock::onItemChanged(QTreeWidgetItem* item, int column) {
    if (updating_) return;
    const int64_t id = item->data(kEnabledCol, kEditIdRole).toLongLong();
    const bool on = item->checkState(kEnabledCol) == Qt::Checked;
    const QString name = item->text(kNameCol).trimmed();
    // Applied once the tree has finished emitting: the change rebuilds the
    // tree (editsChanged -> refresh), which must not delete `item` while
    // QTreeWidget is still inside its own itemChanged.
    QMetaObject::invokeMethod(
        this,
        [this, id, column, on, name] {
            const kme::EditRecord* e = session_->edit(id);
            if (!e) return;
            bool ok = true;
            if (column == kEnabledCol) {
                if (on != e->enabled) ok = session_->setEnabled(id, on);
            } else if (column == kNameCol) {
                if (name != QString::fromStdString(e->name)) ok = !name.isEmpty() && session_->renameEdit(id, name);
            }
            // Refused (a job runs, an empty name): show what the session holds.
            if (!ok) refresh();
        },
        Qt::QueuedConnection);
}

void HistoryDock::deleteSelected() {
    const int64_t id = selectedEditId();
    const kme::EditRecord* e = session_->edit(id);
    if (!e) return;
    const auto answer = QMessageBox::question(
        this, tr("Delete edit"),
        tr("Delete #%1 “%2” from the session? Its weight change is removed for good; switching it off instead "
           "(its box) keeps it.")
            .arg(e->position)
            .arg(QString::fromStdString(e->name)));
    if (answer == QMessageBox::Yes) session_->deleteEdit(id);
}

}  // namespace kme::app
