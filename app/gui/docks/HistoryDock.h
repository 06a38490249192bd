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

public Q_SLOTS:
    void refresh();

private:
    void updateActions();
    void updateFooter();
    void onItemChanged(QTreeWidgetItem* item, int column);
    void deleteSelected();

    SessionController* session_;
    JobRunner* runner_;
    QTreeWidget* tree_ = nullptr;
    QLabel* footer_ = nullptr;
    QAction* undo_ = nullptr;
    QAction* redo_ = nullptr;
    QAction* delete_ = nullptr;
    QAction* rename_ = nullptr;
    bool updating_ = false;  // refresh() is filling the tree: itemChanged is ours
};

}  // namespace kme::app
