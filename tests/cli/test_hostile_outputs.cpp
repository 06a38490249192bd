// Hostile output paths (issue 12, "Data loss and unsafe writes"): nothing a
// user owns is destroyed by an output flag. --json / --csv / --out targets
// that are devices, FIFOs, symlinks, user folders, earlier outputs, missing
// folders, full disks; every output path checked before the work. Extend it
// with one row per new finding.
#include <QtTest>

#include "tests/cli/CliRun.h"

#include <nlohmann/json.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/cli/Cli.h"
#include "engine/core/OutputFile.h"
#include "engine/model/Config.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "tests/TinyModel.h"

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

using kme::testing::Run;
using kme::testing::runKme;

// The real executable through bash (for stdout redirections and ulimit).
Run runShell(const QString& script) {
    return kme::testing::runProcess(QStringLiteral("bash"), {QStringLiteral("-c"), script}, 1200000);
}

QString sh(const std::string& s) {  // single-quoted for bash
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return QString::fromStdString(q + "'");
}

std::string readAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void writeText(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

bool isCharDevice(const char* path) {
    struct stat st;
    return ::lstat(path, &st) == 0 && S_ISCHR(st.st_mode);
}

// Names in `dir` containing "kme-tmp" or "kme-old": leftovers of a write.
std::vector<std::string> leftovers(const std::string& dir) {
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string n = e.path().filename().string();
        if (n.find("kme-tmp") != std::string::npos || n.find("kme-old") != std::string::npos) found.push_back(n);
    }
    return found;
}

int lineCount(const std::string& s) { return int(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

class TestHostileOutputs final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string model_, sharded_;
    int counter_ = 0;
    std::string path(const std::string& name) const { return tmp_.path().toStdString() + "/" + name; }
    // A fresh folder per test row.
    std::string scratch() {
        const std::string d = path("case" + std::to_string(++counter_));
        fs::create_directories(d);
        return d;
    }
    std::vector<std::string> editArgs(const std::string& model) const {
        return {"edit", model, "--prompt", "The {} is located in", "--subject", "Tokyo", "--target", "Italy",
                "--layer", "0", "--no-mom2", "--threads", "1"};
    }
    static std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& b) {
        a.insert(a.end(), b.begin(), b.end());
        return a;
    }
    static QString cli() { return qEnvironmentVariable("KME_CLI"); }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        qputenv("KME_CACHE_DIR", path("cache").c_str());
        const kme::ModelConfig c = kme::testing::smallModelConfig(32);
        model_ = path("model");
        kme::writeRandomModelFolder(model_, c, 3);
        kme::RandomFolderOptions o;
        o.shards = 2;
        sharded_ = path("sharded");
        kme::writeRandomModelFolder(sharded_, c, 3, o);
    }

    // ---- folder outputs: edit --out ------------------------------------------------

    void editOutRefusesAUsersFolder() {
        const std::string d = scratch() + "/mine";
        fs::create_directories(d);
        writeText(d + "/config.json", "my own config");
        const Run r = runKme(plus(editArgs(model_), {"--out", d}));
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find(d + ": the folder exists and is not empty (it holds 'config.json')") != std::string::npos,
                 r.err.c_str());
        QVERIFY2(r.err.find("--force") != std::string::npos, r.err.c_str());
        QCOMPARE(lineCount(r.err), 1);
        QCOMPARE(readAll(d + "/config.json"), std::string("my own config"));
        QVERIFY(leftovers(fs::path(d).parent_path().string()).empty());
    }

    void editOutForceReplacesTheFolder() {
        const std::string d = scratch() + "/mine";
        fs::create_directories(d);
        writeText(d + "/config.json", "my own config");
        writeText(d + "/model.safetensors", "a stale model");
        const Run r = runKme(plus(editArgs(model_), {"--out", d, "--force", "--json", "-"}));
        QVERIFY2(r.rc == 0, r.err.c_str());
        const json j = json::parse(r.out);
        QCOMPARE(kme::Model::load(d)->weightsHash(), j["weights_hash"].get<std::string>());
        QVERIFY(fs::exists(d + "/" + kme::kOutputMarkerFile));
        QVERIFY(leftovers(fs::path(d).parent_path().string()).empty());
        // --force without --out is a usage error.
        QCOMPARE(runKme(plus(editArgs(model_), {"--force"})).rc, 2);
    }

    void editOutReplacesItsOwnEarlierOutputOnly() {
        const std::string base = scratch(), d = base + "/edited";
        Run r = runKme(plus(editArgs(model_), {"--out", d}));
        QVERIFY2(r.rc == 0, r.err.c_str());
        const json marker = json::parse(readAll(d + "/" + kme::kOutputMarkerFile));
        QCOMPARE(marker["command"].get<std::string>(), std::string("edit"));
        // Again onto the same folder: an earlier `kme edit --out`, replaced whole.
        r = runKme(plus(editArgs(model_), {"--out", d, "--target", "Rome", "--json", "-"}));
        QVERIFY2(r.rc == 0, r.err.c_str());
        QCOMPARE(kme::Model::load(d)->weightsHash(), json::parse(r.out)["weights_hash"].get<std::string>());
        QVERIFY(leftovers(base).empty());
        // A file the user added there makes it theirs: refused, file kept.
        writeText(d + "/notes.txt", "mine");
        r = runKme(plus(editArgs(model_), {"--out", d}));
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find("but also holds files kme did not write ('notes.txt')") != std::string::npos,
                 r.err.c_str());
        QCOMPARE(readAll(d + "/notes.txt"), std::string("mine"));
        // Another command's output is not this command's to replace.
        fs::remove(d + "/notes.txt");
        json other = marker;
        other["command"] = "train-demo";
        other["files"] = json::array();
        for (const auto& e : fs::directory_iterator(d)) other["files"].push_back(e.path().filename().string());
        writeText(d + "/" + kme::kOutputMarkerFile, other.dump());
        r = runKme(plus(editArgs(model_), {"--out", d}));
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find("holds an output of `kme train-demo`, not of `kme edit`") != std::string::npos,
                 r.err.c_str());
    }

    // A sharded model edited onto a folder that held a single-file model: no
    // stale model.safetensors may survive (it would win on load).
    void shardedEditLeavesNoStaleSingleFile() {
        const std::string d = scratch() + "/edited";
        Run r = runKme(plus(editArgs(model_), {"--out", d}));
        QVERIFY2(r.rc == 0, r.err.c_str());
        QVERIFY(fs::exists(d + "/model.safetensors"));
        r = runKme(plus(editArgs(sharded_), {"--out", d, "--target", "Rome", "--json", "-"}));
        QVERIFY2(r.rc == 0, r.err.c_str());
        QVERIFY(!fs::exists(d + "/model.safetensors"));
        QVERIFY(fs::exists(d + "/model.safetensors.index.json"));
        QCOMPARE(kme::Model::load(d)->weightsHash(), json::parse(r.out)["weights_hash"].get<std::string>());
        // The same with --force onto a user's folder holding a stale single file.
        const std::string u = scratch() + "/user";
        fs::create_directories(u);
        fs::copy_file(model_ + "/model.safetensors", u + "/model.safetensors");
        r = runKme(plus(editArgs(sharded_), {"--out", u, "--force", "--json", "-"}));
        QVERIFY2(r.rc == 0, r.err.c_str());
        QVERIFY(!fs::exists(u + "/model.safetensors"));
        QCOMPARE(kme::Model::load(u)->weightsHash(), json::parse(r.out)["weights_hash"].get<std::string>());
    }

    void editOutOntoTheSourceModelIsRefused() {
        const Run r = runKme(plus(editArgs(model_), {"--out", model_, "--force"}));
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find("refusing to overwrite the source model folder") != std::string::npos, r.err.c_str());
        QVERIFY(kme::Model::load(model_));
    }

    // A failing write (file-size limit: every write to a regular file fails,
    // as on a full disk) leaves the earlier output as it was and no temporary.
    void failedFolderWriteLeavesTheFolderUntouched() {
        if (cli().isEmpty()) QSKIP("KME_CLI is not set (run through ctest)");
        const std::string base = scratch(), d = base + "/edited";
        Run r = runKme(plus(editArgs(model_), {"--out", d}));
        QVERIFY2(r.rc == 0, r.err.c_str());
        const std::string before = kme::Model::load(d)->weightsHash();
        QStringList args;
        for (const auto& a : plus(editArgs(model_), {"--out", d, "--target", "Rome"})) args << sh(a);
        r = runShell("trap '' XFSZ; ulimit -f 0; exec " + sh(cli().toStdString()) + " " + args.join(' '));
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find(d + "/model.safetensors: cannot write the safetensors file: File too large") !=
                     std::string::npos,
                 r.err.c_str());
        // Progress lines ("kme edit: request 1/1 ...") may come first; one error line, last.
        QVERIFY2(r.err.find("\nkme: ") == std::string::npos || r.err.rfind("\nkme: ") == r.err.find("\nkme: "), r.err.c_str());
        QVERIFY2(r.err.rfind("kme: ", 0) == 0 || r.err.find("\nkme: ") != std::string::npos, r.err.c_str());
        QVERIFY2(r.err.back() == '\n' && r.err.find('\n', r.err.rfind("kme: ")) == r.err.size() - 1, r.err.c_str());
        QCOMPARE(kme::Model::load(d)->weightsHash(), before);
        QVERIFY(leftovers(base).empty());
    }

    // The folder writer itself: an uncommitted folder leaves nothing; a commit
    // replaces an earlier output whole.
    void outputFolderIsAtomic() {
        const std::string base = scratch(), d = base + "/out";
        {
            kme::OutputFolder f(d, {"edit"}, false);
            writeText(f.path() + "/a.txt", "1");
        }  // an error path: never committed
        QVERIFY(!fs::exists(d));
        QVERIFY(leftovers(base).empty());
        {
            kme::OutputFolder f(d, {"edit"}, false);
            writeText(f.path() + "/a.txt", "1");
            f.commit();
        }
        {
            kme::OutputFolder f(d, {"edit"}, false);
            writeText(f.path() + "/b.txt", "2");
            f.commit();
        }
        QVERIFY(!fs::exists(d + "/a.txt"));
        QCOMPARE(readAll(d + "/b.txt"), std::string("2"));
        QVERIFY(leftovers(base).empty());
        // A file where the folder should be.
        writeText(base + "/file", "x");
        QVERIFY_THROWS_EXCEPTION(kme::Error, kme::OutputFolder(base + "/file", {"edit"}, true));
        QCOMPARE(readAll(base + "/file"), std::string("x"));
    }

    // ---- folder outputs: train-demo, session replay / export --------------------------

    void trainDemoRefusesAUsersFolderBeforeTraining() {
        const std::string d = scratch() + "/mine";
        fs::create_directories(d);
        writeText(d + "/vocab.json", "my vocabulary");
        const Run r = runKme({"train-demo", "--out", d, "--steps", "1"});
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find(d + ": the folder exists and is not empty") != std::string::npos, r.err.c_str());
        QVERIFY2(r.err.find("corpus") == std::string::npos, r.err.c_str());  // refused before any work
        QCOMPARE(readAll(d + "/vocab.json"), std::string("my vocabulary"));
        QVERIFY(leftovers(fs::path(d).parent_path().string()).empty());
    }

    // The smallest training the command allows (about a second): the folder
    // is written whole, a rerun replaces it, checkpoints live beside it and
    // are gone at the end.
    void trainDemoWritesAndReplacesItsOwnFolder() {
        const std::string base = scratch(), d = base + "/demo";
        const std::vector<std::string> tiny = {"train-demo", "--out", d, "--steps", "2", "--layers", "1", "--embd",
                                               "8", "--heads", "1", "--context", "8", "--batch", "1", "--merges",
                                               "10", "--tokens", "1000", "--eval-every", "1", "--threads", "1"};
        Run r = runKme(tiny);
        QVERIFY2(r.rc == 0, r.err.c_str());
        QVERIFY(kme::Model::load(d));
        QCOMPARE(json::parse(readAll(d + "/" + kme::kOutputMarkerFile))["command"].get<std::string>(),
                 std::string("train-demo"));
        r = runKme(plus(tiny, {"--seed", "2"}));
        QVERIFY2(r.rc == 0, r.err.c_str());
        QVERIFY(kme::Model::load(d));
        QVERIFY(!fs::exists(d + ".kme-checkpoint") && !fs::exists(d + "/checkpoint"));
        QVERIFY(leftovers(base).empty());
        writeText(d + "/notes.txt", "mine");
        r = runKme(tiny);
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find("kme did not write ('notes.txt')") != std::string::npos, r.err.c_str());
        QCOMPARE(readAll(d + "/notes.txt"), std::string("mine"));
    }

    void sessionReplayOutReplacesItsOwnOutputOnly() {
        const std::string base = scratch(), db = base + "/s.kmes", out = base + "/replayed";
        Run r = runKme(plus(editArgs(model_), {"--session", db}));
        QVERIFY2(r.rc == 0, r.err.c_str());
        r = runKme({"session", "replay", db, "--out", out});
        QVERIFY2(r.rc == 0, r.err.c_str());
        r = runKme({"session", "export", db, "--out", out, "--json", base + "/export.json"});
        QVERIFY2(r.rc == 0, r.err.c_str());  // the same kind of folder
        writeText(out + "/notes.txt", "mine");
        r = runKme({"session", "replay", db, "--out", out});
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find("kme did not write ('notes.txt')") != std::string::npos, r.err.c_str());
        QCOMPARE(readAll(out + "/notes.txt"), std::string("mine"));
        r = runKme({"session", "replay", db, "--out", out, "--force"});
        QVERIFY2(r.rc == 0, r.err.c_str());
        QVERIFY(!fs::exists(out + "/notes.txt"));
        QVERIFY(leftovers(base).empty());
    }

    // ---- file outputs ----------------------------------------------------------------

    void jsonToDevNullKeepsTheDevice() {
        const Run r = runKme({"info", model_, "--json", "/dev/null"});
        QVERIFY2(r.rc == 0, r.err.c_str());
        QVERIFY(isCharDevice("/dev/null"));
    }

    void jsonToDevFullFailsAndKeepsTheDevice() {
        const Run r = runKme({"info", model_, "--json", "/dev/full"});
        QCOMPARE(r.rc, 1);
        QCOMPARE(r.err, std::string("kme: /dev/full: cannot write the JSON output: No space left on device\n"));
        QVERIFY(r.out.empty());
        QVERIFY(isCharDevice("/dev/full"));
    }

    void jsonThroughASymlinkKeepsTheLink() {
        const std::string base = scratch();
        writeText(base + "/real.json", "old");
        fs::create_symlink("real.json", base + "/link.json");
        const Run r = runKme({"info", model_, "--json", base + "/link.json"});
        QVERIFY2(r.rc == 0, r.err.c_str());
        QVERIFY(fs::is_symlink(base + "/link.json"));
        QCOMPARE(json::parse(readAll(base + "/real.json"))["n_layer"].get<int>(), 2);
        // A dangling link: the file is created where it points.
        fs::create_symlink("new.json", base + "/dangling.json");
        QCOMPARE(runKme({"info", model_, "--json", base + "/dangling.json"}).rc, 0);
        QVERIFY(fs::is_symlink(base + "/dangling.json"));
        QVERIFY(fs::is_regular_file(base + "/new.json"));
        QVERIFY(leftovers(base).empty());
    }

    void aUsersTmpFileSurvives() {
        const std::string base = scratch();
        writeText(base + "/out.json.tmp", "user data");
        writeText(base + "/out.csv.tmp", "user data");
        Run r = runKme({"info", model_, "--json", base + "/out.json"});
        QVERIFY2(r.rc == 0, r.err.c_str());
        r = runKme({"trace", model_, "--prompt", "The Eiffel Tower is in", "--subject", "Eiffel Tower", "--samples",
                    "1", "--kind", "hidden", "--threads", "1", "--csv", base + "/out.csv"});
        QVERIFY2(r.rc == 0, r.err.c_str());
        QCOMPARE(readAll(base + "/out.json.tmp"), std::string("user data"));
        QCOMPARE(readAll(base + "/out.csv.tmp"), std::string("user data"));
        QVERIFY(readAll(base + "/out.csv").rfind("kind,token_index", 0) == 0);
        QVERIFY(leftovers(base).empty());
        QCOMPARE(int(std::distance(fs::directory_iterator(base), fs::directory_iterator())), 4);
    }

    void aFifoWithoutReaderFailsInsteadOfHanging() {
        const std::string fifo = scratch() + "/fifo";
        QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
        const Run r = runKme({"info", model_, "--json", fifo});
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find(fifo + ": cannot write the JSON output: no process reads the FIFO") != std::string::npos,
                 r.err.c_str());
        struct stat st;
        QVERIFY(::lstat(fifo.c_str(), &st) == 0 && S_ISFIFO(st.st_mode));
    }

    void aFolderAsJsonTargetIsRefusedBeforeTheWork() {
        const std::string base = scratch();
        const Run r = runKme(plus(editArgs(model_), {"--out", base + "/edited", "--json", base}));
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find(base + ": cannot write the JSON output: it is a folder") != std::string::npos,
                 r.err.c_str());
        QVERIFY(!fs::exists(base + "/edited"));
        QCOMPARE(runKme({"info", model_, "--json", ""}).rc, 2);
    }

    // The retry case: a --json into a missing folder used to fail after
    // --out and the session write, so that a retry duplicated the edit.
    void jsonIntoAMissingFolderFailsBeforeTheWork() {
        const std::string base = scratch(), db = base + "/s.kmes";
        const Run r = runKme(plus(editArgs(model_),
                                  {"--out", base + "/edited", "--session", db, "--json", base + "/missing/e.json"}));
        QCOMPARE(r.rc, 1);
        QVERIFY2(r.err.find(base + "/missing/e.json: cannot write the JSON output: the folder '" + base +
                            "/missing' does not exist") != std::string::npos,
                 r.err.c_str());
        QCOMPARE(lineCount(r.err), 1);
        QVERIFY(!fs::exists(base + "/edited"));
        QVERIFY(!fs::exists(db));
        // An existing session gains no row either.
        QCOMPARE(runKme(plus(editArgs(model_), {"--session", db})).rc, 0);
        QCOMPARE(runKme(plus(editArgs(model_), {"--session", db, "--json", base + "/missing/e.json"})).rc, 1);
        const Run list = runKme({"session", "list", db, "--json", "-"});
        QVERIFY2(list.rc == 0, list.err.c_str());
        QCOMPARE(json::parse(list.out)["edits"].size(), size_t(1));
        // --csv / --noise-out / --out into a missing folder: before the trace.
        for (const char* flag : {"--csv", "--noise-out"}) {
            const Run t = runKme({"trace", model_, "--prompt", "The Eiffel Tower is in", "--subject", "Eiffel Tower",
                                  flag, base + "/missing/x"});
            QCOMPARE(t.rc, 1);
            QVERIFY2(t.err.find("the folder '" + base + "/missing' does not exist") != std::string::npos, t.err.c_str());
        }
        const Run o = runKme(plus(editArgs(model_), {"--out", base + "/missing/edited"}));
        QCOMPARE(o.rc, 1);
        QVERIFY2(o.err.find("its parent '" + base + "/missing' does not exist") != std::string::npos, o.err.c_str());
    }

    // A failing regular-file write (file-size limit, as a full disk): exit 1
    // naming the file, the user's earlier file kept, no temporary left.
    void failedFileWriteKeepsTheOldFile() {
        if (cli().isEmpty()) QSKIP("KME_CLI is not set (run through ctest)");
        const std::string base = scratch();
        writeText(base + "/out.json", "old");
        const Run r = runShell("trap '' XFSZ; ulimit -f 0; exec " + sh(cli().toStdString()) + " info " + sh(model_) +
                               " --json " + sh(base + "/out.json"));
        QCOMPARE(r.rc, 1);
        QCOMPARE(r.err, "kme: " + base + "/out.json: cannot write the JSON output: File too large\n");
        QCOMPARE(readAll(base + "/out.json"), std::string("old"));
        QVERIFY(leftovers(base).empty());
    }

    // The real kme (with the GUI's renderer): a bad --png path is the one line
    // on stderr, before the trace and before Qt could print any warning.
    void pngPathIsCheckedBeforeQtStarts() {
        if (cli().isEmpty()) QSKIP("KME_CLI is not set (run through ctest)");
        const std::string base = scratch();
        for (const char* command : {"trace", "trace-dataset"}) {
            const std::string png = base + "/missing/" + command + ".png";
            const QString extra = std::string(command) == "trace"
                                      ? QStringLiteral(" --prompt 'The Eiffel Tower is in' --subject 'Eiffel Tower'")
                                      : QStringLiteral(" --dataset ") + sh(base + "/no-such-facts.json");
            const Run r = runShell("unset XDG_RUNTIME_DIR; exec " + sh(cli().toStdString()) + " " + command + " " +
                                   sh(model_) + extra + " --png " + sh(png));
            QCOMPARE(r.rc, 1);
            QCOMPARE(r.err, "kme: " + png + ": cannot write the PNG: the folder '" + base + "/missing' does not exist\n");
        }
    }

    // ---- standard output -------------------------------------------------------------

    void failedWriteToStdoutIsAnError() {
        if (cli().isEmpty()) QSKIP("KME_CLI is not set (run through ctest)");
        const QString kme = sh(cli().toStdString()) + " info " + sh(model_);
        for (const QString& extra : {QStringLiteral(" --json -"), QString()}) {
            const Run r = runShell(kme + extra + " > /dev/full");
            QCOMPARE(r.rc, 1);
            QCOMPARE(r.err, std::string("kme: cannot write to standard output\n"));
        }
        const Run help = runShell(sh(cli().toStdString()) + " help > /dev/full");
        QCOMPARE(help.rc, 1);
        // /dev/stdout as a --json target: written to the descriptor, the link kept.
        const std::string base = scratch();
        const Run r = runShell(kme + " --json /dev/stdout > " + sh(base + "/captured.json"));
        QVERIFY2(r.rc == 0, r.err.c_str());
        QVERIFY(fs::is_symlink("/dev/stdout"));
        QCOMPARE(json::parse(readAll(base + "/captured.json").substr(0, readAll(base + "/captured.json").find("\n}") + 2))
                     ["n_layer"]
                         .get<int>(),
                 2);
    }
};

QTEST_MAIN(TestHostileOutputs)
#include "test_hostile_outputs.moc"
