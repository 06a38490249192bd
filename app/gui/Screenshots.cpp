#include "app/gui/Screenshots.h"

#include <QCoreApplication>
#include <QDir>
#include <QPixmap>
#include <QTabWidget>

#include "app/gui/MainWindow.h"
#include "app/gui/docks/HistoryDock.h"
#include "app/gui/tabs/EvaluateMethodsPanel.h"
#include "app/gui/tabs/EvaluateTab.h"

namespace kme::app {

namespace {

// Lets a just-shown tab lay itself out and paint (QCustomPlot replots queued).
void settle() {
    for (int i = 0; i < 5; ++i) QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
}

bool savePixmap(const QPixmap& pixmap, const QString& path, QStringList& written, QString* error) {
    if (pixmap.isNull() || !pixmap.save(path, "PNG")) {
        if (error) *error = QCoreApplication::translate("Screenshots", "cannot write %1").arg(path);
        return false;
    }
    written << path;
    return true;
}

}  // namespace

QStringList saveScreenshots(MainWindow& window, const QString& dir, QString* error) {
    QStringList written;
    if (!QDir().mkpath(dir)) {
        if (error) *error = QCoreApplication::translate("Screenshots", "cannot create folder %1").arg(dir);
        return written;
    }
    QTabWidget* tabs = window.tabs();
    const int original = tabs->currentIndex();
    for (int i = 0; i < tabs->count(); ++i) {
        tabs->setCurrentIndex(i);
        settle();
        // The tab widget (with its tab bar), so each picture says which view it is.
        if (!savePixmap(tabs->grab(), QDir(dir).filePath(window.tabId(i) + QStringLiteral(".png")), written, error))
            return written;
    }
    // The Methods tab with the Learn panel beside it (the survey's formulation).
    for (int i = 0; i < tabs->count(); ++i)
        if (window.tabId(i) == QStringLiteral("methods")) {
            tabs->setCurrentIndex(i);
            settle();
            if (!savePixmap(window.grab(), QDir(dir).filePath(QStringLiteral("methods-window.png")), written, error))
                return written;
        }
    // The Evaluate tab's several-methods page, when the session holds a comparison.
    for (int i = 0; i < tabs->count(); ++i) {
        auto* evaluate = qobject_cast<EvaluateTab*>(tabs->widget(i));
        if (!evaluate || evaluate->methodsPanel()->methodsShown().empty()) continue;
        tabs->setCurrentIndex(i);
        QWidget* page = evaluate->pages()->currentWidget();
        evaluate->pages()->setCurrentWidget(evaluate->methodsPanel());
        settle();
        if (!savePixmap(tabs->grab(), QDir(dir).filePath(QStringLiteral("evaluate-methods.png")), written, error))
            return written;
        evaluate->pages()->setCurrentWidget(page);
    }
    // The history dock (the session's edits), as it sits in the window.
    if (window.historyDock()->isVisible() &&
        !savePixmap(window.historyDock()->grab(), QDir(dir).filePath(QStringLiteral("history.png")), written, error))
        return written;
    tabs->setCurrentIndex(0);
    settle();
    savePixmap(window.grab(), QDir(dir).filePath(QStringLiteral("window.png")), written, error);
    tabs->setCurrentIndex(original);
    return written;
}

}  // namespace kme::app
