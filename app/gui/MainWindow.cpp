#include "app/gui/MainWindow.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QKeySequence>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QSaveFile>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include "app/gui/ErrorBanner.h"
#include "app/gui/JobStatusWidget.h"
#include "app/gui/RecentModels.h"
#include "app/gui/SessionController.h"
#include "app/gui/tabs/LocateDatasetView.h"
#include "app/gui/docks/HistoryDock.h"
#include "app/gui/docks/LearnDock.h"
#include "app/gui/docks/ModelDock.h"
#include "app/gui/docks/WalkthroughDock.h"
#include "app/gui/tabs/CompareTab.h"
#include "app/gui/tabs/EditTab.h"
#include "app/gui/tabs/EvaluateTab.h"
#include "app/gui/tabs/LocateTab.h"
#include "app/gui/tabs/LocateNeuronsView.h"
#include "app/gui/tabs/MethodsTab.h"
#include "app/gui/tabs/PredictTab.h"
#include "engine/edit/EditRequest.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/model/Model.h"
#include "engine/session/SessionJson.h"

// resources.qrc is compiled into the static kme_app library, whose resource
// initialiser the linker may drop: register it explicitly. Q_INIT_RESOURCE
// must be used outside any namespace.
static void initKmeResources() { Q_INIT_RESOURCE(resources); }

namespace kme::app {

namespace {
const char* const kGeometryKey = "window/geometry";
const char* const kStateKey = "window/state";
const char* const kTabKey = "window/tab";
const char* const kTabIdProperty = "kmeTabId";
const char* const kLastFolderKey = "recent/lastOpenDir";
const char* const kLastSessionDirKey = "recent/lastSessionDir";
const QString kSessionFilter = QStringLiteral("KME sessions (*.kmes);;All files (*)");
// Bump when docks are added or renamed, so an old saved state is not applied.
constexpr int kLayoutVersion = 3;
const char* const kWalkthroughOfferedKey = "walkthrough/offered";

QString withSessionSuffix(QString path) {
    if (!path.isEmpty() && QFileInfo(path).suffix().isEmpty()) path += QStringLiteral(".kmes");
    return path;
}
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    initKmeResources();
    setObjectName(QStringLiteral("mainWindow"));
    runner_ = new JobRunner(this);
    session_ = new SessionController(runner_, this);
    createTabs();
    createDocks();
    createActions();

    jobStatus_ = new JobStatusWidget(runner_, this);
    warning_ = new QLabel(this);
    warning_->setVisible(false);
    statusBar()->addPermanentWidget(warning_);
    statusBar()->addPermanentWidget(jobStatus_);
    connect(runner_, &JobRunner::started, this, [this] { jobClock_.start(); });
    connect(runner_, &JobRunner::finished, this, &MainWindow::onJobFinished);
    connect(runner_, &JobRunner::refused, this, [this](const QString& running) {
        statusBar()->showMessage(tr("Busy: “%1” is still running. Wait for it or cancel it (Esc).").arg(running), 5000);
    });
    connect(runner_, &JobRunner::busyChanged, this, [this](bool busy) {
        openAction_->setEnabled(!busy);
        recentMenu_->setEnabled(!busy);
        recentSessionsMenu_->setEnabled(!busy);
        for (QAction* a : sessionActions_) a->setEnabled(!busy);
        cancelAction_->setEnabled(busy);
    });
    connect(session_, &SessionController::modelChanged, this, &MainWindow::onModelChanged);
    connect(session_, &SessionController::modelLoadFinished, this, &MainWindow::onModelLoadFinished);
    connect(session_, &SessionController::sessionOpenFinished, this, &MainWindow::onSessionOpenFinished);
    connect(session_, &SessionController::sessionChanged, this, [this] {
        updateTitle();
        rebuildRecentSessionsMenu();
    });
    connect(session_, &SessionController::message, this, [this](const QString& text, bool error) {
        statusBar()->showMessage(error ? tr("Error: %1").arg(text) : text, error ? 0 : 8000);
    });
    // Locate -> Edit: a clicked heatmap column prefills the edit; a finished
    // trace is saved in the session.
    connect(locateTab_, &LocateTab::editLayerChosen, this, &MainWindow::prefillEditFromLocate);
    connect(locateTab_, &LocateTab::traceRecorded, session_, &SessionController::recordTrace);
    connect(editTab_, &EditTab::factFileLoaded, compareTab_, &CompareTab::addFactFile);
    // Methods -> Edit: a card's "Open in Edit" selects its method there.
    connect(methodsTab_, &MethodsTab::methodChosen, this, &MainWindow::openMethodInEdit);

    resize(1400, 900);
    restoreLayout();
    updateTitle();
    statusBar()->showMessage(tr("Ready. Open a model folder with File ▸ Open model folder… (Ctrl+O)."));
}

MainWindow::~MainWindow() = default;

void MainWindow::createTabs() {
    tabs_ = new QTabWidget(this);
    tabs_->setObjectName(QStringLiteral("centreTabs"));
    tabs_->setDocumentMode(true);
    predictTab_ = new PredictTab(runner_, tabs_);
    auto add = [this](QWidget* page, const QString& id, const QString& label, const QString& tip) {
        page->setProperty(kTabIdProperty, id);
        const int index = tabs_->addTab(page, label);
        tabs_->setTabToolTip(index, tip);
    };
    add(predictTab_, QStringLiteral("predict"), tr("Predict"), tr("What the model expects next"));
    locateTab_ = new LocateTab(runner_, session_, tabs_);
    add(locateTab_, QStringLiteral("locate"), tr("Locate"), tr("Where a fact is stored: causal-tracing heatmaps"));
    editTab_ = new EditTab(runner_, session_, tabs_);
    add(editTab_, QStringLiteral("edit"), tr("Edit"), tr("Change a fact in the weights (ROME, MEMIT, FT-L)"));
    compareTab_ = new CompareTab(runner_, session_, tabs_);
    add(compareTab_, QStringLiteral("compare"), tr("Compare"),
        tr("The model's answers at two points of the edit history, side by side"));
    auto* evaluateTab = new EvaluateTab(runner_, session_, tabs_);
    add(evaluateTab, QStringLiteral("evaluate"), tr("Evaluate"), tr("How well edits work, measured over many facts"));
    methodsTab_ = new MethodsTab(tabs_);
    add(methodsTab_, QStringLiteral("methods"), tr("Methods"),
        tr("Every edit method in the KME survey's three families: what it changes, its defaults, its paper"));
    // The error banner sits above the tabs, hidden until something fails.
    auto* centre = new QWidget(this);
    auto* layout = new QVBoxLayout(centre);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    errorBanner_ = new ErrorBanner(centre);
    layout->addWidget(errorBanner_);
    layout->addWidget(tabs_, 1);
    setCentralWidget(centre);
}

void MainWindow::createDocks() {
    modelDock_ = new ModelDock(this);
    historyDock_ = new HistoryDock(session_, runner_, this);
    connect(historyDock_, &HistoryDock::compareRequested, this, [this](const QList<qint64>& a, const QList<qint64>& b) {
        tabs_->setCurrentWidget(compareTab_);
        compareTab_->setStates(std::vector<int64_t>(a.begin(), a.end()), std::vector<int64_t>(b.begin(), b.end()));
        compareTab_->compare();
    });
    learnDock_ = new LearnDock(this);
    walkthroughDock_ = new WalkthroughDock(this);
    addDockWidget(Qt::LeftDockWidgetArea, modelDock_);
    splitDockWidget(modelDock_, historyDock_, Qt::Vertical);
    // The walk-through sits above the Learn panel, which explains the tab it opens.
    addDockWidget(Qt::RightDockWidgetArea, walkthroughDock_);
    splitDockWidget(walkthroughDock_, learnDock_, Qt::Vertical);
    walkthroughDock_->hide();
    resizeDocks({modelDock_, learnDock_}, {300, 360}, Qt::Horizontal);
    resizeDocks({modelDock_, historyDock_}, {330, 500}, Qt::Vertical);
    connect(tabs_, &QTabWidget::currentChanged, this, [this](int index) { learnDock_->showPage(tabId(index)); });
    learnDock_->showPage(tabId(tabs_->currentIndex()));
}

void MainWindow::createActions() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* newSession = file->addAction(tr("&New session…"), this, &MainWindow::chooseNewSession);
    newSession->setShortcut(QKeySequence::New);
    newSession->setStatusTip(tr("Start an empty session file (*.kmes) for the loaded model"));
    QAction* openSession = file->addAction(tr("Open &session…"), this, &MainWindow::chooseSessionToOpen);
    openSession->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    openSession->setStatusTip(tr("Open a session: its model, its edits (replayed and verified), its comparisons"));
    QAction* saveAs = file->addAction(tr("Save session &as…"), this, &MainWindow::chooseSaveSessionAs);
    saveAs->setShortcut(QKeySequence::SaveAs);
    saveAs->setStatusTip(tr("Copy the session to another file and continue there (everything is saved as you go)"));
    sessionActions_ = {newSession, openSession, saveAs};
    recentSessionsMenu_ = file->addMenu(tr("Recent s&essions"));
    rebuildRecentSessionsMenu();
    file->addSeparator();
    openAction_ = file->addAction(tr("&Open model folder…"), this, &MainWindow::chooseModelFolder);
    openAction_->setShortcut(QKeySequence::Open);
    openAction_->setStatusTip(tr("Load a Hugging Face model folder (config.json, model.safetensors, tokenizer)"));
    recentMenu_ = file->addMenu(tr("&Recent models"));
    rebuildRecentMenu();
    createExportMenu(file);
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    quit->setMenuRole(QAction::QuitRole);

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    edit->addAction(historyDock_->undoAction());
    edit->addAction(historyDock_->redoAction());
    edit->addSeparator();
    edit->addAction(historyDock_->renameAction());
    edit->addAction(historyDock_->deleteAction());

    QMenu* run = menuBar()->addMenu(tr("&Run"));
    QAction* predict = run->addAction(tr("&Predict next token"), this, [this] {
        showPredictTab();
        predictTab_->predict();
    });
    predict->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)});
    QAction* generate = run->addAction(tr("&Generate continuation"), this, [this] {
        showPredictTab();
        predictTab_->generate();
    });
    generate->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Return));
    QAction* trace = run->addAction(tr("&Trace the subject (Locate)"), this, [this] {
        tabs_->setCurrentWidget(locateTab_);
        locateTab_->runTrace();
    });
    trace->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_T));
    QAction* runEdit = run->addAction(tr("Run the &edit"), this, [this] {
        tabs_->setCurrentWidget(editTab_);
        editTab_->runEdit();
    });
    runEdit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    QAction* compare = run->addAction(tr("&Compare the two states"), this, [this] {
        tabs_->setCurrentWidget(compareTab_);
        compareTab_->compare();
    });
    compare->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    run->addSeparator();
    cancelAction_ = run->addAction(tr("&Cancel job"), runner_, &JobRunner::cancel);
    cancelAction_->setShortcut(QKeySequence(Qt::Key_Escape));
    cancelAction_->setEnabled(false);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    view->addAction(modelDock_->toggleViewAction());
    view->addAction(historyDock_->toggleViewAction());
    QAction* learn = learnDock_->toggleViewAction();
    learn->setShortcut(QKeySequence::HelpContents);
    view->addAction(learn);
    view->addAction(walkthroughDock_->toggleViewAction());

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* walk = help->addAction(tr("&Guided walk-through"), this, &MainWindow::startWalkthrough);
    walk->setStatusTip(tr("Locate a fact, edit it with ROME, compare before and after, undo: step by step on the loaded model"));
    help->addSeparator();
    help->addAction(tr("&About KME Studio"), this, &MainWindow::showAbout);
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

QString MainWindow::tabId(int index) const {
    QWidget* page = tabs_->widget(index);
    return page ? page->property(kTabIdProperty).toString() : QString();
}

void MainWindow::showPredictTab() { tabs_->setCurrentWidget(predictTab_); }

void MainWindow::restoreLayout() {
    QSettings settings;
    restoreGeometry(settings.value(kGeometryKey).toByteArray());
    restoreState(settings.value(kStateKey).toByteArray(), kLayoutVersion);
    const QString tab = settings.value(kTabKey).toString();
    for (int i = 0; i < tabs_->count(); ++i)
        if (tabId(i) == tab) tabs_->setCurrentIndex(i);
}

void MainWindow::saveLayout() const {
    QSettings settings;
    settings.setValue(kGeometryKey, saveGeometry());
    settings.setValue(kStateKey, saveState(kLayoutVersion));
    settings.setValue(kTabKey, tabId(tabs_->currentIndex()));
}

void MainWindow::closeEvent(QCloseEvent* event) {
    saveLayout();
    // A running job is cancelled; JobRunner's destructor waits for it.
    runner_->cancel();
    event->accept();
}

void MainWindow::rebuildRecentMenu() {
    recentMenu_->clear();
    const QStringList folders = RecentModels::folders();
    for (int i = 0; i < folders.size(); ++i) {
        const QString& folder = folders[i];
        // "&1 gpt2-xl" gives keyboard access; the full path is in the status tip.
        QAction* a = recentMenu_->addAction(QStringLiteral("&%1 %2").arg(i + 1).arg(modelDisplayName(folder)),
                                            this, [this, folder] { openModelFolder(folder); });
        a->setStatusTip(folder);
        a->setToolTip(folder);
    }
    if (folders.isEmpty()) recentMenu_->addAction(tr("(none yet)"))->setEnabled(false);
    recentMenu_->addSeparator();
    QAction* clear = recentMenu_->addAction(tr("&Clear list"), this, [this] {
        RecentModels::clear();
        rebuildRecentMenu();
    });
    clear->setEnabled(!folders.isEmpty());
}

void MainWindow::chooseModelFolder() {
    QSettings settings;
    const QString start = settings.value(kLastFolderKey, session_->model() ? session_->facts().folder : QDir::homePath()).toString();
    const QString folder = QFileDialog::getExistingDirectory(this, tr("Open model folder"), start);
    if (folder.isEmpty()) return;
    settings.setValue(kLastFolderKey, QFileInfo(folder).absolutePath());
    openModelFolder(folder);
}

bool MainWindow::openModelFolder(const QString& folder) { return session_->loadModelFolder(folder); }

std::shared_ptr<kme::Model> MainWindow::model() const { return session_->model(); }
const ModelFacts& MainWindow::modelFacts() const { return session_->facts(); }

void MainWindow::onModelLoadFinished(bool ok) {
    if (ok) {
        const ModelFacts& f = session_->facts();
        RecentModels::add(QDir::cleanPath(f.folder));
        rebuildRecentMenu();
        statusBar()->showMessage(tr("Loaded %1: %2 layers × %3, %4 parameters.")
                                     .arg(f.name)
                                     .arg(f.nLayer)
                                     .arg(f.nEmbd)
                                     .arg(formatParameterCount(f.parameters)));
    }
    Q_EMIT modelLoadFinished(ok);
}

void MainWindow::onModelChanged() {
    const auto model = session_->model();
    if (model) modelDock_->setFacts(session_->facts());
    else modelDock_->clearFacts();
    predictTab_->setModel(model);
    locateTab_->setModel(model);
    editTab_->setModel(model);
    compareTab_->setModel(model);
    if (auto* evaluate = tabs_->findChild<EvaluateTab*>()) evaluate->setModel(model);
    methodsTab_->setModel(model);
    updateTitle();
}

void MainWindow::updateTitle() {
    QString title = tr("KME Studio");
    if (session_->model()) title += QStringLiteral(" — ") + session_->facts().name;
    if (session_->hasSession()) title += QStringLiteral(" — ") + session_->sessionName();
    setWindowTitle(title);
    setWindowFilePath(session_->sessionPath());
}

// ---- sessions ----------------------------------------------------------------

bool MainWindow::openSession(const QString& path) { return session_->openSession(path); }

bool MainWindow::newSession(const QString& path) {
    QString error;
    if (session_->newSession(path, &error)) {
        statusBar()->showMessage(tr("New session %1: everything is saved as you go.").arg(session_->sessionName()), 8000);
        return true;
    }
    showSessionError(tr("The session %1 could not be created.").arg(QFileInfo(path).fileName()), error);
    return false;
}

void MainWindow::showSessionError(const QString& title, const QString& message) {
    showError(title, message, QStringLiteral("sessionErrorBox"));
}

void MainWindow::showError(const QString& title, const QString& message, const QString& boxName) {
    lastErrorTitle_ = title;
    lastError_ = message;
    // The status bar keeps the first line (a libtorch failure may have forty).
    statusBar()->showMessage(tr("Error: %1").arg(message.section(QLatin1Char('\n'), 0, 0)));
    errorBanner_->showError(title, message);
    if (errorBoxesEnabled_) {
        // A closed box deletes itself (WA_DeleteOnClose): a new one then.
        if (!errorBox_ || !errorBox_->isVisible()) {
            // Window-modal but not blocking (open(), not exec()): the event
            // loop, and with it the job runner and tests, keeps running.
            errorBox_ = new QMessageBox(QMessageBox::Warning, tr("KME Studio"), title, QMessageBox::Ok, this);
            errorBox_->setObjectName(boxName);
            errorBox_->setAttribute(Qt::WA_DeleteOnClose);
        }
        errorBox_->setText(title);
        errorBox_->setInformativeText(message);
        if (!errorBox_->isVisible()) errorBox_->open();  // open(), never exec()
    }
    Q_EMIT errorShown(title, message);
}

void MainWindow::onSessionOpenFinished(bool ok) {
    if (ok) {
        errorBanner_->hide();  // whatever it said, a session is open now
        return;
    }
    const QString error = session_->openError();
    if (error.isEmpty()) return;  // cancelled: the status bar says so
    // The job's own box (jobErrorBox) is on screen: it takes this fuller text.
    QString text = error;
    if (session_->openLeftFileUnchanged()) text += QLatin1Char('\n') + tr("The file was not changed.");
    text += QLatin1Char('\n');
    if (session_->hasSession())
        text += tr("The session %1 stays open.").arg(session_->sessionName());
    else
        text += tr("No session is open: open another one (File ▸ Open session…) or start a new one "
                   "(File ▸ New session…); an edit or a trace starts an autosave session of its own.");
    showError(tr("The session %1 could not be opened.").arg(QFileInfo(session_->openPath()).fileName()), text,
              QStringLiteral("sessionErrorBox"));
}

void MainWindow::chooseNewSession() {
    QSettings settings;
    const QString start = settings.value(kLastSessionDirKey, SessionController::autosaveFolder()).toString();
    const QString path =
        withSessionSuffix(QFileDialog::getSaveFileName(this, tr("New session"), start, kSessionFilter));
    if (path.isEmpty()) return;
    settings.setValue(kLastSessionDirKey, QFileInfo(path).absolutePath());
    newSession(path);
}

void MainWindow::chooseSessionToOpen() {
    QSettings settings;
    const QString start = settings.value(kLastSessionDirKey, SessionController::autosaveFolder()).toString();
    const QString path = QFileDialog::getOpenFileName(this, tr("Open session"), start, kSessionFilter);
    if (path.isEmpty()) return;
    settings.setValue(kLastSessionDirKey, QFileInfo(path).absolutePath());
    openSession(path);
}

void MainWindow::chooseSaveSessionAs() {
    if (!session_->hasSession()) {
        statusBar()->showMessage(tr("No session is open yet: the first edit or trace starts one."), 8000);
        return;
    }
    QSettings settings;
    const QString start = settings.value(kLastSessionDirKey, QFileInfo(session_->sessionPath()).absolutePath()).toString();
    const QString path =
        withSessionSuffix(QFileDialog::getSaveFileName(this, tr("Save session as"), start, kSessionFilter));
    if (path.isEmpty()) return;
    settings.setValue(kLastSessionDirKey, QFileInfo(path).absolutePath());
    QString error;
    if (session_->saveSessionAs(path, &error))
        statusBar()->showMessage(tr("Saved as %1; continuing there.").arg(QDir::toNativeSeparators(path)), 8000);
    else
        showSessionError(tr("The session could not be saved."), error);
}

void MainWindow::rebuildRecentSessionsMenu() {
    recentSessionsMenu_->clear();
    const QStringList files = SessionController::recentSessions();
    for (int i = 0; i < files.size(); ++i) {
        const QString& file = files[i];
        QAction* a = recentSessionsMenu_->addAction(
            QStringLiteral("&%1 %2").arg(i + 1).arg(QFileInfo(file).completeBaseName()), this,
            [this, file] { openSession(file); });
        a->setStatusTip(file);
        a->setToolTip(file);
    }
    if (files.isEmpty()) recentSessionsMenu_->addAction(tr("(none yet)"))->setEnabled(false);
    recentSessionsMenu_->addSeparator();
    QAction* clear = recentSessionsMenu_->addAction(tr("&Clear list"), this, [this] {
        SessionController::clearRecentSessions();
        rebuildRecentSessionsMenu();
    });
    clear->setEnabled(!files.isEmpty());
}

// ---- walk-through -------------------------------------------------------------

void MainWindow::startWalkthrough() {
    QSettings().setValue(kWalkthroughOfferedKey, true);
    walkthroughDock_->start();
    // Room for the step's text above the Learn panel.
    resizeDocks({walkthroughDock_, learnDock_}, {430, 470}, Qt::Vertical);
}

void MainWindow::offerWalkthroughOnce() {
    if (QSettings().value(kWalkthroughOfferedKey, false).toBool()) return;
    startWalkthrough();
}

// ---- export -------------------------------------------------------------------

void MainWindow::createExportMenu(QMenu* file) {
    QMenu* menu = file->addMenu(tr("E&xport"));
    menu->setObjectName(QStringLiteral("exportMenu"));
    QAction* session = menu->addAction(tr("Session as &JSON…"), this, [this] {
        if (!session_->hasSession()) {
            statusBar()->showMessage(tr("No session is open yet: the first edit or trace starts one."), 8000);
            return;
        }
        const QString start = QFileInfo(session_->sessionPath()).absolutePath() + QLatin1Char('/') +
                              QFileInfo(session_->sessionPath()).completeBaseName() + QStringLiteral(".json");
        const QString path = QFileDialog::getSaveFileName(this, tr("Export session as JSON"), start,
                                                          tr("JSON (*.json);;All files (*)"));
        if (path.isEmpty()) return;
        QString error;
        if (exportSessionJson(path, &error))
            statusBar()->showMessage(tr("Exported the session to %1.").arg(QDir::toNativeSeparators(path)), 8000);
        else
            showSessionError(tr("The session could not be exported."), error);
    });
    session->setStatusTip(tr("Everything in the session but the weight deltas' bytes: model, edits, traces, "
                             "comparisons, metric runs (what `kme session export` prints)"));
    QAction* model = menu->addAction(tr("Edited &model folder…"), this, [this] {
        if (!session_->model()) {
            statusBar()->showMessage(tr("No model is loaded."), 8000);
            return;
        }
        const QString folder = QFileDialog::getExistingDirectory(this, tr("Export the edited model into a folder"),
                                                                 QFileInfo(session_->facts().folder).absolutePath());
        if (folder.isEmpty()) return;
        QString error;
        if (!exportEditedModel(folder, &error)) showSessionError(tr("The model could not be exported."), error);
    });
    model->setStatusTip(tr("The live weights (the enabled edits applied) as a complete Hugging Face model folder"));
    menu->addSeparator();
    menu->addAction(tr("&Heatmaps (PNG, PDF, SVG)…"), locateTab_, &LocateTab::exportWithDialog);
    menu->addAction(tr("&Dataset average plot…"), locateTab_->datasetView(), &LocateDatasetView::exportWithDialog);
    menu->addAction(tr("&Knowledge-neuron plot…"), locateTab_->neuronsView(), &LocateNeuronsView::exportWithDialog);
    sessionActions_ << session << model;
}

bool MainWindow::exportSessionJson(const QString& path, QString* error) {
    kme::SessionStore* store = session_->store();
    if (!store) {
        if (error) *error = tr("No session is open.");
        return false;
    }
    std::string text;
    try {
        text = kme::sessionToJson(*store, kme::SessionJsonDetail::Export)
                   .dump(1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const std::exception& e) {
        if (error) *error = QString::fromStdString(e.what());
        return false;
    }
    // Written whole or not at all: an existing file survives a failed export.
    QSaveFile out(path);
    if (!out.open(QIODevice::WriteOnly) || out.write(text.data(), qint64(text.size())) != qint64(text.size()) ||
        !out.commit()) {
        if (error) *error = tr("Cannot write %1: %2").arg(QDir::toNativeSeparators(path), out.errorString());
        return false;
    }
    return true;
}

bool MainWindow::exportEditedModel(const QString& folder, QString* error) {
    const auto live = session_->live();
    if (!live) {
        if (error) *error = tr("No model is loaded.");
        return false;
    }
    const QString source = QDir::cleanPath(QFileInfo(session_->facts().folder).absoluteFilePath());
    if (QDir::cleanPath(QFileInfo(folder).absoluteFilePath()) == source) {
        if (error) *error = tr("That is the loaded model's own folder: choose another one, the checkpoint stays as it is.");
        return false;
    }
    const std::string target = folder.toStdString();
    const QString hash = session_->currentHash();
    const bool started = runner_->start(
        tr("Exporting the edited model"), [live, target](const kme::ProgressFn&) { live->model->save(target); },
        [this, folder, hash] {
            statusBar()->showMessage(tr("Wrote the edited model (weights hash %1) to %2.")
                                         .arg(hash.left(12), QDir::toNativeSeparators(folder)),
                                     8000);
        },
        [this](JobOutcome outcome, const QString&) { Q_EMIT exportFinished(outcome == JobOutcome::Succeeded); });
    if (!started && error) *error = tr("Another job is running: wait for it or cancel it.");
    return started;
}

// ---- Locate -> Edit ------------------------------------------------------------------

void MainWindow::prefillEditFromLocate(int layer) {
    if (layer < 0) return;  // the choice was cleared (a new model), not made
    const QString subject = locateTab_->subject();
    const QString templ = QString::fromStdString(
        kme::templateFromPrompt(locateTab_->prompt().toStdString(), subject.toStdString()));
    if (templ.isEmpty()) return;
    editTab_->prefill(templ, subject, layer);
    statusBar()->showMessage(tr("Edit tab: layer %1 for “%2”.").arg(layer).arg(subject), 6000);
}

void MainWindow::openMethodInEdit(kme::EditMethod method) {
    editTab_->setMethod(method);
    tabs_->setCurrentWidget(editTab_);
    statusBar()->showMessage(tr("Edit tab: %1 with its defaults for this model.")
                                 .arg(QString::fromUtf8(kme::methodInfo(method).displayName)),
                             6000);
}

void MainWindow::showRuntimeWarning(const QString& warning) {
    warning_->setVisible(!warning.isEmpty());
    // Short in the bar, complete in the tooltip: the full text names the library and the fix.
    const QString shortText = warning.size() > 70 ? warning.left(69) + QChar(0x2026) : warning;
    warning_->setText(QStringLiteral("⚠ ") + shortText);
    warning_->setToolTip(warning);
}

void MainWindow::onJobFinished(const QString& title, JobOutcome outcome, const QString& message) {
    switch (outcome) {
        case JobOutcome::Succeeded:
            statusBar()->showMessage(tr("%1: done in %2 s.").arg(title).arg(jobClock_.elapsed() / 1000.0, 0, 'f', 2),
                                     8000);
            break;
        case JobOutcome::Cancelled:
            statusBar()->showMessage(tr("Cancelled: %1.").arg(title), 8000);
            break;
        case JobOutcome::Failed:
            showError(tr("%1 failed.").arg(title), message, QStringLiteral("jobErrorBox"));
            break;
    }
}

void MainWindow::showAbout() {
    QMessageBox::about(
        this, tr("About KME Studio"),
        tr("<h3>KME Studio %1</h3>"
           "<p>A workbench for knowledge-based model editing: locate where a language model stores a fact, "
           "edit it, compare answers before and after, and measure how well the edit works.</p>"
           "<p>Models are read from Hugging Face folders (GPT-2 family). Computation runs on the CPU "
           "with libtorch, on %2 threads.</p>")
            .arg(QApplication::applicationVersion())
            .arg(kme::computeThreads()));
}

}  // namespace kme::app
