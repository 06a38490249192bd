// `kme neurons` (shared/CLI.md): the JSON keys on the demo model, the
// completeness numbers it prints, paraphrases refining the selection, --help,
// and hostile rows (bad steps, a missing or empty target, a bad paraphrase
// file, a bad threshold) refused with one line and the right exit status.
#include <QtTest>

#include "tests/cli/CliRun.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "engine/core/Paths.h"

using json = nlohmann::json;

namespace {

using kme::testing::Run;
using kme::testing::runKme;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

class TestNeuronsCli final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string path(const std::string& n) { return tmp_.path().toStdString() + "/" + n; }

private Q_SLOTS:
    void initTestCase() {
        if (kme::demoModelFolder().empty()) QSKIP("no demo model");
    }

    void jsonHasTheContractKeys() {
        {
            std::ofstream f(path("para.txt"));
            f << "The seat of the government of Germany is in\nGermany is a country whose capital is\n\n"
                 "The main city and capital of Germany is\n";
        }
        const Run r = runKme({"neurons", "--prompt", "The capital of Germany is", "--target", "Berlin", "--paraphrases",
                              path("para.txt"), "--threads", "1", "--json", path("out.json")});
        QCOMPARE(r.rc, 0);
        qInfo("%s", r.out.c_str());
        json j;
        std::ifstream(path("out.json")) >> j;
        for (const char* key : {"ids", "tokens", "answer", "steps", "scores", "neurons", "threshold", "layers", "share",
                                "prompts", "riemann", "p_clean", "seconds"})
            QVERIFY2(j.contains(key), key);
        QCOMPARE(j["answer"]["token"].get<std::string>(), std::string(" Berlin"));
        QCOMPARE(j["steps"].get<int>(), 20);
        QCOMPARE(j["riemann"].get<std::string>(), std::string("left"));
        QCOMPARE(j["prompts"].size(), size_t(4));  // the prompt and three paraphrases (the empty line skipped)
        const int nLayer = j["n_layer"].get<int>(), nInner = j["n_inner"].get<int>();
        QCOMPARE(j["scores"].size(), size_t(nLayer));
        QCOMPARE(j["scores"][0].size(), size_t(nInner));
        QCOMPARE(j["layers"].size(), size_t(nLayer));
        for (const auto& l : j["layers"]) {
            for (const char* key : {"layer", "sum", "max", "argmax", "p_clean", "p_baseline", "expected_sum", "gap"})
                QVERIFY2(l.contains(key), key);
            QVERIFY(std::abs(l["gap"].get<double>()) < 0.05);  // completeness at m = 20 on the demo model
        }
        QVERIFY(!j["neurons"].empty());
        for (const auto& n : j["neurons"]) {
            QVERIFY(n["layer"].get<int>() >= 0 && n["layer"].get<int>() < nLayer);
            QVERIFY(n["index"].get<int>() >= 0 && n["index"].get<int>() < nInner);
            QVERIFY(n["prompts"].get<int>() >= 3);  // KN-D: coarse in at least min(3, n) prompts
        }
        QVERIFY(contains(r.out, "p(a)-p(0)"));
    }

    void helpDescribesTheCommand() {
        const Run r = runKme({"neurons", "--help"});
        QCOMPARE(r.rc, 0);
        for (const char* part : {"--prompt", "--target", "--paraphrases", "--steps", "--threshold", "--share",
                                 "--session", "integrated", "scores [n_layer][n_inner]"})
            QVERIFY2(contains(r.out, part), part);
        QVERIFY(contains(runKme({"help"}).out, "kme neurons"));
    }

    void hostileRows_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("rc");
        QTest::addColumn<QString>("message");
        const QString prompt = "The capital of Germany is";
        QTest::newRow("steps 0") << QStringList{"--prompt", prompt, "--steps", "0"} << 2 << "--steps";
        QTest::newRow("steps text") << QStringList{"--prompt", prompt, "--steps", "many"} << 2 << "--steps";
        QTest::newRow("steps huge") << QStringList{"--prompt", prompt, "--steps", "99999999999"} << 2 << "--steps";
        QTest::newRow("target without value") << QStringList{"--prompt", prompt, "--target"} << 2 << "--target";
        QTest::newRow("empty target") << QStringList{"--prompt", prompt, "--target", " "} << 2 << "non-empty";
        QTest::newRow("no prompt") << QStringList{"--target", "Berlin"} << 2 << "--prompt";
        QTest::newRow("empty prompt") << QStringList{"--prompt", "", "--target", "Berlin"} << 1 << "prompt";
        QTest::newRow("threshold 2") << QStringList{"--prompt", prompt, "--threshold", "2"} << 2 << "--threshold";
        QTest::newRow("share -1") << QStringList{"--prompt", prompt, "--share", "-1"} << 2 << "--share";
        QTest::newRow("both answers") << QStringList{"--prompt", prompt, "--target", "A", "--answer", "B"} << 2
                                      << "same option";
        QTest::newRow("missing paraphrases") << QStringList{"--prompt", prompt, "--paraphrases", "/nonexistent/p.txt"}
                                             << 1 << "paraphrase file";
        QTest::newRow("layer out of range") << QStringList{"--prompt", prompt, "--layers", "99"} << 1 << "out of range";
    }

    void hostileRows() {
        QFETCH(QStringList, args);
        QFETCH(int, rc);
        QFETCH(QString, message);
        std::vector<std::string> argv = {"neurons"};
        for (const QString& a : args) argv.push_back(a.toStdString());
        const Run r = runKme(argv);
        qInfo("rc %d: %s", r.rc, r.err.c_str());
        QCOMPARE(r.rc, rc);
        QVERIFY2(contains(r.err, message.toStdString()), r.err.c_str());
        QVERIFY(r.out.empty());
    }

    void badParaphraseJsonIsAFormatError() {
        {
            std::ofstream f(path("bad.json"));
            f << "[\"fine\", 3]";
        }
        const Run r = runKme({"neurons", "--prompt", "The capital of Germany is", "--paraphrases", path("bad.json"),
                              "--steps", "2"});
        QCOMPARE(r.rc, 1);
        QVERIFY2(contains(r.err, "strings only"), r.err.c_str());
    }
};

QTEST_GUILESS_MAIN(TestNeuronsCli)
#include "test_neurons_cli.moc"
