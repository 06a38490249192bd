// The `kme` command line contract (shared/CLI.md): JSON fields, exit codes,
// one-line errors, no half-written outputs.
#include <QtTest>

#include "tests/cli/CliRun.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/cli/Cli.h"
#include "engine/model/Config.h"
#include "engine/model/RandomModel.h"
#include "engine/session/SessionStore.h"
#include "tests/TinyModel.h"

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

using kme::testing::Run;
using kme::testing::runKme;

}  // namespace

class TestCli final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string model_;
    std::string path(const std::string& name) const { return tmp_.path().toStdString() + "/" + name; }

private Q_SLOTS:
    void initTestCase() {
        const kme::ModelConfig c = kme::testing::smallModelConfig(32);
        model_ = path("model");
        kme::writeRandomModelFolder(model_, c, 3);
    }

    void info() {
        const Run r = runKme({"info", model_, "--json", "-", "--threads", "1"});
        QCOMPARE(r.rc, 0);
        const json j = json::parse(r.out);
        for (const char* key : {"architecture", "n_layer", "n_head", "n_embd", "vocab_size", "n_positions",
                                "parameters", "dtype", "weights_hash"})
            QVERIFY2(j.contains(key), key);
        QCOMPARE(j["architecture"].get<std::string>(), std::string("gpt2"));
        QCOMPARE(j["n_layer"].get<int>(), 2);
        QCOMPARE(j["dtype"].get<std::string>(), std::string("F32"));
        QCOMPARE(j["weights_hash"].get<std::string>().size(), size_t(64));
    }

    void infoShowsEachFamily() {
        // Random models in each family's Hugging Face layout: kme info names
        // the family and its traits; predict runs.
        using A = kme::Architecture;
        for (A a : {A::GptJ, A::GptNeoX, A::Llama, A::Mistral, A::Qwen2}) {
            const std::string dir = path("family-" + kme::architectureName(a));
            kme::writeRandomModelFolder(dir, kme::tinyFamilyConfig(a), 4);
            const Run r = runKme({"info", dir, "--json", "-", "--threads", "1"});
            QCOMPARE(r.rc, 0);
            const json j = json::parse(r.out);
            const json& f = j.at("family");
            QCOMPARE(j["architecture"].get<std::string>(), kme::architectureName(a));
            QCOMPARE(f["positions"].get<std::string>(), std::string("rope"));
            const bool llamaLike = a == A::Llama || a == A::Mistral || a == A::Qwen2;
            QCOMPARE(f["norm"].get<std::string>(), std::string(llamaLike ? "rmsnorm" : "layernorm"));
            QCOMPARE(f["mlp"].get<std::string>(), std::string(llamaLike ? "swiglu" : a == A::GptJ ? "gelu_new" : "gelu"));
            QCOMPARE(f["n_kv_head"].get<int>(), llamaLike ? 2 : 4);
            QCOMPARE(f["head_dim"].get<int>(), a == A::Llama ? 16 : 8);
            QCOMPARE(f["rotary_dim"].get<int>(), a == A::Llama ? 16 : llamaLike ? 8 : 4);
            QCOMPARE(f["rope_style"].get<std::string>(), std::string(a == A::GptJ ? "interleaved" : "rotate_half"));
            QCOMPARE(f["parallel_residual"].get<bool>(), !llamaLike);
            QCOMPARE(f["tied_head"].get<bool>(), a == A::Qwen2);
            QCOMPARE(f.contains("sliding_window"), a == A::Mistral || a == A::Qwen2);
            const Run text = runKme({"info", dir, "--threads", "1"});
            QCOMPARE(text.rc, 0);
            qInfo("%s", text.out.c_str());
            QVERIFY(text.out.find(kme::architectureName(a) + ": ") != std::string::npos);
            const Run p = runKme({"predict", dir, "--prompt", "The city of Rome is", "--top-k", "3", "--json", "-"});
            QCOMPARE(p.rc, 0);
            QCOMPARE(json::parse(p.out)["top"].size(), size_t(3));
        }
    }

    void tokenizeGivesBytesOffsetsAndDecodedTokens() {
        const Run r = runKme({"tokenize", model_, "--text", "The Eiffel Tower", "--json", "-"});
        QCOMPARE(r.rc, 0);
        const json j = json::parse(r.out);
        QCOMPARE(j["ids"].size(), j["tokens"].size());
        QCOMPARE(j["ids"].size(), j["offsets"].size());
        std::string joined;
        size_t expectStart = 0;
        for (size_t i = 0; i < j["tokens"].size(); ++i) {
            joined += j["tokens"][i].get<std::string>();
            QCOMPARE(j["offsets"][i][0].get<size_t>(), expectStart);
            expectStart = j["offsets"][i][1].get<size_t>();
        }
        QCOMPARE(joined, std::string("The Eiffel Tower"));  // decoded text, not "ĠEiffel"
        QCOMPARE(expectStart, std::string("The Eiffel Tower").size());
    }

    void predictAndGenerate() {
        Run r = runKme({"predict", model_, "--prompt", "The quick brown", "--top-k", "5", "--json", "-"});
        QCOMPARE(r.rc, 0);
        json j = json::parse(r.out);
        QCOMPARE(j["top"].size(), size_t(5));
        for (const auto& t : j["top"]) {
            QVERIFY(t.contains("id") && t.contains("token") && t.contains("prob"));
            QVERIFY(t["prob"].get<double>() > 0 && t["prob"].get<double>() <= 1);
        }
        r = runKme({"generate", model_, "--prompt", "The quick brown", "--max-new-tokens", "6", "--json", "-"});
        QCOMPARE(r.rc, 0);
        j = json::parse(r.out);
        QVERIFY(j.contains("text"));
        QVERIFY(j["ids"].size() <= 6);
        // Seeded sampling is reproducible.
        const auto a = runKme({"generate", model_, "--prompt", "Pack my", "--top-k", "20", "--seed", "5", "--json", "-"});
        const auto b = runKme({"generate", model_, "--prompt", "Pack my", "--top-k", "20", "--seed", "5", "--json", "-"});
        QCOMPARE(a.out, b.out);
    }

    void traceJsonAndCsv() {
        const std::string csv = path("trace.csv");
        const Run r = runKme({"trace", model_, "--prompt", "The Eiffel Tower is located in", "--subject", "Eiffel Tower",
                              "--samples", "3", "--window", "1", "--json", "-", "--csv", csv});
        QVERIFY2(r.rc == 0, r.err.c_str());
        const json j = json::parse(r.out);
        for (const char* key : {"tokens", "ids", "subject_range", "answer", "high_score", "low_score", "sigma",
                                "sigma_source", "samples", "window", "seed", "strategy", "scores"})
            QVERIFY2(j.contains(key), key);
        QCOMPARE(j["window"].get<int>(), 1);
        QCOMPARE(j["samples"].get<int>(), 3);
        const size_t T = j["tokens"].size();
        for (const char* kind : {"hidden", "mlp", "attn"}) {
            QCOMPARE(j["scores"][kind].size(), T);
            QCOMPARE(j["scores"][kind][0].size(), size_t(2));
        }
        std::ifstream f(csv);
        size_t lines = 0;
        for (std::string line; std::getline(f, line);) ++lines;
        QCOMPARE(lines, 1 + 3 * T * 2);
        // Errors: subject not in prompt (1), bad kind and bad noise (2).
        QCOMPARE(runKme({"trace", model_, "--prompt", "The Eiffel Tower", "--subject", "Louvre"}).rc, 1);
        QCOMPARE(runKme({"trace", model_, "--prompt", "The Eiffel Tower", "--subject", "Tower", "--kind", "neurons"}).rc, 2);
        QCOMPARE(runKme({"trace", model_, "--prompt", "The Eiffel Tower", "--subject", "Tower", "--noise", "loud"}).rc, 2);
    }

    void jsonFileAndSummary() {
        const std::string out = path("predict.json");
        const Run r = runKme({"predict", model_, "--prompt", "Hello", "--json", out});
        QCOMPARE(r.rc, 0);
        QVERIFY(!r.out.empty());  // the human summary still goes to stdout
        std::ifstream f(out);
        QVERIFY(json::parse(f).contains("top"));
        QVERIFY(!fs::exists(out + ".tmp"));
    }

    void errorPaths_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("rc");
        QTest::addColumn<QString>("fragment");
        const QString m = QString::fromStdString(model_);
        QTest::newRow("no command") << QStringList{} << 2 << "usage";
        QTest::newRow("unknown command") << QStringList{"frobnicate"} << 2 << "unknown command";
        QTest::newRow("unknown option") << QStringList{"predict", m, "--prompt", "x", "--bogus"} << 2 << "--bogus";
        QTest::newRow("missing value") << QStringList{"predict", m, "--prompt"} << 2 << "needs a value";
        QTest::newRow("missing prompt") << QStringList{"predict", m} << 2 << "--prompt";
        QTest::newRow("bad top-k") << QStringList{"predict", m, "--prompt", "x", "--top-k", "many"} << 2 << "--top-k";
        QTest::newRow("zero top-k") << QStringList{"predict", m, "--prompt", "x", "--top-k", "0"} << 2 << "--top-k";
        QTest::newRow("negative seed") << QStringList{"generate", m, "--prompt", "x", "--seed", "-1"} << 2 << "--seed";
        QTest::newRow("bad threads") << QStringList{"info", m, "--threads", "x"} << 2 << "--threads";
        QTest::newRow("switch with value") << QStringList{"tokenize", m, "--text"} << 2 << "needs a value";
        QTest::newRow("model missing") << QStringList{"info", "/nonexistent/model"} << 1 << "/nonexistent/model";
        QTest::newRow("model is a file") << QStringList{"info", m + "/config.json"} << 1 << "config.json";
        QTest::newRow("empty prompt") << QStringList{"predict", m, "--prompt", ""} << 1 << "empty";
        QTest::newRow("prompt too long") << QStringList{"predict", m, "--prompt", QString(400, 'a') + " b c d"} << 1
                                         << "context";
        QTest::newRow("json to missing dir") << QStringList{"info", m, "--json", "/nonexistent/dir/out.json"} << 1
                                             << "/nonexistent/dir/out.json";
        QTest::newRow("help of unknown command") << QStringList{"help", "frobnicate"} << 2 << "unknown command";
        QTest::newRow("train-demo positional") << QStringList{"train-demo", m} << 2 << "unexpected argument";
        QTest::newRow("second MODEL") << QStringList{"info", m, m} << 2 << "unexpected argument";
        QTest::newRow("unknown bench") << QStringList{"bench", "warp"} << 2 << "warp";
        QTest::newRow("invalid utf8") << QStringList{"tokenize", m, "--text", QString::fromLatin1("\xff")} << 1 << "";
    }

    void errorPaths() {
        QFETCH(QStringList, args);
        QFETCH(int, rc);
        QFETCH(QString, fragment);
        std::vector<std::string> a;
        for (const auto& s : args) a.push_back(s == QString::fromLatin1("\xff") ? std::string("\xff") : s.toStdString());
        const Run r = runKme(a);
        QCOMPARE(r.rc, rc);
        QVERIFY2(!r.err.empty(), "no message on stderr");
        QVERIFY2(QString::fromStdString(r.err).contains(fragment), r.err.c_str());
        // One clear line (usage errors may add the command list).
        if (rc == 1) QCOMPARE(std::count(r.err.begin(), r.err.end(), '\n'), long(1));
    }

    void helpEverywhere_data() {
        QTest::addColumn<QString>("command");
        for (const char* c : {"info", "tokenize", "predict", "generate", "trace", "trace-dataset", "edit", "eval",
                              "session", "train-demo", "bench"})
            QTest::newRow(c) << QString::fromLatin1(c);
    }

    void helpEverywhere() {
        // kme help C, kme C --help, kme C -h: the command's help on stdout, exit 0,
        // whatever else is on the line (required options missing included).
        QFETCH(QString, command);
        const std::string c = command.toStdString();
        const Run listed = runKme({"--help"});
        QCOMPARE(listed.rc, 0);
        QVERIFY2(listed.out.find("kme " + c + " ") != std::string::npos, c.c_str());
        for (const auto& args : std::vector<std::vector<std::string>>{
                 {"help", c}, {c, "--help"}, {c, "-h"}, {c, model_, "--threads", "1", "--help"}}) {
            const Run r = runKme(args);
            QCOMPARE(r.rc, 0);
            QVERIFY2(r.err.empty(), r.err.c_str());
            QVERIFY2(r.out.rfind("usage: kme " + c + " ", 0) == 0, r.out.c_str());
            QVERIFY(r.out.find("--json") != std::string::npos);
            QVERIFY(r.out.find("--help") != std::string::npos);
        }
    }

    void helpAndVersion() {
        const Run h = runKme({"help"});
        QCOMPARE(h.rc, 0);
        QVERIFY(h.out.find("usage: kme COMMAND") != std::string::npos);
        const Run v = runKme({"--version"});
        QCOMPARE(v.rc, 0);
        QCOMPARE(v.out, std::string("kme ") + kme::kmeVersion() + "\n");
        QVERIFY(std::string(kme::kmeVersion()).find('.') != std::string::npos);
        // -h as the value of an option is that value, not a request for help.
        const Run t = runKme({"tokenize", model_, "--text", "-h", "--json", "-"});
        QCOMPARE(t.rc, 0);
        QVERIFY(t.out.find("\"ids\"") != std::string::npos);
    }

    void sessionShowListsTracesAndMetricRuns() {
        // Dataset traces, single-prompt traces (typed, and untyped as older
        // sessions saved them) and metric runs that are not evaluation runs.
        const std::string db = path("show.kmes");
        {
            kme::SessionStore s(db);
            for (const char* request :
                 {R"({"type": "dataset", "facts": "facts.json", "limit": 60, "samples": 10, "noise": "3x"})",
                  R"({"type": "dataset", "facts": "cf.json", "limit": 0})",
                  R"({"type": "prompt", "prompt": "Rome is the capital of", "subject": "Rome"})",
                  R"({"prompt": "The Eiffel Tower is in", "subject": "Eiffel Tower"})"}) {
                kme::TraceRecord t;
                t.requestJson = request;
                s.addTrace(t);
            }
            kme::MetricRunRecord m;
            m.method = "rome";
            m.dataset = "facts.json";
            m.resultsJson = R"({"method": "rome"})";
            s.addMetricRun(m);
            m.resultsJson = "[1, 2]";
            s.addMetricRun(m);
        }
        kme::SessionOpenOptions o;
        o.readOnly = true;
        const auto traces = kme::SessionStore(db, o).listTraces(false);
        const auto runs = kme::SessionStore(db, o).listMetricRuns();
        const Run r = runKme({"session", "show", db});
        QVERIFY2(r.rc == 0, r.err.c_str());
        const std::vector<std::string> lines = {
            "  trace 1 (" + traces[0].created + "): dataset facts.json, 60 records\n",
            "  trace 2 (" + traces[1].created + "): dataset cf.json, all records\n",
            "  trace 3 (" + traces[2].created + ") prompt \"Rome is the capital of\", subject \"Rome\"\n",
            "  trace 4 (" + traces[3].created + ") prompt \"The Eiffel Tower is in\", subject \"Eiffel Tower\"\n",
            "  metric run 1 (" + runs[0].created + "): rome on facts.json \u2014 unreadable: not an evaluation run: "
            "\"dataset\" is missing\n",
            "  metric run 2 (" + runs[1].created + "): rome on facts.json \u2014 unreadable: not an evaluation run: "
            "not a JSON object\n"};
        for (const auto& line : lines) QVERIFY2(r.out.find(line) != std::string::npos, (line + r.out).c_str());
        // The JSON keeps its shape: requests and results as stored.
        const json j = json::parse(runKme({"session", "show", db, "--json", "-"}).out);
        QCOMPARE(j["traces"][0]["request"]["limit"].get<int>(), 60);
        QCOMPARE(j["metric_runs"][1]["results"], json({1, 2}));
        QCOMPARE(j["counts"]["metric_runs"].get<int>(), 2);
    }

    void realProcessExitCodes() {
        // The executable itself, as scripts call it.
        const QString exe = qEnvironmentVariable("KME_CLI");
        if (exe.isEmpty() || !QFile::exists(exe)) QSKIP("KME_CLI not set");
        QProcess p;
        p.start(exe, {"info", "/nonexistent"});
        QVERIFY(p.waitForFinished(1200000));
        QCOMPARE(p.exitCode(), 1);
        QVERIFY(p.readAllStandardError().contains("/nonexistent"));
        p.start(exe, {"predict", "--no-such-flag"});
        QVERIFY(p.waitForFinished(1200000));
        QCOMPARE(p.exitCode(), 2);
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
