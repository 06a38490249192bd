// Hostile hyper-parameters, per-model defaults files and key-statistics
// caches (issue 12: hangs, 64-bit values truncated, a poisoned cache): every
// row is a hostile input with the message fragments it must produce. Add a
// row for each new kind. Also: the schema round trip (recorded
// hyper-parameters read back to the same struct), keys of another method
// refused, progress stages, the thread cap, and `kme edit` / `kme help edit`
// as a process ($KME_CLI).
#include <QtTest>

#include "tests/KmeProcess.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/core/Error.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/KeyStatistics.h"
#include "engine/io/Safetensors.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/session/SessionEdits.h"
#include "test_edit_support.h"

using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace kme;

namespace {

using kme::testing::kmeRun;
using kme::testing::Run;

// The message of the Error `f` throws ("" and a failed check when none).
template <class F>
std::string errorOf(F&& f, ErrorKind* kind = nullptr) {
    try {
        f();
    } catch (const Error& e) {
        if (kind) *kind = e.kind();
        return e.what();
    }
    return {};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string nested(int depth) { return std::string(size_t(depth), '[') + std::string(size_t(depth), ']'); }

EditRequest request(const char* subject, const char* target) {
    EditRequest r;
    r.prompt = edittest::toyRelation();
    r.subject = subject;
    r.targetNew = target;
    return normalizedRequest(r);
}

void writeText(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
}

}  // namespace

class TestHostileHparams final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string model_;
    std::vector<std::string> corpus_;
    std::string path(const std::string& n) const { return tmp_.path().toStdString() + "/" + n; }

    EditParams romeParams(Model& m, bool mom2) const {
        EditParams p;
        p.method = EditMethod::Rome;
        p.requests = {request("Tokyo", "Italy")};
        p.hparams = defaultHparams(EditMethod::Rome, m.config());
        p.hparams.layers = {1};
        p.hparams.vNumGradSteps = 3;
        p.hparams.mom2Adjustment = mom2;
        if (mom2) {
            p.statsTexts = corpus_;
            p.statsLabel = "word corpus";
        }
        return p;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        qputenv("KME_CACHE_DIR", QByteArray::fromStdString(path("cache")));
        model_ = path("model");
        writeRandomModelFolder(model_, edittest::toyConfig(), 3);
        corpus_ = edittest::wordCorpus(300, 2);
        std::ofstream corpus(path("corpus.txt"));
        for (const auto& t : corpus_) corpus << t << "\n";
    }

    // Each hostile object -> a Config error naming the key, the range and the value; `h` unchanged.
    void hostileHparamsAreRefused() {
        struct Case {
            EditMethod method;
            std::string text;
            std::vector<std::string> fragments;
        };
        const std::string manyLayers = [] {
            json l = json::array();
            for (int i = 0; i < 300; ++i) l.push_back(i % 4);
            return json{{"layers", l}}.dump();
        }();
        const std::string longKey(1 << 20, 'k');
        const std::vector<Case> cases = {
            // Hangs: no upper bound before.
            {EditMethod::Rome, R"({"v_num_grad_steps": 1000000000, "v_stop_loss": 0})",
             {"t.json: v_num_grad_steps must be an integer in [1, 100000], got 1000000000"}},
            {EditMethod::Memit, R"({"v_num_grad_steps": 1000000000})", {"v_num_grad_steps", "[1, 100000]"}},
            {EditMethod::FtL, R"({"num_steps": 1000000000, "ft_stop_loss": 0})",
             {"num_steps must be an integer in [1, 100000], got 1000000000"}},
            {EditMethod::Rome, R"({"context_template_length_params": [[5, 100000000]]})",
             {"context_template_length_params[0][1] must be an integer in [1, 100], got 100000000"}},
            {EditMethod::Rome, R"({"context_template_length_params": [[100000000, 5]]})",
             {"context_template_length_params[0][0] must be an integer in [1, 128], got 100000000"}},
            {EditMethod::Rome, R"({"context_template_length_params": [[5]]})",
             {"context_template_length_params[0] must be a pair [a, b] of integers, got an array"}},
            // 64-bit values truncated before.
            {EditMethod::Rome, R"({"layers": [4294967297]})", {"layers[0] must be an integer in [0, 1023], got 4294967297"}},
            {EditMethod::Rome, R"({"v_num_grad_steps": 2147483648})", {"v_num_grad_steps", "got 2147483648"}},
            {EditMethod::Rome, R"({"v_num_grad_steps": 4294967296})", {"v_num_grad_steps", "got 4294967296"}},
            {EditMethod::FtL, R"({"num_steps": 4294967297})", {"num_steps", "got 4294967297"}},
            {EditMethod::Rome, R"({"mom2_n_samples": 2147483648})",
             {"mom2_n_samples must be an integer in [1, 100000000], got 2147483648"}},
            {EditMethod::Rome, R"({"mom2_n_tokens": 18446744073709551615})", {"mom2_n_tokens", "18446744073709551615"}},
            {EditMethod::Rome, R"({"layers": [-1]})", {"layers[0]", "got -1"}},
            {EditMethod::Rome, R"({"layers": [1.5]})", {"layers[0]", "got 1.5"}},
            // Non-finite and out of range numbers (kl_factor 1e308 gave NaN weights).
            {EditMethod::Rome, R"({"kl_factor": 1e308})", {"kl_factor must be a number in [0, 100], got 1e+308"}},
            {EditMethod::Rome, R"({"v_lr": 1e999})", {"t.json: not valid JSON"}},  // the parser refuses the overflow
            {EditMethod::Rome, R"({"v_lr": -0.5})", {"v_lr must be a number in [0, 100], got -0.5"}},
            {EditMethod::Memit, R"({"mom2_update_weight": 1e10})", {"mom2_update_weight", "got 1e+10"}},
            {EditMethod::FtL, R"({"norm_constraint": 1e300})", {"norm_constraint", "[0, 10]"}},
            // Wrong types.
            {EditMethod::Rome, R"({"v_lr": "fast"})", {"v_lr must be a number", "got the string 'fast'"}},
            {EditMethod::Rome, R"({"v_lr": null})", {"v_lr must be a number", "got null"}},
            {EditMethod::Rome, R"({"mom2_adjustment": 1})", {"mom2_adjustment must be true or false, got 1"}},
            {EditMethod::Rome, R"({"layers": 1})", {"layers must be a list of 1 to 256 integers, got 1"}},
            {EditMethod::Rome, R"({"layers": []})", {"layers has 0 items (1 to 256 allowed)"}},
            {EditMethod::Rome, manyLayers, {"layers has 300 items (1 to 256 allowed)"}},
            {EditMethod::Rome, R"({"context_template_starts": [""]})", {"context_template_starts[0] must not be empty"}},
            {EditMethod::Rome, json{{"context_template_starts", {std::string(300, 'x')}}}.dump(),
             {"context_template_starts[0] is 300 bytes long (at most 256)"}},
            {EditMethod::Rome, R"({"context_templates": "gpt"})", {"context_templates must be \"rome\", \"memit\""}},
            {EditMethod::Rome, R"({"context_templates": [["no placeholder"]]})",
             {"context_templates[0][0] must contain \"{}\""}},
            {EditMethod::Rome, R"({"context_templates": [[]]})", {"context_templates[0] must be a non-empty list"}},
            {EditMethod::Rome, R"({"fact_token": "last"})", {"fact_token must be \"subject_last\""}},
            // A key of another method, or of none.
            {EditMethod::Rome, R"({"lr": 0.1})",
             {"'lr' is not a hyper-parameter of ROME (it is FT-L and FT-M's); ROME's are: layers, fact_token, v_num_grad_steps"}},
            {EditMethod::Rome, R"({"num_steps": 5})", {"'num_steps' is not a hyper-parameter of ROME (it is FT-L and FT-M's)"}},
            {EditMethod::Rome, R"({"mom2_update_weight": 100})",
             {"'mom2_update_weight' is not a hyper-parameter of ROME (it is MEMIT and EMMET's)"}},
            {EditMethod::FtL, R"({"v_lr": 0.5})",
             {"'v_lr' is not a hyper-parameter of FT-L (it is ROME, MEMIT, r-ROME, EMMET and AlphaEdit's); FT-L's are: layers, num_steps"}},
            {EditMethod::FtL, R"({"kl_factor": 0.5})", {"kl_factor must be a number in [0, 0], got 0.5"}},
            {EditMethod::Rome, R"({"v_lrr": 1})", {"'v_lrr' is not a hyper-parameter of ROME (unknown to every method)"}},
            {EditMethod::Rome, json{{longKey, 1}}.dump(), {"is not a hyper-parameter of ROME", "(1048576 bytes)"}},
            // Not an object, not JSON, nested too deep.
            {EditMethod::Rome, "[1]", {"t.json: expected a JSON object of hyper-parameters, got an array"}},
            {EditMethod::Rome, R"({"layers": [1)", {"t.json: not valid JSON"}},
            {EditMethod::Rome, "{\"layers\": " + nested(100000) + "}", {"t.json: JSON nested more than 64 levels"}},
        };
        const EditHparams before = defaultHparams(EditMethod::Rome, edittest::toyConfig());
        for (const auto& c : cases) {
            EditHparams h = before;
            ErrorKind kind = ErrorKind::Internal;
            const std::string msg = errorOf([&] { applyHparamsJson(h, c.method, c.text, "t.json"); }, &kind);
            qInfo("%s %s -> %s", editMethodName(c.method), c.text.substr(0, 80).c_str(), msg.c_str());
            QVERIFY2(!msg.empty(), c.text.substr(0, 200).c_str());
            for (const auto& f : c.fragments) QVERIFY2(contains(msg, f), (msg + "\n  expected: " + f).c_str());
            QVERIFY2(msg.find('\n') == std::string::npos, msg.c_str());  // one line
            QVERIFY2(msg.size() < 600, msg.c_str());                     // never the whole input
            QVERIFY(kind == ErrorKind::Config || kind == ErrorKind::Format);
            QVERIFY2(h == before, c.text.substr(0, 200).c_str());  // a refused file changes nothing
        }
    }

    // kmeng01/rome and kmeng01/memit hparams files (GPT-2 XL, GPT-J) and the extremes of real use pass.
    void publishedHparamsAreAccepted() {
        const std::vector<std::pair<EditMethod, std::string>> files = {
            {EditMethod::Rome,
             R"({"layers": [17], "fact_token": "subject_last", "v_num_grad_steps": 20, "v_lr": 5e-1, "v_loss_layer": 47, "v_weight_decay": 0.5, "clamp_norm_factor": 4, "kl_factor": 0.0625, "mom2_adjustment": true, "context_template_length_params": [[5, 10], [10, 10]], "rewrite_module_tmp": "transformer.h.{}.mlp.c_proj", "layer_module_tmp": "transformer.h.{}", "mlp_module_tmp": "transformer.h.{}.mlp", "attn_module_tmp": "transformer.h.{}.attn", "ln_f_module": "transformer.ln_f", "lm_head_module": "transformer.wte", "mom2_dataset": "wikipedia", "mom2_n_samples": 100000, "mom2_dtype": "float32"})"},
            {EditMethod::Memit,
             R"({"layers": [13, 14, 15, 16, 17], "clamp_norm_factor": 0.75, "layer_selection": "all", "fact_token": "subject_last", "v_num_grad_steps": 20, "v_lr": 5e-1, "v_loss_layer": 47, "v_weight_decay": 0.5, "kl_factor": 0.0625, "mom2_adjustment": true, "mom2_update_weight": 20000, "rewrite_module_tmp": "transformer.h.{}.mlp.c_proj", "mom2_dataset": "wikipedia", "mom2_n_samples": 100000, "mom2_dtype": "float32"})"},
            {EditMethod::Memit, R"({"layers": [3, 4, 5, 6, 7, 8], "mom2_update_weight": 15000, "v_lr": 5e-1})"},
            {EditMethod::FtL,
             R"({"layers": [0], "num_steps": 25, "lr": 5e-4, "weight_decay": 0, "kl_factor": 0, "norm_constraint": 5e-4, "rewrite_module_tmp": "transformer.h.{}.mlp.c_proj", "batch_size": 64})"},
            {EditMethod::Rome, R"({"v_num_grad_steps": 10000, "mom2_n_samples": 10000000, "mom2_n_tokens": 0})"},
            {EditMethod::Rome, R"({"v_num_grad_steps": 100000, "mom2_n_tokens": 10000000000, "layers": [1023]})"},
            {EditMethod::Rome, R"({"context_templates": "rome"})"},
        };
        for (const auto& [method, text] : files) {
            EditHparams h = defaultHparams(method, edittest::toyConfig());
            const std::string msg = errorOf([&] { applyHparamsJson(h, method, text, "published.json"); });
            QVERIFY2(msg.empty(), msg.c_str());
            validateHparams(h, method);
        }
        EditHparams big = defaultHparams(EditMethod::Rome, edittest::toyConfig());
        applyHparamsJson(big, EditMethod::Rome, R"({"mom2_n_tokens": 10000000000})", "x");
        QCOMPARE(big.mom2Tokens, int64_t(10000000000));  // 64-bit, not truncated
    }

    // hparamsToJson -> applyHparamsJson gives the same struct, for every method, with odd values.
    void recordedHparamsRoundTripExactly() {
        const std::vector<std::pair<EditMethod, std::string>> changes = {
            {EditMethod::Rome,
             R"({"layers": [3, 1], "v_num_grad_steps": 77, "v_lr": 0.12345678901234568, "v_weight_decay": 3.3333333333333335e-8, "kl_factor": 0.1, "clamp_norm_factor": 2.718281828459045, "v_stop_loss": 1e-300, "mom2_adjustment": false, "mom2_n_samples": 99999999, "mom2_n_tokens": 9999999999, "context_template_starts": ["A", "<|endoftext|>", "é"], "context_template_length_params": [[7, 3], [128, 100]], "context_templates": [["{}"], ["One. {}", "Two quoted {}"]]})"},
            {EditMethod::Memit, R"({"layers": [0, 1, 2], "mom2_update_weight": 123.456, "clamp_norm_factor": 0.75, "context_template_length_params": []})"},
            {EditMethod::FtL, R"({"layers": [2], "num_steps": 99999, "lr": 7e-4, "weight_decay": 1e-9, "norm_constraint": 0.0050000000000000001, "ft_stop_loss": 0.3})"},
        };
        for (const auto& [method, text] : changes) {
            const EditHparams base = defaultHparams(method, edittest::toyConfig());
            EditHparams h = base;
            applyHparamsJson(h, method, text, "changes");
            QVERIFY(h != base);
            EditHparams back = base;
            applyHparamsJson(back, method, hparamsToJson(h, method), "round trip");
            QVERIFY2(back == h, hparamsToJson(back, method).c_str());
            QCOMPARE(hparamsToJson(back, method), hparamsToJson(h, method));
        }
    }

    // A recorded edit's hparams_json (with its context_templates list) reads back, and the templates are used as given.
    void sessionRecordedHparamsReadBack() {
        auto m = Model::load(model_);
        EditParams p = romeParams(*m, false);
        const EditResult r = computeEdit(*m, p);
        const EditRecord e = makeEditRecord(r, p.requests, m->weightsHash(), "after");
        EditHparams back = defaultHparams(EditMethod::Rome, m->config());
        const std::string msg = errorOf([&] { applyHparamsJson(back, EditMethod::Rome, e.hparamsJson, "edit #1"); });
        QVERIFY2(msg.empty(), msg.c_str());  // before: "context_templates must be "rome" or "memit""
        EditHparams expected = r.hparams;
        expected.contextTemplates = r.contextTemplates;
        QVERIFY(back == expected);
        // Used as given: the same templates and the same delta.
        EditParams again = p;
        again.hparams = back;
        const EditResult r2 = computeEdit(*m, again);
        QCOMPARE(r2.contextTemplates, r.contextTemplates);
        QVERIFY(r2.delta.serialize() == r.delta.serialize());
    }

    // A struct built by code (the window, flags) is checked too: every run is bounded.
    void computeEditChecksTheStruct() {
        auto m = Model::load(model_);
        struct Case {
            EditMethod method;
            std::function<void(EditHparams&)> change;
            std::string fragment;
        };
        const std::vector<Case> cases = {
            {EditMethod::Rome, [](EditHparams& h) { h.vNumGradSteps = 1000000000; }, "v_num_grad_steps must be an integer in [1, 100000]"},
            {EditMethod::Rome, [](EditHparams& h) { h.vNumGradSteps = 0; }, "v_num_grad_steps"},
            {EditMethod::FtL, [](EditHparams& h) { h.ftSteps = -5; }, "num_steps must be an integer in [1, 100000], got -5"},
            {EditMethod::Rome, [](EditHparams& h) { h.klFactor = std::numeric_limits<double>::quiet_NaN(); }, "kl_factor must be a number"},
            {EditMethod::Rome, [](EditHparams& h) { h.contextLengths = {{5, 100000000}}; }, "context_template_length_params[0][1]"},
            {EditMethod::Memit, [](EditHparams& h) { h.mom2Samples = -2147483647 - 1; }, "mom2_n_samples"},
        };
        for (const auto& c : cases) {
            EditParams p = romeParams(*m, false);
            p.method = c.method;
            c.change(p.hparams);
            ErrorKind kind = ErrorKind::Internal;
            const std::string msg = errorOf([&] { computeEdit(*m, p); }, &kind);
            qInfo("%s", msg.c_str());
            QVERIFY2(contains(msg, c.fragment), msg.c_str());
            QCOMPARE(int(kind), int(ErrorKind::Config));
        }
    }

    // kme_edit_defaults.json goes through the same schema and the nesting / regular-file limits.
    void hostileDefaultsFiles() {
        const std::string folder = path("defaults-model");
        writeRandomModelFolder(folder, edittest::toyConfig(), 3);
        auto m = Model::load(folder);
        const std::string file = folder + "/" + kEditDefaultsFile;
        const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
            {R"({"rome": {"lr": 0.1}})", {file + " (rome): 'lr' is not a hyper-parameter of ROME (it is FT-L and FT-M's)"}},
            {R"({"rome": {"layers": [4294967297]}})", {file + " (rome): layers[0] must be an integer in [0, 1023], got 4294967297"}},
            {R"({"memit": {"v_num_grad_steps": 1000000000}})", {file + " (memit): v_num_grad_steps"}},
            {R"({"ft-l": {"num_steps": 4294967296}})", {file + " (ft-l): num_steps", "got 4294967296"}},
            {R"({"romme": {"layers": [1]}})", {file + ": unknown key 'romme'"}},
            {R"({"rome": [1]})", {file + " (rome): expected a JSON object of hyper-parameters"}},
            {R"({"note": 5})", {file + ": note must be a string, got 5"}},
            {"{\"rome\": {\"layers\": " + nested(200000) + "}}", {file + ": JSON nested more than 64 levels"}},
            {R"({"stats_corpus": {"demo_corpus": "x.json", "documents": 4294967297}})",
             {"stats_corpus", "documents must be an integer in [1, 1000000], got 4294967297"}},
            {R"({"stats_corpus": {"file": 3}})", {"stats_corpus", "file must be a string, got 3"}},
        };
        for (const auto& [text, fragments] : cases) {
            writeText(file, text);
            const std::string msg = errorOf([&] {
                (void)editDefaults(*m, EditMethod::Rome);
                (void)defaultStatsCorpus(*m);
            });
            qInfo("%s -> %s", text.substr(0, 80).c_str(), msg.c_str());
            for (const auto& f : fragments) QVERIFY2(contains(msg, f), (msg + "\n  expected: " + f).c_str());
            QVERIFY(msg.size() < 600);
        }
        // A FIFO as the defaults file or the corpus: refused at once, never a blocked read.
        fs::remove(file);
        QCOMPARE(::mkfifo(file.c_str(), 0600), 0);
        std::string msg = errorOf([&] { (void)editDefaults(*m, EditMethod::Rome); });
        QVERIFY2(contains(msg, file) && contains(msg, "FIFO"), msg.c_str());
        fs::remove(file);
        const std::string fifo = path("corpus.fifo");
        QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
        msg = errorOf([&] { (void)loadTextCorpus(fifo); });
        QVERIFY2(contains(msg, fifo) && contains(msg, "FIFO"), msg.c_str());
        msg = errorOf([&] { (void)loadTextCorpus("/dev/zero"); });
        QVERIFY2(contains(msg, "/dev/zero") && contains(msg, "device"), msg.c_str());
        writeText(path("deep.json"), nested(100000));
        msg = errorOf([&] { (void)loadTextCorpus(path("deep.json")); });
        QVERIFY2(contains(msg, "deep.json") && contains(msg, "nested"), msg.c_str());
        // A valid file still works.
        writeText(file, R"({"rome": {"layers": [2], "v_num_grad_steps": 7}, "memit": {"mom2_update_weight": 20}})");
        const EditDefaults d = editDefaults(*m, EditMethod::Rome);
        QCOMPARE(d.hparams.layers, std::vector<int>{2});
        QCOMPARE(d.hparams.vNumGradSteps, 7);
    }

    // A damaged statistics cache file is named, discarded and recomputed; the edit is the one an intact cache gives.
    void poisonedStatisticsCacheIsDiscarded() {
        auto m = Model::load(model_);
        clearKeyStatisticsMemoryCache();
        const EditParams p = romeParams(*m, true);
        const EditResult first = computeEdit(*m, p);
        QCOMPARE(first.stats.size(), size_t(1));
        const std::string file = first.stats[0].cacheFile;
        QVERIFY2(fs::exists(file), file.c_str());
        QVERIFY(first.stats[0].cacheNote.empty());
        std::map<std::string, std::string> meta;
        at::Tensor good;
        {
            auto f = SafetensorsFile::open(file);
            meta = f->metadata();
            const TensorView* t = f->find("mom2");
            good = at::from_blob(const_cast<uint8_t*>(t->data), t->shape, at::TensorOptions().dtype(at::kDouble)).clone();
        }
        const int64_t w = good.size(0);
        auto rewrite = [&](const at::Tensor& mom2, const std::map<std::string, std::string>& metadata) {
            const at::Tensor c = mom2.contiguous();
            writeSafetensors(file, {TensorData{"mom2", DType::F64, {c.size(0), c.size(1)}, c.data_ptr(), c.nbytes()}},
                             metadata);
        };
        auto raw = [&](const std::string& bytes) { writeText(file, bytes); };
        auto header = [&](const std::string& h) {
            std::string out(8, '\0');
            const uint64_t n = h.size();
            for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xFF);
            return out + h;
        };
        struct Case {
            const char* name;
            std::function<void()> poison;
            const char* reason;
        };
        const std::vector<Case> cases = {
            {"NaN", [&] { at::Tensor c = good.clone(); c[0][0] = std::nan(""); rewrite(c, meta); }, "non-finite"},
            {"wrong shape", [&] { rewrite(at::eye(3, at::kDouble), meta); }, "expected F64"},
            {"zeros", [&] { rewrite(at::zeros({w, w}, at::kDouble), meta); }, "all-zero diagonal"},
            {"asymmetric", [&] { at::Tensor c = good.clone(); c[0][1] = c[0][1] + 1.0; rewrite(c, meta); }, "asymmetric"},
            {"other key", [&] { auto md = meta; md["key"] = "another"; rewrite(good, md); }, "other statistics"},
            {"bad counts", [&] { auto md = meta; md["tokens"] = "12abc"; rewrite(good, md); }, "counts"},
            {"garbage", [&] { raw("not a safetensors file at all"); }, "header length"},
            {"huge header length", [&] { raw(std::string(8, '\xff') + "{}"); }, "header length"},
            {"nested header", [&] { raw(header(nested(100000))); }, "nested too deep"},
            {"truncated", [&] { raw(header(R"({"mom2": {"dtype": "F64", "shape": [128, 128], "data_offsets": [0, 131072]}})")); },
             "not a valid safetensors file"},
            {"empty", [&] { raw(""); }, "shorter than"},
        };
        for (size_t i = 0; i < cases.size(); ++i) {
            const Case& c = cases[i];
            c.poison();
            clearKeyStatisticsMemoryCache();
            EditResult r;
            const std::string msg = errorOf([&] { r = computeEdit(*m, p); });
            QVERIFY2(msg.empty(), (std::string(c.name) + ": " + msg).c_str());
            QCOMPARE(r.stats.size(), size_t(1));
            const std::string& note = r.stats[0].cacheNote;
            qInfo("%s: %s", c.name, note.c_str());
            QVERIFY2(contains(note, "the statistics cache " + file + " was discarded"), note.c_str());
            QVERIFY2(contains(note, c.reason), note.c_str());
            QVERIFY(!r.stats[0].fromCache);
            QVERIFY(r.delta.serialize() == first.delta.serialize());  // not poisoned
            QVERIFY(fs::exists(file));  // rewritten with the recomputed statistics
            if (i == 0 || i + 1 == cases.size()) {  // and the next edit loads it
                clearKeyStatisticsMemoryCache();
                const EditResult next = computeEdit(*m, p);
                QVERIFY(next.stats[0].fromCache);
                QVERIFY(next.stats[0].cacheNote.empty());
            }
        }
        // A singular but well-formed C from the cache: the message names the cache file.
        at::Tensor rank1 = at::zeros({w, w}, at::kDouble);
        rank1[0][0] = 1.0;
        rewrite(rank1, meta);
        clearKeyStatisticsMemoryCache();
        const std::string msg = errorOf([&] { computeEdit(*m, p); });
        QVERIFY2(contains(msg, "singular") && contains(msg, "statistics cache " + file), msg.c_str());
        fs::remove(file);
        clearKeyStatisticsMemoryCache();
        // mom2_n_samples 2^31 is a range error, not "the statistics corpus has no tokens".
        EditHparams h = p.hparams;
        const std::string range = errorOf([&] { applyHparamsJson(h, EditMethod::Rome, R"({"mom2_n_samples": 2147483648})", "hp.json"); });
        QVERIFY2(contains(range, "mom2_n_samples must be an integer in [1, 100000000], got 2147483648"), range.c_str());
    }

    // The progress stages the command line prints ("request 2/3 ...") follow the engine's progress layout.
    void progressStagesFollowTheRequests() {
        auto m = Model::load(model_);
        for (const bool mom2 : {false, true}) {
            EditParams p = romeParams(*m, mom2);
            p.requests = {request("Tokyo", "Italy"), request("Paris", "Japan"), request("Rome", "France")};
            std::vector<EditStage> stages;
            computeEdit(*m, p, [&](double d, double t) {
                stages.push_back(editStage(p, d, t));
                return true;
            });
            QVERIFY(!stages.empty());
            size_t last = 0;
            bool statsSeen = false;
            for (const auto& s : stages) {
                if (s.kind == EditStage::Kind::Statistics) {
                    QVERIFY(last == 0);  // before every request
                    statsSeen = true;
                    continue;
                }
                QCOMPARE(int(s.kind), int(EditStage::Kind::Request));
                QCOMPARE(s.count, size_t(3));
                QVERIFY(s.index >= last && s.index >= 1 && s.index <= 3);
                last = s.index;
            }
            QCOMPARE(last, size_t(3));
            QCOMPARE(statsSeen, mom2 && stages.front().kind == EditStage::Kind::Statistics);
            QCOMPARE(stages.back().fraction, 1.0);
        }
        // MEMIT: requests, then writing the layers.
        EditParams p = romeParams(*m, false);
        p.method = EditMethod::Memit;
        p.hparams.layers = {1, 2};
        p.requests = {request("Tokyo", "Italy"), request("Paris", "Japan")};
        std::vector<EditStage> stages;
        computeEdit(*m, p, [&](double d, double t) {
            stages.push_back(editStage(p, d, t));
            return true;
        });
        QVERIFY(!stages.empty());
        QCOMPARE(int(stages.back().kind), int(EditStage::Kind::Writing));
        QCOMPARE(int(stages.front().kind), int(EditStage::Kind::Request));
        QCOMPARE(stages.front().index, size_t(1));
        // FT-L: steps.
        p.method = EditMethod::FtL;
        p.hparams.layers = {1};
        p.hparams.ftSteps = 4;
        stages.clear();
        computeEdit(*m, p, [&](double d, double t) {
            stages.push_back(editStage(p, d, t));
            return true;
        });
        QVERIFY(!stages.empty());
        for (const auto& s : stages) QCOMPARE(int(s.kind), int(EditStage::Kind::FineTune));
        QCOMPARE(stages.back().count, size_t(4));
    }

    void threadsAreCappedAtTheCores() {
        const int before = computeThreads();
        const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
        initComputeRuntime(1024);
        QVERIFY(computeThreads() <= cores);
        initComputeRuntime(before);
        QCOMPARE(computeThreads(), before);
    }

    // As a process: one line, exit 1, no hang; the help lists the schema; progress lines per request.
    void commandLine() {
        if (qEnvironmentVariableIsEmpty("KME_CLI")) QSKIP("KME_CLI is not set (run through ctest)");
        const QString model = QString::fromStdString(model_);
        const QStringList edit = {"edit", model, "--prompt", "The {} is located in", "--subject", "Tokyo", "--target",
                                  "Italy", "--layer", "1", "--no-mom2", "--threads", "1"};
        const std::vector<std::pair<std::string, std::string>> cases = {
            {R"({"lr": 0.001, "num_steps": 5})", "ft.json: 'lr' is not a hyper-parameter of ROME (it is FT-L and FT-M's); ROME's are:"},
            {R"({"v_num_grad_steps": 1000000000, "v_stop_loss": 0})", "v_num_grad_steps must be an integer in [1, 100000], got 1000000000"},
            {R"({"layers": [4294967297]})", "layers[0] must be an integer in [0, 1023], got 4294967297"},
            {R"({"context_template_length_params": [[5, 100000000]]})", "context_template_length_params[0][1]"},
        };
        for (const auto& [text, fragment] : cases) {
            writeText(path("ft.json"), text);
            const Run r = kmeRun(QStringList(edit) << "--hparams" << QString::fromStdString(path("ft.json")) << "--json" << "-");
            qInfo("%s -> rc %d: %s", text.c_str(), r.rc, r.err.c_str());
            QCOMPARE(r.rc, 1);
            QVERIFY2(contains(r.err, fragment), r.err.c_str());
            QCOMPARE(std::count(r.err.begin(), r.err.end(), '\n'), long(1));
            QVERIFY(r.out.empty());
        }
        // `kme help edit` lists every method's keys with type, default and range.
        const Run help = kmeRun({"help", "edit"});
        QCOMPARE(help.rc, 0);
        for (const char* part : {"rome:", "memit:", "ft-l:", "v_num_grad_steps (int, default 20, [1, 100000])",
                                 "mom2_update_weight (double, default 20000, [0, 1000000000])",
                                 "num_steps (int, default 25, [1, 100000])",
                                 "layers (int list, default from the model, 1-256 items, each in [0, 1023])",
                                 "context_template_length_params (pair list"})
            QVERIFY2(contains(help.out, part), (std::string(part) + "\n" + help.out).c_str());
        // Progress: whole lines per request when stderr is not a terminal.
        writeText(path("requests.json"),
                  R"([{"prompt": "The {} is located in", "subject": "Tokyo", "target_new": "Italy"}, {"prompt": "The {} is located in", "subject": "Paris", "target_new": "Japan"}, {"prompt": "The {} is located in", "subject": "Rome", "target_new": "France"}])");
        writeText(path("steps.json"), R"({"v_num_grad_steps": 3})");
        const Run r = kmeRun({"edit", model, "--requests", QString::fromStdString(path("requests.json")), "--layer", "1",
                              "--no-mom2", "--hparams", QString::fromStdString(path("steps.json")), "--threads", "1"});
        QVERIFY2(r.rc == 0, r.err.c_str());
        for (const char* line : {"kme edit: request 1/3 'Tokyo'\n", "kme edit: request 2/3 'Paris'\n",
                                 "kme edit: request 3/3 'Rome'\n"})
            QVERIFY2(contains(r.err, line), r.err.c_str());
        QVERIFY(!contains(r.err, "\r"));
        // --threads beyond the cores: capped, and said so.
        const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
        if (cores < 1024) {
            const Run t = kmeRun({"info", model, "--threads", "1024"});
            QCOMPARE(t.rc, 0);
            QVERIFY2(contains(t.err, "kme: --threads 1024 capped at " + std::to_string(cores) + " (the cores of this machine)"),
                     t.err.c_str());
        }
    }
};

QTEST_GUILESS_MAIN(TestHostileHparams)
#include "test_hostile_hparams.moc"
