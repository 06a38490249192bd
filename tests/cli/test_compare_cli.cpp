// `kme compare DB --a STATE --b STATE` (issue 16, item 3): on a session with
// a ROME edit (#1, weights) and a GRACE edit (#2, a codebook) of the same
// request, each computed on the original weights (#1 undone while #2 was made), the state "1" (ROME alone) and the state "2" (GRACE alone) give,
// for the edit prompt, the probabilities `kme predict --session` gives on a
// copy of the session with only that edit enabled (computed another way:
// the other edit switched off and the session replayed); original vs now
// match `kme predict` on the model and on the session; a non-prefix set
// rebuilds to the state hash a replay of exactly those edits gives, and the
// enabled set to the session's own hash; the session file is never written;
// hostile states and sessions are one line naming the culprit.
#include <QtTest>

#include "tests/TinyModel.h"
#include "tests/cli/CliRun.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "app/cli/Cli.h"
#include "engine/model/Config.h"
#include "engine/model/RandomModel.h"
#include "engine/core/Error.h"
#include "engine/edit/Payload.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"
#include "engine/session/SessionEdits.h"
#include "engine/session/SessionStore.h"
#include "engine/session/StateComparison.h"

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

using kme::testing::Run;
using kme::testing::fileBytes;

// Every run of this test on one thread.
Run runKme(std::vector<std::string> args) { return kme::testing::runKmeOneThread(std::move(args)); }

const char* kTemplate = "{} is located in the city of";
const char* kSubject = "The Eiffel Tower";
const std::string kPrompt = "The Eiffel Tower is located in the city of";
constexpr double kTolerance = 1e-9;  // the same computation on the same weights: equal up to rounding

// The first n entries of a `kme predict --json -` list: (token, probability), most likely first.
std::vector<std::pair<std::string, double>> predictTop(const json& j, size_t n) {
    std::vector<std::pair<std::string, double>> v;
    for (const auto& t : j.at("top")) {
        if (v.size() == n) break;
        v.emplace_back(t.at("token").get<std::string>(), t.at("prob").get<double>());
    }
    return v;
}

// A compare side's stored top tokens: (token, probability), most likely first.
std::vector<std::pair<std::string, double>> sideTop(const json& side) {
    std::vector<std::pair<std::string, double>> v;
    for (const auto& t : side.at("top")) v.emplace_back(t.at(0).get<std::string>(), t.at(1).get<double>());
    return v;
}

// Largest difference, rank by rank, between a compare side and the same number of predict's tokens
// (tokens compared as text: a random vocabulary has many "\uFFFD" tokens, so not by name); INFINITY
// when a token differs.
double maxDifference(const json& side, const json& predict) {
    const auto a = sideTop(side);
    const auto b = predictTop(predict, a.size());
    if (a.empty() || a.size() != b.size()) return INFINITY;
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, a[i].first == b[i].first ? std::abs(a[i].second - b[i].second) : INFINITY);
    return d;
}

// Largest difference over the whole vocabulary between two `kme predict --top-k 300` runs, by token id.
double vocabularyDifference(const json& x, const json& y) {
    std::map<int, double> a, b;
    for (const auto& t : x.at("top")) a[t.at("id").get<int>()] = t.at("prob").get<double>();
    for (const auto& t : y.at("top")) b[t.at("id").get<int>()] = t.at("prob").get<double>();
    double d = a.size() == b.size() ? 0.0 : INFINITY;
    for (const auto& [id, p] : a) d = std::max(d, b.count(id) ? std::abs(p - b.at(id)) : INFINITY);
    return d;
}

// p of token id `id` in a `kme predict` list.
double probOfId(const json& j, int id) {
    for (const auto& t : j.at("top"))
        if (t.at("id").get<int>() == id) return t.at("prob").get<double>();
    return NAN;
}

const json* rowOf(const json& j, const std::string& prompt) {
    for (const auto& r : j.at("rows"))
        if (r.at("prompt").get<std::string>() == prompt) return &r;
    return nullptr;
}

}  // namespace

class TestCompareCli final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string model_, session_, sessionBytes_, baseHash_;
    int64_t rome_ = 0, grace_ = 0;
    std::string path(const std::string& name) const { return tmp_.path().toStdString() + "/" + name; }

    // A copy of the session with only `keep` enabled.
    std::string sessionWithOnly(const std::string& name, const std::vector<int64_t>& keep) {
        const std::string copy = path(name);
        fs::copy_file(session_, copy, fs::copy_options::overwrite_existing);
        kme::SessionStore store(copy);
        for (const auto& e : store.listEdits())
            store.setEditEnabled(e.id, std::find(keep.begin(), keep.end(), e.id) != keep.end());
        return copy;
    }

    json predict(std::vector<std::string> args) {
        for (const char* a : {"--prompt", kPrompt.c_str(), "--top-k", "300", "--json", "-"}) args.push_back(a);
        args.insert(args.begin(), "predict");
        const Run r = runKme(args);
        if (r.rc != 0) qWarning("%s", r.err.c_str());
        return r.rc == 0 ? json::parse(r.out) : json();
    }

    json compare(const std::string& a, const std::string& b, std::vector<std::string> more = {}) {
        std::vector<std::string> args = {"compare", session_, "--a", a, "--b", b, "--json", "-"};
        args.insert(args.end(), more.begin(), more.end());
        const Run r = runKme(args);
        if (r.rc != 0) qWarning("%s", r.err.c_str());
        return r.rc == 0 ? json::parse(r.out) : json();
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        model_ = path("model");
        session_ = path("two-methods.kmes");
        kme::writeRandomModelFolder(model_, kme::testing::smallModelConfig(), 5);
        const Run rome = runKme({"edit", model_, "--method", "rome", "--layer", "0", "--prompt", kTemplate, "--subject",
                                 kSubject, "--target", "Rome", "--no-mom2", "--session", session_});
        QVERIFY2(rome.rc == 0, rome.err.c_str());
        // Two methods on one fact: the ROME edit undone, the GRACE edit computed on the original too, then both on.
        const auto setAll = [&](bool on) {
            kme::SessionStore store(session_);
            for (const auto& e : store.listEdits()) store.setEditEnabled(e.id, on);
        };
        setAll(false);
        const Run grace = runKme({"edit", model_, "--method", "grace", "--layer", "1", "--prompt", kTemplate,
                                  "--subject", kSubject, "--target", "Rome", "--session", session_});
        QVERIFY2(grace.rc == 0, grace.err.c_str());
        setAll(true);
        {
            kme::SessionStore store(session_);
            const auto edits = store.listEdits();
            QCOMPARE(int(edits.size()), 2);
            QCOMPARE(edits[0].method, std::string("rome"));
            QCOMPARE(edits[1].method, std::string("grace"));
            QCOMPARE(edits[1].payloadKind, std::string("adapter"));
            rome_ = edits[0].id;
            grace_ = edits[1].id;
            baseHash_ = store.model()->weightsHash;
        }
        sessionBytes_ = fileBytes(session_);
    }

    // The tentpole: "ROME alone" against "GRACE alone" on the same request.
    void singleEditStatesMatchPredictWithOnlyThatEdit() {
        QElapsedTimer clock;
        clock.start();
        const json j = compare(std::to_string(rome_), std::to_string(grace_));
        QVERIFY(!j.is_null());
        QCOMPARE(j.at("a").at("edit_ids"), json({rome_}));
        QCOMPARE(j.at("b").at("edit_ids"), json({grace_}));
        const json* row = rowOf(j, kPrompt);
        QVERIFY2(row, "no row for the edit prompt");
        QCOMPARE(row->at("kind").get<std::string>(), std::string("edit"));
        QCOMPARE(row->at("target_new").get<std::string>(), std::string(" Rome"));

        // Another way: switch the other edit off in a copy and predict on it.
        const json onlyRome = predict({"--session", sessionWithOnly("only-rome.kmes", {rome_})});
        const json onlyGrace = predict({"--session", sessionWithOnly("only-grace.kmes", {grace_})});
        const json unedited = predict({model_});
        QVERIFY(!onlyRome.is_null() && !onlyGrace.is_null() && !unedited.is_null());
        const double dA = maxDifference(row->at("a"), onlyRome);
        const double dB = maxDifference(row->at("b"), onlyGrace);
        // The premise: the two edits move the edit prompt differently, and away from the original.
        const double apart = vocabularyDifference(onlyRome, onlyGrace);
        const double fromOriginalA = vocabularyDifference(onlyRome, unedited);
        const double fromOriginalB = vocabularyDifference(onlyGrace, unedited);
        qInfo("edit prompt, 20 top tokens: |compare A - predict(ROME only)| max %.3g, |compare B - predict(GRACE "
              "only)| max %.3g (tolerance %.0e); over the vocabulary the states differ by up to %.3g, from the "
              "original by %.3g (ROME) and %.3g (GRACE); %lld ms",
              dA, dB, kTolerance, apart, fromOriginalA, fromOriginalB, static_cast<long long>(clock.elapsed()));
        QVERIFY2(dA <= kTolerance, "state A is not the ROME edit alone");
        QVERIFY2(dB <= kTolerance, "state B is not the GRACE edit alone");
        QVERIFY2(apart > 100 * kTolerance && fromOriginalA > 100 * kTolerance && fromOriginalB > 100 * kTolerance,
                 "the edits barely move the prompt: the comparison would prove nothing");

        // p(new): teacher-forced over all of " Rome"'s tokens; with one token it is predict's probability.
        const Run tok = runKme({"tokenize", model_, "--text", " Rome", "--json", "-"});
        QCOMPARE(tok.rc, 0);
        const json ids = json::parse(tok.out).at("ids");
        const double pa = row->at("a").at("p_new").get<double>(), pb = row->at("b").at("p_new").get<double>();
        if (ids.size() == 1) {
            const int id = ids.at(0).get<int>();
            qInfo("p(' Rome'): A %.9f (predict %.9f), B %.9f (predict %.9f)", pa, probOfId(onlyRome, id), pb,
                  probOfId(onlyGrace, id));
            QVERIFY(std::abs(pa - probOfId(onlyRome, id)) <= kTolerance);
            QVERIFY(std::abs(pb - probOfId(onlyGrace, id)) <= kTolerance);
        } else {
            qInfo("' Rome' is %d tokens here (p(new) A %.6f, B %.6f): checked through the top tokens only",
                  int(ids.size()), pa, pb);
        }

        // Non-prefix sets: each single-edit state's hash is the hash a replay of exactly that edit gives.
        QCOMPARE(j.at("a").at("state_hash").get<std::string>(), onlyRome.at("session").at("weights_hash").get<std::string>());
        QCOMPARE(j.at("b").at("state_hash").get<std::string>(), onlyGrace.at("session").at("weights_hash").get<std::string>());
        QVERIFY(j.at("a").at("state_hash") != j.at("b").at("state_hash"));
        // Each edit alone is a state the session recorded (both were computed on the original).
        QVERIFY(j.at("a").at("verified").get<bool>() && j.at("b").at("verified").get<bool>());
        QVERIFY(j.at("a").at("what_if").empty() && j.at("b").at("what_if").empty());
        // The prompt sources: both edits (they differ in both), the GRACE edit first.
        QCOMPARE(j.at("prompt_sources"), json({grace_, rome_}));
    }

    void originalAgainstNow() {
        const json j = compare("original", "now");
        QVERIFY(!j.is_null());
        const json* row = rowOf(j, kPrompt);
        QVERIFY(row);
        const json onModel = predict({model_});
        const json onSession = predict({"--session", session_});
        QVERIFY(!onModel.is_null() && !onSession.is_null());
        const double dA = maxDifference(row->at("a"), onModel);
        const double dB = maxDifference(row->at("b"), onSession);
        qInfo("original vs now: |A - predict(MODEL)| max %.3g, |B - predict --session| max %.3g", dA, dB);
        QVERIFY(dA <= kTolerance && dB <= kTolerance);
        QCOMPARE(j.at("a").at("state_hash").get<std::string>(), baseHash_);
        QVERIFY(j.at("a").at("edit_ids").empty());
        QCOMPARE(j.at("b").at("edit_ids"), json({rome_, grace_}));
        // "now" is the session's own state: the recorded hash, verified.
        QCOMPARE(j.at("b").at("state_hash").get<std::string>(), j.at("session").at("state_hash").get<std::string>());
        QCOMPARE(j.at("b").at("state_hash").get<std::string>(), onSession.at("session").at("weights_hash").get<std::string>());
        // Both on: the GRACE edit lands on the ROME edit's weights, not the ones it was computed on.
        QCOMPARE(int(j.at("b").at("what_if").size()), 1);
        QVERIFY(!j.at("b").at("verified").get<bool>());
        // The marked cells: the edit prompt's top token changed between the two states, or p(new) did.
        const json& changed = row->at("changed");
        QVERIFY(changed.at("p_new").get<bool>() || changed.at("top").get<bool>());
    }

    // A state given as the enabled set, in any order, is the session's state (same hash).
    void enabledSetAsAListIsTheSessionsState() {
        const std::string list = std::to_string(grace_) + "," + std::to_string(rome_);
        const json j = compare(list, "after:2");
        QVERIFY(!j.is_null());
        QCOMPARE(j.at("a").at("edit_ids"), json({rome_, grace_}));  // history order
        QCOMPARE(j.at("a").at("state_hash"), j.at("session").at("state_hash"));
        QCOMPARE(j.at("b").at("state_hash"), j.at("session").at("state_hash"));
        // Same states: the same numbers on both sides, nothing marked.
        for (const auto& r : j.at("rows")) {
            QCOMPARE(r.at("a"), r.at("b"));
            QVERIFY(!r.at("changed").at("top").get<bool>() && !r.at("changed").at("p_new").get<bool>());
        }
        const json after1 = compare("after:1", "after:0");
        QVERIFY(!after1.is_null());
        QCOMPARE(after1.at("a").at("edit_ids"), json({rome_}));
        QCOMPARE(after1.at("b").at("state_hash").get<std::string>(), baseHash_);
    }

    void yourPromptsAndTheHumanSummary() {
        const std::string prompts = path("prompts.txt");
        std::ofstream(prompts) << "The Eiffel Tower is in\n\n   \nParis is the capital of\n";
        const json j = compare("original", std::to_string(grace_), {"--prompts", prompts});
        QVERIFY(!j.is_null());
        int yours = 0;
        for (const auto& r : j.at("rows")) yours += r.at("kind").get<std::string>() == "yours";
        QCOMPARE(yours, 2);
        std::ofstream(path("prompts.json")) << R"(["The Eiffel Tower is in"])";
        QCOMPARE(rowOf(compare("original", "now", {"--prompts", path("prompts.json")}), "The Eiffel Tower is in")
                     ->at("kind")
                     .get<std::string>(),
                 std::string("yours"));
        const Run human = runKme({"compare", session_, "--a", std::to_string(rome_), "--b", std::to_string(grace_)});
        QCOMPARE(human.rc, 0);
        QVERIFY2(human.out.find("A: #1 ROME alone") != std::string::npos && human.out.find("B: #2 GRACE alone") != std::string::npos,
                 human.out.c_str());
        QVERIFY2(human.out.find("p(new)") != std::string::npos, human.out.c_str());
        const Run help = runKme({"compare", "--help"});
        QCOMPARE(help.rc, 0);
        QVERIFY(help.out.find("after:K") != std::string::npos);
        const Run all = kme::testing::runKme({"help"});
        QVERIFY(all.out.find("kme compare") != std::string::npos);
    }

    // Each hostile input: its exit status, one line on stderr naming the culprit, nothing on stdout.
    void hostileInputs_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("rc");
        QTest::addColumn<QString>("expected");
        const QString s = QString::fromStdString(session_);
        QTest::newRow("unknown edit id") << QStringList{s, "--a", "99", "--b", "now"} << 1 << "no edit with id 99";
        QTest::newRow("unknown id in a list") << QStringList{s, "--a", "original", "--b", "1,77"} << 1 << "--b '1,77': no edit with id 77";
        QTest::newRow("empty list") << QStringList{s, "--a", "", "--b", "now"} << 2 << "--a is empty";
        QTest::newRow("empty entry") << QStringList{s, "--a", "1,,2", "--b", "now"} << 2 << "empty entry";
        QTest::newRow("only a comma") << QStringList{s, "--a", ",", "--b", "now"} << 2 << "empty entry";
        QTest::newRow("malformed id") << QStringList{s, "--a", "1,x", "--b", "now"} << 2 << "'x' is not an edit id";
        QTest::newRow("negative id") << QStringList{s, "--a", "-1", "--b", "now"} << 2 << "not an edit id";
        QTest::newRow("repeated id") << QStringList{s, "--a", "1,1", "--b", "now"} << 2 << "lists edit 1 twice";
        QTest::newRow("after without K") << QStringList{s, "--a", "after:", "--b", "now"} << 2 << "after: needs a position";
        QTest::newRow("after past the end") << QStringList{s, "--a", "after:7", "--b", "now"} << 1 << "positions 1..2";
        QTest::newRow("huge id") << QStringList{s, "--a", "99999999999999999999999", "--b", "now"} << 2 << "not an edit id";
        QTest::newRow("missing --b") << QStringList{s, "--a", "now"} << 2 << "missing --b";
        QTest::newRow("no session") << QStringList{"--a", "now", "--b", "original"} << 2 << "missing the session file";
        QTest::newRow("missing session file") << QStringList{QString::fromStdString(path("nope.kmes")), "--a", "now", "--b", "original"} << 1 << "nope.kmes";
        QTest::newRow("session without model") << QStringList{"@empty", "--a", "now", "--b", "original"} << 1 << "records no model";
        QTest::newRow("model folder missing") << QStringList{"@model-gone", "--a", "1", "--b", "2"} << 1 << "model folder is missing";
        QTest::newRow("empty prompts file") << QStringList{s, "--a", "1", "--b", "2", "--prompts", "@empty-prompts"} << 1 << "no prompts in it";
        QTest::newRow("prompts not a list of strings") << QStringList{s, "--a", "1", "--b", "2", "--prompts", "@bad-prompts"} << 1 << "entry 1 is not a string";
        QTest::newRow("prompts file missing") << QStringList{s, "--a", "1", "--b", "2", "--prompts", "@missing-prompts"} << 1 << "missing-prompts.txt";
        QTest::newRow("prompts not UTF-8") << QStringList{s, "--a", "1", "--b", "2", "--prompts", "@latin1-prompts"} << 1 << "line 2 is not UTF-8 text";
        QTest::newRow("broken facts file") << QStringList{s, "--a", "1", "--b", "2", "--facts", "@bad-facts"} << 1 << "bad-facts.json";
    }

    void hostileInputs() {
        QFETCH(QStringList, args);
        QFETCH(int, rc);
        QFETCH(QString, expected);
        std::vector<std::string> argv = {"compare"};
        for (const QString& a : args) {
            std::string v = a.toStdString();
            if (v == "@empty") {
                v = path("empty.kmes");
                kme::SessionStore store(v);  // a new session: no model, no edits
            } else if (v == "@model-gone") {
                v = path("moved.kmes");
                fs::copy_file(session_, v, fs::copy_options::overwrite_existing);
                fs::copy(model_, path("moved-model"), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
                {
                    kme::SessionStore store(v);
                    store.setModel(path("moved-model"), fileBytes(model_ + "/config.json"), baseHash_);
                }
                fs::remove_all(path("moved-model"));
            } else if (v == "@empty-prompts") {
                v = path("empty-prompts.txt");
                std::ofstream(v) << "\n  \n";
            } else if (v == "@bad-prompts") {
                v = path("bad-prompts.json");
                std::ofstream(v) << R"(["fine", 3])";
            } else if (v == "@latin1-prompts") {
                v = path("latin1-prompts.txt");
                std::ofstream(v) << "fine\nCaf\xe9 is in\n";
            } else if (v == "@missing-prompts") {
                v = path("missing-prompts.txt");
            } else if (v == "@bad-facts") {
                v = path("bad-facts.json");
                std::ofstream(v) << R"([{"requested_rewrite": 5}])";
            }
            argv.push_back(v);
        }
        const Run r = runKme(argv);
        qInfo("rc %d: %s", r.rc, r.err.c_str());
        QCOMPARE(r.rc, rc);
        QVERIFY2(r.out.empty(), r.out.c_str());
        QCOMPARE(std::count(r.err.begin(), r.err.end(), '\n'), 1L);
        QVERIFY2(r.err.find(expected.toStdString()) != std::string::npos, r.err.c_str());
    }

    // The engine's what-if: a comparison cancelled half-way, or one whose state does not fit the
    // model, leaves the live model on the state it held (same state hash, same answers).
    void cancelledOrFailedComparisonRestoresTheLiveState() {
        auto model = kme::Model::load(model_);
        kme::EditStack stack(*model);
        const kme::SessionStore store(session_);
        kme::bringToSessionState(store, stack);
        const std::string liveHash = model->stateHash();
        const auto edits = store.listEdits();
        auto toBuild = [&](const kme::ModelState& m) {
            kme::StateToBuild t;
            t.state = m;
            for (int64_t id : m.editIds)
                t.payloads.push_back(std::make_shared<const kme::EditPayload>(kme::payloadOfRecord(store.getEdit(id, true))));
            return t;
        };
        const kme::StateToBuild a = toBuild(kme::stateOfEdits({rome_}, edits, baseHash_));
        const kme::StateToBuild b = toBuild(kme::stateOfEdits({grace_}, edits, baseHash_));
        const kme::StateToBuild now = toBuild(kme::stateAtPosition(-1, edits, baseHash_));
        QCOMPARE(now.state.editIds, (std::vector<int64_t>{rome_, grace_}));
        std::vector<kme::CompareRow> rows(3);
        for (auto& r : rows) r.prompt = kPrompt;
        int calls = 0;
        bool cancelled = false;
        try {
            kme::compareStates(stack, a, b, now, rows, [&](double, double) { return ++calls < 5; });  // stops in state B
        } catch (const kme::Cancelled&) {
            cancelled = true;
        }
        QVERIFY(cancelled);
        QCOMPARE(model->stateHash(), liveHash);
        // A state whose payload does not fit the model: the error, and the live state back.
        kme::StateToBuild broken = b;
        auto bad = std::make_shared<kme::EditPayload>(*b.payloads.front());
        bad->adapter.layer = 7;  // the model has 2 layers
        broken.payloads = {bad};
        bool failed = false;
        try {
            kme::compareStates(stack, a, broken, now, rows);
        } catch (const kme::Error& e) {
            failed = true;
            qInfo("refused: %s", e.what());
        }
        QVERIFY(failed);
        QCOMPARE(model->stateHash(), liveHash);
        // And a finished one reports each state's hash, the live one restored.
        const kme::StateComparisonResult r = kme::compareStates(stack, a, b, now, rows);
        QCOMPARE(r.restoredHash, liveHash);
        QVERIFY(r.hashA != r.hashB && r.hashA != liveHash);
    }

    void theSessionFileIsNeverWritten() { QVERIFY(fileBytes(session_) == sessionBytes_); }
};

QTEST_GUILESS_MAIN(TestCompareCli)
#include "test_compare_cli.moc"
