#include "app/gui/StartupScript.h"

#include <QTimer>
#include <cstdio>

#include "app/gui/MainWindow.h"
#include "app/gui/Screenshots.h"
#include "app/gui/tabs/PredictTab.h"

namespace kme::app {

StartupScript::StartupScript(MainWindow* window, StartupOptions options, QObject* parent)
    : QObject(parent), window_(window), options_(std::move(options)) {}

void StartupScript::start() {
    if (!options_.prompt.isEmpty()) window_->predictTab()->setPrompt(options_.prompt);
    if (options_.modelFolder.isEmpty()) {
        // Nothing to load: the empty window is what there is to show.
        if (!options_.screenshotDir.isEmpty()) QTimer::singleShot(0, this, &StartupScript::takeScreenshots);
        return;
    }
    connect(window_, &MainWindow::modelLoadFinished, this, &StartupScript::onLoaded, Qt::SingleShotConnection);
    if (!window_->openModelFolder(options_.modelFolder)) onLoaded(false);
}

void StartupScript::onLoaded(bool ok) {
    failed_ |= !ok;
    if (ok && !options_.prompt.isEmpty()) {
        connect(window_->predictTab(), &PredictTab::predictionFinished, this, &StartupScript::onPredicted,
                Qt::SingleShotConnection);
        if (window_->predictTab()->predict()) return;
        failed_ = true;
    }
    if (!options_.screenshotDir.isEmpty()) takeScreenshots();
}

void StartupScript::onPredicted(bool ok) {
    failed_ |= !ok;
    if (options_.screenshotDir.isEmpty()) return;
    // Fill the continuation box too, so the picture shows the whole tab at work.
    if (ok) {
        connect(window_->predictTab(), &PredictTab::generationFinished, this, [this](bool genOk) {
                failed_ |= !genOk;
                takeScreenshots();
            }, Qt::SingleShotConnection);
        if (window_->predictTab()->generate()) return;
        failed_ = true;
    }
    takeScreenshots();
}

void StartupScript::takeScreenshots() {
    QString error;
    const QStringList files = saveScreenshots(*window_, options_.screenshotDir, &error);
    for (const QString& f : files) std::printf("wrote %s\n", qPrintable(f));
    if (!error.isEmpty()) std::fprintf(stderr, "kme-studio: %s\n", qPrintable(error));
    std::fflush(stdout);
    Q_EMIT done(failed_ || !error.isEmpty() ? 1 : 0);
}

}  // namespace kme::app
