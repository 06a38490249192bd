#include "app/gui/tabs/HparamForm.h"


#include <QCheckBox>
#include <QGridLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <climits>
#include <cmath>

#include "app/gui/widgets/Tones.h"
#include "engine/core/Error.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/MethodTable.h"

namespace kme::app {

namespace {

using json = nlohmann::json;

constexpr int kMaxListChars = 64 * 1024;  // a typed list longer than this is refused, not parsed
constexpr int kMaxListDepth = 8;          // deepest list of the schema: templates, [[..]] (2)

bool fitsSpin(const kme::HparamSpec& s) { return s.min >= double(INT_MIN) && s.max <= double(INT_MAX); }

bool isList(kme::HparamType t) {
    return t == kme::HparamType::IntList || t == kme::HparamType::StringList || t == kme::HparamType::PairList ||
           t == kme::HparamType::Templates;
}

// A number as typed back exactly ("0.0005", "1e-07", "15000").
QString numberText(double v) { return QString::number(v, 'g', QLocale::FloatingPointShortest); }

QString valueText(const kme::HparamSpec& s, const json& v) {
    if (s.type == kme::HparamType::Templates && v.is_array() && v.empty()) return {};  // generated (the default)
    if (v.is_number_float()) return numberText(v.get<double>());
    // Free text (IKE's templates, MEND's editor file): as typed when it reads back the same (readValue takes
    // unquoted text as it is), else as a JSON string, so that line breaks and edge spaces survive.
    if (v.is_string() && s.type == kme::HparamType::String && s.choices.empty()) {
        const std::string text = v.get<std::string>();
        const bool plain = text.empty() || (text.front() != ' ' && text.back() != ' ' && text.front() != '"' &&
                                            std::none_of(text.begin(), text.end(), [](char c) {
                                                return static_cast<unsigned char>(c) < 0x20;
                                            }));
        return QString::fromStdString(plain ? text : v.dump());
    }
    if (v.is_string() && !isList(s.type)) return QString::fromStdString(v.get<std::string>());
    return QString::fromStdString(v.dump());
}

// Brackets nested deeper than `limit` (strings skipped), so that no typed text is parsed without bound.
bool nestedTooDeep(const QString& text, int limit) {
    int depth = 0;
    bool inString = false;
    for (int i = 0; i < text.size(); ++i) {
        const QChar c = text[i];
        if (inString) {
            if (c == QLatin1Char('\\')) ++i;
            else if (c == QLatin1Char('"')) inString = false;
        } else if (c == QLatin1Char('"')) {
            inString = true;
        } else if (c == QLatin1Char('[') || c == QLatin1Char('{')) {
            if (++depth > limit) return true;
        } else if (c == QLatin1Char(']') || c == QLatin1Char('}')) {
            --depth;
        }
    }
    return false;
}

}  // namespace

QString HparamForm::displayText(const QString& key) {
    static const std::pair<const char*, const char*> names[] = {
        {"v_num_grad_steps", "v* steps"},
        {"v_lr", "v* learning rate"},
        {"v_weight_decay", "v* weight decay"},
        {"kl_factor", "KL factor"},
        {"clamp_norm_factor", "Clamp norm factor"},
        {"v_stop_loss", "v* stop loss"},
        {"mom2_adjustment", "Key statistics"},
        {"mom2_update_weight", "λ (MEMIT)"},
        {"mom2_n_samples", "Corpus texts for C"},
        {"mom2_n_tokens", "Corpus tokens for C"},
        {"context_template_starts", "Context starts"},
        {"context_template_length_params", "Context lengths"},
        {"context_templates", "Context templates"},
        {"num_steps", "Fine-tuning steps"},
        {"lr", "Learning rate"},
        {"weight_decay", "Weight decay"},
        {"norm_constraint", "Norm constraint"},
        {"ft_stop_loss", "Stop loss"},
    };
    for (const auto& [k, text] : names)
        if (key == QLatin1String(k)) return QString::fromUtf8(text);
    QString out = key;
    out.replace(QLatin1Char('_'), QLatin1Char(' '));
    if (!out.isEmpty()) out[0] = out[0].toUpper();
    return out;
}

HparamForm::HparamForm(QWidget* parent) : QWidget(parent), method_(kme::defaultMethod().method) {
    setObjectName(QStringLiteral("hparamForm"));
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    rebuild();
}

void HparamForm::setMethod(kme::EditMethod method) {
    if (method == method_ && !rows_.empty()) return;
    method_ = method;
    defaults_ = kme::EditHparams{};
    rebuild();
}

void HparamForm::rebuild() {
    updating_ = true;
    rows_.clear();
    delete body_;  // the old rows with it
    body_ = new QWidget(this);
    body_->setObjectName(QStringLiteral("hparamFormBody"));
    auto* grid = new QGridLayout(body_);
    grid->setContentsMargins(0, 0, 0, 0);
    grid->setColumnStretch(1, 1);
    static_cast<QVBoxLayout*>(layout())->addWidget(body_);
    int line = 0;
    for (const kme::HparamSpec* spec : kme::hparamSchema(method_)) {
        if (!spec->recorded || spec->key == "layers") continue;  // compatibility rows; layers: the tab's spin boxes
        Row r;
        r.spec = spec;
        const QString key = QString::fromStdString(spec->key);
        const QString range = QString::fromStdString(kme::hparamRangeText(*spec));
        const QString tip = QStringLiteral("%1: %2\n%3: %4")
                                .arg(key, QString::fromStdString(spec->help), tr("range"), range);
        r.label = new QLabel(displayText(key) + QLatin1Char(':'), body_);
        r.label->setToolTip(tip);
        switch (spec->type) {
            case kme::HparamType::Int:
                if (fitsSpin(*spec)) {
                    auto* spin = new QSpinBox(body_);
                    spin->setRange(int(spec->min), int(spec->max));
                    spin->setKeyboardTracking(true);
                    connect(spin, &QSpinBox::valueChanged, this, [this] { refresh(); });
                    r.editor = spin;
                    break;
                }
                [[fallthrough]];
            case kme::HparamType::Double:
            case kme::HparamType::String:
            case kme::HparamType::IntList:
            case kme::HparamType::StringList:
            case kme::HparamType::PairList:
            case kme::HparamType::Templates: {
                auto* edit = new QLineEdit(body_);
                if (spec->type == kme::HparamType::Templates)
                    edit->setPlaceholderText(tr("empty: generated from the context starts and lengths"));
                else if (spec->type == kme::HparamType::StringList)
                    edit->setPlaceholderText(tr("JSON list, or texts separated by commas"));
                edit->setMaxLength(kMaxListChars);
                connect(edit, &QLineEdit::textChanged, this, [this] { refresh(); });
                r.editor = edit;
                break;
            }
            case kme::HparamType::Bool: {
                auto* check = new QCheckBox(body_);
                if (spec->key == "mom2_adjustment") check->setText(tr("use C = E[k kᵀ] from a text corpus"));
                connect(check, &QCheckBox::toggled, this, [this] { refresh(); });
                r.editor = check;
                break;
            }
        }
        r.editor->setObjectName(QStringLiteral("hparam_") + key);
        r.editor->setToolTip(tip);
        r.label->setBuddy(r.editor);
        r.marker = new QLabel(QStringLiteral("●"), body_);
        r.marker->setToolTip(tr("changed from the default"));
        r.marker->setVisible(false);
        r.reset = new QToolButton(body_);
        r.reset->setText(QStringLiteral("↺"));
        r.reset->setAutoRaise(true);
        r.reset->setToolTip(tr("Reset %1 to its default").arg(key));
        connect(r.reset, &QToolButton::clicked, this, [this, key] { resetRow(key); });
        r.error = new QLabel(body_);
        r.error->setObjectName(QStringLiteral("hparamError_") + key);
        r.error->setWordWrap(true);
        r.error->setVisible(false);
        r.error->setStyleSheet(QStringLiteral("color: %1").arg(errorColor(palette()).name()));
        grid->addWidget(r.label, line, 0);
        grid->addWidget(r.editor, line, 1);
        grid->addWidget(r.marker, line, 2);
        grid->addWidget(r.reset, line, 3);
        grid->addWidget(r.error, line + 1, 1, 1, 3);
        line += 2;
        rows_.push_back(r);
    }
    for (const Row& r : rows_) showValue(r, defaults_);
    updating_ = false;
    refresh();
}

const HparamForm::Row* HparamForm::row(const QString& key) const {
    for (const Row& r : rows_)
        if (QString::fromStdString(r.spec->key) == key) return &r;
    return nullptr;
}

void HparamForm::showValue(const Row& r, const kme::EditHparams& h) {
    const json v = r.spec->get(h);
    if (auto* spin = qobject_cast<QSpinBox*>(r.editor)) spin->setValue(int(v.get<int64_t>()));
    else if (auto* check = qobject_cast<QCheckBox*>(r.editor)) check->setChecked(v.get<bool>());
    else if (auto* edit = qobject_cast<QLineEdit*>(r.editor)) edit->setText(valueText(*r.spec, v));
}

bool HparamForm::readValue(const Row& r, json& value, QString* error) const {
    const kme::HparamSpec& s = *r.spec;
    auto refuse = [&](const QString& why) {
        if (error) *error = why;
        return false;
    };
    if (auto* spin = qobject_cast<QSpinBox*>(r.editor)) {
        value = int64_t(spin->value());  // the spin box holds only values in the range
        return true;
    }
    if (auto* check = qobject_cast<QCheckBox*>(r.editor)) {
        value = check->isChecked();
        return true;
    }
    const auto* edit = qobject_cast<QLineEdit*>(r.editor);
    if (!edit) return refuse(tr("no editor"));
    const QString text = edit->text().trimmed();
    const QString key = QString::fromStdString(s.key);
    switch (s.type) {
        case kme::HparamType::Int: {
            bool ok = false;
            const qlonglong n = text.toLongLong(&ok);
            if (!ok) return refuse(tr("%1 must be a whole number in %2").arg(key, QString::fromStdString(kme::hparamRangeText(s))));
            value = int64_t(n);
            break;
        }
        case kme::HparamType::Double: {
            bool ok = false;
            const double d = text.toDouble(&ok);
            if (!ok || !std::isfinite(d))
                return refuse(tr("%1 must be a number in %2 (e.g. 5e-4), got “%3”")
                                  .arg(key, QString::fromStdString(kme::hparamRangeText(s)), text.left(40)));
            value = d;
            break;
        }
        case kme::HparamType::String:
            if (s.choices.empty() && text.startsWith(QLatin1Char('"'))) {
                try {
                    value = json::parse(text.toStdString());
                } catch (const std::exception&) {
                    value = nullptr;
                }
                if (!value.is_string())
                    return refuse(tr("%1: a text in double quotes, with \\n for a line break").arg(key));
                break;
            }
            value = text.toStdString();
            break;
        case kme::HparamType::Bool: value = text.toStdString(); break;
        case kme::HparamType::Templates:
            if (text.isEmpty()) {
                value = json::array();  // generated: no recorded groups
                return true;
            }
            [[fallthrough]];
        case kme::HparamType::IntList:
        case kme::HparamType::StringList:
        case kme::HparamType::PairList: {
            const bool jsonForm = text.startsWith(QLatin1Char('[')) || text.startsWith(QLatin1Char('"'));
            if (!jsonForm && s.type == kme::HparamType::Templates) {
                value = text.toStdString();  // rome | memit
            } else if (!jsonForm && (s.type == kme::HparamType::StringList || s.type == kme::HparamType::IntList)) {
                value = json::array();
                for (const QString& part : text.split(QLatin1Char(','))) {
                    const QString p = part.trimmed();
                    if (s.type == kme::HparamType::StringList) {
                        value.push_back(p.toStdString());
                    } else {
                        bool ok = false;
                        const qlonglong n = p.toLongLong(&ok);
                        if (!ok) return refuse(tr("%1: “%2” is not a whole number").arg(key, p.left(40)));
                        value.push_back(int64_t(n));
                    }
                }
            } else {
                if (nestedTooDeep(text, kMaxListDepth)) return refuse(tr("%1: nested too deeply").arg(key));
                try {
                    value = json::parse(text.toStdString());
                } catch (const std::exception&) {
                    return refuse(tr("%1 is not valid JSON (%2)").arg(key, QString::fromStdString(kme::hparamRangeText(s))));
                }
            }
            break;
        }
    }
    try {
        kme::checkHparamValue(s, value, displayText(key).toStdString());
    } catch (const std::exception& e) {
        return refuse(QString::fromUtf8(e.what()));
    }
    return true;
}

void HparamForm::refresh() {
    if (updating_) return;
    for (const Row& r : rows_) {
        json v;
        QString error;
        const bool ok = readValue(r, v, &error);
        r.error->setText(error);
        r.error->setVisible(!ok);
        const bool changed = !ok || v != r.spec->get(defaults_);
        r.marker->setVisible(changed);
        r.reset->setEnabled(changed);
        if (auto* edit = qobject_cast<QLineEdit*>(r.editor))
            edit->setStyleSheet(ok ? QString() : QStringLiteral("QLineEdit { border: 1px solid %1; }")
                                                     .arg(errorColor(palette()).name()));
    }
    Q_EMIT changed();
}

void HparamForm::setDefaults(const kme::EditHparams& defaults) {
    defaults_ = defaults;
    refresh();
}

void HparamForm::setHparams(const kme::EditHparams& h) {
    updating_ = true;
    for (const Row& r : rows_) showValue(r, h);
    updating_ = false;
    refresh();
}

kme::EditHparams HparamForm::hparams(kme::EditHparams base) const {
    for (const Row& r : rows_) {
        json v;
        if (!readValue(r, v, nullptr)) continue;
        if (r.spec->type == kme::HparamType::Templates && v.is_array() && v.empty()) {
            base.contextTemplates.clear();  // generated from the starts and lengths
            continue;
        }
        r.spec->set(base, v);
    }
    return base;
}

bool HparamForm::isValid() const { return errorText().isEmpty(); }

QString HparamForm::errorText() const {
    for (const Row& r : rows_) {
        json v;
        QString error;
        if (!readValue(r, v, &error)) return error;
    }
    return {};
}

QStringList HparamForm::keys() const {
    QStringList out;
    for (const Row& r : rows_) out << QString::fromStdString(r.spec->key);
    return out;
}

QWidget* HparamForm::editor(const QString& key) const {
    const Row* r = row(key);
    return r ? r->editor : nullptr;
}

QLabel* HparamForm::label(const QString& key) const {
    const Row* r = row(key);
    return r ? r->label : nullptr;
}

QToolButton* HparamForm::resetButton(const QString& key) const {
    const Row* r = row(key);
    return r ? r->reset : nullptr;
}

bool HparamForm::isChanged(const QString& key) const {
    const Row* r = row(key);
    return r && !r->marker->isHidden();
}

QString HparamForm::rowError(const QString& key) const {
    const Row* r = row(key);
    if (!r) return {};
    json v;
    QString error;
    return readValue(*r, v, &error) ? QString() : error;
}

void HparamForm::resetRow(const QString& key) {
    const Row* r = row(key);
    if (!r) return;
    updating_ = true;
    showValue(*r, defaults_);
    updating_ = false;
    refresh();
}

void HparamForm::resetAll() { setHparams(defaults_); }

}  // namespace kme::app
