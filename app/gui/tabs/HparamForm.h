#pragma once
// The Edit tab's "Advanced hyper-parameters" form, generated from the
// engine's schema (engine/edit/HparamSchema): one row per recorded key of the
// chosen method -- a label (its display text; tooltip: the key, the help line
// and the range), an editor for the key's type, a changed-from-default marker
// and a reset-to-default button, and an inline error line when the typed
// value is refused. int -> QSpinBox with the schema's range (a QLineEdit for
// ranges beyond int), double -> QLineEdit ("5e-4" typeable; checked against
// the range), bool -> QCheckBox, lists -> QLineEdit with the JSON form (string
// lists also "a, b"). The values are checked with the schema's own
// checkHparamValue. "layers" is not a row: the Edit tab's layer spin boxes
// set it. Switching the method rebuilds the rows.
#include <QString>
#include <QStringList>
#include <QWidget>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/edit/EditMethod.h"

class QGridLayout;
class QLabel;
class QToolButton;

namespace kme {
struct HparamSpec;
}

namespace kme::app {

class HparamForm final : public QWidget {
    Q_OBJECT

public:
    explicit HparamForm(QWidget* parent = nullptr);

    // Rebuilds the rows for `method` (its defaults: EditHparams{} until setDefaults).
    void setMethod(kme::EditMethod method);
    kme::EditMethod method() const { return method_; }
    // What the markers and the reset buttons compare with / go back to.
    void setDefaults(const kme::EditHparams& defaults);
    // Shows the method's fields of `hparams`.
    void setHparams(const kme::EditHparams& hparams);
    // `base` with every valid row's value set (a refused row leaves its field as in `base`).
    kme::EditHparams hparams(kme::EditHparams base) const;
    // No row refuses its value.
    bool isValid() const;
    // The first refused row's message ("" when valid).
    QString errorText() const;

    // The schema keys shown, in schema order.
    QStringList keys() const;
    // The editor / label / reset button / marker of a key (nullptr: not a row of the method).
    QWidget* editor(const QString& key) const;
    QLabel* label(const QString& key) const;
    QToolButton* resetButton(const QString& key) const;
    // The key's value differs from the defaults.
    bool isChanged(const QString& key) const;
    // The key's inline error ("" when its value is accepted).
    QString rowError(const QString& key) const;
    void resetRow(const QString& key);
    void resetAll();

    // Display text of a key ("v_num_grad_steps" -> "v* steps").
    static QString displayText(const QString& key);

Q_SIGNALS:
    // A value was edited, reset or set.
    void changed();

private:
    struct Row {
        const kme::HparamSpec* spec = nullptr;
        QLabel* label = nullptr;
        QWidget* editor = nullptr;
        QLabel* marker = nullptr;
        QToolButton* reset = nullptr;
        QLabel* error = nullptr;
    };
    void rebuild();
    const Row* row(const QString& key) const;
    void showValue(const Row& r, const kme::EditHparams& h);
    // The editor's value as the schema's JSON, or an error message.
    bool readValue(const Row& r, nlohmann::json& value, QString* error) const;
    void refresh();

    kme::EditMethod method_;
    kme::EditHparams defaults_;
    QWidget* body_ = nullptr;
    std::vector<Row> rows_;
    bool updating_ = false;
};

}  // namespace kme::app
