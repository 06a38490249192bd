#include "widgets/PlotExport.h"

#include "widgets/QCustomPlotInclude.h"

#include <QCoreApplication>
#include <QFileInfo>
#include <QPageSize>
#include <QPdfWriter>
#include <QSaveFile>
#include <QSvgGenerator>
#include <algorithm>

namespace kme::widgets {

namespace {

constexpr int kExportDpi = 96;  // PDF/SVG: one logical pixel = 1/96 inch, fonts as on screen

QString tr(const char* text) { return QCoreApplication::translate("kme::widgets::PlotExport", text); }

bool paintVector(QPaintDevice* device, const QSize& size, const PlotPaintFn& paint) {
    QCPPainter painter;
    if (!painter.begin(device)) return false;
    painter.setMode(QCPPainter::pmVectorized);
    painter.setMode(QCPPainter::pmNoCaching);
    paint(painter, QRect(QPoint(0, 0), size));
    return painter.end();
}

}  // namespace

QImage renderPlotImage(const QSize& size, double scale, const QColor& background, const PlotPaintFn& paint) {
    scale = std::max(0.1, scale);
    QImage image((QSizeF(size) * scale).toSize(), QImage::Format_ARGB32_Premultiplied);
    image.setDevicePixelRatio(1.0);
    image.fill(background);
    if (paint) {
        QCPPainter painter(&image);
        painter.setRenderHint(QPainter::Antialiasing);
        painter.setRenderHint(QPainter::TextAntialiasing);
        painter.setMode(QCPPainter::pmNoCaching);
        painter.scale(scale, scale);
        paint(painter, QRect(QPoint(0, 0), size));
        painter.end();
    }
    return image;
}

bool exportPlotFile(const QString& path, const QSize& size, const QString& title, const QColor& background,
                    const PlotPaintFn& paint, const QString& what, QString* error) {
    auto failWith = [error](const QString& message) {
        if (error) *error = message;
        return false;
    };
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix != QLatin1String("png") && suffix != QLatin1String("pdf") && suffix != QLatin1String("svg"))
        return failWith(tr("%1: choose a .png, .pdf or .svg file name").arg(path));
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) return failWith(tr("%1: cannot write (%2)").arg(path, file.errorString()));
    bool drawn = false;
    if (suffix == QLatin1String("png")) {
        // Twice the pixels for a sharp picture on high-DPI screens and in documents.
        drawn = renderPlotImage(size, 2.0, background, paint).save(&file, "PNG");
    } else if (suffix == QLatin1String("pdf")) {
        QPdfWriter writer(&file);
        writer.setResolution(kExportDpi);
        writer.setPageSize(QPageSize(QSizeF(size) * 72.0 / kExportDpi, QPageSize::Point, QString(), QPageSize::ExactMatch));
        writer.setPageMargins(QMarginsF(0, 0, 0, 0));
        writer.setTitle(title);
        writer.setCreator(QStringLiteral("KME Studio"));
        drawn = paintVector(&writer, size, paint);
    } else {
        QSvgGenerator svg;
        svg.setOutputDevice(&file);
        svg.setSize(size);
        svg.setViewBox(QRect(QPoint(0, 0), size));
        svg.setResolution(kExportDpi);
        svg.setTitle(title);
        drawn = paintVector(&svg, size, paint);
    }
    if (!drawn) {
        file.cancelWriting();
        return failWith(tr("%1: cannot draw %2").arg(path, what));
    }
    if (!file.commit()) return failWith(tr("%1: cannot write (%2)").arg(path, file.errorString()));
    return true;
}

}  // namespace kme::widgets
