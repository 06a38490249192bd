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
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>

#include "app/gui/JobStatusWidget.h"
#include "app/gui/RecentModels.h"
#include "app/gui/docks/LearnDock.h"
#include "app/gui/docks/ModelDock.h"
#include "app/gui/tabs/LocateTab.h"
#include "app/gui/tabs/PlaceholderTab.h"
#include "app/gui/tabs/PredictTab.h"
#include "engine/model/Model.h"

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
// Bump when docks are added or renamed, so an old saved state is not applied.
constexpr int kLayoutVersion = 1;
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    initKmeResources();
    setObjectName(QStringLiteral("mainWindow"));
    runner_ = new JobRunner(this);
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
        cancelAction_->setEnabled(busy);
    });

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
    locateTab_ = new LocateTab(runner_, tabs_);
    add(locateTab_, QStringLiteral("locate"), tr("Locate"), tr("Where a fact is stored: causal-tracing heatmaps"));
    add(new PlaceholderTab(tr("Edit"),
                           tr("Authoring ROME, MEMIT and fine-tuning edits arrives with the editing engine."), tabs_),
        QStringLiteral("edit"), tr("Edit"), tr("Change a fact in the weights"));
    add(new PlaceholderTab(tr("Compare"),
                           tr("Before-and-after answers of an edited model arrive with the editing engine."), tabs_),
        QStringLiteral("compare"), tr("Compare"), tr("The model's answers before and after each edit"));
    add(new PlaceholderTab(tr("Evaluate"),
                           tr("Efficacy, paraphrase and neighbourhood scores over a fact set arrive with the "
                              "evaluation engine."),
                           tabs_),
        QStringLiteral("evaluate"), tr("Evaluate"), tr("How well edits work, measured over many facts"));
    setCentralWidget(tabs_);
}

void MainWindow::createDocks() {
    modelDock_ = new ModelDock(this);
    learnDock_ = new LearnDock(this);
    addDockWidget(Qt::LeftDockWidgetArea, modelDock_);
    addDockWidget(Qt::RightDockWidgetArea, learnDock_);
    resizeDocks({modelDock_, learnDock_}, {280, 380}, Qt::Horizontal);
    connect(tabs_, &QTabWidget::currentChanged, this, [this](int index) { learnDock_->showPage(tabId(index)); });
    learnDock_->showPage(tabId(tabs_->currentIndex()));
}

void MainWindow::createActions() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    openAction_ = file->addAction(tr("&Open model folder…"), this, &MainWindow::chooseModelFolder);
    openAction_->setShortcut(QKeySequence::Open);
    openAction_->setStatusTip(tr("Load a Hugging Face model folder (config.json, model.safetensors, tokenizer)"));
    recentMenu_ = file->addMenu(tr("&Recent models"));
    rebuildRecentMenu();
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    quit->setMenuRole(QAction::QuitRole);

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
    run->addSeparator();
    cancelAction_ = run->addAction(tr("&Cancel job"), runner_, &JobRunner::cancel);
    cancelAction_->setShortcut(QKeySequence(Qt::Key_Escape));
    cancelAction_->setEnabled(false);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    view->addAction(modelDock_->toggleViewAction());
    QAction* learn = learnDock_->toggleViewAction();
    learn->setShortcut(QKeySequence::HelpContents);
    view->addAction(learn);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
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
    const QString start = settings.value(kLastFolderKey, model_ ? facts_.folder : QDir::homePath()).toString();
    const QString folder = QFileDialog::getExistingDirectory(this, tr("Open model folder"), start);
    if (folder.isEmpty()) return;
    settings.setValue(kLastFolderKey, QFileInfo(folder).absolutePath());
    openModelFolder(folder);
}

bool MainWindow::openModelFolder(const QString& folder) {
    const QString absolute = QDir::cleanPath(QDir(folder).absolutePath());
    auto result = std::make_shared<LoadedModel>();
    const std::string path = QFile::encodeName(absolute).toStdString();
    return runner_->start(
        tr("Loading %1").arg(modelDisplayName(absolute)),
        [result, path](const kme::ProgressFn&) {
            // Model::load maps the weights and builds the transformer; the
            // facts hash every weight. Both can take seconds: worker thread.
            result->model = kme::Model::load(path);
            result->facts = gatherModelFacts(*result->model);
        },
        [this, result, absolute] {
            setLoadedModel(*result);
            RecentModels::add(absolute);
            rebuildRecentMenu();
        },
        [this](JobOutcome outcome, const QString&) {
            if (outcome == JobOutcome::Succeeded)
                statusBar()->showMessage(tr("Loaded %1: %2 layers × %3, %4 parameters.")
                                             .arg(facts_.name)
                                             .arg(facts_.nLayer)
                                             .arg(facts_.nEmbd)
                                             .arg(formatParameterCount(facts_.parameters)));
            Q_EMIT modelLoadFinished(outcome == JobOutcome::Succeeded);
        });
}

void MainWindow::setLoadedModel(const LoadedModel& loaded) {
    model_ = loaded.model;
    facts_ = loaded.facts;
    modelDock_->setFacts(facts_);
    predictTab_->setModel(model_);
    locateTab_->setModel(model_);
    updateTitle();
}

void MainWindow::updateTitle() {
    setWindowTitle(model_ ? tr("KME Studio — %1").arg(facts_.name) : tr("KME Studio"));
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
        case JobOutcome::Failed: {
            statusBar()->showMessage(tr("Error: %1").arg(message));
            // Window-modal but not blocking (open(), not exec()): the event
            // loop, and with it the job runner and tests, keeps running.
            auto* box = new QMessageBox(QMessageBox::Warning, tr("KME Studio"), tr("%1 failed.").arg(title),
                                        QMessageBox::Ok, this);
            box->setObjectName(QStringLiteral("jobErrorBox"));
            box->setInformativeText(message);
            box->setAttribute(Qt::WA_DeleteOnClose);
            box->open();
            break;
        }
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
