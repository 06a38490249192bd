#include "engine/trace/TraceDataset.h"

#include <chrono>
#include <cmath>

#include "engine/core/Error.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"

namespace kme {

const std::vector<std::string>& traceBuckets() {
    static const std::vector<std::string> names = {"first subject token", "middle subject tokens",
                                                   "last subject token",  "first subsequent token",
                                                   "further tokens",      "last token"};
    return names;
}

namespace {

// Bucket indices of token t. A one-token subject is both the first and the
// last subject token; the prompt's last token is always "last token" (and
// also "last subject token" when the subject ends the prompt).
std::vector<int> bucketsOf(int t, int s, int e, int T) {
    std::vector<int> b;
    if (t == s) b.push_back(0);
    if (t > s && t < e - 1) b.push_back(1);
    if (t == e - 1) b.push_back(2);
    if (t == e && t != T - 1) b.push_back(3);
    if (t > e && t < T - 1) b.push_back(4);
    if (t == T - 1) b.push_back(5);
    return b;
}

}  // namespace

TraceDatasetResult traceDataset(Model& model, const Dataset& dataset, const TraceDatasetParams& params,
                                const ProgressFn& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    TraceDatasetResult R;
    R.buckets = traceBuckets();
    R.nLayer = model.config().nLayer;
    const size_t B = R.buckets.size();
    const size_t n = params.limit > 0 ? std::min<size_t>(params.limit, dataset.records.size()) : dataset.records.size();
    // Per kind, bucket, layer: the per-record bucket means.
    std::map<TraceKind, std::vector<std::vector<std::vector<double>>>> samples;
    for (TraceKind k : params.trace.kinds)
        samples[k] = std::vector<std::vector<std::vector<double>>>(B, std::vector<std::vector<double>>(R.nLayer));
    for (size_t i = 0; i < n; ++i) {
        if (!reportProgress(progress, double(i), double(n))) throw Cancelled();
        const FactRecord& r = dataset.records[i];
        ++R.considered;
        const std::string prompt = r.filledPrompt();
        std::vector<int> ids;
        try {
            ids = model.encodePrompt(prompt);
        } catch (const Error&) {
            continue;  // too long for the context
        }
        const std::string target = r.targetTrue.empty() || r.targetTrue[0] == ' ' ? r.targetTrue : " " + r.targetTrue;
        const auto targetIds = model.tokenizer().encode(target);
        if (targetIds.empty() || model.topNext(ids, 1).front().id != targetIds.front()) continue;
        TraceParams p = params.trace;
        p.prompt = prompt;
        p.subject = r.subject;
        p.answer = target;
        p.noiseIn.clear();
        p.noiseOut.clear();
        const TraceResult tr = causalTrace(model, p);
        ++R.traced;
        R.meanHigh += tr.highScore;
        R.meanLow += tr.lowScore;
        const int T = static_cast<int>(tr.ids.size());
        for (const auto& [kind, rows] : tr.scores) {
            for (int l = 0; l < R.nLayer; ++l) {
                std::vector<double> sum(B, 0.0);
                std::vector<int> cnt(B, 0);
                for (int t = 0; t < T; ++t)
                    for (int b : bucketsOf(t, tr.subjectBegin, tr.subjectEnd, T)) {
                        sum[b] += std::max(0.0, rows[t][l] - tr.lowScore);
                        ++cnt[b];
                    }
                for (size_t b = 0; b < B; ++b)
                    if (cnt[b]) samples[kind][b][l].push_back(sum[b] / cnt[b]);
            }
        }
    }
    if (R.traced) {
        R.meanHigh /= R.traced;
        R.meanLow /= R.traced;
    }
    for (auto& [kind, buckets] : samples) {
        auto& mean = R.mean[kind];
        auto& ci = R.ci95[kind];
        auto& count = R.count[kind];
        mean.assign(B, std::vector<double>(R.nLayer, 0.0));
        ci.assign(B, std::vector<double>(R.nLayer, 0.0));
        count.assign(B, std::vector<int>(R.nLayer, 0));
        for (size_t b = 0; b < B; ++b)
            for (int l = 0; l < R.nLayer; ++l) {
                const auto& v = buckets[b][l];
                count[b][l] = static_cast<int>(v.size());
                if (v.empty()) continue;
                double m = 0;
                for (double x : v) m += x;
                m /= v.size();
                double var = 0;
                for (double x : v) var += (x - m) * (x - m);
                var = v.size() > 1 ? var / (v.size() - 1) : 0;
                mean[b][l] = m;
                ci[b][l] = 1.96 * std::sqrt(var / v.size());
            }
    }
    reportProgress(progress, double(n), double(n));
    R.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return R;
}

}  // namespace kme
