#pragma once
// What one causal-tracing heatmap shows, as plain Qt data. The app converts
// the engine's TraceResult into this (app/render/TraceHeatmapConvert.h); the
// widgets never see the engine.
#include <QString>
#include <QStringList>
#include <QVector>
#include <cmath>

namespace kme::widgets {

struct TraceHeatmapData {
    QStringList tokens;                 // decoded prompt tokens, in prompt order (rows, top to bottom)
    int subjectBegin = 0;               // subject token range [begin, end): these rows are marked
    int subjectEnd = 0;
    int nLayer = 0;                     // columns
    QString kind;                       // "hidden" | "mlp" | "attn": gradient, title
    QVector<QVector<double>> scores;    // [n_tokens][n_layer] p(answer), 0..1; NaN = not computed yet
    double lowScore = 0;                // p(answer) of the corrupted run, 0..1 (the colour scale's start)
    double highScore = 0;               // p(answer) of the clean run, 0..1
    QString answer;                     // decoded answer token, e.g. " Paris"
    int window = 0;                     // restored layers per mlp/attn cell (0 = unknown)

    bool isEmpty() const { return tokens.isEmpty() || nLayer <= 0; }
    bool inSubject(int token) const { return token >= subjectBegin && token < subjectEnd; }
    // Cells with a value (not NaN).
    int doneCells() const {
        int n = 0;
        for (const auto& row : scores)
            for (double v : row) n += std::isnan(v) ? 0 : 1;
        return n;
    }
    int totalCells() const { return static_cast<int>(tokens.size()) * nLayer; }
};

}  // namespace kme::widgets
