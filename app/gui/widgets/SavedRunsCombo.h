#pragma once
// The "Saved …" list of a view: the runs the session keeps of one kind
// (traces, dataset runs, comparisons), newest first, behind a label with its
// mnemonic; choosing one shows it again without recomputing (`chosen`). The
// same look and the same empty states everywhere: "none saved yet" while the
// session has none (disabled), "none shown" while the one on screen is not a
// saved one. Kept narrow: long prompts do not widen the window.
#include <QDateTime>
#include <QString>
#include <QVector>
#include <QWidget>
#include <string>

class QComboBox;
class QLabel;

namespace kme::app {

// One saved run as the list shows it.
struct SavedRunItem {
    qint64 id = 0;    // the session record's id (> 0)
    QString label;    // "prompt — subject — 14:05"
    QString toolTip;  // the full text and the date
};

// A record's ISO 8601 time as local time in `format` ("HH:mm"); the text
// itself when it does not read as a time.
inline QString localTimeText(const std::string& iso, const QString& format) {
    const QDateTime t = QDateTime::fromString(QString::fromStdString(iso), Qt::ISODate);
    return t.isValid() ? t.toLocalTime().toString(format) : QString::fromStdString(iso);
}

class SavedRunsCombo final : public QWidget {
    Q_OBJECT

public:
    // `label` with its mnemonic ("Save&d traces:"); `objectName` names the combo box.
    SavedRunsCombo(const QString& label, const QString& objectName, const QString& toolTip, QWidget* parent = nullptr);

    QComboBox* combo() const { return combo_; }
    QLabel* label() const { return label_; }
    int count() const;
    // Replaces the items (in that order) and selects `shown` (0 or not listed:
    // none), without emitting `chosen`.
    void setItems(const QVector<SavedRunItem>& items, qint64 shown);
    // Selects saved run `id` (0 or not listed: none), without emitting `chosen`.
    void select(qint64 id);
    qint64 selectedId() const;  // 0: none
    // Choosing is possible when there are items and `available` (false while a run goes on).
    void setAvailable(bool available);

Q_SIGNALS:
    // The user chose saved run `id`.
    void chosen(qint64 id);

private:
    void updateState();

    QLabel* label_ = nullptr;
    QComboBox* combo_ = nullptr;
    bool available_ = true;
};

}  // namespace kme::app
