#pragma once
// What the command line asks the window to do once it is up: load a model,
// run a prompt, trace a subject, take screenshots and quit. Each step starts
// when the previous job has finished, so the window stays live throughout.
#include <QObject>
#include <QString>

namespace kme::app {

class MainWindow;

struct StartupOptions {
    QString modelFolder;    // empty: open nothing
    QString prompt;         // prefilled; predicted once a model is loaded
    QString traceSubject;   // non-empty: the Locate tab traces it (in --prompt, or the tab's default prompt)
    QString screenshotDir;  // non-empty: also generate and trace (the Locate tab's defaults when
                            // no subject is given), grab every tab, then emit done()
};

class StartupScript final : public QObject {
    Q_OBJECT

public:
    StartupScript(MainWindow* window, StartupOptions options, QObject* parent = nullptr);

    // Call once the event loop is about to run (e.g. after show()).
    void start();

Q_SIGNALS:
    // Screenshot mode only: everything done; 0 = every step succeeded.
    void done(int exitCode);

private:
    void onLoaded(bool ok);
    void onPredicted(bool ok);
    void trace();
    void onTraced(bool ok);
    void finish();
    void takeScreenshots();

    MainWindow* window_;
    StartupOptions options_;
    bool failed_ = false;  // a step failed (its message is in the status bar)
};

}  // namespace kme::app
