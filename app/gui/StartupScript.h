#pragma once
// What the command line asks the window to do once it is up: open a
// session or load a model, run a prompt, trace a subject, run an edit and
// compare, take screenshots and quit. Each step starts when the previous job
// has finished, so the window stays live throughout.
#include <QObject>
#include <QString>
#include <QStringList>
#include <memory>

class QTemporaryDir;

namespace kme::app {

class MainWindow;

struct StartupOptions {
    QString modelFolder;    // empty: open nothing (unless a session names a model)
    QString sessionFile;    // non-empty: open this session (its model, edits, comparisons); a missing
                            // file is created as a new session for modelFolder
    bool autoSession = false;  // the plain start: reopen the last session, else start an autosave
                               // session (SessionController::autosaveFolder) for modelFolder
    QString prompt;         // prefilled; predicted once a model is loaded
    QString traceSubject;   // non-empty: the Locate tab traces it (in --prompt, or the tab's default prompt)
    QStringList editSpecs;  // "template|subject|target_new[|target_true]" each: run these edits in order, then Compare
    QString screenshotDir;  // non-empty: also generate and trace (the Locate tab's defaults when
                            // no subject is given), grab every tab, then emit done(). Without
                            // --session the pictures use a fresh temporary session; with an
                            // existing session nothing is traced unless asked: the pictures
                            // show what the session restored.
};

class StartupScript final : public QObject {
    Q_OBJECT

public:
    StartupScript(MainWindow* window, StartupOptions options, QObject* parent = nullptr);
    ~StartupScript() override;

    // Call once the event loop is about to run (e.g. after show()).
    void start();

Q_SIGNALS:
    // Screenshot mode only: everything done; 0 = every step succeeded.
    void done(int exitCode);

private:
    void onSessionOpened(bool ok);
    void startAutosaveSession();
    void loadModel();
    void onLoaded(bool ok);
    void onPredicted(bool ok);
    void trace();
    void onTraced(bool ok);
    void edit();
    void runEdit();
    void compareAfterEdits(bool ok);
    void onCompared(bool ok);
    void finish();
    void takeScreenshots();

    MainWindow* window_;
    StartupOptions options_;
    std::unique_ptr<QTemporaryDir> tmp_;  // the screenshot session's folder
    int nextEdit_ = 0;     // index into options_.editSpecs
    bool failed_ = false;  // a step failed (its message is in the status bar)
    bool reopened_ = false;  // an existing session was opened: its pictures show what it restored
};

}  // namespace kme::app
