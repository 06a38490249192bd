// The Compare tab with any two states (issue 16, item 3): on a session with a
// ROME edit (#1) and a GRACE edit (#2) of the same request, the History
// dock's "Compare with…" on #1, then "#2 … alone", sets the Compare tab's two
// states to {#1} and {#2}, runs the comparison on the worker and produces
// rows -- the same numbers `kme compare --a 1 --b 2` prints (computed in
// another process path: the command line's own model, stack and session
// replay) -- while the session's switches, the live state and its hash stay
// as they were.
#include <QtTest>

#include <QAction>
#include <QComboBox>
#include <QLabel>
#include <QMenu>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTreeWidget>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/cli/Cli.h"
#include "app/gui/MainWindow.h"
#include "app/gui/SessionController.h"
#include "app/gui/docks/HistoryDock.h"
#include "app/gui/tabs/CompareStatePicker.h"
#include "app/gui/tabs/CompareTab.h"
#include "engine/model/Config.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "tests/app/AppTestSupport.h"

using namespace kme::app;
using json = nlohmann::json;

namespace {

constexpr int kJobTimeoutMs = kme::testing::kAppJobTimeoutMs;
const std::string kPrompt = "The Eiffel Tower is located in the city of";

int runKme(std::vector<std::string> args, std::string* out = nullptr) {
    args.insert(args.begin(), "kme");
    args.push_back("--threads");
    args.push_back("1");
    std::ostringstream o, e;
    const int rc = kme::cli::runCli(args, o, e);
    if (rc != 0) qWarning("kme %s: %s", args[1].c_str(), e.str().c_str());
    if (out) *out = o.str();
    return rc;
}

}  // namespace

class TestCompareStates final : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    QString model_, session_;
    int64_t rome_ = 0, grace_ = 0;

    static bool openSession(MainWindow& w, const QString& path) {
        QSignalSpy done(w.session(), &SessionController::sessionOpenFinished);
        if (!w.openSession(path)) return false;
        if (!done.wait(kJobTimeoutMs) && done.isEmpty()) return false;
        return done.first().first().toBool();
    }

private Q_SLOTS:
    void initTestCase() {
        kme::testing::isolateSettings("test_compare_states");
        QVERIFY(tmp_.isValid());
        model_ = tmp_.filePath(QStringLiteral("model"));
        session_ = tmp_.filePath(QStringLiteral("two-methods.kmes"));
        kme::ModelConfig c;
        c.nLayer = 2;
        c.nHead = 2;
        c.nEmbd = 16;
        c.nInner = 64;
        c.nPositions = 64;
        c.vocabSize = 300;
        kme::writeRandomModelFolder(model_.toStdString(), c, 5);
        // Two methods on one fact, each computed on the original weights: #1 is off while #2 is made.
        const auto setAll = [&](bool on) {
            kme::SessionStore store(session_.toStdString());
            for (const auto& e : store.listEdits()) store.setEditEnabled(e.id, on);
        };
        QCOMPARE(runKme({"edit", model_.toStdString(), "--method", "rome", "--layer", "0", "--prompt",
                      "{} is located in the city of", "--subject", "The Eiffel Tower", "--target", "Rome", "--no-mom2",
                      "--session", session_.toStdString()}),
                 0);
        setAll(false);
        QCOMPARE(runKme({"edit", model_.toStdString(), "--method", "grace", "--layer", "1", "--prompt",
                      "{} is located in the city of", "--subject", "The Eiffel Tower", "--target", "Rome", "--session",
                      session_.toStdString()}),
                 0);
        setAll(true);
        kme::SessionStore store(session_.toStdString());
        const auto edits = store.listEdits();
        QCOMPARE(int(edits.size()), 2);
        rome_ = edits[0].id;
        grace_ = edits[1].id;
    }

    void historyCompareWithSetsBothStates() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(openSession(w, session_));
        QVERIFY(kme::testing::waitIdle(w));
        SessionController* session = w.session();
        const QString liveHash = session->currentHash();
        QVERIFY(!liveHash.isEmpty());
        QCOMPARE(QString::fromStdString(w.model()->stateHash()), liveHash);

        // History ▸ Compare with… on #1 ▸ "#2 … alone".
        HistoryDock* dock = w.historyDock();
        QVERIFY(dock->itemFor(rome_));
        QMenu* menu = dock->compareWithMenu(rome_, &w);
        QAction* withGrace = menu->findChild<QAction*>(QStringLiteral("compareWithEdit%1").arg(grace_));
        QVERIFY2(withGrace, "no 'compare with #2 alone' in the menu");
        QVERIFY(menu->findChild<QAction*>(QStringLiteral("compareWithOriginal")));
        QVERIFY(menu->findChild<QAction*>(QStringLiteral("compareWithNow")));
        CompareTab* tab = w.compareTab();
        QSignalSpy finished(tab, &CompareTab::comparisonFinished);
        QElapsedTimer clock;
        clock.start();
        withGrace->trigger();
        QCOMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(tab));
        QVERIFY(finished.wait(kJobTimeoutMs) || !finished.isEmpty());
        QVERIFY(finished.first().first().toBool());
        qInfo("compare with…: %lld ms from the click to the rows", static_cast<long long>(clock.elapsed()));

        QCOMPARE(tab->stateA(), std::vector<int64_t>{rome_});
        QCOMPARE(tab->stateB(), std::vector<int64_t>{grace_});
        QVERIFY2(tab->beforeCombo()->currentText().startsWith(QStringLiteral("#1 ROME alone")),
                 qPrintable(tab->beforeCombo()->currentText()));
        QVERIFY2(tab->afterCombo()->currentText().startsWith(QStringLiteral("#2 GRACE alone")),
                 qPrintable(tab->afterCombo()->currentText()));
        QVERIFY(!tab->rows().empty());
        QCOMPARE(tab->rows().front().prompt, kPrompt);
        QCOMPARE(tab->table()->rowCount(), int(tab->rows().size()));
        QVERIFY(tab->statesLabel()->text().contains(tab->shownHashA().left(12)));

        // The live session untouched: both edits still on, the same state and hash.
        for (const auto& e : session->edits()) QVERIFY(e.enabled);
        QCOMPARE(session->currentHash(), liveHash);
        QCOMPARE(QString::fromStdString(w.model()->stateHash()), liveHash);

        // The same numbers as `kme compare --a 1 --b 2`.
        std::string out;
        QCOMPARE(runKme({"compare", session_.toStdString(), "--a", std::to_string(rome_), "--b", std::to_string(grace_),
                      "--json", "-"},
                     &out),
                 0);
        const json j = json::parse(out);
        QCOMPARE(QString::fromStdString(j["a"]["state_hash"].get<std::string>()), tab->shownHashA());
        QCOMPARE(QString::fromStdString(j["b"]["state_hash"].get<std::string>()), tab->shownHashB());
        QCOMPARE(int(j["rows"].size()), int(tab->rows().size()));
        double maxDiff = 0;
        for (size_t i = 0; i < tab->rows().size(); ++i) {
            const CompareRow& row = tab->rows()[i];
            const json& r = j["rows"][i];
            QCOMPARE(r["prompt"].get<std::string>(), row.prompt);
            for (const auto& [side, ours] : {std::pair{"a", &row.before}, std::pair{"b", &row.after}}) {
                QCOMPARE(r[side]["continuation"].get<std::string>(), ours->continuation);
                QCOMPARE(int(r[side]["top"].size()), int(ours->top.size()));
                for (size_t k = 0; k < ours->top.size(); ++k) {
                    QCOMPARE(r[side]["top"][k][0].get<std::string>(), ours->top[k].first);
                    maxDiff = std::max(maxDiff, std::abs(r[side]["top"][k][1].get<double>() - ours->top[k].second));
                }
                maxDiff = std::max(maxDiff, std::abs(r[side]["p_new"].get<double>() - ours->pNew));
            }
        }
        qInfo("Compare tab vs kme compare over %d rows: max difference %.3g", int(tab->rows().size()), maxDiff);
        QVERIFY(maxDiff <= 1e-12);
        // The premise: the two states answer the edit prompt differently.
        QVERIFY(std::abs(tab->rows().front().before.top.front().second - tab->rows().front().after.top.front().second) >
                    1e-6 ||
                tab->rows().front().before.top.front().first != tab->rows().front().after.top.front().first);

        // A set of one's own through the picker, and "now" from the dock: {#2} against the enabled set.
        tab->beforePicker()->setEdits({grace_});
        QCOMPARE(tab->stateA(), std::vector<int64_t>{grace_});
        QMenu* menu2 = dock->compareWithMenu(grace_, &w);
        QSignalSpy finished2(tab, &CompareTab::comparisonFinished);
        menu2->findChild<QAction*>(QStringLiteral("compareWithNow"))->trigger();
        QVERIFY(finished2.wait(kJobTimeoutMs) || !finished2.isEmpty());
        QVERIFY(finished2.first().first().toBool());
        QCOMPARE(tab->stateB(), (std::vector<int64_t>{rome_, grace_}));
        QCOMPARE(tab->shownHashB(), liveHash);  // the enabled set is the session's state: its hash
        QCOMPARE(tab->afterCombo()->currentText(), QStringLiteral("now"));
        QVERIFY(kme::testing::waitIdle(w));
        w.close();

        // Reopened: the last comparison comes back with its states.
        MainWindow again;
        again.show();
        QVERIFY(QTest::qWaitForWindowExposed(&again));
        QVERIFY(openSession(again, session_));
        QCOMPARE(again.compareTab()->stateA(), std::vector<int64_t>{grace_});
        QCOMPARE(again.compareTab()->stateB(), (std::vector<int64_t>{rome_, grace_}));
        QVERIFY(!again.compareTab()->rows().empty());
        QVERIFY(kme::testing::waitIdle(again));
    }
};

QTEST_MAIN(TestCompareStates)
#include "test_compare_states.moc"
