// `--session DB` on predict, generate and trace (shared/CLI.md): a ROME edit
// recorded with `kme edit --session` and saved with `--out` (and a second
// one recorded, then disabled); running on the session's state gives what running on the saved folder gives, the session
// file is only read, and hostile sessions are one line, exit 1.
#include <QtTest>

#include "tests/TinyModel.h"
#include "tests/cli/CliRun.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/cli/Cli.h"
#include "engine/model/Config.h"
#include "engine/model/RandomModel.h"
#include "engine/session/SessionStore.h"

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

using kme::testing::Run;
using kme::testing::fileBytes;

// Every run of this test on one thread.
Run runKme(std::vector<std::string> args) { return kme::testing::runKmeOneThread(std::move(args)); }

void writeModel(const std::string& folder, uint64_t seed) {
    kme::writeRandomModelFolder(folder, kme::testing::smallModelConfig(), seed);
}

// id -> probability of a `kme predict --json -` list.
std::map<int, double> probabilities(const json& j) {
    std::map<int, double> m;
    for (const auto& t : j.at("top")) m[t.at("id").get<int>()] = t.at("prob").get<double>();
    return m;
}

double maxDifference(const std::map<int, double>& a, const std::map<int, double>& b) {
    double d = a.size() == b.size() ? 0.0 : INFINITY;
    for (const auto& [id, p] : a) d = std::max(d, b.count(id) ? std::abs(p - b.at(id)) : INFINITY);
    return d;
}

const char* kPrompt = "The Eiffel Tower is located in the city of";

}  // namespace

class TestSessionStateCli final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string model_, other_, edited_, session_, sessionBytes_;
    std::string path(const std::string& name) const { return tmp_.path().toStdString() + "/" + name; }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        model_ = path("model");
        other_ = path("other");
        edited_ = path("edited");
        session_ = path("edits.kmes");
        writeModel(model_, 3);
        writeModel(other_, 4);
        // A ROME edit of layer 0, recorded in the session and saved as a folder.
        const Run r = runKme({"edit", model_, "--method", "rome", "--layer", "0", "--prompt",
                              "{} is located in the city of", "--subject", "The Eiffel Tower", "--target", "Rome",
                              "--no-mom2", "--session", session_, "--out", edited_});
        QVERIFY2(r.rc == 0, r.err.c_str());
        QVERIFY(fs::exists(edited_ + "/config.json"));
        // A second edit, recorded and then disabled (undone): the session's state is the first edit alone.
        const Run second = runKme({"edit", model_, "--method", "rome", "--layer", "0", "--prompt",
                                   "{} is located in the city of", "--subject", "The Colosseum", "--target", "Paris",
                                   "--no-mom2", "--session", session_});
        QVERIFY2(second.rc == 0, second.err.c_str());
        {
            kme::SessionStore store(session_);
            const auto edits = store.listEdits();
            QCOMPARE(int(edits.size()), 2);
            store.setEditEnabled(edits.back().id, false);
        }
        sessionBytes_ = fileBytes(session_);
        QVERIFY(!sessionBytes_.empty());
    }

    void predictOnTheSessionIsTheEditedFolder() {
        const Run tok = runKme({"tokenize", model_, "--text", " Rome", "--json", "-"});
        QCOMPARE(tok.rc, 0);
        const int target = json::parse(tok.out).at("ids").at(0).get<int>();
        auto predict = [&](std::vector<std::string> args) {
            for (const char* a : {"--prompt", kPrompt, "--top-k", "300", "--json", "-"}) args.push_back(a);
            args.insert(args.begin(), "predict");
            const Run r = runKme(args);
            if (r.rc != 0) qWarning("%s", r.err.c_str());
            return r.rc == 0 ? json::parse(r.out) : json();
        };
        const json onSession = predict({"--session", session_});  // MODEL from the session
        const json onSessionWithModel = predict({model_, "--session", session_});
        const json onFolder = predict({edited_});
        const json unedited = predict({model_});
        QVERIFY(!onSession.is_null() && !onSessionWithModel.is_null() && !onFolder.is_null() && !unedited.is_null());
        const auto a = probabilities(onSession), b = probabilities(onFolder), c = probabilities(onSessionWithModel);
        QCOMPARE(int(a.size()), 300);
        QVERIFY(a.count(target) && b.count(target));
        const double diff = std::max(maxDifference(a, b), maxDifference(c, b));
        const double editEffect = maxDifference(probabilities(unedited), b);
        qInfo("p(target) session %.9f, folder %.9f, unedited %.9f; max difference over the vocabulary %.3g "
              "(the edit itself moves probabilities by up to %.3g)",
              a.at(target), b.at(target), probabilities(unedited).at(target), diff, editEffect);
        QVERIFY2(diff <= 1e-6, "predict --session differs from predict on the edited folder");
        // A random model's next-token distribution is nearly flat: the edit moves it by ~1e-4, ten times
        // the tolerance at least, or the comparison would prove nothing.
        QVERIFY2(editEffect > 1e-5, "the edit changed (almost) nothing: the comparison would prove nothing");
        QVERIFY(b.at(target) > probabilities(unedited).at(target));

        // The JSON names the session and the weights run on (the edited folder's).
        const Run info = runKme({"info", edited_, "--json", "-"});
        QCOMPARE(info.rc, 0);
        const json& s = onSession.at("session");
        QCOMPARE(s.at("path").get<std::string>(), session_);
        QCOMPARE(s.at("edits_applied").get<int>(), 1);
        QCOMPARE(s.at("weights_hash").get<std::string>(), json::parse(info.out).at("weights_hash").get<std::string>());
        QVERIFY(!onFolder.contains("session"));

        // The human summary says so.
        const Run human = runKme({"predict", "--session", session_, "--prompt", kPrompt});
        QCOMPARE(human.rc, 0);
        QVERIFY2(human.out.find("on the session's weights (1 of 2 edits applied, hash " +
                                s.at("weights_hash").get<std::string>().substr(0, 12)) != std::string::npos,
                 human.out.c_str());
    }

    void generateOnTheSessionIsTheEditedFolder() {
        const Run a = runKme({"generate", "--session", session_, "--prompt", kPrompt, "--max-new-tokens", "6",
                              "--json", "-"});
        const Run b = runKme({"generate", edited_, "--prompt", kPrompt, "--max-new-tokens", "6", "--json", "-"});
        QVERIFY2(a.rc == 0, a.err.c_str());
        QVERIFY2(b.rc == 0, b.err.c_str());
        json ja = json::parse(a.out);
        const json jb = json::parse(b.out);
        QCOMPARE(ja.at("session").at("edits_applied").get<int>(), 1);
        ja.erase("session");
        QCOMPARE(ja.dump(), jb.dump());
    }

    void traceOnTheSessionIsTheEditedFolder() {
        auto trace = [&](std::vector<std::string> args) {
            for (const char* a : {"--prompt", kPrompt, "--subject", "The Eiffel Tower", "--samples", "3", "--json", "-"})
                args.push_back(a);
            args.insert(args.begin(), "trace");
            const Run r = runKme(args);
            if (r.rc != 0) qWarning("%s", r.err.c_str());
            return r.rc == 0 ? json::parse(r.out) : json();
        };
        json a = trace({"--session", session_});
        json b = trace({edited_});
        QVERIFY(!a.is_null() && !b.is_null());
        QCOMPARE(a.at("session").at("edits_applied").get<int>(), 1);
        QCOMPARE(a.at("session").at("path").get<std::string>(), session_);
        a.erase("session");
        a.erase("seconds");  // wall time
        b.erase("seconds");
        QVERIFY(a.contains("scores"));
        QCOMPARE(a.dump(), b.dump());
    }

    // Each hostile session: one line on stderr naming it, exit 1, no output.
    void hostileSessions_data() {
        QTest::addColumn<QString>("command");
        QTest::addColumn<QString>("setup");
        QTest::addColumn<QString>("expected");
        for (const char* command : {"predict", "generate", "trace"}) {
            QTest::addRow("%s-missing", command) << command << "missing" << "no such session file";
            QTest::addRow("%s-corrupt", command) << command << "corrupt" << "corrupt.kmes";
            QTest::addRow("%s-other-model", command) << command << "other-model" << "recorded on a model with weights";
            QTest::addRow("%s-no-model", command) << command << "no-model" << "the session records no model";
        }
        QTest::addRow("predict-model-folder-gone") << "predict" << "model-gone" << "model folder is missing";
        QTest::addRow("predict-folder-as-session") << "predict" << "folder" << "folder.kmes";
    }

    void hostileSessions() {
        QFETCH(QString, command);
        QFETCH(QString, setup);
        QFETCH(QString, expected);
        std::string db = path(setup.toStdString() + ".kmes");
        std::vector<std::string> args = {command.toStdString()};
        if (setup == "corrupt") {
            std::ofstream(db, std::ios::binary) << "SQLite format 3" << std::string(200, '\x7f') << "not a session";
        } else if (setup == "other-model") {
            db = session_;
            args.push_back(other_);  // MODEL with other weights than the session's
        } else if (setup == "no-model") {
            kme::SessionStore store(db);  // a new, empty session
        } else if (setup == "model-gone") {
            fs::remove_all(path("moved"));
            writeModel(path("moved"), 3);
            {
                kme::SessionStore store(db);
                const std::string config = fileBytes(path("moved") + "/config.json");
                const Run info = runKme({"info", path("moved"), "--json", "-"});
                QCOMPARE(info.rc, 0);
                store.setModel(path("moved"), config, json::parse(info.out).at("weights_hash").get<std::string>());
            }
            fs::remove_all(path("moved"));
        } else if (setup == "folder") {
            fs::create_directories(db);
        }
        const std::string before = fs::is_regular_file(db) ? fileBytes(db) : std::string();
        for (const char* a : {"--session", db.c_str(), "--prompt", kPrompt}) args.push_back(a);
        if (command == "trace") args.insert(args.end(), {"--subject", "The Eiffel Tower", "--samples", "2"});
        const Run r = runKme(args);
        qInfo("%s", r.err.c_str());
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.out.empty(), r.out.c_str());
        QCOMPARE(std::count(r.err.begin(), r.err.end(), '\n'), 1L);
        QVERIFY2(r.err.find(expected.toStdString()) != std::string::npos, r.err.c_str());
        if (setup == "missing") QVERIFY2(!fs::exists(db), "a missing session file was created");
        if (fs::is_regular_file(db)) QVERIFY2(fileBytes(db) == before, "the session file was written");
    }

    void emptySessionArgumentIsAUsageError() {
        const Run r = runKme({"predict", model_, "--session", "", "--prompt", kPrompt});
        QCOMPARE(r.rc, 2);
        QVERIFY2(r.err.find("--session") != std::string::npos, r.err.c_str());
    }

    void theSessionFileIsNeverWritten() { QVERIFY(fileBytes(session_) == sessionBytes_); }

    // AlphaEdit in a session: each edit preserves the keys of the session's
    // enabled AlphaEdit edits (K_p, stored in their payloads); disabling one
    // takes its keys out of the next edit's K_p.
    void alphaEditPreservesTheSessionsEarlierEdits() {
        const std::string session = path("alpha.kmes");
        auto edit = [&](const char* subject, const char* target) {
            const Run r = runKme({"edit", model_, "--method", "alphaedit", "--layers", "0-0", "--prompt",
                                  "{} is located in the city of", "--subject", subject, "--target", target, "--no-mom2",
                                  "--session", session, "--json", "-"});
            if (r.rc != 0) qWarning("%s", r.err.c_str());
            return r.rc == 0 ? json::parse(r.out) : json();
        };
        auto preserved = [](const json& j) {
            std::string all;
            for (const auto& n : j.at("notes")) all += n.get<std::string>() + "\n";
            return all;
        };
        const json first = edit("The Eiffel Tower", "Rome");
        QVERIFY(!first.is_null());
        QVERIFY2(preserved(first).find("earlier keys preserved") == std::string::npos, preserved(first).c_str());
        const json second = edit("The Colosseum", "Paris");
        QVERIFY(!second.is_null());
        QVERIFY2(preserved(second).find("1 earlier keys preserved") != std::string::npos, preserved(second).c_str());
        const json third = edit("Big Ben", "Tokyo");
        QVERIFY2(preserved(third).find("2 earlier keys preserved") != std::string::npos, preserved(third).c_str());
        {
            kme::SessionStore store(session);
            const auto edits = store.listEdits();
            QCOMPARE(int(edits.size()), 3);
            store.setEditEnabled(edits.front().id, false);
        }
        const json fourth = edit("The Louvre", "Berlin");
        QVERIFY2(preserved(fourth).find("2 earlier keys preserved") != std::string::npos, preserved(fourth).c_str());
        {
            kme::SessionStore store(session);
            for (const auto& e : store.listEdits()) store.setEditEnabled(e.id, false);
        }
        const json fifth = edit("The Parthenon", "Madrid");
        QVERIFY2(preserved(fifth).find("earlier keys preserved") == std::string::npos, preserved(fifth).c_str());
    }
};

QTEST_GUILESS_MAIN(TestSessionStateCli)
#include "test_session_state_cli.moc"
