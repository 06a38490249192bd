// Hostile session files and hostile edits (issue 12): a session file is
// untrusted input, and nothing recorded in it is ever poisoned. Each case is
// a row that fails if the bug returns: triggers / views / foreign tables,
// stored deltas declaring overflowing shapes or non-string metadata, deeply
// nested JSON columns, non-finite deltas and checkpoints, a corrupt edit #1
// blamed on a later edit, concurrent writers, config.json changed under a
// session, and replay progress glued to the error line.
#include <QtTest>

#include "tests/KmeProcess.h"

#include <ATen/ATen.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine/core/Error.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/model/Transformer.h"
#include "engine/session/Replay.h"
#include "engine/session/SessionEdits.h"
#include "engine/session/SessionJson.h"
#include "engine/session/SessionStore.h"
#include "test_edit_support.h"
#include "test_session_support.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using kme::EditRecord;
using kme::SessionStore;
using kme::TensorDelta;
using kme::WeightDelta;

namespace {

using kme::testing::kmeRun;
using kme::testing::Run;

// The message of the kme::Error `f` throws ("" when it throws none; a
// non-kme exception fails the test).
template <typename F>
std::string errorOf(F&& f) {
    try {
        f();
    } catch (const kme::Error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

int lineCount(const std::string& s) { return int(std::count(s.begin(), s.end(), '\n')); }

void sql(const std::string& path, const std::string& statements) {
    sqlite3* db = nullptr;
    QCOMPARE(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, statements.c_str(), nullptr, nullptr, &err);
    const std::string message = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    QVERIFY2(rc == SQLITE_OK, message.c_str());
}

int64_t countEdits(const std::string& path) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM edits", -1, &st, nullptr);
    const int64_t n = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

void setDelta(const std::string& path, int64_t id, const std::string& blob) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "UPDATE edits SET delta = ? WHERE id = ?", -1, &st, nullptr);
    sqlite3_bind_blob64(st, 1, blob.data(), blob.size(), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, id);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    sqlite3_close(db);
    QCOMPARE(rc, SQLITE_DONE);
}

// A safetensors-style delta blob from a header (8-byte length, JSON, data).
std::string deltaBlob(const json& header, const std::string& data = "") {
    std::string h = header.dump();
    while (h.size() % 8) h.push_back(' ');
    std::string out(8, '\0');
    for (int b = 0; b < 8; ++b) out[size_t(b)] = char((uint64_t(h.size()) >> (8 * b)) & 0xff);
    return out + h + data;
}

kme::DeltaMatrix column(int64_t rows, double scale, uint64_t seed) {
    kme::DeltaMatrix m;
    m.rows = rows;
    m.cols = 1;
    for (int64_t i = 0; i < rows; ++i) m.data.push_back(scale * std::sin(double(seed * 131 + uint64_t(i) * 7 + 1)));
    return m;
}

}  // namespace

class TestHostileSession final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string model_;  // the toy model (4 layers, n_embd 32, n_inner 128)
    int counter_ = 0;
    bool cli_ = false;

    std::string path(const std::string& n) const { return tmp_.path().toStdString() + "/" + n; }
    std::string fresh(const std::string& stem) { return path(stem + std::to_string(++counter_) + ".kmes"); }

    // A rank-1 delta of layer `layer`'s MLP down projection.
    static WeightDelta smallDelta(int layer, uint64_t seed, double scale = 0.01) {
        WeightDelta d;
        const std::string name = "h." + std::to_string(layer) + ".mlp.c_proj.weight";
        d.parts.push_back(TensorDelta::lowRank(name, {128, 32}, column(128, scale, seed), column(32, 1.0, seed + 1)));
        return d;
    }

    // Records `delta` the way `kme edit --session` does: computed on the
    // live weights, applied, hashes before and after.
    static int64_t record(SessionStore& s, kme::Model& m, kme::EditStack& stack, const WeightDelta& delta,
                          const std::string& name) {
        EditRecord e;
        e.name = name;
        e.method = "rome";
        e.requestJson = R"([{"prompt":"The {} is located in","subject":"Tokyo","target_new":" Italy"}])";
        e.computedOnHash = m.weightsHash();
        stack.apply(delta);
        e.weightsHashAfter = m.weightsHash();
        e.delta = delta.serialize();
        return s.addEdit(e);
    }

    // A session on the toy model with `n` real edits (layers 0, 1, ...).
    std::string sessionWithEdits(int n, std::vector<int64_t>* ids = nullptr) {
        const std::string file = fresh("s");
        auto m = kme::Model::load(model_);
        SessionStore s(file);
        kme::attachModel(s, *m, m->weightsHash());
        kme::EditStack stack(*m);
        for (int i = 0; i < n; ++i) {
            const int64_t id = record(s, *m, stack, smallDelta(i % 4, uint64_t(i + 1)), "edit " + std::to_string(i + 1));
            if (ids) ids->push_back(id);
        }
        return file;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        qputenv("KME_CACHE_DIR", QByteArray::fromStdString(path("cache")));
        model_ = path("model");
        kme::writeRandomModelFolder(model_, edittest::toyConfig(), 3);
        cli_ = !qEnvironmentVariableIsEmpty("KME_CLI");
    }

    // ------------------------------------------------------------ schema

    // Objects KME Studio never creates are refused at open, naming them,
    // before anything is written; the file is left as it was.
    void foreignSchemaObjectsAreRefused_data() {
        QTest::addColumn<QString>("statement");
        QTest::addColumn<QString>("expected");
        QTest::newRow("trigger") << "CREATE TRIGGER wipe AFTER INSERT ON edits BEGIN DELETE FROM edits; END;"
                                 << "the session file contains a trigger 'wipe' that KME Studio did not create "
                                    "(refused: a session file must not run code)";
        QTest::newRow("trigger on session") << "CREATE TRIGGER t2 BEFORE UPDATE ON session BEGIN SELECT 1; END;"
                                            << "a trigger 't2' that KME Studio did not create";
        QTest::newRow("view") << "CREATE VIEW v AS SELECT * FROM edits;"
                              << "the session file contains a view 'v' that KME Studio did not create "
                                 "(refused: a session file must not run code)";
        QTest::newRow("extra table") << "CREATE TABLE extra (x);"
                                     << "contains a table 'extra' that KME Studio did not create";
        QTest::newRow("extra index") << "CREATE INDEX by_name ON edits(name);"
                                     << "contains an index 'by_name' that KME Studio did not create";
        QTest::newRow("extra column") << "ALTER TABLE edits ADD COLUMN x TEXT;"
                                      << "table 'edits' is not the one KME Studio creates";
        QTest::newRow("missing table") << "DROP TABLE metric_runs;" << "table 'metric_runs' is missing";
    }
    void foreignSchemaObjectsAreRefused() {
        QFETCH(QString, statement);
        QFETCH(QString, expected);
        const std::string file = sessionWithEdits(1);
        sql(file, statement.toStdString());
        const std::string before = kme::testing::readFileBytes(file);
        for (bool readOnly : {false, true}) {
            kme::SessionOpenOptions o;
            o.readOnly = readOnly;
            const std::string msg = errorOf([&] { SessionStore s(file, o); });
            QVERIFY2(contains(msg, expected.toStdString()), msg.c_str());
            QVERIFY2(msg.rfind(file + ": ", 0) == 0, msg.c_str());
        }
        QVERIFY(kme::testing::readFileBytes(file) == before);
        QCOMPARE(countEdits(file), int64_t(1));
    }

    // The probe's case: a trigger deleting every edit when one is added must
    // not wipe the earlier edits during `kme edit --session`.
    void triggerDoesNotWipeEditsDuringEdit() {
        if (!cli_) QSKIP("KME_CLI is not set (run through ctest)");
        const std::string file = sessionWithEdits(2);
        sql(file, "CREATE TRIGGER wipe AFTER INSERT ON edits BEGIN DELETE FROM edits WHERE id < NEW.id; END;");
        std::ofstream(path("hp4.json")) << R"({"v_num_grad_steps": 4})";
        const Run r = kmeRun({"edit", QString::fromStdString(model_), "--prompt", "The {} is located in", "--subject",
                              "Tokyo", "--target", "Italy", "--no-mom2", "--layer", "1", "--hparams",
                              QString::fromStdString(path("hp4.json")), "--session", QString::fromStdString(file)});
        QCOMPARE(r.rc, 1);
        QCOMPARE(lineCount(r.err), 1);
        QVERIFY2(contains(r.err, file + ": the session file contains a trigger 'wipe' that KME Studio did not create "
                                        "(refused: a session file must not run code)"),
                 r.err.c_str());
        QCOMPARE(countEdits(file), int64_t(2));
    }

    // ------------------------------------------------------------ stored deltas

    void hostileDeltaBlobsAreRefusedByName_data() {
        QTest::addColumn<QByteArray>("blob");
        QTest::addColumn<QString>("expected");
        QTest::addColumn<bool>("viaCli");  // also run `kme session replay` (a few rows: each start loads libtorch)
        const json meta = {{"format", "kme_weight_delta"}, {"version", "1"},
                           {"parts", json::array({{{"tensor", "h.0.mlp.c_proj.weight"}, {"shape", {128, 32}},
                                                   {"kind", "low_rank"}}}).dump()}};
        const uint64_t big = uint64_t(1) << 57;
        auto blob = [](const json& h) { return QByteArray::fromStdString(deltaBlob(h)); };
        // The probe's shapes: [512, 2^57] and [128, 2^57] wrapped the size check to 0.
        QTest::newRow("factor shape overflows")
            << blob({{"__metadata__", meta},
                     {"p0.u", {{"dtype", "F64"}, {"shape", {128, big}}, {"data_offsets", {0, 0}}}},
                     {"p0.v", {{"dtype", "F64"}, {"shape", {32, big}}, {"data_offsets", {0, 0}}}}})
            << "tensor 'p0.u' declares shape [128, 144115188075855872]: more elements than any model tensor" << true;
        json meta512 = meta;
        meta512["parts"] = json::array({{{"tensor", "h.0.mlp.c_proj.weight"}, {"shape", {512, 128}}, {"kind", "low_rank"}}}).dump();
        QTest::newRow("probe shapes 512 x 2^57")
            << blob({{"__metadata__", meta512},
                     {"p0.u", {{"dtype", "F64"}, {"shape", {512, big}}, {"data_offsets", {0, 0}}}},
                     {"p0.v", {{"dtype", "F64"}, {"shape", {128, big}}, {"data_offsets", {0, 0}}}}})
            << "tensor 'p0.u' declares shape [512, 144115188075855872]" << false;
        QTest::newRow("negative size")
            << blob({{"__metadata__", meta},
                     {"p0.u", {{"dtype", "F64"}, {"shape", {128, -1}}, {"data_offsets", {0, 0}}}}})
            << "tensor 'p0.u' shape must hold non-negative integers, got '-1'" << false;
        QTest::newRow("data smaller than shape")
            << blob({{"__metadata__", meta},
                     {"p0.u", {{"dtype", "F64"}, {"shape", {128, 1}}, {"data_offsets", {0, 1024}}}}})
            << "tensor 'p0.u' has data offsets outside the blob or of the wrong size" << false;
        json numberFormat = meta;
        numberFormat["format"] = 5;
        QTest::newRow("format is a number") << blob({{"__metadata__", numberFormat}})
                                            << "metadata 'format' must be a string, got an integer" << true;
        json arrayVersion = meta;
        arrayVersion["version"] = json::array({1});
        QTest::newRow("version is a list") << blob({{"__metadata__", arrayVersion}})
                                           << "metadata 'version' must be a string, got an array" << false;
        json objectParts = meta;
        objectParts["parts"] = json::object();
        QTest::newRow("parts is an object") << blob({{"__metadata__", objectParts}})
                                            << "metadata 'parts' must be a string, got an object" << false;
        json numberTensor = meta;
        numberTensor["parts"] = json::array({{{"tensor", 7}, {"shape", {128, 32}}, {"kind", "low_rank"}}}).dump();
        QTest::newRow("tensor name is a number") << blob({{"__metadata__", numberTensor}})
                                                 << "part 0 'tensor' must be a string, got an integer" << false;
        json part2p57 = meta;
        part2p57["parts"] = json::array({{{"tensor", "x"}, {"shape", {big, big}}, {"kind", "dense"}}}).dump();
        QTest::newRow("part shape overflows") << blob({{"__metadata__", part2p57}})
                                              << "part 0 has shape [144115188075855872, 144115188075855872]" << false;
        json dtypeNumber = {{"__metadata__", meta},
                            {"p0.u", {{"dtype", 64}, {"shape", {128, 1}}, {"data_offsets", {0, 1024}}}}};
        QTest::newRow("dtype is a number") << blob(dtypeNumber) << "tensor 'p0.u': 'dtype' must be a string, got an integer" << false;
        std::string deep = std::string(100000, '[') + std::string(100000, ']');
        json deepParts = meta;
        deepParts["parts"] = deep;
        QTest::newRow("parts nested 100000 deep") << blob({{"__metadata__", deepParts}})
                                                  << "metadata 'parts': JSON nested more than 64 levels deep" << false;
        // A stored NaN (bytes of a quiet NaN) in a factor.
        const double nan = std::numeric_limits<double>::quiet_NaN();
        std::string data(size_t(160) * 8, '\0');
        std::memcpy(&data[0], &nan, 8);
        QTest::newRow("NaN factor")
            << QByteArray::fromStdString(
                   deltaBlob({{"__metadata__", meta},
                              {"p0.u", {{"dtype", "F64"}, {"shape", {128, 1}}, {"data_offsets", {0, 1024}}}},
                              {"p0.v", {{"dtype", "F64"}, {"shape", {32, 1}}, {"data_offsets", {1024, 1280}}}}},
                             data))
            << "tensor 'p0.u' holds a non-finite value (NaN/Inf)" << true;
    }
    void hostileDeltaBlobsAreRefusedByName() {
        QFETCH(QByteArray, blob);
        QFETCH(QString, expected);
        QFETCH(bool, viaCli);
        const std::string bytes = blob.toStdString();
        // The decoder itself: a Format error naming the field, never a crash
        // or a library's type_error text.
        std::string msg = errorOf([&] { WeightDelta::fromBytes(bytes); });
        QVERIFY2(contains(msg, "weight delta blob: " + expected.toStdString()), msg.c_str());
        QVERIFY2(!contains(msg, "json.exception"), msg.c_str());

        // Stored as edit #1 of 2: the replay names edit #1 and the file.
        std::vector<int64_t> ids;
        const std::string file = sessionWithEdits(2, &ids);
        setDelta(file, ids[0], bytes);
        auto m = kme::Model::load(model_);
        kme::SessionOpenOptions ro;
        ro.readOnly = true;
        const SessionStore s(file, ro);
        msg = errorOf([&] { kme::replaySession(s, kme::makeEditApplier(*m)); });
        QVERIFY2(contains(msg, file + ": edit #1 'edit 1': its stored weight delta is unreadable: weight delta blob: " +
                                   expected.toStdString()),
                 msg.c_str());

        if (!cli_ || !viaCli) return;
        // session replay: exit 1, one line, no progress glued to it.
        const Run r = kmeRun({"session", "replay", QString::fromStdString(file)});
        QCOMPARE(r.rc, 1);
        QVERIFY2(lineCount(r.err) == 1 && !contains(r.err, "applying edits"), r.err.c_str());
        QVERIFY2(contains(r.err, "edit #1 'edit 1'") && contains(r.err, expected.toStdString()), r.err.c_str());
    }

    // A stored delta that decodes but changes the weights (a flipped value):
    // blamed on edit #1, not on the last edit whose hash was checked.
    void corruptFirstEditIsBlamedOnIt() {
        std::vector<int64_t> ids;
        const std::string file = sessionWithEdits(3, &ids);
        WeightDelta d = smallDelta(0, 1);
        d.parts[0].u.data[5] += 0.5;
        setDelta(file, ids[0], d.serialize());
        auto m = kme::Model::load(model_);
        kme::SessionOpenOptions ro;
        ro.readOnly = true;
        const SessionStore s(file, ro);
        const std::string msg = errorOf([&] { kme::replaySession(s, kme::makeEditApplier(*m)); });
        QVERIFY2(contains(msg, "replay does not reproduce edit #1 'edit 1'"), msg.c_str());
        QVERIFY2(!contains(msg, "edit #3"), msg.c_str());
    }

    // JSON columns nested 200,000 deep: a clear error naming the column, no
    // stack overflow (kme session export).
    void deeplyNestedRequestJsonIsRefused() {
        std::vector<int64_t> ids;
        const std::string file = sessionWithEdits(1, &ids);
        const std::string deep = std::string(200000, '[') + std::string(200000, ']');
        sql(file, "UPDATE edits SET request_json = '" + deep + "' WHERE id = " + std::to_string(ids[0]) + ";");
        kme::SessionOpenOptions ro;
        ro.readOnly = true;
        const SessionStore s(file, ro);
        for (auto detail : {kme::SessionJsonDetail::List, kme::SessionJsonDetail::Export}) {
            const std::string msg = errorOf([&] { kme::sessionToJson(s, detail); });
            QVERIFY2(contains(msg, file + ": edit #1's request: JSON nested more than 64 levels deep"), msg.c_str());
        }
        if (!cli_) return;
        const Run r = kmeRun({"session", "export", QString::fromStdString(file)});
        QCOMPARE(r.rc, 1);
        QCOMPARE(lineCount(r.err), 1);
        QVERIFY2(contains(r.err, "edit #1's request: JSON nested more than 64 levels deep"), r.err.c_str());
    }

    // ------------------------------------------------------------ non-finite

    // A non-finite delta is refused when computed (ROME/MEMIT/FT-L call
    // requireFiniteDelta) and when applied (NaN/Inf results), before
    // anything changes.
    void nonFiniteDeltasAreRefused() {
        WeightDelta nanDelta = smallDelta(0, 1);
        nanDelta.parts[0].v.data[3] = std::numeric_limits<double>::quiet_NaN();
        QVERIFY(!nanDelta.isFinite());
        QVERIFY(smallDelta(0, 1).isFinite());
        const std::string msg = errorOf([&] { kme::requireFiniteDelta(nanDelta, "ROME", "kl_factor"); });
        QCOMPARE(QString::fromStdString(msg),
                 QString::fromUtf8("ROME produced a non-finite weight change (NaN/Inf) \u2014 check the "
                                   "hyper-parameters (e.g. kl_factor)"));

        auto m = kme::Model::load(model_);
        const std::string base = m->weightsHash();
        kme::EditStack stack(*m);
        // Finite factors whose product overflows float32: refused, nothing changed.
        WeightDelta huge = smallDelta(1, 2);
        for (double& x : huge.parts[0].u.data) x = 1e30;
        for (double& x : huge.parts[0].v.data) x = 1e30;
        const std::string applyMsg = errorOf([&] { stack.apply(huge); });
        QVERIFY2(contains(applyMsg, "the weight change of 'h.1.mlp.c_proj.weight' gives non-finite weights (NaN/Inf)"),
                 applyMsg.c_str());
        QCOMPARE(m->weightsHash(), base);
        QVERIFY(!stack.modified());
        QVERIFY(!errorOf([&] { stack.apply(nanDelta); }).empty());
        QCOMPARE(m->weightsHash(), base);
    }

    // The probe's case: kl_factor 1e308 gave NaN weights, exit 0, and a
    // poisoned session. Now exit 1 and nothing is recorded.
    void hugeKlFactorRecordsNothing() {
        if (!cli_) QSKIP("KME_CLI is not set (run through ctest)");
        const std::string file = sessionWithEdits(1);
        std::ofstream(path("hp-kl.json")) << R"({"kl_factor": 1e308, "v_num_grad_steps": 2})";
        const Run r = kmeRun({"edit", QString::fromStdString(model_), "--prompt", "The {} is located in", "--subject",
                              "Tokyo", "--target", "Italy", "--no-mom2", "--layer", "1", "--hparams",
                              QString::fromStdString(path("hp-kl.json")), "--session", QString::fromStdString(file)});
        qInfo("kme edit with kl_factor 1e308: %s", r.err.c_str());
        QCOMPARE(r.rc, 1);
        QCOMPARE(lineCount(r.err), 1);
        // Refused by the range check of kl_factor, or by the finiteness check
        // after the computation: either names the hyper-parameter.
        QVERIFY2(contains(r.err, "kl_factor"), r.err.c_str());
        QCOMPARE(countEdits(file), int64_t(1));
        const Run replay = kmeRun({"session", "replay", QString::fromStdString(file)});
        QVERIFY2(replay.rc == 0, replay.err.c_str());
    }

    // Non-finite weights in a checkpoint: refused at load naming the tensor
    // (was "-nan" with exit 0, or "key statistics are singular").
    void nonFiniteCheckpointIsRefusedAtLoad_data() {
        QTest::addColumn<double>("value");
        QTest::addColumn<QString>("dtype");
        QTest::newRow("NaN F32") << std::numeric_limits<double>::quiet_NaN() << "F32";
        QTest::newRow("+Inf F32") << std::numeric_limits<double>::infinity() << "F32";
        QTest::newRow("-Inf F16") << -std::numeric_limits<double>::infinity() << "F16";
        QTest::newRow("NaN BF16") << std::numeric_limits<double>::quiet_NaN() << "BF16";
    }
    void nonFiniteCheckpointIsRefusedAtLoad() {
        QFETCH(double, value);
        QFETCH(QString, dtype);
        const std::string src = path("nf-src-" + dtype.toStdString()), dst = path("nf-" + std::to_string(++counter_));
        if (!fs::exists(src)) {
            kme::RandomFolderOptions o;
            o.dtype = dtype.toStdString();
            kme::writeRandomModelFolder(src, edittest::toyConfig(), 5, o);
        }
        auto m = kme::Model::load(src);
        at::Tensor t = m->transformer().tensor("h.2.attn.c_attn.weight").clone();
        t.view({-1})[77] = value;
        m->transformer().setTensor("h.2.attn.c_attn.weight", t);
        m->save(dst);
        const std::string msg = errorOf([&] { kme::Model::load(dst); });
        QVERIFY2(contains(msg, "tensor 'h.2.attn.c_attn.weight' holds a non-finite value (NaN or Inf) at element 77"),
                 msg.c_str());
        if (!cli_) return;
        const Run r = kmeRun({"predict", QString::fromStdString(dst), "--prompt", "The Tokyo is located in"});
        QCOMPARE(r.rc, 1);
        QVERIFY2(lineCount(r.err) == 1 && contains(r.err, "h.2.attn.c_attn.weight"), r.err.c_str());
    }

    // The scan's cost on a bigger random model (GPT-2 small's width, 4
    // layers, ~30M parameters): reported, and bounded loosely (it is one
    // parallel pass over the mapping; a load hashes nothing).
    void nonFiniteScanIsCheap() {
        kme::ModelConfig c = kme::gpt2SmallConfig();
        c.nLayer = 4;
        c.vocabSize = 2000;
        c.nPositions = 256;
        const std::string folder = path("bigger");
        kme::writeRandomModelFolder(folder, c, 9);
        QElapsedTimer timer;
        timer.start();
        auto m = kme::Model::load(folder);
        const qint64 loadMs = timer.elapsed();
        timer.restart();
        const std::string hash = m->weightsHash();
        const qint64 hashMs = timer.elapsed();
        qInfo("load of %lld parameters (non-finite scan included): %lld ms; weights hash: %lld ms",
              (long long)m->parameterCount(), (long long)loadMs, (long long)hashMs);
        QVERIFY(m->parameterCount() > 25000000);
    }

    // ------------------------------------------------------------ concurrent writers

    // Two writers on one file, each computing on the replayed state: the
    // second to record is refused, naming the edit the other added; nothing
    // is recorded and the file stays sound.
    void concurrentWriterIsDetected() {
        const std::string file = sessionWithEdits(1);
        auto ma = kme::Model::load(model_), mb = kme::Model::load(model_);
        SessionStore a(file), b(file);
        kme::EditStack sa(*ma), sb(*mb);
        kme::bringToSessionState(a, sa);
        kme::bringToSessionState(b, sb);
        record(b, *mb, sb, smallDelta(2, 20), "by b");                  // b records first
        const std::string msg = errorOf([&] { record(a, *ma, sa, smallDelta(3, 30), "by a"); });
        QCOMPARE(QString::fromStdString(msg),
                 QString::fromStdString(file) +
                     QString::fromUtf8(": the session changed while this edit was computed (edit #2 was added by "
                                       "another process); nothing recorded \u2014 run the edit again"));
        QCOMPARE(countEdits(file), int64_t(2));
        // a, brought to the new state, records on top of it; the session replays verified.
        sa.revertAll();
        kme::bringToSessionState(a, sa);
        record(a, *ma, sa, smallDelta(3, 30), "by a");
        QCOMPARE(countEdits(file), int64_t(3));
        auto mc = kme::Model::load(model_);
        const auto report = kme::replaySession(a, kme::makeEditApplier(*mc));
        QVERIFY(report.verified);
        QVERIFY(report.whatIf.empty());

        // Disabling an edit from another process is a change too.
        b.setEditEnabled(b.listEdits().front().id, false);
        const std::string msg2 = errorOf([&] { record(a, *ma, sa, smallDelta(0, 40), "again"); });
        QVERIFY2(contains(msg2, "its edits were enabled, disabled, deleted or reordered by another process"),
                 msg2.c_str());
        QCOMPARE(countEdits(file), int64_t(3));
        QCOMPARE(a.integrityCheck(), std::vector<std::string>{"ok"});
    }

    // Three concurrent `kme edit --session` processes: each either records
    // on the state it computed on or is refused; none becomes a silent
    // what-if, and the session replays verified.
    void concurrentEditProcessesNeverMakeSilentWhatIfs() {
        if (!cli_) QSKIP("KME_CLI is not set (run through ctest)");
        const std::string file = sessionWithEdits(1);
        std::ofstream(path("hp3.json")) << R"({"v_num_grad_steps": 1})";
        std::vector<std::unique_ptr<QProcess>> procs;
        const char* subjects[] = {"Tokyo", "Paris", "Rome"};
        for (const char* subject : subjects) {
            auto p = std::make_unique<QProcess>();
            p->start(qEnvironmentVariable("KME_CLI"),
                     {"edit", QString::fromStdString(model_), "--prompt", "The {} is located in", "--subject", subject,
                      "--target", "Italy", "--no-mom2", "--layer", "1", "--hparams",
                      QString::fromStdString(path("hp3.json")), "--session", QString::fromStdString(file)});
            procs.push_back(std::move(p));
        }
        int ok = 0;
        for (auto& p : procs) {
            QVERIFY(p->waitForFinished(1200000));
            const std::string err = p->readAllStandardError().toStdString();
            if (p->exitCode() == 0) {
                ++ok;
            } else {
                QCOMPARE(p->exitCode(), 1);
                QVERIFY2(contains(err, "the session changed while this edit was computed") &&
                             contains(err, "nothing recorded"),
                         err.c_str());
            }
        }
        QVERIFY(ok >= 1);
        QCOMPARE(countEdits(file), int64_t(1 + ok));
        auto m = kme::Model::load(model_);
        kme::SessionOpenOptions ro;
        ro.readOnly = true;
        const SessionStore s(file, ro);
        const auto report = kme::replaySession(s, kme::makeEditApplier(*m));
        QVERIFY2(report.whatIf.empty(), report.summary.c_str());
        QVERIFY(report.verified);
    }

    // ------------------------------------------------------------ config.json changed

    void changedConfigIsNoticed() {
        const std::string folder = path("cfg-model");
        kme::writeRandomModelFolder(folder, edittest::toyConfig(), 3);
        const std::string file = fresh("cfg");
        {
            auto m = kme::Model::load(folder);
            SessionStore s(file);
            kme::attachModel(s, *m, m->weightsHash());
            kme::EditStack stack(*m);
            record(s, *m, stack, smallDelta(1, 3), "edit 1");
        }
        // n_layer 4 -> 2: the same safetensors, the same weights hash.
        json config = json::parse(kme::testing::readFileBytes(folder + "/config.json"));
        config["n_layer"] = 2;
        std::ofstream(folder + "/config.json", std::ios::trunc) << config.dump(2);

        kme::SessionOpenOptions ro;
        ro.readOnly = true;
        const SessionStore s(file, ro);
        const std::string msg = errorOf([&] { s.resolveModelPath(); });
        QVERIFY2(contains(msg, file + ": the model changed since the session was recorded") &&
                     contains(msg, "has another config.json than the session recorded (n_layer 4 \u2192 2)"),
                 msg.c_str());
        QCOMPARE(kme::configJsonDifference(config.dump(), config.dump(2)), std::string());
        // Older sessions (no readable config recorded) fall back to the weights hash.
        QCOMPARE(kme::configJsonDifference("", config.dump()), std::string());
        QCOMPARE(kme::configJsonDifference(std::string(100000, '[') + std::string(100000, ']'), config.dump()),
                 std::string());
        if (!cli_) return;
        const Run r = kmeRun({"session", "replay", QString::fromStdString(file)});
        QCOMPARE(r.rc, 1);
        QCOMPARE(lineCount(r.err), 1);
        QVERIFY2(contains(r.err, "n_layer 4 \u2192 2"), r.err.c_str());
        std::ofstream(path("hp2.json")) << R"({"v_num_grad_steps": 2})";
        const Run e = kmeRun({"edit", QString::fromStdString(folder), "--prompt", "The {} is located in", "--subject",
                              "Tokyo", "--target", "Italy", "--no-mom2", "--layer", "1", "--hparams",
                              QString::fromStdString(path("hp2.json")), "--session", QString::fromStdString(file)});
        QCOMPARE(e.rc, 1);
        QVERIFY2(contains(e.err, "n_layer 4 \u2192 2"), e.err.c_str());
        QCOMPARE(countEdits(file), int64_t(1));
    }

    // ------------------------------------------------------------ progress

    // With stderr not a terminal, a successful replay prints no progress
    // line (no "\r ... applying edits" for an error to be glued to).
    void replayProgressOnlyOnATerminal() {
        if (!cli_) QSKIP("KME_CLI is not set (run through ctest)");
        const std::string file = sessionWithEdits(2);
        const Run r = kmeRun({"session", "replay", QString::fromStdString(file)});
        QVERIFY2(r.rc == 0, r.err.c_str());
        QVERIFY2(!contains(r.err, "applying edits") && !contains(r.err, "\r"), r.err.c_str());
        QVERIFY2(contains(r.out, "verified"), r.out.c_str());
    }
};

QTEST_GUILESS_MAIN(TestHostileSession)
#include "test_hostile_session.moc"
