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
                            // file is created as a new session for modelFolder. One that cannot be
                            // opened (or created) leaves the window without session and model, the
                            // reason shown (MainWindow::showError): nothing starts in its place
    bool autoSession = false;  // the plain start: reopen the last session, else start an autosave
                               // session (SessionController::autosaveFolder) for modelFolder
    QString prompt;         // prefilled; predicted once a model is loaded
    QString traceSubject;   // non-empty: the Locate tab traces it (in --prompt, or the tab's default prompt)
    QString method;         // --method: the Edit tab's method ("" = its default)
    QStringList editSpecs;  // "template|subject|target_new[|target_true]" each: run these edits in order, then Compare
    QStringList compareStates;  // two STATEs (kme compare's syntax): compare them once loaded (after any --edit)
    QString screenshotDir;  // non-empty: also generate and trace (the Locate tab's defaults when
                            // no subject is given), grab every tab, then emit done(). Without
                            // --session the pictures use a fresh temporary session; with an
                            // existing session nothing is traced unless asked: the pictures
                            // show what the session restored.
};

// kme-studio's command line, parsed without a QApplication (so that --help
// and --version work without a display). Qt's own options (-platform,
// -style, ...) are QApplication's: parse what QApplication::arguments() left.
struct CommandLine {
    enum class Action { Run, Help, Version, UsageError };
    Action action = Action::Run;
    QString text;            // Help, Version: for stdout; UsageError: the one line for stderr (exit 2)
    StartupOptions options;  // Run: what the window is to do
    int threads = 0;         // --threads (0 = all cores)
    bool walkthrough = false;  // --walkthrough
};
// `arguments[0]` is the program. `defaultModel`: the folder opened without --model (the demo's).
CommandLine parseCommandLine(const QStringList& arguments, const QString& defaultModel);
// True when `arguments` may hold one of Qt's own options (-platform NAME,
// -style NAME, --reverse, ...), which only QApplication takes off the list:
// without them a usage error can be reported before QApplication starts
// (no display needed, no Qt warnings before the message).
bool mayHoldQtOptions(const QStringList& arguments);
// The --help text: usage, then every option on one line.
QString commandLineHelp();
// "kme-studio 0.1.0" (project(KMEStudio VERSION ...) in the top CMakeLists.txt).
QString studioVersionLine();
QString studioVersion();

class StartupScript final : public QObject {
    Q_OBJECT

public:
    StartupScript(MainWindow* window, StartupOptions options, QObject* parent = nullptr);
    ~StartupScript() override;

    // Call once the event loop is about to run (e.g. after show()).
    void start();

Q_SIGNALS:
    // Screenshot mode only: everything done; 0 = every step succeeded.
    // Also (1) when the session to open cannot be: no pictures then.
    void done(int exitCode);

private:
    void onSessionOpened(bool ok);
    // The session the start was to use cannot be opened or created: the
    // window stays without a session and without a model (nothing is
    // started in its place), the reason shown; `line` goes to stderr;
    // screenshot mode ends with 1.
    void stopWithoutSession(const QString& line);
    // A step cannot run: stderr (one line) and the window (showError).
    void report(const QString& title, const QString& reason);
    void startAutosaveSession();
    void loadModel();
    void onLoaded(bool ok);
    void onPredicted(bool ok);
    void trace();
    void onTraced(bool ok);
    void edit();
    void runEdit();
    void compareAfterEdits(bool ok);
    void compareStates();
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
