#include "app/render/TraceDatasetPng.h"

#include <QFile>
#include <QFileInfo>
#include <QImage>
#include <QBuffer>
#include <QByteArray>

#include "app/render/RenderApplication.h"
#include "engine/core/OutputFile.h"
#include "app/render/TraceDatasetConvert.h"
#include "widgets/TraceDatasetPlot.h"

namespace kme::render {

bool renderTraceDatasetPng(const kme::TraceDatasetResult& result, const std::string& source, const std::string& path,
                           std::string* error) {
    try {  // before Qt starts: no Qt warning comes before the real error
        kme::checkOutputFile(path, "PNG");
    } catch (const std::exception& e) {
        if (error) *error = e.what();
        return false;
    }
    if (!ensureRenderApplication(error)) return false;
    if (result.traced == 0 || result.mean.empty()) {
        if (error)
            *error = path + ": nothing to plot: none of the " + std::to_string(result.considered) +
                     " facts looked at was answered correctly by the model (clean top-1 = the true target)";
        return false;
    }
    kme::widgets::TraceDatasetPlot plot;
    // A picture is looked at smaller than a window: a size up from the
    // desktop's default keeps the labels readable.
    QFont font = plot.font();
    font.setPointSizeF(font.pointSizeF() * 1.15);
    plot.setFont(font);
    plot.setData(traceDatasetPlotData(result, QFileInfo(QString::fromStdString(source)).fileName()));
    // Mark ROME's edit layer, as the Locate tab does once a run finished.
    plot.setMarkedLayer(plot.data().suggestedEditLayer());
    const QImage image = plot.toImage(QSize(kTraceDatasetPngWidth, kTraceDatasetPngHeight));
    // Encoded in memory, then written as every kme output is (a unique
    // temporary renamed into place; a device or FIFO written directly).
    QByteArray bytes;
    QBuffer buffer(&bytes);
    if (!buffer.open(QIODevice::WriteOnly) || !image.save(&buffer, "PNG")) {
        if (error) *error = path + ": cannot encode the PNG";
        return false;
    }
    try {
        kme::writeFileAtomically(path, std::string_view(bytes.constData(), size_t(bytes.size())), "PNG");
    } catch (const std::exception& e) {
        if (error) *error = e.what();
        return false;
    }
    return true;
}

}  // namespace kme::render
