#pragma once
// What the dataset-average plot shows (ROME's Figure 2), as plain Qt data.
// The app converts the engine's TraceDatasetResult into this
// (app/render/TraceDatasetConvert.h); the widgets never see the engine.
#include <QString>
#include <QStringList>
#include <QVector>
#include <cmath>

namespace kme::widgets {

// One kind of restored state: a curve per token bucket.
struct TraceDatasetCurves {
    QString kind;                   // "hidden" | "mlp" | "attn": colour, title
    QVector<QVector<double>> mean;  // [bucket][layer] average indirect effect (p restored - p corrupted,
                                    // clipped at 0 per fact), 0..1; NaN = no fact had a token in the bucket
    QVector<QVector<double>> ci95;  // [bucket][layer] half-width of the 95% interval, same unit
    QVector<QVector<int>> count;    // [bucket][layer] facts averaged

    double meanAt(int bucket, int layer) const {
        return bucket >= 0 && bucket < mean.size() && layer >= 0 && layer < mean[bucket].size()
                   ? mean[bucket][layer]
                   : std::nan("");
    }
    double ciAt(int bucket, int layer) const {
        return bucket >= 0 && bucket < ci95.size() && layer >= 0 && layer < ci95[bucket].size() ? ci95[bucket][layer]
                                                                                                : std::nan("");
    }
    int countAt(int bucket, int layer) const {
        return bucket >= 0 && bucket < count.size() && layer >= 0 && layer < count[bucket].size() ? count[bucket][layer]
                                                                                                  : 0;
    }
    // The layer where the bucket's mean is largest; -1 when it has no values.
    int peakLayer(int bucket) const {
        int best = -1;
        if (bucket < 0 || bucket >= mean.size()) return best;
        for (int l = 0; l < mean[bucket].size(); ++l)
            if (!std::isnan(mean[bucket][l]) && (best < 0 || mean[bucket][l] > mean[bucket][best])) best = l;
        return best;
    }
};

struct TraceDatasetPlotData {
    QStringList buckets;               // bucket names, in order ("first subject token", ...)
    int nLayer = 0;                    // x axis: layers 0 .. nLayer-1
    int window = 0;                    // restored layers per mlp/attn point (0 = unknown)
    int samples = 0;                   // corrupted copies per trace
    QVector<TraceDatasetCurves> kinds; // one plot each, left to right (hidden, mlp, attn as present)
    int considered = 0;                // facts looked at
    int traced = 0;                    // facts averaged (clean top-1 = the true answer)
    int limit = 0;                     // facts to look at in all (> considered while running)
    double meanHigh = 0;               // mean p(answer) of the clean runs, 0..1
    double meanLow = 0;                // mean p(answer) of the corrupted runs, 0..1
    QString source;                    // the fact set, for the title ("facts.json"); may be empty
    bool complete = true;              // false while the averages are still growing

    bool isEmpty() const { return kinds.isEmpty() || nLayer <= 0 || buckets.isEmpty(); }
    int bucketIndex(const QString& name) const { return buckets.indexOf(name); }
    const TraceDatasetCurves* curves(const QString& kind) const {
        for (const auto& k : kinds)
            if (k.kind == kind) return &k;
        return nullptr;
    }
    // ROME's edit layer: where the MLP effect at the last subject token
    // peaks; -1 without MLP values.
    int suggestedEditLayer() const {
        const TraceDatasetCurves* mlp = curves(QStringLiteral("mlp"));
        return mlp ? mlp->peakLayer(bucketIndex(QStringLiteral("last subject token"))) : -1;
    }
};

}  // namespace kme::widgets
