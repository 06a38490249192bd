// The Edit tab's "Advanced hyper-parameters" form is generated from the
// schema (engine/edit/HparamSchema): per method one editor per recorded key
// (layers: the tab's spin boxes), the schema's ranges, an exact round trip
// of every value to EditHparams, typed values out of range refused inline
// (and Run disabled), per-row reset and changed marker, rebuilt on a method switch.
#include <QtTest>

#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QPushButton>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QToolButton>
#include <climits>

#include "app/gui/MainWindow.h"
#include "app/gui/tabs/EditTab.h"
#include "app/gui/tabs/HparamForm.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/model/Config.h"
#include "tests/app/AppTestSupport.h"
#include "tests/app/TinyModelFolder.h"

using namespace kme::app;
using json = nlohmann::json;

namespace {

QStringList expectedKeys(kme::EditMethod m) {
    QStringList out;
    for (const kme::HparamSpec* s : kme::hparamSchema(m))
        if (s->recorded && s->key != "layers") out << QString::fromStdString(s->key);
    return out;
}

bool isListType(kme::HparamType t) {
    return t == kme::HparamType::IntList || t == kme::HparamType::StringList || t == kme::HparamType::PairList ||
           t == kme::HparamType::Templates;
}

// Types `text` into a line edit as a user would (select all, type).
void typeInto(QLineEdit* e, const QString& text) {
    e->selectAll();
    e->del();
    QTest::keyClicks(e, text);
}

}  // namespace

class TestHparamForm final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString tinyModel_;

private Q_SLOTS:
    void initTestCase() {
        kme::testing::isolateSettings("test_hparam_form");
        QVERIFY(tmp_.isValid());
        tinyModel_ = tmp_.filePath(QStringLiteral("tiny-gpt2"));
        QVERIFY(QDir().mkpath(tinyModel_));
        kme::testing::writeTinyModelFolder(tinyModel_.toStdString());
    }

    void oneEditorPerSchemaKey() {
        for (const kme::MethodInfo& info : kme::methodTable()) {
            HparamForm f;
            f.setMethod(info.method);
            const QStringList keys = expectedKeys(info.method);
            QVERIFY(!keys.isEmpty());
            QCOMPARE(f.keys(), keys);
            int editors = 0;
            for (QWidget* w : f.findChildren<QWidget*>())
                if (w->objectName().startsWith(QStringLiteral("hparam_"))) ++editors;
            QCOMPARE(editors, keys.size());  // one widget per key, nothing left of another method
            for (const QString& key : keys) {
                const kme::HparamSpec* s = kme::findHparam(info.method, key.toStdString());
                QVERIFY(s);
                QWidget* e = f.editor(key);
                QVERIFY2(e, qPrintable(key));
                QCOMPARE(f.findChildren<QWidget*>(QStringLiteral("hparam_") + key).size(), 1);
                // Tooltip: the key, its help line and its range.
                const QString tip = f.label(key)->toolTip();
                QVERIFY2(tip.contains(key) && tip.contains(QString::fromStdString(s->help)) &&
                             tip.contains(QString::fromStdString(kme::hparamRangeText(*s))),
                         qPrintable(tip));
                QVERIFY(f.label(key)->text().startsWith(HparamForm::displayText(key)));
                QVERIFY(f.resetButton(key));
                switch (s->type) {
                    case kme::HparamType::Int:
                        if (s->max <= double(INT_MAX)) {
                            auto* spin = qobject_cast<QSpinBox*>(e);
                            QVERIFY2(spin, qPrintable(key));
                            QCOMPARE(double(spin->minimum()), s->min);
                            QCOMPARE(double(spin->maximum()), s->max);
                        } else {
                            QVERIFY2(qobject_cast<QLineEdit*>(e), qPrintable(key));  // beyond int: typed, checked
                        }
                        break;
                    case kme::HparamType::Bool: QVERIFY2(qobject_cast<QCheckBox*>(e), qPrintable(key)); break;
                    default: QVERIFY2(qobject_cast<QLineEdit*>(e), qPrintable(key)); break;
                }
                QVERIFY2(f.rowError(key).isEmpty(), qPrintable(key + QStringLiteral(": ") + f.rowError(key)));
                QVERIFY(!f.isChanged(key));
            }
            QVERIFY(f.isValid());
        }
    }

    void valuesRoundTripExactly() {
        for (const kme::MethodInfo& info : kme::methodTable()) {
            const kme::EditHparams base = kme::defaultHparams(info.method, kme::ModelConfig{});
            HparamForm f;
            f.setMethod(info.method);
            f.setDefaults(base);
            f.setHparams(base);
            QVERIFY(f.hparams(base) == base);  // nothing typed: the struct unchanged
            // Type a value into every row; each must arrive in the struct as typed.
            std::vector<std::pair<const kme::HparamSpec*, json>> want;
            for (const QString& key : f.keys()) {
                const kme::HparamSpec* s = kme::findHparam(info.method, key.toStdString());
                QWidget* e = f.editor(key);
                switch (s->type) {
                    case kme::HparamType::Int:
                        if (auto* spin = qobject_cast<QSpinBox*>(e)) {
                            const int v = int(s->min) + 2 <= int(s->max) ? int(s->min) + 2 : int(s->min);
                            spin->setValue(v);
                            want.push_back({s, json(int64_t(v))});
                        } else {
                            typeInto(qobject_cast<QLineEdit*>(e), QStringLiteral("9876543210"));
                            want.push_back({s, json(int64_t(9876543210LL))});
                        }
                        break;
                    case kme::HparamType::Double:
                        typeInto(qobject_cast<QLineEdit*>(e), QStringLiteral("3.75e-4"));
                        want.push_back({s, json(3.75e-4)});
                        break;
                    case kme::HparamType::Bool: {
                        auto* c = qobject_cast<QCheckBox*>(e);
                        c->setChecked(!c->isChecked());
                        want.push_back({s, json(c->isChecked())});
                        break;
                    }
                    case kme::HparamType::StringList:
                        typeInto(qobject_cast<QLineEdit*>(e), QStringLiteral("<|endoftext|>, The"));
                        want.push_back({s, json::array({"<|endoftext|>", "The"})});
                        break;
                    case kme::HparamType::PairList:
                        typeInto(qobject_cast<QLineEdit*>(e), QStringLiteral("[[3, 4], [7, 2]]"));
                        want.push_back({s, json::parse("[[3, 4], [7, 2]]")});
                        break;
                    case kme::HparamType::Templates:
                        typeInto(qobject_cast<QLineEdit*>(e), QStringLiteral("[[\"{}\", \"The {} is\"]]"));
                        want.push_back({s, json::parse("[[\"{}\", \"The {} is\"]]")});
                        break;
                    case kme::HparamType::String:
                        if (s->choices.empty()) {  // free text: a JSON string keeps line breaks and edge spaces
                            typeInto(qobject_cast<QLineEdit*>(e), QStringLiteral("\"Fact: {prompt} {target}\\n \""));
                            want.push_back({s, json("Fact: {prompt} {target}\n ")});
                        } else if (s->choices.size() > 1) {  // another of its choices
                            const std::string other = s->get(base) == json(s->choices[0]) ? s->choices[1] : s->choices[0];
                            typeInto(qobject_cast<QLineEdit*>(e), QString::fromStdString(other));
                            want.push_back({s, json(other)});
                        }
                        break;
                    default: break;
                }
                QVERIFY2(f.rowError(key).isEmpty(), qPrintable(key + QStringLiteral(": ") + f.rowError(key)));
                QVERIFY2(f.isChanged(key), qPrintable(key));
            }
            QVERIFY(f.isValid());
            const kme::EditHparams out = f.hparams(base);
            for (const auto& [s, v] : want)
                QVERIFY2(s->get(out) == v, qPrintable(QString::fromStdString(s->key + ": " + s->get(out).dump() +
                                                                             " != " + v.dump())));
            QVERIFY(out.layers == base.layers);  // not the form's
            // The struct shown again gives it back, bit for bit.
            HparamForm g;
            g.setMethod(info.method);
            g.setHparams(out);
            QVERIFY(g.hparams(base) == out);
            // Doubles without a short decimal form survive the text (0.1 + 0.2 = 0.30000000000000004).
            kme::EditHparams odd = base;
            for (const QString& key : f.keys()) {
                const kme::HparamSpec* s = kme::findHparam(info.method, key.toStdString());
                if (s->type == kme::HparamType::Double) s->set(odd, json(0.1 + 0.2));
            }
            g.setHparams(odd);
            QVERIFY(g.isValid());
            QVERIFY(g.hparams(base) == odd);
        }
    }

    void outOfRangeIsRefusedInline() {
        HparamForm f;
        f.setMethod(kme::EditMethod::Memit);
        const kme::EditHparams d = kme::defaultHparams(kme::EditMethod::Memit, kme::ModelConfig{});
        f.setDefaults(d);
        f.setHparams(d);
        auto* lr = qobject_cast<QLineEdit*>(f.editor(QStringLiteral("v_lr")));
        QVERIFY(lr);
        auto* errorLine = f.findChild<QLabel*>(QStringLiteral("hparamError_v_lr"));
        QVERIFY(errorLine);
        const struct {
            const char* key;
            const char* text;
        } bad[] = {
            {"v_lr", "1e9"},           {"v_lr", "-0.5"},         {"v_lr", "abc"},
            {"v_lr", "nan"},           {"v_lr", "inf"},          {"v_lr", ""},
            {"mom2_n_tokens", "1e20"}, {"mom2_n_tokens", "-1"},  {"mom2_n_tokens", "99999999999999999999"},
            {"context_template_length_params", "[[0, 10]]"},     {"context_template_length_params", "[[1,"},
            {"context_template_length_params", "[[[[[[[[[[[[1]]]]]]]]]]]]"},
            {"context_template_starts", "[\"\"]"},               {"context_templates", "[[\"no placeholder\"]]"},
            {"context_templates", "gpt"},
        };
        for (const auto& b : bad) {
            const QString key = QString::fromLatin1(b.key);
            auto* e = qobject_cast<QLineEdit*>(f.editor(key));
            QVERIFY2(e, b.key);
            const QString before = e->text();
            typeInto(e, QString::fromLatin1(b.text));
            QVERIFY2(!f.isValid(), qPrintable(key + QStringLiteral(" = ") + QString::fromLatin1(b.text)));
            QVERIFY2(f.rowError(key).contains(key), qPrintable(f.rowError(key)));
            QVERIFY(!f.findChild<QLabel*>(QStringLiteral("hparamError_") + key)->isHidden());
            // A refused row leaves its field as in the base.
            QVERIFY(f.hparams(d) == d);
            typeInto(e, before);
            QVERIFY2(f.isValid(), qPrintable(f.errorText()));
            QVERIFY(f.findChild<QLabel*>(QStringLiteral("hparamError_") + key)->isHidden());
        }
        typeInto(lr, QStringLiteral("5e-4"));
        QVERIFY(f.isValid());
        QVERIFY(errorLine->isHidden());
        QCOMPARE(f.hparams(d).vLr, 5e-4);
        // A spin box does not take a typed value beyond its range.
        auto* steps = qobject_cast<QSpinBox*>(f.editor(QStringLiteral("v_num_grad_steps")));
        QVERIFY(steps);
        steps->selectAll();
        QTest::keyClicks(steps, QStringLiteral("99999999"));
        QVERIFY(steps->value() <= steps->maximum());
        QCOMPARE(double(steps->maximum()), kme::findHparam(kme::EditMethod::Memit, "v_num_grad_steps")->max);
    }

    void resetAndChangedMarker() {
        HparamForm f;
        f.setMethod(kme::EditMethod::Rome);
        kme::EditHparams d = kme::defaultHparams(kme::EditMethod::Rome, kme::ModelConfig{});
        f.setDefaults(d);
        f.setHparams(d);
        for (const QString& key : f.keys()) {
            QVERIFY(!f.isChanged(key));
            QVERIFY(!f.resetButton(key)->isEnabled());
        }
        auto* lr = qobject_cast<QLineEdit*>(f.editor(QStringLiteral("v_lr")));
        typeInto(lr, QStringLiteral("0.7"));
        QVERIFY(f.isChanged(QStringLiteral("v_lr")));
        QVERIFY(!f.isChanged(QStringLiteral("kl_factor")));
        QVERIFY(f.resetButton(QStringLiteral("v_lr"))->isEnabled());
        QTest::mouseClick(f.resetButton(QStringLiteral("v_lr")), Qt::LeftButton);
        QVERIFY(!f.isChanged(QStringLiteral("v_lr")));
        QCOMPARE(f.hparams(d).vLr, d.vLr);
        // A refused value counts as changed and resets too.
        typeInto(lr, QStringLiteral("oops"));
        QVERIFY(f.isChanged(QStringLiteral("v_lr")));
        f.resetRow(QStringLiteral("v_lr"));
        QVERIFY(f.isValid());
        // Reset all.
        qobject_cast<QCheckBox*>(f.editor(QStringLiteral("mom2_adjustment")))->setChecked(!d.mom2Adjustment);
        qobject_cast<QSpinBox*>(f.editor(QStringLiteral("v_num_grad_steps")))->setValue(7);
        f.resetAll();
        QVERIFY(f.hparams(d) == d);
        for (const QString& key : f.keys()) QVERIFY(!f.isChanged(key));
    }

    void editTabUsesTheForm() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(kme::testing::loadModel(w, tinyModel_));
        QVERIFY(kme::testing::waitIdle(w));
        EditTab* tab = w.editTab();
        HparamForm* form = tab->hparamForm();
        QVERIFY(form);
        tab->setLayer(0);
        tab->setRequest(QStringLiteral("The capital of {} is"), QStringLiteral("France"), QStringLiteral("Rome"),
                        QStringLiteral("Paris"));
        QVERIFY(kme::testing::waitIdle(w));
        // Switching the method rebuilds the rows.
        for (const kme::MethodInfo& info : kme::methodTable()) {
            QPointer<QWidget> old = form->editor(form->keys().first());
            const kme::EditMethod before = tab->method();
            tab->setMethod(info.method);
            QCOMPARE(form->method(), info.method);
            QCOMPARE(form->keys(), expectedKeys(info.method));
            if (before != info.method) QVERIFY(old.isNull());  // the old rows are gone
            QCOMPARE(bool(tab->vStepsSpin()), bool(kme::findHparam(info.method, "v_num_grad_steps")));
            QCOMPARE(bool(tab->mom2Check()), bool(kme::findHparam(info.method, "mom2_adjustment")));
        }
        tab->setMethod(kme::EditMethod::Rome);
        QVERIFY(tab->vStepsSpin() && tab->mom2Check());
        QVERIFY2(tab->inputError().isEmpty(), qPrintable(tab->inputError()));
        QVERIFY(tab->runButton()->isEnabled());
        // A refused value disables Run and says why.
        auto* lr = qobject_cast<QLineEdit*>(form->editor(QStringLiteral("v_lr")));
        QVERIFY(lr);
        const QString good = lr->text();
        typeInto(lr, QStringLiteral("1e9"));
        QVERIFY(!tab->runButton()->isEnabled());
        QVERIFY2(tab->inputError().contains(QStringLiteral("v_lr")), qPrintable(tab->inputError()));
        QVERIFY(tab->messageLabel()->text().contains(QStringLiteral("v_lr")));
        QVERIFY(!tab->runEdit());
        typeInto(lr, good);
        QVERIFY(tab->runButton()->isEnabled());
        // The tab's model defaults are the form's defaults: nothing marked changed.
        for (const QString& key : form->keys()) QVERIFY2(!form->isChanged(key), qPrintable(key));
    }
};

QTEST_MAIN(TestHparamForm)
#include "test_hparam_form.moc"
