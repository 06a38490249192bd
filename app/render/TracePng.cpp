#include "app/render/TracePng.h"

#include <QImage>
#include <algorithm>

#include "app/render/RenderApplication.h"
#include "app/render/TraceHeatmapConvert.h"
#include "widgets/TraceHeatmapPanel.h"

namespace kme::render {

bool renderTracePng(const kme::TraceResult& result, const std::string& path, std::string* error) {
    if (!prepareRenderTo(path, error)) return false;
    const QVector<kme::widgets::TraceHeatmapData> maps = traceHeatmapData(result);
    if (maps.isEmpty()) {
        if (error) *error = path + ": the trace has no heatmap to draw";
        return false;
    }
    kme::widgets::TraceHeatmapPanel panel;
    // A picture is looked at smaller than a window: a size up from the
    // desktop's default keeps the token labels readable.
    QFont font = panel.font();
    font.setPointSizeF(font.pointSizeF() * 1.2);
    panel.setFont(font);
    panel.setData(maps);
    // Long prompts get a taller picture, so that token labels never overlap.
    const int rows = static_cast<int>(result.tokens.size());
    const int height = std::max(kTracePngHeight, kTracePngChrome + rows * kTracePngRowPitch);
    const QImage image = panel.toImage(QSize(kTracePngWidth, height));
    return writePngFile(image, path, error);
}

}  // namespace kme::render
