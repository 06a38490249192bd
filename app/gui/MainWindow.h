#pragma once
// KME Studio's main window: model and history docks (left), centre tabs,
// Learn dock (right), the job runner's progress in the status bar. It wires
// the parts together; each view lives in its own file (tabs/, docks/), the
// session and the live model in SessionController.
#include <QMainWindow>
#include <QElapsedTimer>
#include <QPointer>
#include <memory>

#include "app/gui/JobRunner.h"
#include "app/gui/ModelFacts.h"
#include "engine/edit/EditMethod.h"

class QAction;
class QLabel;
class QMenu;
class QMessageBox;
class QTabWidget;

namespace kme {
class Model;
}

namespace kme::app {

class CompareTab;
class EditTab;
class ErrorBanner;
class HistoryDock;
class JobStatusWidget;
class LearnDock;
class LocateTab;
class MethodsTab;
class ModelDock;
class PredictTab;
class SessionController;
class WalkthroughDock;

class MainWindow final : public QMainWindow {
    Q_OBJECT

public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Loads a model folder on the worker thread: what File ▸ Open model folder
    // and Recent models do. Returns false when another job is running.
    bool openModelFolder(const QString& folder);
    // File ▸ Open session / New session, without dialogs. openSession runs a
    // job (sessionOpenFinished on the controller); newSession is immediate
    // and shows its error in a message box.
    bool openSession(const QString& path);
    bool newSession(const QString& path);

    std::shared_ptr<kme::Model> model() const;
    const ModelFacts& modelFacts() const;
    SessionController* session() const { return session_; }
    JobRunner* jobRunner() const { return runner_; }
    JobStatusWidget* jobStatus() const { return jobStatus_; }
    PredictTab* predictTab() const { return predictTab_; }
    LocateTab* locateTab() const { return locateTab_; }
    EditTab* editTab() const { return editTab_; }
    CompareTab* compareTab() const { return compareTab_; }
    MethodsTab* methodsTab() const { return methodsTab_; }
    QTabWidget* tabs() const { return tabs_; }
    ModelDock* modelDock() const { return modelDock_; }
    HistoryDock* historyDock() const { return historyDock_; }
    LearnDock* learnDock() const { return learnDock_; }
    WalkthroughDock* walkthroughDock() const { return walkthroughDock_; }
    QMenu* recentMenu() const { return recentMenu_; }
    QMenu* recentSessionsMenu() const { return recentSessionsMenu_; }
    // The stable id of tab `index` ("predict", "locate", ...): Learn page and screenshot name.
    QString tabId(int index) const;

    // A start-up warning (e.g. slow BLAS) kept visible in the status bar.
    void showRuntimeWarning(const QString& warning);
    // A failure the user must see: the status bar, the error banner above
    // the tabs (until dismissed) and a window-modal message box, opened with
    // open(), never exec(), so nothing waits on it. One box at a time: an
    // open box takes the newest error (and keeps its objectName).
    // `boxName` is the new box's objectName ("jobErrorBox", "sessionErrorBox").
    void showError(const QString& title, const QString& message, const QString& boxName = QStringLiteral("errorBox"));
    // The newest error shown ("" = none yet), for tests and scripts.
    QString lastErrorTitle() const { return lastErrorTitle_; }
    QString lastError() const { return lastError_; }
    ErrorBanner* errorBanner() const { return errorBanner_; }
    // False: errors go to the status bar and the banner only, no message box
    // (tests that click on, or grab, the window afterwards).
    void setErrorBoxesEnabled(bool enabled) { errorBoxesEnabled_ = enabled; }
    // Writes geometry, dock layout and the current tab to QSettings.
    void saveLayout() const;
    // Opens the guided walk-through at its first step (Help ▸ Guided walk-through).
    void startWalkthrough();
    // The first start on a model offers the walk-through once (QSettings "walkthrough/offered").
    void offerWalkthroughOnce();

    // File ▸ Export, without dialogs. Session: the JSON of `kme session export`
    // (everything but delta blobs). Model: the live weights (the enabled edits
    // applied) as a complete model folder, on the worker thread
    // (exportFinished). False with *error when it cannot start or write.
    bool exportSessionJson(const QString& path, QString* error = nullptr);
    bool exportEditedModel(const QString& folder, QString* error = nullptr);

Q_SIGNALS:
    // After every load attempt started by openModelFolder.
    void modelLoadFinished(bool ok);
    // After exportEditedModel's job.
    void exportFinished(bool ok);
    // After showError: the window shows this error now.
    void errorShown(const QString& title, const QString& message);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void createTabs();
    void createDocks();
    void createActions();
    void restoreLayout();
    void rebuildRecentMenu();
    void rebuildRecentSessionsMenu();
    void chooseModelFolder();
    void chooseNewSession();
    void chooseSessionToOpen();
    void chooseSaveSessionAs();
    void onModelChanged();
    void onModelLoadFinished(bool ok);
    void prefillEditFromLocate(int layer);
    void openMethodInEdit(kme::EditMethod method);
    void showSessionError(const QString& title, const QString& message);
    void onSessionOpenFinished(bool ok);
    void updateTitle();
    void onJobFinished(const QString& title, JobOutcome outcome, const QString& message);
    void showAbout();
    void showPredictTab();
    void createExportMenu(QMenu* file);

    JobRunner* runner_ = nullptr;
    SessionController* session_ = nullptr;
    JobStatusWidget* jobStatus_ = nullptr;
    QLabel* warning_ = nullptr;
    QTabWidget* tabs_ = nullptr;
    PredictTab* predictTab_ = nullptr;
    LocateTab* locateTab_ = nullptr;
    EditTab* editTab_ = nullptr;
    CompareTab* compareTab_ = nullptr;
    MethodsTab* methodsTab_ = nullptr;
    ModelDock* modelDock_ = nullptr;
    HistoryDock* historyDock_ = nullptr;
    LearnDock* learnDock_ = nullptr;
    WalkthroughDock* walkthroughDock_ = nullptr;
    QMenu* recentMenu_ = nullptr;
    QMenu* recentSessionsMenu_ = nullptr;
    QAction* openAction_ = nullptr;
    QList<QAction*> sessionActions_;  // disabled while a job runs
    QAction* cancelAction_ = nullptr;
    QElapsedTimer jobClock_;  // how long the current job took, for the status bar
    ErrorBanner* errorBanner_ = nullptr;
    QPointer<QMessageBox> errorBox_;  // the error box on screen, if any
    bool errorBoxesEnabled_ = true;
    QString lastErrorTitle_;
    QString lastError_;
};

}  // namespace kme::app
