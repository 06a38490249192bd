#pragma once
// The Locate view's picture: a header line (answer, p clean, p corrupted) and
// one TraceHeatmap per traced kind, side by side (hidden, MLP, attention as
// present). Clicking a column in any map marks that layer in all of them.
//
// Export: the same drawing as PNG (raster), PDF or SVG (vector), at any size,
// without the widget being shown — the command line's `kme trace --png` uses
// this offscreen.
#include <QVector>
#include <QWidget>

#include "widgets/TraceHeatmapData.h"

class QLabel;
class QHBoxLayout;
class QCPPainter;

namespace kme::widgets {

class TraceHeatmap;

class TraceHeatmapPanel final : public QWidget {
    Q_OBJECT

public:
    explicit TraceHeatmapPanel(QWidget* parent = nullptr);
    ~TraceHeatmapPanel() override;

    // One entry per map, left to right; all share tokens, answer and scores'
    // shape. Calling it again with the same shape (a trace filling in) only
    // updates cells. An empty list clears the panel.
    void setData(const QVector<TraceHeatmapData>& maps);
    void clear();
    bool isEmpty() const { return count_ == 0; }

    int mapCount() const { return count_; }
    TraceHeatmap* map(int index) const;                 // nullptr when out of range
    TraceHeatmap* mapForKind(const QString& kind) const;  // nullptr when not shown
    QString headerText() const;
    // What the empty panel says.
    void setPlaceholderText(const QString& text);

    // Marks a column in every map (-1: none); the chosen edit layer.
    void setMarkedLayer(int layer);
    int markedLayer() const { return markedLayer_; }

    // Draws header and maps into `rect` of an active painter (vector output
    // where the device is a PDF or SVG).
    void paintExport(QCPPainter& painter, const QRect& rect);
    // The drawing as an image of `size` logical pixels (scale > 1: sharper).
    QImage toImage(const QSize& size, double scale = 1.0);
    // Writes PNG, PDF or SVG, chosen by the file's suffix, atomically (a
    // failed export leaves no file). size empty: the widget's size when it is
    // shown, else kDefaultExportSize. Returns false and sets *error on failure.
    bool exportTo(const QString& path, QString* error = nullptr, const QSize& size = {});
    static constexpr int kDefaultExportWidth = 1500;
    static constexpr int kDefaultExportHeight = 600;

Q_SIGNALS:
    void layerClicked(int layer);

private:
    int headerHeight(const QFont& font) const;

    QLabel* header_ = nullptr;
    QLabel* placeholder_ = nullptr;
    QHBoxLayout* row_ = nullptr;
    QVector<TraceHeatmap*> maps_;  // created on demand; the first count_ are in use
    int count_ = 0;
    int markedLayer_ = -1;
    QString headerText_;
};

}  // namespace kme::widgets
