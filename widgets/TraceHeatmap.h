#pragma once
// One causal-tracing heatmap, as in ROME's figures (Meng et al. 2022): the
// prompt's tokens as rows (top to bottom in prompt order, subject tokens
// marked with "*" and drawn bold), layers as columns, each cell coloured by
// p(answer) with that state restored. White -> purple for hidden states,
// white -> green for MLP outputs, white -> red for attention outputs; the
// colour bar runs from the corrupted run's p(answer) to the larger of the
// clean p(answer) and the largest cell. Cells not computed yet (NaN) stay
// blank, so the map fills in while a trace runs.
//
// Hover: token, layer, exact p and the indirect effect (p - p corrupted).
// Click: marks the column and emits layerClicked(layer).
//
// Plain data in (TraceHeatmapData), nothing else: the widget never calls the engine.
#include "widgets/PlotWidget.h"
#include <utility>

#include "widgets/TraceHeatmapData.h"

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QCPItemRect;
class QCPItemText;
class QCPTextElement;
class QCPColorGradient;
class QMouseEvent;

namespace kme::widgets {

class TraceHeatmap final : public PlotWidget {
    Q_OBJECT

public:
    explicit TraceHeatmap(QWidget* parent = nullptr);
    ~TraceHeatmap() override;

    // Shows `data`. Called again with the same tokens (a trace filling in),
    // only the cells, the colour range and the title change.
    void setData(const TraceHeatmapData& data);
    void clear();
    const TraceHeatmapData& data() const { return data_; }

    // The marked column (the chosen edit layer); -1 = none.
    void setMarkedLayer(int layer);
    int markedLayer() const { return markedLayer_; }

    // What is drawn, for tests, the panel's export and accessibility.
    double cellValue(int token, int layer) const;      // the colour map's value; NaN = blank
    QStringList rowLabels() const;                     // top to bottom, subject tokens end with "*"
    QString title() const;                             // "Restoring MLP output (window 2)"
    std::pair<double, double> colorRange() const;      // p(answer) at the bar's ends
    QString toolTipForCell(int token, int layer) const;
    // Pixel centre of a cell in plot() coordinates (after a replot); {-1,-1} when out of range.
    QPoint cellCenter(int token, int layer) const;
    // The cell under a plot() pixel; false outside the map.
    bool cellAt(const QPoint& pos, int* token, int* layer) const;
    QCPColorMap* colorMap() const { return map_; }

    // "hidden" -> "Restoring hidden state (one layer)"; mlp/attn name the window.
    static QString kindTitle(const QString& kind, int window);
    // ROME's colours: Purples (hidden), Greens (mlp), Reds (attn), starting at white.
    static QCPColorGradient gradientForKind(const QString& kind);
    // The kind's strong colour (the gradient's dark end), for accents.
    static QColor kindColor(const QString& kind);

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

Q_SIGNALS:
    void layerClicked(int layer);


private:
    void rebuildStructure();
    void updateCells();
    void updateMarker();
    void applyPalette() override;
    void onMouseMove(QMouseEvent* event);
    void onMousePress(QMouseEvent* event);

    QCPColorMap* map_ = nullptr;
    QCPColorScale* scale_ = nullptr;
    QCPTextElement* title_ = nullptr;
    QCPItemRect* marker_ = nullptr;
    QCPItemText* placeholder_ = nullptr;
    QVector<QCPItemText*> labels_;  // one per token row, left of the map
    TraceHeatmapData data_;
    int markedLayer_ = -1;
};

}  // namespace kme::widgets
