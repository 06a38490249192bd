#include "app/render/TraceDatasetConvert.h"

#include <limits>

namespace kme::render {

kme::widgets::TraceDatasetPlotData traceDatasetPlotData(const kme::TraceDatasetResult& r, const QString& source) {
    kme::widgets::TraceDatasetPlotData d;
    for (const std::string& b : r.buckets) d.buckets << QString::fromStdString(b);
    d.nLayer = r.nLayer;
    d.window = r.window;
    d.samples = r.samples;
    d.considered = r.considered;
    d.traced = r.traced;
    d.limit = r.limit;
    d.meanHigh = r.meanHigh;
    d.meanLow = r.meanLow;
    d.source = source;
    d.complete = r.complete;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    // A fixed order, as in ROME's figures, whatever order the kinds were asked in.
    for (kme::TraceKind kind : {kme::TraceKind::Hidden, kme::TraceKind::Mlp, kme::TraceKind::Attn}) {
        const auto m = r.mean.find(kind);
        const auto c = r.ci95.find(kind);
        const auto n = r.count.find(kind);
        if (m == r.mean.end() || c == r.ci95.end() || n == r.count.end()) continue;
        kme::widgets::TraceDatasetCurves curves;
        curves.kind = QString::fromLatin1(kme::traceKindName(kind));
        for (size_t b = 0; b < m->second.size(); ++b) {
            QVector<double> mean, ci;
            QVector<int> count;
            for (size_t l = 0; l < m->second[b].size(); ++l) {
                const int k = b < n->second.size() && l < n->second[b].size() ? n->second[b][l] : 0;
                const double ciValue = b < c->second.size() && l < c->second[b].size() ? c->second[b][l] : nan;
                mean << (k > 0 ? m->second[b][l] : nan);
                ci << (k > 0 ? ciValue : nan);
                count << k;
            }
            curves.mean << mean;
            curves.ci95 << ci;
            curves.count << count;
        }
        d.kinds << curves;
    }
    return d;
}

}  // namespace kme::render
