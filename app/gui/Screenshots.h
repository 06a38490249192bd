#pragma once
// --screenshot: pictures of the window for docs/ and the README.
#include <QString>
#include <QStringList>

namespace kme::app {

class MainWindow;

// Shows each centre tab in turn and grabs it (QWidget::grab) into
// DIR/<tab id>.png, the Methods tab with the Learn panel into
// DIR/methods-window.png, the Evaluate tab's several-methods page (when the
// session holds a comparison) into DIR/evaluate-methods.png, the history dock into DIR/history.png, then the whole
// window, back on its first tab, into DIR/window.png. Returns the files written; on failure sets *error.
QStringList saveScreenshots(MainWindow& window, const QString& dir, QString* error);

}  // namespace kme::app
