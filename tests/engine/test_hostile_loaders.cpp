// Hostile input at every loader of a user file (issue 12): one row per
// hostile file (which file of a valid model folder is corrupted, how, and
// what the one-line message must say). Each row fails if its fix is
// reverted: a crash (deep nesting), a hang (FIFO), an allocation
// (/dev/zero, 2^31 layers, an added-token id of 2^30) or raw library text
// instead of a message naming the file and the field. A future hostile
// finding is one more row.
#include <QtTest>

#include <sys/stat.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/demo/DemoCorpus.h"
#include "engine/edit/EditRequest.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/EvalJson.h"
#include "engine/io/Safetensors.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/tokenizer/Tokenizer.h"
#include "engine/trace/CausalTrace.h"
#include "engine/trace/TraceJson.h"
#include "tests/TinyModel.h"

using namespace kme;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

ModelConfig smallConfig() { return kme::testing::smallModelConfig(); }

std::string nested(int depth) { return std::string(size_t(depth), '[') + std::string(size_t(depth), ']'); }

std::string readText(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

void writeText(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// Text a message must never contain: the library's own words, or signs
// that a value was echoed or an allocation was attempted.
const char* const kRawLibraryText[] = {"json.exception", "type_error", "parse_error", "bad_alloc", "max_size",
                                       "enforce fail", "alloc_cpu", "expected scalar type", "[[[["};

// Runs `fn`, expects a kme::Error whose one-line message contains every
// fragment, none of `absent`, no raw library text, and is short.
template <class Fn>
void expectClearError(Fn fn, const QStringList& fragments, const QStringList& absent = {}) {
    std::string message;
    try {
        fn();
    } catch (const Error& e) {
        message = e.what();
    } catch (const std::exception& e) {
        QFAIL(qPrintable(QString("not a kme::Error: ") + e.what()));
    }
    QVERIFY2(!message.empty(), "no kme::Error thrown");
    const QString msg = QString::fromStdString(message);
    qInfo("  %s", message.c_str());
    for (const QString& f : fragments) QVERIFY2(msg.contains(f), qPrintable(msg + "\n  lacks: " + f));
    for (const QString& f : absent) QVERIFY2(!msg.contains(f), qPrintable(msg + "\n  contains: " + f));
    for (const char* raw : kRawLibraryText) QVERIFY2(!msg.contains(raw), qPrintable(msg + "\n  contains: " + raw));
    QVERIFY2(message.find('\n') == std::string::npos, "more than one line");
    QVERIFY2(message.size() < 600, qPrintable("too long: " + QString::number(message.size()) + " bytes"));
}

// The JSON text of `file` with `key` set to the raw JSON text `raw` (which
// may be nested far too deep for a JSON library to build).
std::string withRawKey(const std::string& file, const std::string& key, const std::string& raw) {
    json j = json::parse(readText(file));
    j[key] = "@@RAW@@";
    std::string text = j.dump();
    const auto at = text.find("\"@@RAW@@\"");
    return text.replace(at, 9, raw);
}

// A safetensors file whose header is `header` (no tensors).
std::string safetensorsWithHeader(const std::string& header) {
    std::string out(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xFF);
    return out + header;
}

}  // namespace

class TestHostileLoaders final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string base_;      // a valid model folder (vocab.json + merges.txt)
    std::string baseJson_;  // the same with tokenizer.json
    int rows_ = 0;
    std::string path(const std::string& name) const { return (fs::path(tmp_.path().toStdString()) / name).string(); }

    // A fresh copy of a valid folder to corrupt.
    std::string copyOf(const std::string& folder) {
        const std::string d = path("case" + std::to_string(++rows_));
        fs::copy(folder, d, fs::copy_options::recursive);
        return d;
    }

    // Replaces `p` by what `how` names; `content` is the new text for "content".
    void corrupt(const std::string& p, const QString& how, const std::string& content) {
        std::error_code ec;
        if (how != "content" && how != "i32") fs::remove_all(p, ec);
        if (how == "content") writeText(p, content);
        else if (how == "fifo") QCOMPARE(::mkfifo(p.c_str(), 0600), 0);
        else if (how == "dir") fs::create_directory(p);
        else if (how == "devzero") fs::create_symlink("/dev/zero", p);
        else if (how == "loop") {
            fs::create_symlink(p + ".b", p);
            fs::create_symlink(p, p + ".b");
        } else if (how == "dangling") fs::create_symlink(p + ".nowhere", p);
        else if (how == "remove") {
        } else if (how == "i32") {
            // h.0.attn.c_attn.weight relabelled I32 (same 4 bytes per element).
            const Checkpoint c = Checkpoint::openFile(p);
            std::vector<TensorData> tensors;
            for (const TensorView& v : c.tensors()) {
                TensorData t = asTensorData(v);
                if (v.name == "h.0.attn.c_attn.weight") t.dtype = DType::I32;
                tensors.push_back(t);
            }
            writeSafetensors(p + ".new", tensors);
            fs::rename(p + ".new", p);
        } else {
            QFAIL(qPrintable("unknown corruption " + how));
        }
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        base_ = path("base");
        writeRandomModelFolder(base_, smallConfig(), 5);
        baseJson_ = path("base-json");
        RandomFolderOptions o;
        o.tokenizerJson = true;
        writeRandomModelFolder(baseJson_, smallConfig(), 5, o);
        (void)Model::load(base_);  // both bases are valid
        (void)Model::load(baseJson_);
    }

    // ------------------------------------------------------ model folders

    void modelFolder_data() {
        QTest::addColumn<bool>("tokenizerJson");  // base folder with tokenizer.json
        QTest::addColumn<QString>("file");        // the file corrupted
        QTest::addColumn<QString>("how");         // content | fifo | dir | devzero | loop | dangling | remove | i32
        QTest::addColumn<QString>("key");         // content: top-level JSON key set to `raw` ("" = whole file)
        QTest::addColumn<QByteArray>("raw");
        QTest::addColumn<QString>("remove");      // a second file removed first ("" = none)
        QTest::addColumn<QStringList>("fragments");
        QTest::addColumn<QStringList>("absent");

        const QByteArray deep = QByteArray::fromStdString(nested(200000));
        // config.json: nesting, what the file is, types, ranges, products.
        QTest::newRow("config n_layer nested 200,000 deep")
            << false << "config.json" << "content" << "n_layer" << deep << ""
            << QStringList{"config.json", "nested more than 64 levels"} << QStringList{};
        QTest::newRow("config FIFO") << false << "config.json" << "fifo" << "" << QByteArray() << ""
                                     << QStringList{"config.json: cannot read the model config (a FIFO"} << QStringList{};
        QTest::newRow("config -> /dev/zero") << false << "config.json" << "devzero" << "" << QByteArray() << ""
                                             << QStringList{"config.json: cannot read the model config (a device"}
                                             << QStringList{};
        QTest::newRow("config a folder") << false << "config.json" << "dir" << "" << QByteArray() << ""
                                         << QStringList{"config.json", "a directory"} << QStringList{};
        QTest::newRow("config symlink loop") << false << "config.json" << "loop" << "" << QByteArray() << ""
                                             << QStringList{"config.json", "a symlink loop"} << QStringList{};
        QTest::newRow("config dangling symlink") << false << "config.json" << "dangling" << "" << QByteArray() << ""
                                                 << QStringList{"config.json", "a symlink to a missing file"}
                                                 << QStringList{};
        QTest::newRow("config model_type 5") << false << "config.json" << "content" << "model_type" << QByteArray("5")
                                             << "" << QStringList{"config.json: model_type must be a string, got 5"}
                                             << QStringList{};
        QTest::newRow("config n_layer 2^31")
            << false << "config.json" << "content" << "n_layer" << QByteArray("2147483648") << ""
            << QStringList{"config.json: n_layer must be an integer in [1, 1024], got 2147483648"} << QStringList{};
        QTest::newRow("config n_embd 2^31")
            << false << "config.json" << "content" << "n_embd" << QByteArray("2147483648") << ""
            << QStringList{"config.json: n_embd must be an integer in [1, 65536], got 2147483648"}
            << QStringList{"n_inner"};
        QTest::newRow("config n_head 2^32+2 (not 2)")
            << false << "config.json" << "content" << "n_head" << QByteArray("4294967298") << ""
            << QStringList{"n_head must be an integer", "got 4294967298"} << QStringList{};
        QTest::newRow("config vocab_size 2^24+1")
            << false << "config.json" << "content" << "vocab_size" << QByteArray("16777217") << ""
            << QStringList{"config.json: vocab_size must be an integer in [1, 16777216]"} << QStringList{};
        QTest::newRow("config n_positions 2^20+1")
            << false << "config.json" << "content" << "n_positions" << QByteArray("1048577") << ""
            << QStringList{"config.json: n_positions must be an integer in [1, 1048576]"} << QStringList{};
        QTest::newRow("config n_inner 2^40")
            << false << "config.json" << "content" << "n_inner" << QByteArray("1099511627776") << ""
            << QStringList{"config.json: n_inner must be an integer"} << QStringList{};
        QTest::newRow("config n_layer 2.5") << false << "config.json" << "content" << "n_layer" << QByteArray("2.5")
                                            << "" << QStringList{"n_layer must be an integer", "got 2.5"}
                                            << QStringList{};
        QTest::newRow("config eos_token_id string")
            << false << "config.json" << "content" << "eos_token_id" << QByteArray("\"x\"") << ""
            << QStringList{"eos_token_id must be an integer", "got the string 'x'"} << QStringList{};
        QTest::newRow("config layer_norm_epsilon -1")
            << false << "config.json" << "content" << "layer_norm_epsilon" << QByteArray("-1") << ""
            << QStringList{"layer_norm_epsilon must be a number in (0, 1], got '-1'"} << QStringList{};
        QTest::newRow("config activation 1 MB")
            << false << "config.json" << "content" << "activation_function"
            << QByteArray("\"" + QByteArray(1 << 20, 'g') + "\"") << ""
            << QStringList{"config.json: activation_function is 1048576 bytes long"} << QStringList{};
        QTest::newRow("config tie_word_embeddings \"yes\"")
            << false << "config.json" << "content" << "tie_word_embeddings" << QByteArray("\"yes\"") << ""
            << QStringList{"tie_word_embeddings must be true or false"} << QStringList{};
        // In range but more layers than the checkpoint: the shape check names
        // the missing tensor before anything is allocated for 1024 layers.
        QTest::newRow("config n_layer 1024 vs 2 in the checkpoint")
            << false << "config.json" << "content" << "n_layer" << QByteArray("1024") << ""
            << QStringList{"h.2.", "missing"} << QStringList{};
        QTest::newRow("config products too large")
            << false << "config.json" << "content" << "" 
            << QByteArray(R"({"model_type":"gpt2","n_layer":1024,"n_head":64,"n_embd":65536,"n_inner":1048576,)"
                          R"("vocab_size":16777216,"n_positions":1048576})")
            << "" << QStringList{"config.json", "imply", "parameters, more than the 1099511627776"} << QStringList{};

        // model.safetensors: what the file is, nesting, dtypes.
        QTest::newRow("weights a folder") << false << "model.safetensors" << "dir" << "" << QByteArray() << ""
                                          << QStringList{"model.safetensors: cannot read the weights (a directory"}
                                          << QStringList{"no model.safetensors"};
        QTest::newRow("weights FIFO") << false << "model.safetensors" << "fifo" << "" << QByteArray() << ""
                                      << QStringList{"model.safetensors: cannot read the weights (a FIFO"}
                                      << QStringList{"no model.safetensors"};
        QTest::newRow("weights symlink loop") << false << "model.safetensors" << "loop" << "" << QByteArray() << ""
                                              << QStringList{"model.safetensors: cannot read the weights (a symlink loop"}
                                              << QStringList{"no model.safetensors"};
        QTest::newRow("weights -> /dev/zero") << false << "model.safetensors" << "devzero" << "" << QByteArray() << ""
                                              << QStringList{"model.safetensors: cannot read the weights (a device"}
                                              << QStringList{};
        QTest::newRow("weights __metadata__ nested 100,000 deep")
            << false << "model.safetensors" << "content" << ""
            << QByteArray::fromStdString(safetensorsWithHeader("{\"__metadata__\":{\"a\":" + nested(100000) + "}}"))
            << "" << QStringList{"model.safetensors: header JSON nested more than 64 levels"} << QStringList{};
        QTest::newRow("weights I32 where a float is expected")
            << false << "model.safetensors" << "i32" << "" << QByteArray() << ""
            << QStringList{"model.safetensors: tensor h.0.attn.c_attn.weight has dtype I32, expected a float type"}
            << QStringList{};
        QTest::newRow("index FIFO (no model.safetensors)")
            << false << "model.safetensors.index.json" << "fifo" << "" << QByteArray() << "model.safetensors"
            << QStringList{"model.safetensors.index.json: cannot read the safetensors index (a FIFO"} << QStringList{};
        QTest::newRow("index nested 200,000 deep")
            << false << "model.safetensors.index.json" << "content" << "" << deep << "model.safetensors"
            << QStringList{"model.safetensors.index.json: JSON nested more than 64"} << QStringList{};

        // Tokenizer files.
        QTest::newRow("vocab FIFO") << false << "vocab.json" << "fifo" << "" << QByteArray() << ""
                                    << QStringList{"vocab.json: cannot read the vocab file (a FIFO"} << QStringList{};
        QTest::newRow("merges -> /dev/zero") << false << "merges.txt" << "devzero" << "" << QByteArray() << ""
                                             << QStringList{"merges.txt: cannot read the merges file (a device"}
                                             << QStringList{};
        QTest::newRow("vocab nested 200,000 deep") << false << "vocab.json" << "content" << "" << deep << ""
                                                   << QStringList{"vocab.json", "nested more than 64"} << QStringList{};
        QTest::newRow("merges 20 MB line")
            << false << "merges.txt" << "content" << "" << QByteArray("#version: 0.2\n" + QByteArray(20 << 20, 'm'))
            << "" << QStringList{"merges.txt", "line 2: expected two symbols", "(20971520 bytes)"} << QStringList{};
        QTest::newRow("merges NUL byte") << false << "merges.txt" << "content" << ""
                                         << QByteArray("#version: 0.2\nq\0z w\n", 20) << ""
                                         << QStringList{"merges.txt", "line 2", "'q\\x00z'", "is not in the vocabulary"}
                                         << QStringList{};
        QTest::newRow("tokenizer.json pre_tokenizer nested 200,000 deep")
            << true << "tokenizer.json" << "content" << "pre_tokenizer" << deep << ""
            << QStringList{"tokenizer.json", "nested more than 64"} << QStringList{};
        QTest::newRow("tokenizer.json decoder nested 200,000 deep")
            << true << "tokenizer.json" << "content" << "decoder" << deep << ""
            << QStringList{"tokenizer.json", "nested more than 64"} << QStringList{};
        QTest::newRow("tokenizer.json added token id 2^30")
            << true << "tokenizer.json" << "content" << "added_tokens"
            << QByteArray(R"([{"id": 1073741824, "content": "<big>"}])") << ""
            << QStringList{"tokenizer.json", "added_tokens[0]: id '1073741824' is out of range"} << QStringList{};
        QTest::newRow("tokenizer.json added token 300 KB")
            << true << "tokenizer.json" << "content" << "added_tokens"
            << QByteArray("[{\"id\": \"" + QByteArray(300000, '7') + "\"}]") << ""
            << QStringList{"tokenizer.json", "added_tokens[0]", "(300"} << QStringList{};
    }

    void modelFolder() {
        QFETCH(bool, tokenizerJson);
        QFETCH(QString, file);
        QFETCH(QString, how);
        QFETCH(QString, key);
        QFETCH(QByteArray, raw);
        QFETCH(QString, remove);
        QFETCH(QStringList, fragments);
        QFETCH(QStringList, absent);
        const std::string folder = copyOf(tokenizerJson ? baseJson_ : base_);
        if (!remove.isEmpty()) fs::remove(folder + "/" + remove.toStdString());
        const std::string p = folder + "/" + file.toStdString();
        std::string content = raw.toStdString();
        if (how == "content" && !key.isEmpty()) content = withRawKey(p, key.toStdString(), content);
        corrupt(p, how, content);
        expectClearError([&] { Model::load(folder); }, fragments, absent);
    }

    // A vocabulary without one of the 256 byte symbols fails at load, naming
    // the file (before: only when that byte was encoded, naming no file).
    void vocabularyMissingAByteSymbol() {
        for (bool tokJson : {false, true}) {
            const std::string folder = copyOf(tokJson ? baseJson_ : base_);
            const std::string p = folder + (tokJson ? "/tokenizer.json" : "/vocab.json");
            json j = json::parse(readText(p));
            json& vocab = tokJson ? j["model"]["vocab"] : j;
            const std::string nul = "\xC4\x80";  // 'Ā', byte 0x00's stand-in: in no merge of the sample text
            QVERIFY(vocab.contains(nul));
            vocab["<not a byte>"] = vocab[nul];
            vocab.erase(nul);
            writeText(p, j.dump());
            expectClearError([&] { Model::load(folder); },
                             {tokJson ? "tokenizer.json" : "vocab.json", "no token for the byte 0x00",
                              "needs all 256 byte symbols"});
        }
    }

    // ---------------------------------------------- datasets, requests, ...

    void otherFiles_data() {
        QTest::addColumn<QString>("loader");  // dataset | requests | corpus | evalrun | traceparams
        QTest::addColumn<QString>("how");     // content | fifo | devzero | dir
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QStringList>("fragments");

        const QByteArray deep = QByteArray::fromStdString(nested(200000));
        const QByteArray bigPrompt(1 << 20, 'p');
        const QByteArray rewrite = R"("requested_rewrite": {"prompt": "{} is in", "subject": "X", "target_new": {"str": "Y"}})";
        QTest::newRow("dataset nested 200,000 deep") << "dataset" << "content" << deep
                                                     << QStringList{"facts.json", "nested more than 64"};
        QTest::newRow("dataset FIFO") << "dataset" << "fifo" << QByteArray()
                                      << QStringList{"facts.json: cannot read the dataset (a FIFO"};
        QTest::newRow("dataset -> /dev/zero") << "dataset" << "devzero" << QByteArray()
                                              << QStringList{"facts.json: cannot read the dataset (a device"};
        QTest::newRow("dataset other_attributes relation_id 5")
            << "dataset" << "content"
            << QByteArray("[{" + rewrite + R"(, "other_attributes": [{"relation_id": 5, "prompt": "p", "target": "t"}]}])")
            << QStringList{"facts.json: record 0: other_attributes[0].relation_id must be a string, got '5'"};
        QTest::newRow("dataset requested_rewrite relation_id []")
            << "dataset" << "content"
            << QByteArray(R"([{"requested_rewrite": {"relation_id": [], "prompt": "{} is", "subject": "X", "target_new": "Y"}}])")
            << QStringList{"facts.json: record 0: requested_rewrite.relation_id must be a string, got '[]'"};
        QTest::newRow("dataset case_id 2^32+1")
            << "dataset" << "content" << QByteArray("[{\"case_id\": 4294967297, " + rewrite + "}]")
            << QStringList{"facts.json: record 0: case_id must be an integer", "got 4294967297"};
        QTest::newRow("dataset 1 MB prompt") << "dataset" << "content"
                                             << QByteArray("[{\"requested_rewrite\": {\"prompt\": \"" + bigPrompt +
                                                           "\", \"subject\": \"X\", \"target_new\": \"Y\"}}]")
                                             << QStringList{"facts.json: record 0: prompt 'ppp", "(1048576 bytes) has no '{}'"};
        QTest::newRow("zsRE 1 MB subject not in src")
            << "dataset" << "content"
            << QByteArray("[{\"subject\": \"" + bigPrompt + "\", \"src\": \"Where is it?\", \"alt\": \"Y\"}]")
            << QStringList{"facts.json: record 0: subject 'ppp", "(1048576 bytes) does not occur in 'src'"};
        QTest::newRow("requests nested 200,000 deep") << "requests" << "content" << deep
                                                      << QStringList{"facts.json", "nested more than 64"};
        QTest::newRow("requests FIFO") << "requests" << "fifo" << QByteArray()
                                       << QStringList{"facts.json: cannot read the edit requests (a FIFO"};
        QTest::newRow("requests 1 MB prompt")
            << "requests" << "content"
            << QByteArray("[{\"prompt\": \"" + bigPrompt + "\", \"subject\": \"X\", \"target_new\": \"Y\"}]")
            << QStringList{"facts.json: request 0: prompt 'ppp", "(1048576 bytes) has no '{}'"};
        QTest::newRow("corpus {}") << "corpus" << "content" << QByteArray("{}")
                                   << QStringList{"facts.json: unexpected structure: missing key 'relations'"};
        QTest::newRow("corpus subject name 5")
            << "corpus" << "content"
            << QByteArray(R"({"relations": {"P": {"train": ["{subject} is {object}"]}}, "subjects": [{"name": 5}]})")
            << QStringList{"facts.json: unexpected structure: 'subjects[0].name' must be a string, got an integer"};
        QTest::newRow("corpus nested") << "corpus" << "content" << deep << QStringList{"facts.json", "nested more than 64"};
        QTest::newRow("corpus -> /dev/zero") << "corpus" << "devzero" << QByteArray()
                                             << QStringList{"facts.json: cannot read the corpus description (a device"};
        QTest::newRow("eval run nested") << "evalrun" << "content" << deep
                                         << QStringList{"not an evaluation run: invalid JSON", "nested more than 64"};
        QTest::newRow("eval run batch_size 2^32+1")
            << "evalrun" << "content"
            << QByteArray(R"({"dataset": "d", "method": "rome", "mode": "fresh", "batch_size": 4294967297})")
            << QStringList{"\"batch_size\" has the wrong type: expected an integer that fits in 32 bits, got '4294967297'"};
        QTest::newRow("eval run 300 KB method")
            << "evalrun" << "content"
            << QByteArray("{\"dataset\": \"d\", \"method\": \"" + QByteArray(300000, 'm') + "\"}")
            << QStringList{"\"method\" is 'mmm", "(300000 bytes)"};
        QTest::newRow("trace request samples 2^32+10")
            << "traceparams" << "content" << QByteArray(R"({"samples": 4294967306})")
            << QStringList{"key 'samples' must be an integer that fits in 32 bits, got '4294967306'"};
        QTest::newRow("trace request unknown kind 300 KB")
            << "traceparams" << "content" << QByteArray("{\"kinds\": [\"" + QByteArray(300000, 'k') + "\"]}")
            << QStringList{"unknown trace kind 'kkk", "(300000 bytes)"};
    }

    void otherFiles() {
        QFETCH(QString, loader);
        QFETCH(QString, how);
        QFETCH(QByteArray, content);
        QFETCH(QStringList, fragments);
        const std::string dir = path("other" + std::to_string(++rows_));
        fs::create_directories(dir);
        const std::string p = dir + "/facts.json";
        corrupt(p, how, content.toStdString());
        expectClearError(
            [&] {
                if (loader == "dataset") (void)loadDataset(p);
                if (loader == "requests") (void)loadEditRequests(p);
                if (loader == "corpus") (void)DemoCorpus::load(p);
                if (loader == "evalrun") (void)evalRunSummaryFromJson(readRegularFile(p, "evaluation run"));
                if (loader == "traceparams")
                    (void)traceParamsFromJson(parseJson(readRegularFile(p, "trace request"), p));
            },
            fragments);
    }

    // Messages quote at most a short excerpt of what the user typed.
    void longUserTextIsQuotedShort() {
        auto model = Model::load(base_);
        const std::string big(1 << 20, 'q');
        EditRequest r;
        r.prompt = big;
        r.subject = "X";
        r.targetNew = " Y";
        expectClearError([&] { validateRequest(*model, r); }, {"the prompt template 'qqq", "(1048576 bytes) has no '{}'"});
        r.prompt = "{} is in";
        r.subject = big + "{}";
        expectClearError([&] { validateRequest(*model, r); }, {"the subject 'qqq", "must not contain '{}'"});
        expectClearError([&] { (void)model->tokenizer().subjectRange(big, "nowhere"); },
                         {"subject 'nowhere' not found in prompt 'qqq", "(1048576 bytes)"});
        expectClearError([&] { (void)parseNoiseSpec(big); }, {"--noise expects", "(1048576 bytes)"});
    }

    // --noise-in with 200,000 samples: refused before anything is allocated
    // (was "[enforce fail at alloc_cpu.cpp:75] ... can't allocate memory").
    void noiseFileWithTooManySamples() {
        auto model = Model::load(base_);
        TraceParams p;
        p.prompt = "The Eiffel Tower is located in";
        p.subject = "Eiffel Tower";
        const auto [s, e] = model->tokenizer().subjectRange(p.prompt, p.subject);
        const int64_t samples = 200000, tokens = e - s, width = model->config().nEmbd;
        const std::vector<float> zeros(size_t(samples * tokens * width), 0.0f);
        p.noiseIn = path("noise.safetensors");
        writeSafetensors(p.noiseIn, {TensorData{"noise", DType::F32, {samples, tokens, width}, zeros.data(),
                                                zeros.size() * sizeof(float)}});
        expectClearError([&] { (void)causalTrace(*model, p); },
                         {"noise.safetensors: tensor 'noise' holds 200000 samples, more than the 100000"});
        p.noiseIn.clear();
        p.samples = 200000;
        expectClearError([&] { (void)causalTrace(*model, p); }, {"--samples must be in [1, 100000], got 200000"});
        // A FIFO as the noise file does not block.
        p.noiseIn = path("noise.fifo");
        QCOMPARE(::mkfifo(p.noiseIn.c_str(), 0600), 0);
        expectClearError([&] { (void)causalTrace(*model, p); }, {"noise.fifo", "a FIFO"});
    }

    // The command line's text files (--hparams) and the statistics corpus.
    void commandLineFiles() {
        if (qEnvironmentVariableIsEmpty("KME_CLI")) QSKIP("KME_CLI is not set (run through ctest)");
        const QString fifo = QString::fromStdString(path("hp.fifo"));
        QCOMPARE(::mkfifo(fifo.toLocal8Bit().constData(), 0600), 0);
        const QString model = QString::fromStdString(base_);
        auto run = [&](const QStringList& extra) {
            QProcess p;
            p.setProcessChannelMode(QProcess::SeparateChannels);
            QStringList args{"edit", model, "--method", "rome", "--prompt", "The {} is located in", "--subject",
                             "Eiffel Tower", "--target", "Rome", "--layer", "1", "--json", "-"};
            p.start(qEnvironmentVariable("KME_CLI"), args + extra);
            if (!p.waitForFinished(600000)) {  // a FIFO that blocks: the bug (generous: a loaded machine is slow)
                p.kill();
                p.waitForFinished();
                return std::make_pair(-1, QString("timed out"));
            }
            return std::make_pair(p.exitCode(), QString::fromUtf8(p.readAllStandardError()).trimmed());
        };
        const auto [rc, err] = run({"--hparams", fifo, "--no-mom2"});
        QVERIFY2(rc == 1, qPrintable(err));
        QVERIFY2(err.contains("hp.fifo: cannot read the hyper-parameters file (a FIFO"), qPrintable(err));
        QVERIFY2(!err.contains('\n'), qPrintable(err));
        const auto [rc2, err2] = run({"--stats-corpus", "/dev/zero"});
        QVERIFY2(rc2 == 1, qPrintable(err2));
        QVERIFY2(err2.contains("/dev/zero: cannot read the statistics corpus (a device"), qPrintable(err2));
    }
};

QTEST_GUILESS_MAIN(TestHostileLoaders)
#include "test_hostile_loaders.moc"
