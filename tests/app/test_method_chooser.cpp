// The Edit tab's method chooser comes from the method table
// (engine/edit/methods/MethodTable.h): methods grouped by family under
// headers that cannot be chosen, each with its display name and a tooltip
// naming its paper; the rows shown follow the chosen method's row (layer
// shape, batched, its schema's keys). The Evaluate tab lists the same table.
#include <QtTest>

#include <QCheckBox>
#include <QComboBox>
#include <QGroupBox>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTemporaryDir>

#include "app/gui/MainWindow.h"
#include "app/gui/tabs/EditTab.h"
#include "app/gui/tabs/EvaluateTab.h"
#include "engine/edit/methods/MethodTable.h"
#include "tests/app/AppTestSupport.h"
#include "tests/app/TinyModelFolder.h"

using namespace kme::app;

class TestMethodChooser final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString tinyModel_;

private Q_SLOTS:
    void initTestCase() {
        kme::testing::isolateSettings("test_method_chooser");
        QVERIFY(tmp_.isValid());
        tinyModel_ = tmp_.filePath(QStringLiteral("tiny-gpt2"));
        QVERIFY(QDir().mkpath(tinyModel_));
        kme::testing::writeTinyModelFolder(tinyModel_.toStdString());
    }

    void editChooserIsGroupedByFamily() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(kme::testing::loadModel(w, tinyModel_));
        QVERIFY(kme::testing::waitIdle(w));
        EditTab* tab = w.editTab();
        QComboBox* combo = tab->methodCombo();
        auto* model = qobject_cast<QStandardItemModel*>(combo->model());
        QVERIFY(model);
        // Expected: each family with methods, a header then its methods in table order.
        QStringList expected;
        for (kme::MethodFamily f : kme::methodFamilies()) {
            const auto rows = kme::methodsOf(f);
            if (rows.empty()) continue;
            expected << QStringLiteral("# ") + QString::fromUtf8(kme::familyDisplayName(f));
            for (const kme::MethodInfo* m : rows) expected << QString::fromUtf8(m->displayName);
        }
        QStringList got;
        for (int i = 0; i < combo->count(); ++i) {
            const QStandardItem* item = model->item(i);
            const bool header = !combo->itemData(i).isValid();
            if (header) {
                QVERIFY(!(item->flags() & Qt::ItemIsEnabled));  // a label: not chosen by click, key or wheel
                QVERIFY(!(item->flags() & Qt::ItemIsSelectable));
                got << QStringLiteral("# ") + item->text();
                continue;
            }
            QVERIFY(item->flags() & Qt::ItemIsEnabled);
            const kme::MethodInfo& m = kme::methodInfo(kme::EditMethod(combo->itemData(i).toInt()));
            QCOMPARE(item->text(), QString::fromUtf8(m.displayName));
            const QString tip = combo->itemData(i, Qt::ToolTipRole).toString();
            QVERIFY2(tip.contains(QString::fromUtf8(m.paper.title)) && tip.contains(QString::fromUtf8(m.paper.venue)),
                     qPrintable(tip));
            got << item->text();
        }
        QCOMPARE(got, expected);
        QCOMPARE(got.first(), QStringLiteral("# External memorization"));  // the survey's order
        QVERIFY(got.contains(QStringLiteral("GRACE")) && got.contains(QStringLiteral("IKE")));
        // The default method is chosen, not a header.
        QCOMPARE(tab->method(), kme::EditMethod::Rome);
        QCOMPARE(combo->currentText(), QStringLiteral("ROME"));
        // Keys skip the headers: down from the last global-optimization method (above the "Local
        // modification" header: MEND since issue 15) lands on the first local one (ROME).
        tab->setMethod(kme::methodsOf(kme::MethodFamily::GlobalOptimization).back()->method);
        combo->setFocus();
        QTest::keyClick(combo, Qt::Key_Down);
        QCOMPARE(tab->method(), kme::methodsOf(kme::MethodFamily::LocalModification).front()->method);
        QCOMPARE(tab->method(), kme::EditMethod::Rome);
        // A header made current by code still answers a method (the default), never a garbage value.
        combo->setCurrentIndex(0);
        QCOMPARE(tab->method(), kme::defaultMethod().method);

        // The rows follow the chosen method's row.
        tab->setMethod(kme::EditMethod::Memit);  // range, batched, key statistics
        QVERIFY(!tab->lastLayerSpin()->isHidden());
        QVERIFY(!tab->batchBox()->isHidden());
        QVERIFY(!tab->mom2Check()->isHidden());
        tab->setMethod(kme::EditMethod::Rome);  // one layer, one after another
        QVERIFY(tab->lastLayerSpin()->isHidden());
        QVERIFY(tab->batchBox()->isHidden());
        QVERIFY(!tab->mom2Check()->isHidden());
        QCOMPARE(tab->layers().size(), size_t(1));
        tab->setMethod(kme::EditMethod::FtL);  // no key statistics, no v* steps
        QVERIFY(!tab->mom2Check());  // the generated form has no row for a key FT-L lacks
        QVERIFY(!tab->vStepsSpin());
        QVERIFY(tab->lastLayerSpin()->isHidden());
    }

    void evaluateChooserListsTheTable() {
        MainWindow w;
        EvaluateTab* tab = w.findChild<EvaluateTab*>();
        QVERIFY(tab);
        QComboBox* combo = tab->methodCombo();
        QCOMPARE(combo->count(), int(kme::methodTable().size()));
        for (int i = 0; i < combo->count(); ++i) {
            const kme::MethodInfo& m = kme::methodTable()[size_t(i)];
            QCOMPARE(combo->itemText(i), QString::fromUtf8(m.displayName));
            QCOMPARE(combo->itemData(i).toInt(), int(m.method));
            QVERIFY(combo->itemData(i, Qt::ToolTipRole).toString().contains(QString::fromUtf8(m.paper.title)));
        }
    }
};

QTEST_MAIN(TestMethodChooser)
#include "test_method_chooser.moc"
