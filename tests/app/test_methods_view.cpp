// The Methods tab (app/gui/tabs/MethodsTab): every row of the method table
// is a card in its family's column (the survey's order, left to right), with
// what it changes, its defaults for the loaded model (from the model folder's
// kme_edit_defaults.json) and its paper; "Open in Edit" selects the method in
// the Edit tab. The Learn panel beside it shows the survey's formulation, the
// same text as the Edit tab's page.
#include <QtTest>

#include <QComboBox>
#include <QFile>
#include <QFrame>
#include <QPushButton>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTextBrowser>

#include <nlohmann/json.hpp>

#include "app/gui/MainWindow.h"
#include "app/gui/docks/LearnDock.h"
#include "app/gui/tabs/EditTab.h"
#include "app/gui/tabs/MethodsTab.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/model/Config.h"
#include "tests/app/AppTestSupport.h"
#include "tests/app/TinyModelFolder.h"

using namespace kme::app;

namespace {

bool writeFile(const QString& path, const QByteArray& bytes) {
    QFile f(path);
    return f.open(QIODevice::WriteOnly | QIODevice::Truncate) && f.write(bytes) == bytes.size();
}

}  // namespace

class TestMethodsView final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString tinyModel_;

private Q_SLOTS:
    void initTestCase() {
        kme::testing::isolateSettings("test_methods_view");
        QVERIFY(tmp_.isValid());
        tinyModel_ = tmp_.filePath(QStringLiteral("tiny-gpt2"));
        QVERIFY(QDir().mkpath(tinyModel_));
        kme::testing::writeTinyModelFolder(tinyModel_.toStdString());
        // Per-model defaults, as the demo model ships them.
        QVERIFY(writeFile(tinyModel_ + QStringLiteral("/kme_edit_defaults.json"),
                          R"({"rome": {"layers": [1]}, "memit": {"layers": [0, 1], "mom2_update_weight": 20}})"));
    }

    void everyRowIsACardInItsFamilysColumn() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        MethodsTab* tab = w.methodsTab();
        QVERIFY(tab);
        w.tabs()->setCurrentWidget(tab);
        QTest::qWait(50);
        // The columns in the survey's order, left to right.
        const auto& families = kme::methodFamilies();
        QCOMPARE(families.front(), kme::MethodFamily::ExternalMemorization);
        int lastX = -1;
        for (kme::MethodFamily f : families) {
            QWidget* column = tab->familyColumn(f);
            QVERIFY(column);
            const int x = column->mapTo(tab, QPoint(0, 0)).x();
            QVERIFY2(x > lastX, kme::familyName(f));
            lastX = x;
        }
        // Every row of the table, in its family's column and nowhere else.
        size_t total = 0;
        for (kme::MethodFamily f : families) {
            const std::vector<QFrame*> cards = tab->cards(f);
            const auto rows = kme::methodsOf(f);
            QCOMPARE(cards.size(), rows.size());
            for (size_t i = 0; i < rows.size(); ++i) {
                QCOMPARE(cards[i]->property("kmeMethod").toInt(), int(rows[i]->method));  // table order
                QCOMPARE(cards[i]->parentWidget(), tab->familyColumn(f));
            }
            total += cards.size();
        }
        QCOMPARE(total, kme::methodTable().size());
        for (const kme::MethodInfo& m : kme::methodTable()) {
            QFrame* card = tab->card(m.method);
            QVERIFY2(card, m.name);
            QCOMPARE(card->parentWidget(), tab->familyColumn(m.family));
            QVERIFY(card->isVisible());
            const QString text = tab->cardText(m.method);
            for (const char* part : {m.displayName, m.paper.title, m.paper.venue, m.paper.authors})
                QVERIFY2(text.contains(QString::fromUtf8(part)), qPrintable(QString::fromUtf8(m.name) + ": " + text));
            QVERIFY(text.contains(QString::number(m.paper.year)));
            QVERIFY2(text.contains(QStringLiteral("Changes:")) && text.contains(QStringLiteral("Defaults:")), qPrintable(text));
            // What it changes follows the payload.
            const QString changes = methodChangesText(m, {});
            QVERIFY2(text.contains(changes), qPrintable(text));
            if (m.payload == kme::PayloadKind::Context) QVERIFY(changes.contains(QStringLiteral("no weights")));
            if (m.payload == kme::PayloadKind::Adapter) QVERIFY(changes.contains(QStringLiteral("weights stay")));
            QVERIFY(tab->openButton(m.method));
        }
        // No model: the cards say so instead of inventing defaults.
        QVERIFY(tab->cardText(kme::EditMethod::Rome).contains(QStringLiteral("Load a model")));
    }

    void layersText() {
        QCOMPARE(kme::app::layersText({1}), QStringLiteral("layer 1"));
        QCOMPARE(kme::app::layersText({0, 1, 2}), QStringLiteral("layers 0-2"));
        QCOMPARE(kme::app::layersText({1, 3}), QStringLiteral("layers 1, 3"));
        QCOMPARE(kme::app::layersText({}), QString());
    }

    void defaultsOfTheLoadedModel() {
        MainWindow w;
        w.setErrorBoxesEnabled(false);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(kme::testing::loadModel(w, tinyModel_));
        QVERIFY(kme::testing::waitIdle(w));
        MethodsTab* tab = w.methodsTab();
        QCOMPARE(tab->modelName(), QStringLiteral("tiny-gpt2"));
        const QString rome = tab->cardText(kme::EditMethod::Rome);
        QVERIFY2(rome.contains(QStringLiteral("the weights of layer 1")), qPrintable(rome));
        QVERIFY2(rome.contains(QStringLiteral("layer 1 (from kme_edit_defaults.json")), qPrintable(rome));
        // The file's MEMIT value against the method's general default.
        const kme::HparamSpec* lambda = kme::findHparam(kme::EditMethod::Memit, "mom2_update_weight");
        QVERIFY(lambda);
        const double general = lambda->get(kme::defaultHparams(kme::EditMethod::Memit, kme::ModelConfig{})).get<double>();
        QVERIFY(general != 20);  // the premise: the file changes it
        const QString memit = tab->cardText(kme::EditMethod::Memit);
        QVERIFY2(memit.contains(QStringLiteral("the weights of layers 0-1")), qPrintable(memit));
        QVERIFY2(memit.contains(QStringLiteral("mom2_update_weight 20 (general %1)").arg(general)), qPrintable(memit));
        // ROME's card lists no MEMIT key.
        QVERIFY(!rome.contains(QStringLiteral("mom2_update_weight 20")));
    }

    void openInEditSelectsTheMethod() {
        MainWindow w;
        w.setErrorBoxesEnabled(false);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(kme::testing::loadModel(w, tinyModel_));
        QVERIFY(kme::testing::waitIdle(w));
        MethodsTab* tab = w.methodsTab();
        EditTab* edit = w.editTab();
        // Every row, starting away from the default so each click is a change.
        for (const kme::MethodInfo& m : kme::methodTable()) {
            w.tabs()->setCurrentWidget(tab);
            const kme::EditMethod other =
                m.method == kme::defaultMethod().method ? kme::methodTable().back().method : kme::defaultMethod().method;
            edit->setMethod(other);
            QCOMPARE(edit->method(), other);
            QPushButton* open = tab->openButton(m.method);
            QVERIFY(open->isVisible());
            QTest::mouseClick(open, Qt::LeftButton);
            QCOMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(edit));
            QCOMPARE(edit->method(), m.method);
            QCOMPARE(edit->methodCombo()->currentText(), QString::fromUtf8(m.displayName));
        }
        // With its defaults: ROME on this model edits layer 1.
        QTest::mouseClick(tab->openButton(kme::EditMethod::Rome), Qt::LeftButton);
        QCOMPARE(edit->layers(), std::vector<int>{1});
    }

    void brokenDefaultsFileIsNamedNotFatal() {
        const QString broken = tmp_.filePath(QStringLiteral("tiny-broken"));
        QVERIFY(QDir().mkpath(broken));
        kme::testing::writeTinyModelFolder(broken.toStdString());
        QVERIFY(writeFile(broken + QStringLiteral("/kme_edit_defaults.json"), R"({"rome": {"layers": "one"}})"));
        MainWindow w;
        w.setErrorBoxesEnabled(false);
        QVERIFY(kme::testing::loadModel(w, broken));
        QVERIFY(kme::testing::waitIdle(w));
        const QString rome = w.methodsTab()->cardText(kme::EditMethod::Rome);
        QVERIFY2(rome.contains(QStringLiteral("defaults file ignored")) && rome.contains(QStringLiteral("layers")),
                 qPrintable(rome));
        QVERIFY(!w.methodsTab()->cardText(kme::EditMethod::Grace).isEmpty());
    }

    void learnPanelShowsTheSurveysFormulation() {
        MainWindow w;
        w.tabs()->setCurrentWidget(w.methodsTab());
        QCOMPARE(w.learnDock()->currentPage(), QStringLiteral("methods"));
        const QString methods = w.learnDock()->browser()->toPlainText();
        // The section of the Edit page, not a copy of it.
        const QString section = learnSection(QStringLiteral("edit.html"), QStringLiteral("families"));
        QVERIFY(section.contains(QStringLiteral("Three ways knowledge can enter a model")));
        QVERIFY2(methods.contains(QStringLiteral("Three ways knowledge can enter a model")), qPrintable(methods));
        QVERIFY(methods.contains(QStringLiteral("ξ = (s, r, o → o*)")));
        QVERIFY(!methods.contains(QStringLiteral("<!--")));
        w.tabs()->setCurrentWidget(w.editTab());
        QVERIFY(w.learnDock()->browser()->toPlainText().contains(QStringLiteral("Three ways knowledge can enter a model")));
        // An include of a missing section shows nothing in its place (no marker text).
        QCOMPARE(expandLearnIncludes(QStringLiteral("a<!--include:edit.html#no-such-section-->b")), QStringLiteral("ab"));
    }
};

QTEST_MAIN(TestMethodsView)
#include "test_methods_view.moc"
