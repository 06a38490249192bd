// `kme bench family` run tiny (--sizes tiny): the JSON's keys, the BF16 file
// size against a parameter count computed from the shape, the edit's
// incremental hash and undo, the scratch folder removed afterwards; an
// unknown size refused with one line before any work.
#include <QtTest>

#include "tests/cli/CliRun.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using json = nlohmann::json;

namespace {
using kme::testing::Run;
using kme::testing::runKme;
}  // namespace

class TestBenchFamilyCli final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string path(const std::string& n) { return tmp_.path().toStdString() + "/" + n; }

private Q_SLOTS:
    void tinyRun() {
        const Run r = runKme({"bench", "family", "--sizes", "tiny", "--dir", path("scratch"), "--samples", "2",
                              "--prompt-tokens", "8", "--new-tokens", "3", "--bf16-trace-edit", "--json", path("out.json")});
        qInfo("%s", r.err.c_str());
        QCOMPARE(r.rc, 0);
        json j;
        std::ifstream(path("out.json")) >> j;
        QCOMPARE(j["benchmark"].get<std::string>(), std::string("family"));
        QVERIFY(j["matmul_gflops"].get<double>() > 0);
        QCOMPARE(j["cases"].size(), size_t(1));
        const json& c = j["cases"][0];
        QCOMPARE(c["size"].get<std::string>(), std::string("tiny"));
        // LLaMA parameters from the shape: embedding and untied head, per layer
        // q/o (heads x head_dim), k/v (kv heads), gate/up/down, two norms; final norm.
        const int64_t L = c["layers"], D = c["width"], I = c["mlp"], H = c["heads"], Hkv = c["kv_heads"], V = c["vocab"];
        const int64_t hd = D / H;
        const int64_t params = 2 * V * D + L * (2 * D * H * hd + 2 * D * Hkv * hd + 3 * D * I + 2 * D) + D;
        QCOMPARE(c["parameters"].get<int64_t>(), params);
        const int64_t file = c["file_bytes"];
        qInfo("parameters %lld, file %lld bytes, peak RSS %lld bytes", (long long)params, (long long)file,
              (long long)c["peak_rss_bytes"].get<int64_t>());
        QVERIFY(file >= 2 * params && file < 2 * params + 65536);  // BF16: two bytes each, plus the header
        for (const char* key : {"load_seconds", "hash_seconds", "peak_rss_bytes", "peak_rss_after_load_bytes"})
            QVERIFY2(c[key].get<double>() > 0, key);
        const json& p = c["predict"];
        QCOMPARE(p["prompt_tokens"].get<int>(), 8);
        QCOMPARE(p["new_tokens"].get<int>(), 3);
        QVERIFY(p["prefill_tokens_per_second"].get<double>() > 0 && p["decode_gflops"].get<double>() > 0);
        QCOMPARE(c["trace"]["samples"].get<int>(), 2);
        // The bf16 product mode beside float32: the GEMM at the MLP shape (prompt rows, then 1), predict again
        // with logits that differ (the mode ran) by a small relative amount; trace and ROME timed again.
        QCOMPARE(c["gemm"].size(), size_t(2));
        QCOMPARE(c["gemm"][0]["rows"].get<int>(), 8);
        QCOMPARE(c["gemm"][1]["rows"].get<int>(), 1);
        for (const json& g : c["gemm"]) {
            QCOMPARE(g["in"].get<int64_t>(), D);
            QCOMPARE(g["out"].get<int64_t>(), I);
            for (const char* key : {"float32_gflops", "converted_gflops", "bf16_gflops", "bf16_ratio_to_matmul"})
                QVERIFY2(g[key].get<double>() > 0, key);
            qInfo("GEMM rows %d: bf16 max rel diff %.3g", g["rows"].get<int>(), g["bf16_max_rel_diff"].get<double>());
            QVERIFY(g["bf16_max_rel_diff"].get<double>() > 0 && g["bf16_max_rel_diff"].get<double>() < 1e-2);
        }
        const json& pb = c["predict_bf16"];
        QCOMPARE(pb["prompt_tokens"].get<int>(), 8);
        QVERIFY(pb["prefill_tokens_per_second"].get<double>() > 0);
        const double dl = pb["max_abs_logit_diff"], ml = pb["max_abs_logit"];
        qInfo("predict: last-position logits bf16 vs float32 products max |diff| %.3g, max |logit| %.3g", dl, ml);
        QVERIFY(ml > 0 && dl > 0 && dl < 3e-2 * ml);
        QVERIFY(c["trace_bf16"]["seconds"].get<double>() > 0);
        QVERIFY(c["edit_bf16"]["seconds"].get<double>() > 0);
        const json& e = c["edit"];
        QCOMPARE(e["method"].get<std::string>(), std::string("rome"));
        const int64_t tensors = e["tensors"], rehashed = e["tensors_rehashed"];
        QVERIFY(rehashed >= 1 && rehashed < tensors);  // the hash resumed at the edited tensor
        QCOMPARE(e["undo_tensors_rehashed"].get<int64_t>(), int64_t(0));  // the original tensors' hash is remembered
        QVERIFY(!std::filesystem::exists(path("scratch") + "/kme-bench-family-tiny"));  // scratch removed
    }

    void unknownSizeRefused() {
        const Run r = runKme({"bench", "family", "--sizes", "tiny,13b", "--dir", path("scratch2")});
        QVERIFY(r.rc != 0);
        qInfo("%s", r.err.c_str());
        QVERIFY(r.err.find("13b") != std::string::npos);
        QVERIFY(!std::filesystem::exists(path("scratch2") + "/kme-bench-family-tiny"));  // nothing written
    }
};

QTEST_GUILESS_MAIN(TestBenchFamilyCli)
#include "test_bench_family_cli.moc"
