// ROME (kmeng01/rome rome/rome_main.py, compute_u.py, compute_v.py), r-ROME
// (scalable-model-editing/rebuilding-rome, enable_random_prefix_keys) and
// MEMIT's frame (kmeng01/memit memit/memit_main.py, compute_ks.py,
// compute_z.py), which EMMET and AlphaEdit share with their own solves.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "engine/core/Error.h"
#include "engine/edit/EditProblem.h"
#include "engine/edit/EditInternal.h"
#include "engine/model/Model.h"
#include "engine/tokenizer/Tokenizer.h"

namespace kme::edit {

namespace {

constexpr double kStatsUnits = 20;  // progress units of one layer's statistics

StatsParams statsParams(const EditParams& p) {
    StatsParams s;
    s.texts = p.statsTexts;
    s.corpusLabel = p.statsLabel;
    s.modelKey = p.statsModelKey;
    s.maxSamples = p.hparams.mom2Samples;
    s.maxTokens = p.hparams.mom2Tokens;
    return s;
}

// C of every layer, computed before any (temporary) edit: statistics describe
// the weights the edit starts from.
std::map<int, at::Tensor> statistics(Model& model, const EditParams& p, Meter& meter, EditResult& result) {
    if (!p.hparams.mom2Adjustment) return {};
    // Every layer's statistics in one pass over the corpus (MEMIT edits several).
    const double units = kStatsUnits * double(p.hparams.layers.size());
    std::vector<StatsInfo> infos;
    auto out = keySecondMoments(model, p.hparams.layers, statsParams(p), meter.sub(units), &infos);
    meter.step(units);
    result.stats.insert(result.stats.end(), infos.begin(), infos.end());
    return out;
}

std::vector<std::string> flatten(const std::vector<std::vector<std::string>>& groups) {
    std::vector<std::string> out;
    for (const auto& g : groups) out.insert(out.end(), g.begin(), g.end());
    return out;
}

}  // namespace

at::Tensor solveOrFail(const at::Tensor& a, const at::Tensor& b, int layer, const StatsInfo* info) {
    try {
        const at::Tensor x = at::linalg_solve(a, b);
        if (!x.isfinite().all().item<bool>()) throw std::runtime_error("non-finite solution");
        return x;
    } catch (const std::exception&) {
        std::string why = "the key statistics of layer " + std::to_string(layer) + " are singular";
        if (info)
            why += " (" + std::to_string(info->tokens) + " corpus tokens for " + std::to_string(a.size(0)) + " keys)";
        if (info && info->fromCache && !info->cacheFile.empty())
            failEdit(EditProblem::StaleStatisticsCache,
                     why + ", loaded from the statistics cache " + info->cacheFile + " (deleting it recomputes them)");
        failEdit(EditProblem::SingularStatistics, why);
    }
}

RankOne romeFactors(const at::Tensor& mom2, const at::Tensor& keyAverage, const at::Tensor& key,
                    const at::Tensor& residual, int layer, const StatsInfo* info, const std::string& method) {
    // compute_u: left = C^-1 k* / |C^-1 k*|; compute_v: right = (v* - output) / (key . left).
    at::Tensor left = mom2.defined() ? solveOrFail(mom2, keyAverage, layer, info) : keyAverage;
    left = left / left.norm();
    const double division = at::dot(key, left).item<double>();
    if (!(std::abs(division) > 0))
        fail(ErrorKind::Input, method + ": the subject's key is orthogonal to C^-1 k* at layer " + std::to_string(layer));
    return {left, residual / division};
}

namespace {

// ROME, or r-ROME (`averagedKey`: the prefix-averaged k* and MLP output also
// in the residual, rebuilding-rome's enable_random_prefix_keys).
EditResult romeFamily(Model& model, const EditParams& params, const ProgressFn& progress, bool averagedKey) {
    const EditHparams& hp = params.hparams;
    const auto& layers = hp.layers;
    const double perLayer = hp.vNumGradSteps + 1;
    Meter meter(progress, (hp.mom2Adjustment ? kStatsUnits * double(layers.size()) : 0) +
                              double(params.requests.size() * layers.size()) * perLayer);
    EditResult result;
    result.layers = layers;
    const std::map<int, at::Tensor> mom2 = statistics(model, params, meter, result);
    result.contextTemplates = params.contextTemplates.empty() ? contextTemplates(model, hp, params.seed)
                                                              : params.contextTemplates;
    const std::vector<std::string> templates = flatten(result.contextTemplates);
    const Tokenizer& tok = model.tokenizer();

    // ROME applies each request (and layer) before computing the next; the
    // temporary edits are undone when this function returns.
    TemporaryEdits temporary(model);
    for (const EditRequest& r : params.requests) {
        EditRequestReport report;
        report.request = r;
        for (size_t li = 0; li < layers.size(); ++li) {
            const int layer = layers[li];
            const Transformer& tf = model.transformer();
            // compute_u: k* = mean over the templates of the key at the subject's last token.
            std::vector<Filled> filled;
            for (const auto& t : templates) filled.push_back(fillTemplate(tok, formatTemplate(t, r.prompt), r.subject));
            const at::Tensor keyAverage = readAtSubject(tf, filled, Site::MlpKey, layer).mean(0);

            // compute_v: v* by Adam on the MLP output at the subject's last token.
            const auto vStart = std::chrono::steady_clock::now();
            const ValueResult v = optimizeValue(model, r, Site::MlpOut, layer, templates, hp, [&] { meter.step(); });
            editProfile().valueSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - vStart).count();
            editProfile().valueForwardFlops += v.forwardFlops;
            // ROME: the key and the MLP output (bias included) at the plain
            // prompt's subject; r-ROME: both averaged over the templates.
            const std::vector<Filled> plain = {fillTemplate(tok, r.prompt, r.subject)};
            const at::Tensor key = readAtSubject(tf, plain, Site::MlpKey, layer)[0];
            const at::Tensor output = averagedKey ? readAtSubject(tf, filled, Site::MlpOut, layer).mean(0)
                                                  : readAtSubject(tf, plain, Site::MlpOut, layer)[0];
            const auto [left, right] =
                romeFactors(hp.mom2Adjustment ? mom2.at(layer) : at::Tensor(), keyAverage, averagedKey ? keyAverage : key,
                            v.target - output, layer, li < result.stats.size() ? &result.stats[li] : nullptr,
                            averagedKey ? "r-ROME" : "ROME");

            WeightDelta step;
            step.parts.push_back(downProjectionDelta(tf, layer, left, right));
            requireFiniteDelta(step, averagedKey ? "r-ROME" : "ROME", "kl_factor");
            temporary.apply(step);
            result.delta.parts.push_back(step.parts.front());

            report.losses.insert(report.losses.end(), v.losses.begin(), v.losses.end());
            if (li == 0) report.nllInit = v.nllInit;
            report.nllFinal = v.nllFinal;
            report.key = toVector(key);
            report.keyAverage = toVector(keyAverage);
            report.valueInit = toVector(v.init);
            report.value = toVector(v.target);
            meter.step(perLayer - double(v.losses.size()));
        }
        result.requests.push_back(std::move(report));
    }
    return result;
}

}  // namespace

EditResult computeRome(Model& model, const EditParams& params, const ProgressFn& progress) {
    return romeFamily(model, params, progress, false);
}

EditResult computeRRome(Model& model, const EditParams& params, const ProgressFn& progress) {
    return romeFamily(model, params, progress, true);
}

EditResult spreadOverLayers(Model& model, const EditParams& params, const ProgressFn& progress,
                            const std::string& method, const std::string& hint, const LayerSolver& solve) {
    const EditHparams& hp = params.hparams;
    const auto& layers = hp.layers;  // sorted
    const int zLayer = layers.back();
    const int64_t n = static_cast<int64_t>(params.requests.size());
    Meter meter(progress, (hp.mom2Adjustment ? kStatsUnits * double(layers.size()) : 0) +
                              double(n) * hp.vNumGradSteps + double(layers.size()));
    EditResult result;
    result.layers = layers;
    const std::map<int, at::Tensor> mom2 = statistics(model, params, meter, result);
    result.contextTemplates = params.contextTemplates.empty() ? contextTemplates(model, hp, params.seed)
                                                              : params.contextTemplates;
    const auto& groups = result.contextTemplates;
    const std::vector<std::string> templates = flatten(groups);
    const Tokenizer& tok = model.tokenizer();

    // compute_z: the residual stream after the last layer at each subject;
    // every request's z in one batch (or one request at a time, EditSpeed.h).
    const auto zStart = std::chrono::steady_clock::now();
    std::vector<ValueResult> values;
    if (editSpeed().batchRequests) {
        constexpr size_t kChunk = 64;  // requests per batch: bounds the memory of large batches
        for (size_t first = 0; first < params.requests.size(); first += kChunk) {
            const std::vector<EditRequest> chunk(params.requests.begin() + first,
                                                 params.requests.begin() + std::min(params.requests.size(), first + kChunk));
            for (ValueResult& v :
                 optimizeValues(model, chunk, Site::BlockOut, zLayer, templates, hp, [&](size_t) { meter.step(); }))
                values.push_back(std::move(v));
        }
    } else {
        for (const EditRequest& r : params.requests)
            values.push_back(optimizeValue(model, r, Site::BlockOut, zLayer, templates, hp, [&] { meter.step(); }));
    }
    editProfile().valueSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - zStart).count();
    std::vector<at::Tensor> zs;
    for (size_t q = 0; q < params.requests.size(); ++q) {
        const EditRequest& r = params.requests[q];
        const ValueResult& v = values[q];
        editProfile().valueForwardFlops += v.forwardFlops;
        meter.step(double(hp.vNumGradSteps) - double(v.losses.size()));
        EditRequestReport report;
        report.request = r;
        report.losses = v.losses;
        report.nllInit = v.nllInit;
        report.nllFinal = v.nllFinal;
        report.valueInit = toVector(v.init);
        report.value = toVector(v.target);
        result.requests.push_back(std::move(report));
        zs.push_back(v.target);
    }
    const at::Tensor z = at::stack(zs, 1);  // [n_embd, n]

    std::vector<Filled> plain, filled;
    for (const EditRequest& r : params.requests) {
        plain.push_back(fillTemplate(tok, r.prompt, r.subject));
        for (const auto& t : templates) filled.push_back(fillTemplate(tok, formatTemplate(t, r.prompt), r.subject));
    }
    TemporaryEdits temporary(model);
    for (size_t i = 0; i < layers.size(); ++i) {
        const int layer = layers[i];
        const Transformer& tf = model.transformer();
        // compute_ks: per request, the mean over template groups of each group's mean key.
        const at::Tensor all = readAtSubject(tf, filled, Site::MlpKey, layer);  // [n * templates, n_inner]
        std::vector<at::Tensor> keys;
        for (int64_t q = 0; q < n; ++q) {
            std::vector<at::Tensor> means;
            int64_t offset = q * int64_t(templates.size());
            for (const auto& g : groups) {
                means.push_back(all.narrow(0, offset, int64_t(g.size())).mean(0));
                offset += int64_t(g.size());
            }
            keys.push_back(at::stack(means, 0).mean(0));
        }
        const at::Tensor k = at::stack(keys, 1);  // [n_inner, n]
        const at::Tensor current = readAtSubject(tf, plain, Site::BlockOut, zLayer).t();  // [n_embd, n]
        const at::Tensor targets = z - current;
        const at::Tensor resid = targets / double(layers.size() - i);  // spread the residual over the layers left
        LayerWrite write;
        write.layer = layer;
        const at::Tensor left =  // [n_inner, n]: the change is left resid^T (Conv1D orientation)
            solve({layer, hp.mom2Adjustment ? mom2.at(layer) : at::Tensor(), k,
                   i < result.stats.size() ? &result.stats[i] : nullptr, &write.projectorRank});
        WeightDelta step;
        step.parts.push_back(downProjectionDelta(tf, layer, left, resid));
        requireFiniteDelta(step, method, hint);
        temporary.apply(step);
        result.delta.parts.push_back(step.parts.front());
        write.keys = toMatrix(k);
        write.residuals = toMatrix(resid);
        result.writes.push_back(std::move(write));
        meter.step();
    }
    return result;
}

EditResult computeMemit(Model& model, const EditParams& params, const ProgressFn& progress) {
    const double lambda = params.hparams.mom2UpdateWeight;
    return spreadOverLayers(model, params, progress, "MEMIT", "kl_factor or mom2_update_weight",
                            [lambda](const LayerSolve& in) {
                                // (lambda C + K K^T)^-1 K, C the identity without statistics.
                                const at::Tensor c = in.mom2.defined() ? in.mom2 : identityLike(in.keys);
                                return solveOrFail(lambda * c + at::mm(in.keys, in.keys.t()), in.keys, in.layer, in.info);
                            });
}

at::Tensor identityLike(const at::Tensor& keys) {
    return at::eye(keys.size(0), at::TensorOptions().dtype(at::kDouble));
}

}  // namespace kme::edit
