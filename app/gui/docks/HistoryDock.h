#pragma once
// Left dock "History", under the model: the session's edits in the order
// they are applied. The box of an edit switches it on and off (undo / redo
// rebuild the weights from the originals and the enabled deltas), the name
// can be edited (double-click or F2), Delete removes an edit for good. An
// edit whose delta now lands on other weights than it was computed on (an
// edit before it was switched off) is marked as a what-if.
#include <QDockWidget>
#include <cstdint>

class QAction;
class QLabel;
class QMenu;
class QToolButton;
class QTreeWidget;
class QTreeWidgetItem;

namespace kme::app {

class JobRunner;
class SessionController;

class HistoryDock final : public QDockWidget {
    Q_OBJECT

public:
    enum Column { kEnabledCol, kNameCol, kMethodCol, kLayerCol, kWhatIfCol, kColumnCount };
    static constexpr int kEditIdRole = Qt::UserRole + 1;

    HistoryDock(SessionController* session, JobRunner* runner, QWidget* parent = nullptr);

    QAction* undoAction() const { return undo_; }
    QAction* redoAction() const { return redo_; }
    QAction* deleteAction() const { return delete_; }
    QAction* renameAction() const { return rename_; }
    QTreeWidget* tree() const { return tree_; }
    QLabel* footer() const { return footer_; }
    // The row of an edit (nullptr: not listed).
    QTreeWidgetItem* itemFor(int64_t editId) const;
    int64_t selectedEditId() const;
    // "Compare with…" for an edit: the original model, now, and every other
    // edit alone; each action emits compareRequested. A new menu owned by `parent`.
    QMenu* compareWithMenu(int64_t editId, QWidget* parent);
    QToolButton* compareButton() const { return compareButton_; }

Q_SIGNALS:
    // Two states as sets of edit ids (history order): A and B of the Compare tab.
    void compareRequested(const QList<qint64>& a, const QList<qint64>& b);

public Q_SLOTS:
    void refresh();

private:
    void updateActions();
    void updateFooter();
    void onItemChanged(QTreeWidgetItem* item, int column);
    void deleteSelected();
    void showContextMenu(const QPoint& pos);
    void fillCompareMenu(QMenu* menu, int64_t editId);

    SessionController* session_;
    JobRunner* runner_;
    QTreeWidget* tree_ = nullptr;
    QLabel* footer_ = nullptr;
    QAction* undo_ = nullptr;
    QAction* redo_ = nullptr;
    QAction* delete_ = nullptr;
    QAction* rename_ = nullptr;
    QToolButton* compareButton_ = nullptr;
    bool updating_ = false;  // refresh() is filling the tree: itemChanged is ours
};

}  // namespace kme::app
