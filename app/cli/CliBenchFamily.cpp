// kme bench family: random LLaMA-shaped BF16 models (TinyLlama-1.1B and
// Llama-2-7B shapes, or a tiny one for tests) written to a scratch folder,
// then load time, peak resident memory against the file size, predict
// tokens/s against the machine's matmul rate, a causal trace and a ROME edit
// (identity key statistics) with its apply, weights hash and undo. Beside
// them the opt-in bf16 product mode (engine/model/HalfProduct.h): a GEMM
// micro-benchmark at the MLP's shape and predict again in that mode (trace
// and ROME too with --bf16-trace-edit).
#include "app/cli/CliBenchFamily.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/core/Sha256.h"
#include "engine/edit/EditSetup.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Benchmark.h"
#include "engine/model/HalfProduct.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/trace/CausalTrace.h"

namespace kme::cli {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<std::string> splitList(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream s(text);
    std::string item;
    while (std::getline(s, item, ','))
        if (!item.empty() && item != "none") out.push_back(item);
    return out;
}

double gib(int64_t bytes) { return double(bytes) / double(int64_t(1) << 30); }

json predictJson(const PredictBench& p, double matmul) {
    return {{"prompt_tokens", p.promptTokens},
            {"prefill_seconds", p.prefillSeconds},
            {"prefill_tokens_per_second", p.prefillTokensPerSecond},
            {"prefill_gflops", p.prefillGflops},
            {"prefill_ratio_to_matmul", p.prefillGflops / matmul},
            {"new_tokens", p.newTokens},
            {"decode_seconds", p.decodeSeconds},
            {"decode_tokens_per_second", p.decodeTokensPerSecond},
            {"decode_gflops", p.decodeGflops},
            {"decode_ratio_to_matmul", p.decodeGflops / matmul}};
}

std::string predictText(const PredictBench& p, double matmul) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(2) << "prefill " << p.promptTokens << " tokens " << p.prefillSeconds << " s = "
      << p.prefillTokensPerSecond << " tokens/s (" << p.prefillGflops << " GFLOP/s = " << p.prefillGflops / matmul
      << " x matmul); decode " << p.newTokens << " tokens " << p.decodeSeconds << " s = " << p.decodeTokensPerSecond
      << " tokens/s (" << p.decodeGflops << " GFLOP/s = " << p.decodeGflops / matmul << " x matmul)";
    return s.str();
}

json gemmJson(const GemmBench& g, double matmul) {
    return {{"rows", g.rows},
            {"in", g.in},
            {"out", g.out},
            {"float32_gflops", g.float32Gflops},
            {"float32_ratio_to_matmul", g.float32Gflops / matmul},
            {"converted_gflops", g.convertedGflops},
            {"converted_ratio_to_matmul", g.convertedGflops / matmul},
            {"bf16_gflops", g.bf16Gflops},
            {"bf16_ratio_to_matmul", g.bf16Gflops / matmul},
            {"bf16_max_rel_diff", g.bf16MaxRelDiff}};
}

std::string gemmText(const GemmBench& g, double matmul) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(2) << "GEMM " << g.rows << " x " << g.in << " -> " << g.out
      << " (MLP up): float32 weight " << g.float32Gflops << " GFLOP/s (" << g.float32Gflops / matmul
      << " x matmul); BF16 -> float32 scratch + float32 " << g.convertedGflops << " (" << g.convertedGflops / matmul
      << " x); bf16 product " << g.bf16Gflops << " (" << g.bf16Gflops / matmul << " x; "
      << g.bf16Gflops / g.convertedGflops << " x the converted path), max rel diff " << std::scientific
      << std::setprecision(1) << g.bf16MaxRelDiff;
    return s.str();
}

// max |a - b| and max |a| over two runs' last-position logits.
std::pair<double, double> logitsDiff(const std::vector<float>& a, const std::vector<float>& b) {
    double d = 0, m = 0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
        d = std::max(d, std::abs(double(a[i]) - double(b[i])));
        m = std::max(m, std::abs(double(a[i])));
    }
    return {d, m};
}

}  // namespace

int runBenchFamily(Context& ctx, const Args& args) {
    const std::vector<std::string> sizes = splitList(args.get("--sizes", "1b,7b"));
    const std::vector<std::string> traceEdit = splitList(args.get("--trace-edit", "tiny,1b"));
    const int samples = args.getInt("--samples", 5, 1, 1000);
    const int promptTokens = args.getInt("--prompt-tokens", 32, 1, 4096);
    const int newTokens = args.getInt("--new-tokens", 8, 0, 4096);
    const bool compareF32 = args.has("--compare-f32"), keep = args.has("--keep");
    const bool bf16TraceEdit = args.has("--bf16-trace-edit");
    // Today's numbers with float32 products whatever KME_HALF_PRODUCT says; the bf16 mode beside them.
    const ScopedHalfProduct float32Products(HalfProduct::Float32);
    if (sizes.empty()) throw UsageError("--sizes names no size (available: tiny, 1b, 7b)");
    std::vector<ModelConfig> configs;
    for (const auto& s : sizes) configs.push_back(llamaShapeConfig(s));  // unknown sizes fail before any work
    const fs::path parent = args.has("--dir") ? fs::path(args.get("--dir")) : fs::temp_directory_path();
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec || !fs::is_directory(parent)) fail(ErrorKind::Io, parent.string() + ": cannot create the scratch folder");

    const double matmul = measureMatmulGflops(1024, 5);
    const bool peakResets = resetPeakResident();
    json list = json::array();
    std::ostringstream s;
    s << std::fixed << std::setprecision(2) << "plain matmul 1024^3 float32: " << matmul << " GFLOP/s, "
      << computeThreads() << " threads\n";
    if (!peakResets) s << "(peak resident memory counts from the process start: /proc/self/clear_refs refused)\n";
    // The weights hash's speed, each SHA-256 engine on the same bytes in memory.
    const size_t hashBytes = size_t(256) << 20;
    const double portableRate = measureSha256Rate(Sha256Engine::Portable, hashBytes, 2);
    const double niRate = sha256ShaNiAvailable() ? measureSha256Rate(Sha256Engine::ShaNi, hashBytes, 2) : 0.0;
    s << "SHA-256 (the weights hash) on 256 MiB in memory: portable " << portableRate / double(1 << 30) << " GiB/s";
    if (niRate > 0) s << ", SHA extensions " << niRate / double(1 << 30) << " GiB/s = " << niRate / portableRate << "x";
    s << "; in use: " << sha256EngineName(sha256Engine()) << "\n";
    json hashRates = {{"portable_bytes_per_second", portableRate}, {"engine", sha256EngineName(sha256Engine())}};
    if (niRate > 0) hashRates["sha_ni_bytes_per_second"] = niRate;
    for (size_t k = 0; k < sizes.size(); ++k) {
        const std::string& size = sizes[k];
        const ModelConfig& config = configs[k];
        const fs::path folder = parent / ("kme-bench-family-" + size);
        fs::remove_all(folder, ec);
        json j = {{"size", size},
                  {"layers", config.nLayer},
                  {"width", config.nEmbd},
                  {"mlp", config.nInner},
                  {"heads", config.nHead},
                  {"kv_heads", config.kvHeads()},
                  {"vocab", config.vocabSize},
                  {"dtype", "BF16"}};
        try {
            ctx.err << "bench family " << size << ": writing a random BF16 LLaMA model to " << folder.string() << "...\n";
            RandomFolderOptions o;
            o.dtype = "BF16";
            o.streamed = true;
            o.fastUniform = true;  // N(0, 0.02)'s std, uniform: minutes less for 7B
            double t0 = now();
            writeRandomModelFolder(folder.string(), config, 1234, o);
            j["write_seconds"] = now() - t0;
            const int64_t fileBytes = int64_t(fs::file_size(folder / "model.safetensors"));
            j["file_bytes"] = fileBytes;

            ctx.err << "bench family " << size << ": load, predict...\n";
            resetPeakResident();
            const int64_t rssBefore = residentBytes();
            t0 = now();
            auto model = Model::load(folder.string());
            j["load_seconds"] = now() - t0;
            const int64_t params = model->parameterCount();
            j["parameters"] = params;
            j["rss_before_load_bytes"] = rssBefore;
            j["peak_rss_after_load_bytes"] = peakResidentBytes();
            t0 = now();
            const std::string hash = model->weightsHash();
            j["hash_seconds"] = now() - t0;
            const int64_t tensorCount = model->hashedTensorCount();  // the first hash feeds every tensor
            j["weights_hash"] = hash;
            const PredictBench p = benchPredict(*model, promptTokens, newTokens);
            j["predict"] = predictJson(p, matmul);
            j["peak_rss_after_predict_bytes"] = peakResidentBytes();
            ctx.err << "bench family " << size << ": GEMM at the MLP shape, predict with bf16 products...\n";
            json gemms = json::array();
            std::vector<GemmBench> gemmResults;
            for (int rows : {p.promptTokens, 1}) {
                gemmResults.push_back(benchHalfGemm(rows, config.nEmbd, config.nInner, 5));
                gemms.push_back(gemmJson(gemmResults.back(), matmul));
            }
            j["gemm"] = gemms;
            PredictBench pb;
            {
                const ScopedHalfProduct bf16(HalfProduct::Bf16);
                pb = benchPredict(*model, promptTokens, newTokens);
            }
            const auto [logitDiff, logitMax] = logitsDiff(p.prefillLogits, pb.prefillLogits);
            j["predict_bf16"] = predictJson(pb, matmul);
            j["predict_bf16"]["max_abs_logit_diff"] = logitDiff;
            j["predict_bf16"]["max_abs_logit"] = logitMax;
            s << size << " (" << config.nLayer << " x " << config.nEmbd << ", " << std::setprecision(2)
              << (params >= 1e8 ? params / 1e9 : params / 1e6) << (params >= 1e8 ? "B" : "M") << " parameters, BF16 file " << gib(fileBytes) << " GiB): written in "
              << j["write_seconds"].get<double>() << " s\n  load " << j["load_seconds"].get<double>()
              << " s; peak RSS " << gib(peakResidentBytes()) << " GiB = file " << std::showpos
              << gib(peakResidentBytes() - fileBytes) << std::noshowpos << " GiB (before loading "
              << gib(rssBefore) << " GiB)\n  weights hash (all tensors) " << j["hash_seconds"].get<double>() << " s = "
              << gib(fileBytes) / std::max(j["hash_seconds"].get<double>(), 1e-9) << " GiB/s\n  "
              << predictText(p, matmul) << "\n";
            for (const GemmBench& g : gemmResults) s << "  " << gemmText(g, matmul) << "\n";
            s << "  bf16 products: " << predictText(pb, matmul) << "; last-position logits max |diff| vs float32 products "
              << std::scientific << std::setprecision(2) << logitDiff << " (max |logit| " << logitMax << ")"
              << std::fixed << "\n";

            if (std::find(traceEdit.begin(), traceEdit.end(), size) != traceEdit.end()) {
                ctx.err << "bench family " << size << ": causal trace, " << samples << " samples...\n";
                TraceParams tp;
                tp.prompt = "The Eiffel Tower is located in the city of";
                tp.subject = "Eiffel Tower";
                tp.samples = samples;
                const TraceResult tr = causalTrace(*model, tp);
                j["trace"] = {{"tokens", tr.ids.size()},
                              {"samples", tr.samples},
                              {"kinds", tr.kinds.size()},
                              {"seconds", tr.seconds},
                              {"gflops", tr.flops / tr.seconds / 1e9}};
                s << "  trace (" << tr.ids.size() << " tokens, " << tr.samples << " samples, hidden+mlp+attn) "
                  << tr.seconds << " s (" << tr.flops / tr.seconds / 1e9 << " GFLOP/s)\n";
                if (bf16TraceEdit) {
                    ctx.err << "bench family " << size << ": causal trace with bf16 products...\n";
                    const ScopedHalfProduct bf16(HalfProduct::Bf16);
                    const TraceResult tb = causalTrace(*model, tp);
                    j["trace_bf16"] = {{"seconds", tb.seconds}, {"gflops", tb.flops / tb.seconds / 1e9}};
                    s << "  trace with bf16 products " << tb.seconds << " s (" << tb.flops / tb.seconds / 1e9
                      << " GFLOP/s)\n";
                }

                ctx.err << "bench family " << size << ": ROME edit, identity key statistics...\n";
                EditOverrides identity;
                identity.identityStatistics = true;
                identity.requireLayers = false;  // a random shape has no default: chosen below
                EditParams ep = setUpEdit(*model, EditMethod::Rome, identity).params;
                std::string layerSource = "the model's defaults";
                if (ep.hparams.layers.empty()) {
                    layerSource = "Llama-2-7B's 5 of 32, scaled to the depth";
                    // No table row for a random shape: Llama-2-7B's ROME layer (5 of 32, EasyEdit) scaled to the depth.
                    const int layer = int(std::lround(5.0 * config.nLayer / 32.0));
                    ep.hparams.layers = {std::max(0, std::min(config.nLayer - 1, layer))};
                }
                ep.requests = {EditRequest{"{} is located in the city of", "Eiffel Tower", " Rome", ""}};
                const EditResult er = computeEdit(*model, ep);
                std::string bf16EditLine;
                if (bf16TraceEdit) {
                    ctx.err << "bench family " << size << ": ROME edit with bf16 products...\n";
                    const ScopedHalfProduct bf16(HalfProduct::Bf16);
                    const EditResult eb = computeEdit(*model, ep);
                    j["edit_bf16"] = {{"seconds", eb.seconds}};
                    std::ostringstream line;
                    line << std::fixed << std::setprecision(2) << "  ROME edit with bf16 products " << eb.seconds
                         << " s (not applied)\n";
                    bf16EditLine = line.str();
                }
                EditStack stack(*model);
                t0 = now();
                stack.apply(er.delta);
                const double applySeconds = now() - t0;
                int64_t hashed = model->hashedTensorCount();
                t0 = now();
                const std::string edited = model->weightsHash();
                const double editHashSeconds = now() - t0;
                const int64_t editHashed = model->hashedTensorCount() - hashed;
                hashed = model->hashedTensorCount();
                t0 = now();
                stack.revertAll();
                const std::string undone = model->weightsHash();
                const double undoSeconds = now() - t0;
                if (undone != hash || edited == hash)
                    fail(ErrorKind::Internal, "bench family: the edit or its undo did not show in the weights hash");
                j["edit"] = {{"method", "rome"},
                             {"layer", er.layers.empty() ? -1 : er.layers.front()},
                             {"layer_source", layerSource},
                             {"seconds", er.seconds},
                             {"apply_seconds", applySeconds},
                             {"hash_seconds", editHashSeconds},
                             {"tensors_rehashed", editHashed},
                             {"tensors", tensorCount},
                             {"undo_and_hash_seconds", undoSeconds},
                             {"undo_tensors_rehashed", model->hashedTensorCount() - hashed}};
                s << "  ROME edit (layer " << j["edit"]["layer"].get<int>() << ": " << layerSource << "; --no-mom2) " << er.seconds
                  << " s; apply " << applySeconds << " s; weights hash after it " << editHashSeconds << " s ("
                  << editHashed << " of " << tensorCount << " tensors re-hashed); undo + hash "
                  << undoSeconds << " s (back to the loaded hash)\n" << bf16EditLine;
            }
            j["peak_rss_bytes"] = peakResidentBytes();
            j["peak_rss_minus_file_bytes"] = peakResidentBytes() - fileBytes;
            s << "  peak RSS over the whole run " << gib(peakResidentBytes()) << " GiB = file " << std::showpos
              << gib(peakResidentBytes() - fileBytes) << std::noshowpos << " GiB\n";
            model.reset();

            if (compareF32) {
                // The behaviour before half weights stayed half: the whole model converted to float32 at load.
                ctx.err << "bench family " << size << ": load converting the weights to float32 (comparison)...\n";
                resetPeakResident();
                t0 = now();
                LoadOptions lo;
                lo.halfToCompute = true;
                auto f32 = Model::load(folder.string(), lo);
                const double loadF32 = now() - t0;
                const PredictBench pf = benchPredict(*f32, promptTokens, newTokens);
                j["float32_copy"] = {{"load_seconds", loadF32},
                                     {"peak_rss_bytes", peakResidentBytes()},
                                     {"predict", predictJson(pf, matmul)}};
                s << "  for comparison, converted to float32 at load: load " << loadF32 << " s; peak RSS "
                  << gib(peakResidentBytes()) << " GiB = file " << std::showpos << gib(peakResidentBytes() - fileBytes)
                  << std::noshowpos << " GiB\n    " << predictText(pf, matmul) << "\n";
            }
        } catch (...) {
            if (!keep) fs::remove_all(folder, ec);
            throw;
        }
        if (!keep) fs::remove_all(folder, ec);
        list.push_back(j);
    }
    emit(args, ctx,
         {{"benchmark", "family"}, {"matmul_gflops", matmul}, {"threads", computeThreads()}, {"sha256", hashRates},
          {"peak_rss_resets", peakResets}, {"cases", list}},
         s.str());
    return 0;
}

}  // namespace kme::cli
