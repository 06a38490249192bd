#include "app/render/TracePng.h"

#include <QFile>
#include <QImage>
#include <QBuffer>
#include <QByteArray>
#include <algorithm>

#include "app/render/RenderApplication.h"
#include "engine/core/OutputFile.h"
#include "app/render/TraceHeatmapConvert.h"
#include "widgets/TraceHeatmapPanel.h"

namespace kme::render {

bool renderTracePng(const kme::TraceResult& result, const std::string& path, std::string* error) {
    try {  // before Qt starts: no Qt warning comes before the real error
        kme::checkOutputFile(path, "PNG");
    } catch (const std::exception& e) {
        if (error) *error = e.what();
        return false;
    }
    if (!ensureRenderApplication(error)) return false;
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
