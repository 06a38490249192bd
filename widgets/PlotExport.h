#pragma once
// Exporting a drawn plot: a raster image, or a PNG / PDF / SVG file chosen by
// the file name's suffix, written atomically. Shared by the heatmap panel
// and the dataset-average plot, which differ only in what they paint.
#include <QColor>
#include <QImage>
#include <QRect>
#include <QSize>
#include <QString>
#include <functional>

class QCPPainter;

namespace kme::widgets {

// Paints the whole picture (background included) into `rect`, logical pixels.
using PlotPaintFn = std::function<void(QCPPainter& painter, const QRect& rect)>;

// An image of `size` logical pixels at `scale` device pixels each (at least
// 0.1), filled with `background`, then painted (antialiased) unless `paint`
// is empty.
QImage renderPlotImage(const QSize& size, double scale, const QColor& background, const PlotPaintFn& paint);

// Writes `path` (.png at twice the pixels, .pdf or .svg at 96 dpi so fonts
// look as on screen) through a temporary file renamed on success, so a failure
// leaves nothing behind. `title` goes into PDF / SVG metadata; `what` names
// the picture in "PATH: cannot draw WHAT". Returns false and sets *error.
bool exportPlotFile(const QString& path, const QSize& size, const QString& title, const QColor& background,
                    const PlotPaintFn& paint, const QString& what, QString* error);

}  // namespace kme::widgets
