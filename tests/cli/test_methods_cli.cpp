// `kme methods [--json]` (shared/CLI.md "Added with the method table") and
// --method through the table: the JSON rows, the human table grouped by
// family, `kme help edit` grouped by family, and unknown names refused with
// one line naming the known methods (exit 2).
#include <QtTest>

#include "tests/cli/CliRun.h"

#include <nlohmann/json.hpp>

#include <set>
#include <sstream>

#include "app/cli/Cli.h"
#include "engine/edit/methods/MethodTable.h"

using json = nlohmann::json;

namespace {

using kme::testing::Run;
using kme::testing::runKme;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

size_t lines(const std::string& s) {
    size_t n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

}  // namespace

class TestMethodsCli final : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void jsonListsTheTable() {
        const Run r = runKme({"methods", "--json", "-"});
        QCOMPARE(r.rc, 0);
        QVERIFY2(r.err.empty(), r.err.c_str());
        const json j = json::parse(r.out);
        QVERIFY(j["methods"].is_array());
        QCOMPARE(j["methods"].size(), kme::methodTable().size());
        const std::set<std::string> families = {"external_memorization", "global_optimization", "local_modification"};
        std::vector<std::string> names;
        for (const json& m : j["methods"]) {
            for (const char* key : {"name", "display_name", "family", "payload", "layers", "batched",
                                    "needs_key_statistics", "paper"})
                QVERIFY2(m.contains(key), key);
            names.push_back(m["name"].get<std::string>());
            QVERIFY(families.count(m["family"].get<std::string>()));
            QVERIFY(std::set<std::string>({"weights", "adapter", "context"}).count(m["payload"].get<std::string>()));
            QVERIFY(std::set<std::string>({"none", "one", "range"}).count(m["layers"].get<std::string>()));
            QVERIFY(m["batched"].is_boolean());
            QVERIFY(m["needs_key_statistics"].is_boolean());
            const json& p = m["paper"];
            for (const char* key : {"authors", "title", "venue", "url", "code"})
                QVERIFY2(p[key].is_string() && !p[key].get<std::string>().empty(), key);
            QVERIFY(p["year"].is_number_integer());
            QVERIFY(m["hparams"].is_array() && !m["hparams"].empty());
            if (m["layers"] != "none") QCOMPARE(m["hparams"][0].get<std::string>(), std::string("layers"));
        }
        QCOMPARE(names, (std::vector<std::string>{"rome", "memit", "ft-l", "ft-m", "mend", "grace", "ike", "r-rome", "emmet", "alphaedit", "wise", "kn", "kn-suppress", "kn-amplify"}));
        const json& rome = j["methods"][0];
        QCOMPARE(rome["display_name"].get<std::string>(), std::string("ROME"));
        QCOMPARE(rome["family"].get<std::string>(), std::string("local_modification"));
        QCOMPARE(rome["payload"].get<std::string>(), std::string("weights"));
        QCOMPARE(rome["layers"].get<std::string>(), std::string("one"));
        QCOMPARE(rome["batched"].get<bool>(), false);
        QCOMPARE(rome["needs_key_statistics"].get<bool>(), true);
        QCOMPARE(rome["default"].get<bool>(), true);
        QCOMPARE(rome["paper"]["venue"].get<std::string>(), std::string("NeurIPS"));
        QCOMPARE(rome["paper"]["year"].get<int>(), 2022);
        QCOMPARE(rome["paper"]["arxiv"].get<std::string>(), std::string("2202.05262"));
        const json& memit = j["methods"][1];
        QCOMPARE(memit["layers"].get<std::string>(), std::string("range"));
        QCOMPARE(memit["batched"].get<bool>(), true);
        const json& ft = j["methods"][2];
        QCOMPARE(ft["family"].get<std::string>(), std::string("global_optimization"));
        QCOMPARE(ft["needs_key_statistics"].get<bool>(), false);
        // The families in the survey's order, each naming its methods.
        QCOMPARE(j["families"].size(), size_t(3));
        QCOMPARE(j["families"][0]["name"].get<std::string>(), std::string("external_memorization"));
        QCOMPARE(j["families"][0]["methods"], json({"grace", "ike", "wise"}));
        QCOMPARE(j["families"][2]["methods"], json({"rome", "memit", "r-rome", "emmet", "alphaedit", "kn", "kn-suppress", "kn-amplify"}));
        QCOMPARE(j["families"][1]["methods"], json({"ft-l", "ft-m", "mend"}));
    }

    void humanTableIsGroupedByFamily() {
        const Run r = runKme({"methods"});
        QCOMPARE(r.rc, 0);
        const size_t ext = r.out.find("External memorization:"), glob = r.out.find("Global optimization:"),
                     local = r.out.find("Local modification:");
        QVERIFY2(ext != std::string::npos && glob != std::string::npos && local != std::string::npos, r.out.c_str());
        QVERIFY(ext < glob && glob < local);
        const size_t ft = r.out.find("  ft-l "), rome = r.out.find("  rome "), memit = r.out.find("  memit ");
        QVERIFY(glob < ft && ft < local && local < rome && rome < memit);
        QVERIFY(contains(r.out, "arXiv:2202.05262"));
        QVERIFY(contains(r.out, "Mass-Editing Memory in a Transformer"));
    }

    void refusals() {
        struct Case {
            std::vector<std::string> args;
            std::string err;  // the whole stderr
        };
        const std::vector<Case> cases = {
            {{"methods", "extra"}, "kme: methods takes no arguments, got 'extra'\n"},
            {{"edit", "--method", "nosuch", "--prompt", "{} is", "--subject", "A", "--target", "B"},
             "kme: --method must be rome, memit, ft-l, ft-m, mend, grace, ike, r-rome, emmet, alphaedit, wise, kn, kn-suppress or kn-amplify, got 'nosuch'\n"},
            {{"edit", "--method", "", "--requests", "x.json"}, "kme: --method must be rome, memit, ft-l, ft-m, mend, grace, ike, r-rome, emmet, alphaedit, wise, kn, kn-suppress or kn-amplify, got ''\n"},
            {{"eval", "--dataset", "nowhere.json", "--method", "Rome"},
             "kme: --method must be rome, memit, ft-l, ft-m, mend, grace, ike, r-rome, emmet, alphaedit, wise, kn, kn-suppress or kn-amplify, got 'Rome'\n"},
            {{"edit", "--method", std::string(3000, 'm'), "--requests", "x.json"},
             "kme: --method must be rome, memit, ft-l, ft-m, mend, grace, ike, r-rome, emmet, alphaedit, wise, kn, kn-suppress or kn-amplify, got '" + std::string(60, 'm') + "'… (3000 bytes)\n"},
        };
        for (const auto& c : cases) {
            const Run r = runKme(c.args);
            QCOMPARE(r.rc, 2);
            QCOMPARE(r.err, c.err);
            QCOMPARE(lines(r.err), size_t(1));
        }
    }

    void helpEditGroupsTheSchemaByFamily() {
        const Run r = runKme({"help", "edit"});
        QCOMPARE(r.rc, 0);
        const size_t glob = r.out.find("Global optimization ("), local = r.out.find("Local modification (");
        QVERIFY2(glob != std::string::npos && local != std::string::npos, r.out.c_str());
        const size_t ft = r.out.find("ft-l: FT-L\n"), rome = r.out.find("rome: ROME\n"), memit = r.out.find("memit: MEMIT\n");
        QVERIFY(glob < ft && ft < local && local < rome && rome < memit);
        QVERIFY(contains(r.out, "num_steps (int"));
        QVERIFY(contains(r.out, "mom2_update_weight (double"));
        QVERIFY(contains(r.out, "--method VALUE\n      rome (default) | memit | ft-l"));
        const Run m = runKme({"help", "methods"});
        QCOMPARE(m.rc, 0);
        QVERIFY(contains(m.out, "needs_key_statistics"));
        // The command list names it.
        QVERIFY(contains(runKme({"help"}).out, "kme methods"));
    }
};

QTEST_GUILESS_MAIN(TestMethodsCli)
#include "test_methods_cli.moc"
