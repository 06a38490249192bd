#include "app/render/TraceDatasetPng.h"

#include <QFileInfo>
#include <QImage>

#include "app/render/RenderApplication.h"
#include "app/render/TraceDatasetConvert.h"
#include "widgets/TraceDatasetPlot.h"

namespace kme::render {

bool renderTraceDatasetPng(const kme::TraceDatasetResult& result, const std::string& source, const std::string& path,
                           std::string* error) {
    if (!prepareRenderTo(path, error)) return false;
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
    return writePngFile(image, path, error);
}

}  // namespace kme::render
