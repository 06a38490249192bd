#include "engine/eval/EvalCurves.h"

#include <algorithm>
#include <chrono>

#include "engine/core/Error.h"
#include "engine/edit/methods/MethodTable.h"

namespace kme {

std::vector<int> retentionCheckpoints(int n) {
    std::vector<int> out;
    if (n < 1) return out;
    for (long scale = 1; scale <= n; scale *= 10)
        for (long step : {1L, 2L, 5L})
            if (scale * step <= n) out.push_back(static_cast<int>(scale * step));
    if (out.empty() || out.back() != n) out.push_back(n);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::vector<int> scaleBatchSizes(int n, const std::vector<int>& asked) {
    std::vector<int> out;
    if (n < 1) return out;
    bool larger = false;
    for (int b : asked) {
        if (b < 1) continue;
        if (b <= n) out.push_back(b);
        else larger = true;
    }
    if (larger) out.push_back(n);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

EvalResult retentionRun(Model& model, const Dataset& dataset, const std::vector<size_t>& indices, EvalParams params,
                        const std::vector<int>& checkpoints, const ProgressFn& progress) {
    params.mode = EvalMode::Sequential;
    params.checkpoints = checkpoints;
    return evaluateEdits(model, dataset, indices, params, progress);
}

ScalePoint scalePointOf(const EvalResult& run) {
    ScalePoint p;
    p.batchSize = run.batchSize;
    p.batches = static_cast<int>(run.batches.size());
    auto stat = [&](const char* name) {
        const MetricStat* s = run.edited.find(name);
        return s ? *s : MetricStat{};
    };
    p.efficacy = stat("efficacy_score");
    p.paraphrase = stat("paraphrase_score");
    p.neighborhood = stat("neighborhood_score");
    p.seconds = run.seconds;
    p.editSeconds = run.editSeconds;
    return p;
}

namespace {

void checkBatchSizes(const std::vector<int>& sizes, size_t records) {
    for (int b : sizes)
        if (b < 1 || static_cast<size_t>(b) > records)
            fail(ErrorKind::Input, "batch size " + std::to_string(b) + " is outside 1.." + std::to_string(records) +
                                       " (the records evaluated)");
}

void checkBatched(EditMethod method) {
    if (!methodInfo(method).batched)
        fail(ErrorKind::Input, std::string(methodInfo(method).displayName) +
                                   " is not a batch method: its requests are applied one after another, so a "
                                   "scalability curve would measure sequential editing");
}

// A sub-job's progress as a share [from, from + width) of the whole.
ProgressFn share(const ProgressFn& fn, double from, double width, double whole) {
    return [fn, from, width, whole](double done, double total) {
        const double f = total > 0 ? std::clamp(done / total, 0.0, 1.0) : 0.0;
        return reportProgress(fn, from + f * width, whole);
    };
}

}  // namespace

ScaleCurve scaleCurve(Model& model, const Dataset& dataset, const std::vector<size_t>& indices,
                      const EvalParams& params, const std::vector<int>& batchSizes, const ProgressFn& progress) {
    checkBatched(params.edit.method);
    if (batchSizes.empty()) fail(ErrorKind::Input, "no batch sizes for the scalability curve");
    checkBatchSizes(batchSizes, indices.size());
    std::vector<int> sizes = batchSizes;
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    ScaleCurve curve;
    for (size_t i = 0; i < sizes.size(); ++i) {
        EvalParams p = params;
        p.mode = EvalMode::Fresh;
        p.batchSize = sizes[i];
        p.baseline = false;
        p.generation.enabled = false;
        p.checkpoints.clear();
        const EvalResult r = evaluateEdits(model, dataset, indices, p,
                                           share(progress, double(i), 1.0, double(sizes.size())));
        if (r.cancelled) {
            curve.cancelled = true;
            break;
        }
        curve.points.push_back(scalePointOf(r));
    }
    return curve;
}

std::vector<MethodRun> evaluateMethods(Model& model, const Dataset& dataset, const std::vector<size_t>& indices,
                                       const std::vector<EvalParams>& methods, const CurveOptions& curves,
                                       const MethodProgressFn& progress) {
    if (methods.empty()) fail(ErrorKind::Input, "no methods to evaluate");
    if (indices.empty()) fail(ErrorKind::Input, "no records to evaluate");
    for (size_t i = 0; i < methods.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (methods[i].edit.method == methods[j].edit.method)
                fail(ErrorKind::Input, std::string("method ") + editMethodName(methods[i].edit.method) +
                                           " is listed twice");
    const int n = static_cast<int>(indices.size());
    const std::vector<int> checkpoints = curves.checkpoints.empty() ? retentionCheckpoints(n) : curves.checkpoints;
    const std::vector<int> sizes = curves.batchSizes.empty() ? scaleBatchSizes(n) : curves.batchSizes;
    if (curves.scale) checkBatchSizes(sizes, indices.size());

    std::vector<MethodRun> out;
    for (size_t m = 0; m < methods.size(); ++m) {
        const auto t0 = std::chrono::steady_clock::now();
        MethodRun run;
        run.method = methods[m].edit.method;
        const bool batched = methodInfo(run.method).batched;
        // The phases of this method's work, each one share of its bar.
        std::vector<int> scaleSizes;  // the sizes computed (b = 1 comes from the fresh run when it is one)
        EvalParams fresh = methods[m];
        fresh.mode = EvalMode::Fresh;
        fresh.checkpoints.clear();
        const bool reuseOne = fresh.batchSize == 1;
        if (curves.scale && batched)
            for (int b : sizes)
                if (!(b == 1 && reuseOne)) scaleSizes.push_back(b);
        const double phases = 1 + (curves.retain ? 1 : 0) + double(scaleSizes.size());
        ProgressFn methodProgress;
        if (progress) methodProgress = [&progress, m](double done, double total) { return progress(m, done, total); };
        double phase = 0;

        run.result = evaluateEdits(model, dataset, indices, fresh, share(methodProgress, phase++, 1, phases));
        run.cancelled = run.result.cancelled;
        if (!run.cancelled && curves.retain) {
            EvalParams seq = methods[m];
            seq.baseline = false;
            seq.generation.enabled = false;
            run.retention = retentionRun(model, dataset, indices, seq, checkpoints,
                                         share(methodProgress, phase++, 1, phases));
            run.cancelled = run.retention->cancelled;
        }
        if (!run.cancelled && curves.scale) {
            if (!batched) {
                run.scaleSkipped = std::string(methodInfo(run.method).displayName) +
                                   " is not a batch method (its requests are applied one after another)";
            } else {
                ScaleCurve curve;
                if (!scaleSizes.empty())
                    curve = scaleCurve(model, dataset, indices, methods[m], scaleSizes,
                                       share(methodProgress, phase, double(scaleSizes.size()), phases));
                if (reuseOne && std::find(sizes.begin(), sizes.end(), 1) != sizes.end())
                    curve.points.insert(curve.points.begin(), scalePointOf(run.result));  // the fresh run is b = 1
                run.cancelled = curve.cancelled;
                run.scale = curve;
            }
        }
        reportProgress(methodProgress, 1, 1);
        run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        out.push_back(std::move(run));
        if (out.back().cancelled) break;
    }
    return out;
}

SixProperties sixPropertiesOf(const MethodRun& run) {
    SixProperties p;
    auto mean = [](const MetricSummary& s, const char* name) -> std::optional<double> {
        const MetricStat* st = s.find(name);
        if (!st || st->count == 0) return std::nullopt;
        return st->mean;
    };
    p.accuracy = mean(run.result.edited, "efficacy_score");
    p.generality = mean(run.result.edited, "paraphrase_score");
    p.locality = mean(run.result.edited, "neighborhood_score");
    p.otherAttributes = mean(run.result.edited, "other_attributes_score");
    p.portability = mean(run.result.edited, "portability");
    p.portabilityUnedited = mean(run.result.edited, "portability_unedited");
    if (run.retention && !run.retention->retention.empty()) {
        const RetentionPoint& last = run.retention->retention.back();
        if (last.efficacy.count > 0) p.retainability = last.efficacy.mean;
        if (last.neighborhood.count > 0) p.retainedLocality = last.neighborhood.mean;
    }
    if (run.scale && !run.scale->points.empty()) {
        const ScalePoint& last = run.scale->points.back();
        if (last.efficacy.count > 0) p.scalability = last.efficacy.mean;
        p.scaleBatch = last.batchSize;
    }
    return p;
}

}  // namespace kme
