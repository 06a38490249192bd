#include "engine/trace/TraceDataset.h"

#include <algorithm>
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

int TraceDatasetResult::peakLayer(TraceKind kind, int bucket) const {
    const auto m = mean.find(kind);
    const auto c = count.find(kind);
    if (m == mean.end() || c == count.end() || bucket < 0 || bucket >= static_cast<int>(m->second.size())) return -1;
    int best = -1;
    for (int l = 0; l < static_cast<int>(m->second[bucket].size()); ++l)
        if (c->second[bucket][l] > 0 && (best < 0 || m->second[bucket][l] > m->second[bucket][best])) best = l;
    return best;
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

// Means, 95% half-widths (normal approximation, as ROME's plots) and counts.
void aggregateTraceDataset(TraceDatasetResult& R) {
    const size_t B = R.buckets.size();
    R.mean.clear();
    R.ci95.clear();
    R.count.clear();
    double sumHigh = 0, sumLow = 0;
    for (const auto& rec : R.perRecord) {
        sumHigh += rec.high;
        sumLow += rec.low;
    }
    R.meanHigh = R.perRecord.empty() ? 0 : sumHigh / R.perRecord.size();
    R.meanLow = R.perRecord.empty() ? 0 : sumLow / R.perRecord.size();
    for (TraceKind kind : R.kinds) {
        auto& mean = R.mean[kind];
        auto& ci = R.ci95[kind];
        auto& count = R.count[kind];
        mean.assign(B, std::vector<double>(R.nLayer, 0.0));
        ci.assign(B, std::vector<double>(R.nLayer, 0.0));
        count.assign(B, std::vector<int>(R.nLayer, 0));
        for (size_t b = 0; b < B; ++b)
            for (int l = 0; l < R.nLayer; ++l) {
                std::vector<double> v;
                for (const auto& rec : R.perRecord) {
                    const auto e = rec.effects.find(kind);
                    if (e == rec.effects.end() || b >= e->second.size() || l >= int(e->second[b].size())) continue;
                    const double x = e->second[b][l];
                    if (!std::isnan(x)) v.push_back(x);
                }
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
}

TraceDatasetResult mergeTraceDatasetShards(const std::vector<TraceDatasetResult>& shards,
                                           const std::vector<std::string>& names) {
    if (shards.empty()) fail(ErrorKind::Input, "no dataset-trace shards to merge");
    const TraceDatasetResult& first = shards[0];
    TraceDatasetResult R;
    R.buckets = first.buckets;
    R.kinds = first.kinds;
    R.nLayer = first.nLayer;
    R.window = first.window;
    R.samples = first.samples;
    R.complete = true;
    for (size_t k = 0; k < shards.size(); ++k) {
        const TraceDatasetResult& s = shards[k];
        const std::string name = k < names.size() ? names[k] : "shard " + std::to_string(k);
        if (s.buckets != R.buckets || s.kinds != R.kinds || s.nLayer != R.nLayer || s.window != R.window ||
            s.samples != R.samples)
            fail(ErrorKind::Input, name + ": its kinds, buckets, layers, window or samples differ from " +
                                       (names.empty() ? std::string("the first shard") : names[0]) + "'s");
        if (static_cast<int>(s.perRecord.size()) != s.traced)
            fail(ErrorKind::Input, name + ": holds " + std::to_string(s.perRecord.size()) + " per-record results for " +
                                       std::to_string(s.traced) + " traced records");
        if (s.traced > 0) {
            if (R.traced > 0 && (s.sigma != R.sigma || s.sigmaSource != R.sigmaSource))
                fail(ErrorKind::Input, name + ": traced with another noise scale (" + std::to_string(s.sigma) +
                                           ") than the shards before it (" + std::to_string(R.sigma) + ")");
            R.sigma = s.sigma;
            R.sigmaSource = s.sigmaSource;
        }
        R.limit += s.limit;
        R.considered += s.considered;
        R.traced += s.traced;
        R.skipped += s.skipped;
        R.seconds += s.seconds;
        R.complete = R.complete && s.complete;
        R.perRecord.insert(R.perRecord.end(), s.perRecord.begin(), s.perRecord.end());
    }
    std::stable_sort(R.perRecord.begin(), R.perRecord.end(),
                     [](const auto& a, const auto& b) { return a.datasetIndex < b.datasetIndex; });
    for (size_t i = 1; i < R.perRecord.size(); ++i)
        if (R.perRecord[i].datasetIndex == R.perRecord[i - 1].datasetIndex)
            fail(ErrorKind::Input, "record " + std::to_string(R.perRecord[i].datasetIndex) +
                                       " was traced by two shards: a shard is duplicated");
    aggregateTraceDataset(R);
    return R;
}

TraceDatasetResult traceDataset(Model& model, const Dataset& dataset, const TraceDatasetParams& params,
                                const ProgressFn& progress, const TraceDatasetRecordFn& onRecord) {
    const auto t0 = std::chrono::steady_clock::now();
    if (params.trace.kinds.empty()) fail(ErrorKind::Input, "no trace kind selected");
    if (params.trace.samples < 1) fail(ErrorKind::Input, "--samples must be at least 1");
    TraceDatasetResult R;
    R.buckets = traceBuckets();
    R.kinds = params.trace.kinds;
    R.nLayer = model.config().nLayer;
    R.window = params.trace.window > 0 ? params.trace.window : defaultTraceWindow(R.nLayer);
    R.samples = params.trace.samples;
    const size_t B = R.buckets.size();
    std::vector<size_t> order = params.records;
    if (order.empty()) {
        const size_t n = params.limit > 0 ? std::min<size_t>(params.limit, dataset.records.size()) : dataset.records.size();
        for (size_t i = 0; i < n; ++i) order.push_back(i);
    }
    for (size_t i : order)
        if (i >= dataset.records.size())
            fail(ErrorKind::Input, "record index " + std::to_string(i) + " is past the end of " + dataset.source);
    const size_t n = order.size();
    R.limit = static_cast<int>(n);
    auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };

    TraceParams p = params.trace;
    p.noiseIn.clear();
    p.noiseOut.clear();
    p.ids.clear();
    p.subjectBegin = p.subjectEnd = -1;
    for (size_t i = 0; i < n; ++i) {
        if (!reportProgress(progress, double(i), double(n))) throw Cancelled();
        const FactRecord& r = dataset.records[order[i]];
        ++R.considered;
        const std::string prompt = r.filledPrompt();
        std::vector<int> ids;
        try {
            ids = model.encodePrompt(prompt);
        } catch (const Error& e) {
            if (e.kind() != ErrorKind::Input) throw;
            ++R.skipped;  // too long for the context
            continue;
        }
        const std::string target = r.targetTrue.empty() || r.targetTrue[0] == ' ' ? r.targetTrue : " " + r.targetTrue;
        const auto targetIds = model.tokenizer().encodeContinuation(target);
        if (targetIds.empty() || model.topNext(ids, 1).front().id != targetIds.front()) continue;
        p.prompt = prompt;
        p.subject = r.subject;
        p.answer = target;
        // Inside a record: (i + the trace's fraction) of n, and the trace
        // itself sees a cancel within one layer's work.
        const ProgressFn inner = [&](double done, double total) {
            return reportProgress(progress, double(i) + (total > 0 ? done / total : 0.0), double(n));
        };
        TraceResult tr;
        try {
            tr = causalTrace(model, p, inner);
        } catch (const Cancelled&) {
            throw;
        } catch (const Error& e) {
            if (e.kind() != ErrorKind::Input) throw;
            ++R.skipped;  // e.g. the subject does not occur in the filled prompt
            continue;
        }
        if (R.traced == 0) {
            // The noise scale of a multiple ("3x") depends only on the model
            // and the fact set: resolve it once, as the same absolute sigma,
            // instead of reading the fact set again for every record.
            R.sigma = tr.sigma;
            R.sigmaSource = tr.sigmaSource;
            p.noise.value = tr.sigma;
            p.noise.multiple = false;
        }
        ++R.traced;
        TraceDatasetRecord rec;
        rec.datasetIndex = order[i];
        rec.high = tr.highScore;
        rec.low = tr.lowScore;
        const int T = static_cast<int>(tr.ids.size());
        for (const auto& [kind, rows] : tr.scores) {
            auto& effects = rec.effects[kind];
            effects.assign(B, std::vector<double>(R.nLayer, std::nan("")));
            for (int l = 0; l < R.nLayer; ++l) {
                std::vector<double> sum(B, 0.0);
                std::vector<int> cnt(B, 0);
                for (int t = 0; t < T; ++t)
                    for (int b : bucketsOf(t, tr.subjectBegin, tr.subjectEnd, T)) {
                        sum[b] += std::max(0.0, rows[t][l] - tr.lowScore);
                        ++cnt[b];
                    }
                for (size_t b = 0; b < B; ++b)
                    if (cnt[b]) effects[b][l] = sum[b] / cnt[b];
            }
        }
        R.perRecord.push_back(std::move(rec));
        if (onRecord) {
            aggregateTraceDataset(R);
            R.seconds = seconds();
            onRecord(R);
        }
    }
    aggregateTraceDataset(R);
    reportProgress(progress, double(n), double(n));
    R.seconds = seconds();
    R.complete = true;
    return R;
}

}  // namespace kme
