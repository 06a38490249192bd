#include "app/gui/StartupScript.h"

#include <QDir>
#include <QFileInfo>
#include <QLineEdit>
#include <QTemporaryDir>
#include <QTimer>
#include <QToolButton>
#include <cstdio>

#include "app/gui/MainWindow.h"
#include "app/gui/Screenshots.h"
#include "app/gui/SessionController.h"
#include "app/gui/tabs/CompareTab.h"
#include "app/gui/tabs/EditTab.h"
#include "app/gui/tabs/LocateTab.h"
#include "app/gui/tabs/PredictTab.h"

namespace kme::app {

StartupScript::StartupScript(MainWindow* window, StartupOptions options, QObject* parent)
    : QObject(parent), window_(window), options_(std::move(options)) {}

StartupScript::~StartupScript() = default;

void StartupScript::start() {
    if (!options_.prompt.isEmpty()) window_->predictTab()->setPrompt(options_.prompt);
    if (!options_.traceSubject.isEmpty()) {
        window_->locateTab()->setSubject(options_.traceSubject);
        if (!options_.prompt.isEmpty()) window_->locateTab()->setPrompt(options_.prompt);
    }
    SessionController* session = window_->session();
    QString sessionToOpen = options_.sessionFile;
    if (sessionToOpen.isEmpty() && options_.screenshotDir.isEmpty() && options_.autoSession) {
        // The plain start continues where the last run stopped.
        const QString last = SessionController::lastSession();
        if (!last.isEmpty() && QFileInfo::exists(last)) sessionToOpen = last;
    }
    if (!options_.sessionFile.isEmpty() && !QFileInfo::exists(options_.sessionFile)) {
        // --session NEW.kmes: start it, with the model of --model (or the demo).
        if (!window_->newSession(options_.sessionFile)) failed_ = true;
        loadModel();
        return;
    }
    if (!sessionToOpen.isEmpty()) {
        connect(session, &SessionController::sessionOpenFinished, this, &StartupScript::onSessionOpened,
                Qt::SingleShotConnection);
        if (!window_->openSession(sessionToOpen)) {
            disconnect(session, &SessionController::sessionOpenFinished, this, &StartupScript::onSessionOpened);
            onSessionOpened(false);
        }
        return;
    }
    if (!options_.screenshotDir.isEmpty()) {
        // Pictures from a clean slate, not from the user's sessions.
        tmp_ = std::make_unique<QTemporaryDir>();
        if (!tmp_->isValid() || !window_->newSession(tmp_->filePath(QStringLiteral("screenshots.kmes"))))
            failed_ = true;
    } else if (options_.autoSession) {
        startAutosaveSession();
    }
    loadModel();
}

void StartupScript::startAutosaveSession() {
    // First start (or the last session is gone): everything is saved as it
    // happens into a session in the application's data folder.
    // Named after the model: "demo-20240501-120000.kmes" for projects/demo/model.
    const QFileInfo folder(QDir::cleanPath(options_.modelFolder));
    QString stem = folder.fileName() == QLatin1String("model") ? QFileInfo(folder.absolutePath()).fileName()
                                                               : folder.fileName();
    if (stem.isEmpty()) stem = QStringLiteral("session");
    QString error;
    if (!window_->session()->newSession(SessionController::newAutosavePath(stem), &error))
        std::fprintf(stderr, "kme-studio: %s\n", qPrintable(error));
}

void StartupScript::onSessionOpened(bool ok) {
    reopened_ = ok;
    if (ok && window_->model()) {
        onLoaded(true);  // the session's model is loaded, its edits replayed
        return;
    }
    if (!ok) {
        if (!options_.sessionFile.isEmpty()) {
            failed_ = true;
            std::fprintf(stderr, "kme-studio: cannot open the session %s\n", qPrintable(options_.sessionFile));
        } else if (options_.autoSession) {
            startAutosaveSession();  // the last session failed to open (its message is shown): start afresh
        }
    }
    loadModel();
}

void StartupScript::loadModel() {
    if (options_.modelFolder.isEmpty()) {
        // Nothing to load: the empty window is what there is to show.
        if (!options_.screenshotDir.isEmpty()) QTimer::singleShot(0, this, &StartupScript::takeScreenshots);
        return;
    }
    connect(window_, &MainWindow::modelLoadFinished, this, &StartupScript::onLoaded, Qt::SingleShotConnection);
    if (!window_->openModelFolder(options_.modelFolder)) {
        disconnect(window_, &MainWindow::modelLoadFinished, this, &StartupScript::onLoaded);
        onLoaded(false);
    }
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
    if (window_->model() && (asked || (!options_.screenshotDir.isEmpty() && !reopened_))) {
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
    edit();
}

void StartupScript::onTraced(bool ok) {
    failed_ |= !ok;
    // Mark ROME's edit layer, so the picture shows a chosen column too (and
    // the Edit tab gets it, as a click would give it).
    LocateTab* locate = window_->locateTab();
    if (ok && !options_.screenshotDir.isEmpty()) locate->chooseEditLayer(locate->suggestedEditLayer());
    edit();
}

void StartupScript::edit() {
    if (nextEdit_ >= options_.editSpecs.size() || !window_->model()) {
        if (nextEdit_ > 0 && window_->model()) {
            compareAfterEdits(true);  // all edits done: compare
            return;
        }
        finish();
        return;
    }
    const QString spec = options_.editSpecs[nextEdit_++];
    const QStringList parts = spec.split(QLatin1Char('|'));
    if (parts.size() < 3 || parts.size() > 4) {
        std::fprintf(stderr, "kme-studio: --edit expects \"template|subject|target_new[|target_true]\", got \"%s\"\n",
                     qPrintable(spec));
        failed_ = true;
        finish();
        return;
    }
    EditTab* tab = window_->editTab();
    // The pictures show the hyper-parameters too.
    if (!options_.screenshotDir.isEmpty()) tab->advancedToggle()->setChecked(true);
    tab->setRequest(parts[0], parts[1], parts[2], parts.value(3));
    if (!tab->inputError().isEmpty()) {
        std::fprintf(stderr, "kme-studio: cannot edit: %s\n", qPrintable(tab->inputError()));
        failed_ = true;
        finish();
        return;
    }
    if (parts.size() == 3) {
        // The current answer first (read from the unedited model), then the edit.
        connect(tab, &EditTab::currentAnswerRead, this, [this] { runEdit(); }, Qt::SingleShotConnection);
        if (tab->readCurrentAnswer()) return;
        disconnect(tab, &EditTab::currentAnswerRead, this, nullptr);
    }
    runEdit();
}

void StartupScript::runEdit() {
    EditTab* tab = window_->editTab();
    connect(tab, &EditTab::editFinished, this, [this](bool ok) {
            failed_ |= !ok;
            if (ok) edit();  // the next one, or Compare
            else finish();
        }, Qt::SingleShotConnection);
    if (tab->runEdit()) return;
    disconnect(tab, &EditTab::editFinished, this, nullptr);
    std::fprintf(stderr, "kme-studio: the edit could not start\n");
    failed_ = true;
    finish();
}

void StartupScript::compareAfterEdits(bool ok) {
    failed_ |= !ok;
    if (ok) {
        CompareTab* compare = window_->compareTab();
        compare->setPoints(0, -1);
        connect(compare, &CompareTab::comparisonFinished, this, &StartupScript::onCompared, Qt::SingleShotConnection);
        if (compare->compare()) return;
        disconnect(compare, &CompareTab::comparisonFinished, this, &StartupScript::onCompared);
        failed_ = true;
    }
    finish();
}

void StartupScript::onCompared(bool ok) {
    failed_ |= !ok;
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
