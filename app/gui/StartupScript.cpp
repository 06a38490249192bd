#include "app/gui/StartupScript.h"

#include <QTimer>
#include <cstdio>

#include "app/gui/MainWindow.h"
#include "app/gui/Screenshots.h"
#include "app/gui/tabs/LocateTab.h"
#include "app/gui/tabs/PredictTab.h"

namespace kme::app {

StartupScript::StartupScript(MainWindow* window, StartupOptions options, QObject* parent)
    : QObject(parent), window_(window), options_(std::move(options)) {}

void StartupScript::start() {
    if (!options_.prompt.isEmpty()) window_->predictTab()->setPrompt(options_.prompt);
    if (!options_.traceSubject.isEmpty()) {
        window_->locateTab()->setSubject(options_.traceSubject);
        if (!options_.prompt.isEmpty()) window_->locateTab()->setPrompt(options_.prompt);
    }
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
    trace();
}

void StartupScript::onPredicted(bool ok) {
    failed_ |= !ok;
    // For the pictures, fill the continuation box too, so they show the whole tab at work.
    if (ok && !options_.screenshotDir.isEmpty()) {
        connect(window_->predictTab(), &PredictTab::generationFinished, this, [this](bool genOk) {
                failed_ |= !genOk;
                trace();
            }, Qt::SingleShotConnection);
        if (window_->predictTab()->generate()) return;
        failed_ = true;
    }
    trace();
}

void StartupScript::trace() {
    // Traced when asked for (--trace-subject) and for the pictures, where the
    // Locate tab's own defaults serve when they fit (the subject is in the prompt).
    const bool asked = !options_.traceSubject.isEmpty();
    LocateTab* locate = window_->locateTab();
    if (window_->model() && (asked || !options_.screenshotDir.isEmpty())) {
        const QString error = locate->inputError();
        if (error.isEmpty()) {
            connect(locate, &LocateTab::traceFinished, this, &StartupScript::onTraced, Qt::SingleShotConnection);
            if (locate->runTrace()) return;
            failed_ = true;
        } else if (asked) {
            std::fprintf(stderr, "kme-studio: cannot trace: %s\n", qPrintable(error));
            failed_ = true;
        }
    }
    finish();
}

void StartupScript::onTraced(bool ok) {
    failed_ |= !ok;
    // Mark ROME's edit layer, so the picture shows a chosen column too.
    LocateTab* locate = window_->locateTab();
    if (ok && !options_.screenshotDir.isEmpty()) locate->chooseEditLayer(locate->suggestedEditLayer());
    finish();
}

void StartupScript::finish() {
    if (!options_.screenshotDir.isEmpty()) takeScreenshots();
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
