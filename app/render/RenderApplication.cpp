#include "app/render/RenderApplication.h"

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

}  // namespace kme::render
