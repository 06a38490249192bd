// ROME (kmeng01/rome rome/rome_main.py, compute_u.py, compute_v.py) and
// MEMIT (kmeng01/memit memit/memit_main.py, compute_ks.py, compute_z.py).
#include <cmath>
#include <map>

#include "engine/core/Error.h"
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
            fail(ErrorKind::Input, why + ", loaded from the statistics cache " + info->cacheFile +
                                       ": delete it to recompute, or use a larger --stats-corpus, or --no-mom2");
        fail(ErrorKind::Input, why + ": use a larger --stats-corpus, or --no-mom2");
    }
}

}  // namespace

EditResult computeRome(Model& model, const EditParams& params, const ProgressFn& progress) {
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
            // compute_u: k* = mean over the templates of the key at the subject's
            // last token; left = C^-1 k* / |C^-1 k*|.
            std::vector<Filled> filled;
            for (const auto& t : templates) filled.push_back(fillTemplate(tok, formatTemplate(t, r.prompt), r.subject));
            const at::Tensor keyAverage = readAtSubject(tf, filled, Site::MlpKey, layer).mean(0);
            at::Tensor left = keyAverage;
            if (hp.mom2Adjustment)
                left = solveOrFail(mom2.at(layer), keyAverage, layer, li < result.stats.size() ? &result.stats[li] : nullptr);
            left = left / left.norm();

            // compute_v: v* by Adam on the MLP output at the subject's last token.
            const ValueResult v = optimizeValue(model, r, Site::MlpOut, layer, templates, hp, [&] { meter.step(); });
            // The key and the MLP output (bias included) at the plain prompt's subject.
            const std::vector<Filled> plain = {fillTemplate(tok, r.prompt, r.subject)};
            const at::Tensor key = readAtSubject(tf, plain, Site::MlpKey, layer)[0];
            const at::Tensor output = readAtSubject(tf, plain, Site::MlpOut, layer)[0];
            const double division = at::dot(key, left).item<double>();
            if (!(std::abs(division) > 0))
                fail(ErrorKind::Input, "ROME: the subject's key is orthogonal to C^-1 k* at layer " + std::to_string(layer));
            const at::Tensor right = (v.target - output) / division;

            WeightDelta step;
            step.parts.push_back(downProjectionDelta(tf, layer, left, right));
            requireFiniteDelta(step, "ROME", "kl_factor");
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

EditResult computeMemit(Model& model, const EditParams& params, const ProgressFn& progress) {
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

    // compute_z: the residual stream after the last layer at each subject.
    std::vector<at::Tensor> zs;
    for (const EditRequest& r : params.requests) {
        const ValueResult v = optimizeValue(model, r, Site::BlockOut, zLayer, templates, hp, [&] { meter.step(); });
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
        const at::Tensor c = hp.mom2Adjustment ? mom2.at(layer)
                                               : at::eye(k.size(0), at::TensorOptions().dtype(at::kDouble));
        const at::Tensor adjK = solveOrFail(hp.mom2UpdateWeight * c + at::mm(k, k.t()), k, layer,
                                            i < result.stats.size() ? &result.stats[i] : nullptr);  // [n_inner, n]
        const at::Tensor resid = targets / double(layers.size() - i);  // spread the residual over the layers left
        WeightDelta step;
        step.parts.push_back(downProjectionDelta(tf, layer, adjK, resid));
        requireFiniteDelta(step, "MEMIT", "kl_factor or mom2_update_weight");
        temporary.apply(step);
        result.delta.parts.push_back(step.parts.front());
        meter.step();
    }
    return result;
}

}  // namespace kme::edit
