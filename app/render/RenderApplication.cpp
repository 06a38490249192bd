#include "app/render/RenderApplication.h"

#include <QBuffer>
#include <QByteArray>
#include <QImage>

#include "engine/core/OutputFile.h"

#include <QApplication>

namespace kme::render {

bool ensureRenderApplication(std::string* error) {
    if (QCoreApplication* app = QCoreApplication::instance()) {
        if (qobject_cast<QApplication*>(app)) return true;
        if (error) *error = "drawing needs a QApplication, but another kind of Qt application is running";
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

bool prepareRenderTo(const std::string& path, std::string* error) {
    try {
        kme::checkOutputFile(path, "PNG");
    } catch (const std::exception& e) {
        if (error) *error = e.what();
        return false;
    }
    return ensureRenderApplication(error);
}

bool writePngFile(const QImage& image, const std::string& path, std::string* error) {
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
