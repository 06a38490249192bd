#pragma once
// One side of the Compare tab: which model state it shows (issue 16, item 3).
// A state is a set of the session's edits applied in history order on the
// original weights. The list offers the history points (original, after #k,
// now), each edit alone (with two edits or more), and a set of your own
// ("Edits…": tick any edits, enabled or not) -- a what-if that never changes
// the session.
#include <QWidget>
#include <cstdint>
#include <vector>

#include "app/gui/SessionController.h"

class QComboBox;
class QToolButton;
class QMenu;

namespace kme::app {

class CompareStatePicker final : public QWidget {
    Q_OBJECT

public:
    // `defaultPosition`: the history point chosen when nothing else is (0 original, -1 now).
    CompareStatePicker(SessionController* session, int defaultPosition, QWidget* parent = nullptr);

    QComboBox* combo() const { return combo_; }
    QToolButton* editsButton() const { return editsButton_; }
    // Items again from the session's edits, keeping the state chosen when it still exists.
    void refresh();
    // A history point: 0 original, k after edit k, -1 now.
    void setPosition(int position);
    // Exactly these edits: an item with the same edits (an edit alone, original, now,
    // after #k, in that order of preference), else a set of your own.
    void setEdits(const std::vector<int64_t>& ids);
    // The state chosen; position() is WeightState::kNoPosition for a set that is no history point.
    WeightState state() const;
    int position() const;
    std::vector<int64_t> editIds() const { return state().editIds; }

Q_SIGNALS:
    void changed();  // the user chose another state

private:
    void fillEditsMenu();
    int addSetItem(const WeightState& s, const QString& prefix);

    SessionController* session_;
    int defaultPosition_;
    QComboBox* combo_ = nullptr;
    QToolButton* editsButton_ = nullptr;
    QMenu* editsMenu_ = nullptr;
};

}  // namespace kme::app
