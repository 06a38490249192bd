#include "app/render/TraceHeatmapConvert.h"

#include <algorithm>

namespace kme::render {

QVector<kme::widgets::TraceHeatmapData> traceHeatmapData(const kme::TraceResult& r) {
    QStringList tokens;
    for (const std::string& t : r.tokens) tokens << QString::fromStdString(t);
    QVector<kme::widgets::TraceHeatmapData> out;
    // A fixed order, as in ROME's figures, whatever order the kinds were asked in.
    for (kme::TraceKind kind : {kme::TraceKind::Hidden, kme::TraceKind::Mlp, kme::TraceKind::Attn}) {
        const auto it = r.scores.find(kind);
        if (it == r.scores.end()) continue;
        kme::widgets::TraceHeatmapData d;
        d.tokens = tokens;
        d.subjectBegin = r.subjectBegin;
        d.subjectEnd = r.subjectEnd;
        d.nLayer = r.nLayer;
        d.kind = QString::fromLatin1(kme::traceKindName(kind));
        d.lowScore = r.lowScore;
        d.highScore = r.highScore;
        d.answer = QString::fromStdString(r.answerToken);
        d.window = kind == kme::TraceKind::Hidden ? 1 : r.window;
        d.scores.reserve(static_cast<int>(it->second.size()));
        for (const auto& row : it->second) {
            QVector<double> cells(static_cast<int>(row.size()));
            std::copy(row.begin(), row.end(), cells.begin());
            d.scores << cells;
        }
        out << d;
    }
    return out;
}

}  // namespace kme::render
