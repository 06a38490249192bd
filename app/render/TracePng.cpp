#include "app/render/TracePng.h"

#include <QApplication>
#include <QFile>
#include <QImage>
#include <QSaveFile>
#include <algorithm>

#include "app/render/TraceHeatmapConvert.h"
#include "widgets/TraceHeatmapPanel.h"

namespace kme::render {

namespace {

bool ensureApplication(std::string* error) {
    if (QCoreApplication* app = QCoreApplication::instance()) {
        if (qobject_cast<QApplication*>(app)) return true;
        if (error) *error = "the heatmaps need a QApplication, but another kind of Qt application is running";
        return false;
    }
    // A picture written to a file needs no display. The offscreen platform
    // also works where DISPLAY is set but unreachable (Qt's xcb plugin would
    // abort the process) and gives the same pixels on every machine.
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    static int argc = 1;
    static char name[] = "kme";
    static char* argv[] = {name, nullptr};
    // Kept alive until the process exits: widgets may only exist while it does,
    // and tearing Qt down from a static destructor is fragile.
    new QApplication(argc, argv);
    return true;
}

}  // namespace

bool renderTracePng(const kme::TraceResult& result, const std::string& path, std::string* error) {
    if (!ensureApplication(error)) return false;
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
    QSaveFile file(QFile::decodeName(path.c_str()));
    if (!file.open(QIODevice::WriteOnly) || !image.save(&file, "PNG") || !file.commit()) {
        if (error) *error = path + ": cannot write the PNG (" + file.errorString().toStdString() + ")";
        return false;
    }
    return true;
}

}  // namespace kme::render
