#pragma once
// Causal tracing averaged over a fact set, as in ROME's Figure 2 (Meng et al.
// 2022): one plot per restored kind (hidden state purple, MLP output green,
// attention output red), side by side; in each, a line per token bucket
// (first / middle / last subject token, first subsequent token, further
// tokens, last token) of the average indirect effect over layers, with its
// 95% interval as a shaded band. The two buckets ROME's story is about (last
// subject token, last token) are drawn strong; the others lighter and dashed.
//
// Hover: every bucket's exact mean, interval and fact count at that layer.
// Click: marks the layer in every plot and emits layerClicked(layer).
// Export: PNG, PDF or SVG at any size, also offscreen (`kme trace-dataset --png`).
//
// Plain data in (TraceDatasetPlotData), nothing else: the widget never calls the engine.
#include <QColor>
#include <QImage>
#include <QVector>
#include "widgets/PlotWidget.h"

#include "widgets/PlotExport.h"
#include "widgets/TraceDatasetPlotData.h"

class QCustomPlot;
class QCPAxisRect;
class QCPGraph;
class QCPItemRect;
class QCPLegend;
class QCPTextElement;
class QLabel;
class QMouseEvent;

namespace kme::widgets {

class TraceDatasetPlot final : public PlotWidget {
    Q_OBJECT

public:
    explicit TraceDatasetPlot(QWidget* parent = nullptr);
    ~TraceDatasetPlot() override;

    // Shows `data`. Called again with the same kinds, buckets and layers (the
    // averages growing while a run goes on), only values and titles change.
    void setData(const TraceDatasetPlotData& data);
    void clear();
    const TraceDatasetPlotData& data() const { return data_; }
    bool isEmpty() const { return data_.isEmpty(); }
    // What the empty widget says.
    void setPlaceholderText(const QString& text);
    QString placeholderText() const;

    // Marks a layer in every plot (-1: none): the chosen edit layer.
    void setMarkedLayer(int layer);
    int markedLayer() const { return markedLayer_; }

    // What is drawn, for tests, exports and accessibility. kindIndex counts
    // the plots left to right (the order of data().kinds).
    int kindCount() const { return static_cast<int>(panels_.size()); }
    QCPAxisRect* axisRect(int kindIndex) const;
    // The mean line of a bucket, and the two edges of its band (the upper
    // edge fills down to the lower one). nullptr when out of range.
    QCPGraph* meanGraph(int kindIndex, int bucket) const;
    QCPGraph* bandLowerGraph(int kindIndex, int bucket) const;
    QCPGraph* bandUpperGraph(int kindIndex, int bucket) const;
    QString title() const;                  // the headline above the plots
    QString subtitle() const;               // facts, p(clean), p(corrupted), the MLP peak
    QString plotTitle(int kindIndex) const; // "Restoring MLP output (window 2)"
    QStringList legendTexts(int kindIndex) const;
    // The hover text at (kind, layer): every bucket's mean, 95% interval and
    // count; `nearestBucket` is marked with "▸". Empty when out of range.
    QString toolTipAt(int kindIndex, int layer, int nearestBucket = -1) const;
    // Pixel centre of a point in plot() coordinates (after a replot); {-1, -1} when out of range.
    QPoint pointCenter(int kindIndex, int bucket, int layer) const;
    // The plot and layer under a plot() pixel; false outside every plot.
    bool layerAt(const QPoint& pos, int* kindIndex, int* layer) const;

    // The drawing as an image of `size` logical pixels (scale > 1: sharper).
    QImage toImage(const QSize& size, double scale = 1.0);
    // Writes PNG, PDF or SVG, chosen by the suffix, atomically. size empty:
    // the widget's size when shown, else kDefaultExportWidth x kDefaultExportHeight.
    bool exportTo(const QString& path, QString* error = nullptr, const QSize& size = {});
    static constexpr int kDefaultExportWidth = 1500;
    static constexpr int kDefaultExportHeight = 640;

    // Line colour of a bucket in a kind's plot: the kind's hue, darkest (on
    // light backgrounds) or lightest (on dark ones) for the last subject token.
    static QColor bucketColor(const QString& kind, int bucket, bool dark);
    static Qt::PenStyle bucketPenStyle(int bucket);
    static double bucketPenWidth(int bucket);
    // The buckets ROME's figure is about: last subject token, last token.
    static bool isKeyBucket(int bucket);

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

Q_SIGNALS:
    void layerClicked(int layer);


private:
    struct Panel {
        QString kind;
        QCPTextElement* title = nullptr;
        QCPAxisRect* rect = nullptr;
        QCPLegend* legend = nullptr;
        QCPItemRect* marker = nullptr;
        QVector<QCPGraph*> mean, lower, upper;  // [bucket]
    };

    bool sameShape(const TraceDatasetPlotData& data) const;
    void rebuildStructure();
    void updateValues();
    void updateTitles();  // headline and subtitle (facts, scores, peak, marked layer)
    void updateMarker();
    void applyPalette() override;
    PlotPaintFn paintFn();  // paints the plots (background included) for images and exports
    void onMouseMove(QMouseEvent* event);
    void onMousePress(QMouseEvent* event);

    QLabel* placeholder_ = nullptr;
    QCPTextElement* title_ = nullptr;
    QCPTextElement* subtitle_ = nullptr;
    QVector<Panel> panels_;
    TraceDatasetPlotData data_;
    int markedLayer_ = -1;
};

}  // namespace kme::widgets
