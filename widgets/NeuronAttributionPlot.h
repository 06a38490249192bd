#pragma once
// Knowledge-neuron attribution (Dai et al. 2022) of one prompt: on the left a
// heat strip, one row per layer, whose cells are that layer's neurons with the
// largest integrated-gradient scores, strongest first (red positive, blue
// negative, white zero; selected knowledge neurons outlined); on the right one
// bar per layer, the sum of its scores, with p(answer | a) - p(answer | 0) as
// a mark (integrated gradients' completeness: bar and mark agree as the steps
// grow).
//
// Hover: the neuron, its score and whether it was selected; a layer's sum,
// expected sum and gap. Export: PNG, PDF or SVG, also offscreen.
//
// Plain data in (NeuronPlotData), nothing else: the widget never calls the engine.
#include <QImage>
#include <QSet>
#include <QString>
#include <QVector>
#include <utility>

#include "widgets/PlotWidget.h"

class QCPAxisRect;
class QCPBars;
class QCPColorMap;
class QCPGraph;
class QCPTextElement;
class QLabel;
class QMouseEvent;

namespace kme::widgets {

struct NeuronPlotData {
    QString title;                     // headline
    QString subtitle;                  // the numbers under it
    int nLayer = 0;
    int topK = 0;                      // cells per layer row
    QVector<QVector<int>> indices;     // [nLayer][topK] neuron index, strongest first (-1: none)
    QVector<QVector<double>> scores;   // [nLayer][topK] their scores (probability units)
    QVector<double> layerSums;         // [nLayer] sum of the layer's scores
    QVector<double> expectedSums;      // [nLayer] p(answer | a) - p(answer | 0)
    QSet<std::pair<int, int>> selected;  // (layer, index) of the selected knowledge neurons
    bool isEmpty() const { return nLayer == 0 || topK == 0; }
};

class NeuronAttributionPlot final : public PlotWidget {
    Q_OBJECT

public:
    explicit NeuronAttributionPlot(QWidget* parent = nullptr);

    void setData(const NeuronPlotData& data);
    void clear() { setData({}); }
    const NeuronPlotData& data() const { return data_; }
    bool isEmpty() const { return data_.isEmpty(); }
    void setPlaceholderText(const QString& text);
    QString placeholderText() const;

    QCPColorMap* heatMap() const { return map_; }
    QCPBars* sumBars() const { return bars_; }
    QCPGraph* expectedGraph() const { return expected_; }
    QString title() const;
    // Hover texts: cell (layer, rank) of the strip, a layer's bar; empty when out of range.
    QString cellToolTip(int layer, int rank) const;
    QString layerToolTip(int layer) const;
    // Selected neurons drawn in the strip (outlined cells).
    int outlinedCells() const { return outlined_; }

    QImage toImage(const QSize& size, double scale = 1.0);
    // PNG, PDF or SVG by suffix, atomically; size empty: the widget's size when shown, else 1200 x 560.
    bool exportTo(const QString& path, QString* error = nullptr, const QSize& size = {});

    QSize sizeHint() const override { return {1100, 480}; }
    QSize minimumSizeHint() const override { return {480, 260}; }

protected:
    void applyPalette() override;

private:
    void rebuild();
    void onMouseMove(QMouseEvent* event);

    NeuronPlotData data_;
    QLabel* placeholder_ = nullptr;
    QCPTextElement* title_ = nullptr;
    QCPTextElement* subtitle_ = nullptr;
    QCPAxisRect* stripRect_ = nullptr;
    QCPAxisRect* sumRect_ = nullptr;
    QCPColorMap* map_ = nullptr;
    QCPBars* bars_ = nullptr;
    QCPGraph* expected_ = nullptr;
    int outlined_ = 0;
};

}  // namespace kme::widgets
