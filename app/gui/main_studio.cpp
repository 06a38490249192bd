// kme-studio: the GUI's thin main. Parses options, starts the compute
// runtime, shows the main window and hands the rest to StartupScript.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <cstdio>

#include "app/gui/MainWindow.h"
#include "app/gui/StartupScript.h"
#include "engine/core/Paths.h"
#include "engine/model/Model.h"

#ifndef KME_STUDIO_VERSION
#define KME_STUDIO_VERSION "0.1.0"  // keep in step with project() in the top CMakeLists.txt
#endif

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("KME"));
    QApplication::setApplicationName(QStringLiteral("KME Studio"));
    QApplication::setApplicationVersion(QStringLiteral(KME_STUDIO_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("KME Studio — locate, edit and compare facts in language models."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption model(QStringLiteral("model"),
                                   QStringLiteral("Model folder to open (default: the demo model, when there is one)."),
                                   QStringLiteral("DIR"));
    const QCommandLineOption prompt(QStringLiteral("prompt"),
                                    QStringLiteral("Prompt to prefill and predict once the model has loaded."),
                                    QStringLiteral("TEXT"));
    const QCommandLineOption traceSubject(
        QStringLiteral("trace-subject"),
        QStringLiteral("Locate: trace SUBJECT in --prompt (or in the Locate tab's default prompt) once the model "
                       "has loaded."),
        QStringLiteral("SUBJECT"));
    // Not "--session": Qt itself takes -session/--session (X11 session management).
    const QCommandLineOption session(
        QStringLiteral("session-file"),
        QStringLiteral("Session file (*.kmes) to open: its model, its edits (replayed and verified), its comparisons "
                       "(a new file is created for --model). Default: the session of the last run, else a new "
                       "autosave session."),
        QStringLiteral("FILE"));
    const QCommandLineOption edit(
        QStringLiteral("edit"),
        QStringLiteral("Run this edit once the model has loaded, then compare: \"template|subject|target_new"
                       "[|target_true]\", e.g. \"The {} is located in the city of|Colosseum|Paris\". Repeat for "
                       "several edits, run in order."),
        QStringLiteral("SPEC"));
    const QCommandLineOption screenshot(
        QStringLiteral("screenshot"),
        QStringLiteral("Predict, generate, trace (and --edit) first in a temporary session, write DIR/<tab>.png, "
                       "DIR/history.png and DIR/window.png, then quit."),
        QStringLiteral("DIR"));
    const QCommandLineOption threads(QStringLiteral("threads"),
                                     QStringLiteral("Compute threads (default: all cores)."), QStringLiteral("N"),
                                     QStringLiteral("0"));
    const QCommandLineOption walkthrough(
        QStringLiteral("walkthrough"),
        QStringLiteral("Open the guided walk-through (locate -> edit -> compare -> undo) at its first step. A plain "
                       "first start opens it by itself, once."));
    parser.addOptions({model, session, prompt, traceSubject, edit, screenshot, threads, walkthrough});
    parser.process(app);

    bool threadsOk = false;
    const int nThreads = parser.value(threads).toInt(&threadsOk);
    if (!threadsOk || nThreads < 0 || nThreads > 1024) {
        std::fprintf(stderr, "kme-studio: --threads expects a number from 0 to 1024, got '%s'\n",
                     qPrintable(parser.value(threads)));
        return 2;
    }
    const QString blasWarning = QString::fromStdString(kme::initComputeRuntime(nThreads));
    if (!blasWarning.isEmpty()) std::fprintf(stderr, "kme-studio: %s\n", qPrintable(blasWarning));

    kme::app::StartupOptions options;
    options.modelFolder = parser.isSet(model) ? parser.value(model) : QString::fromStdString(kme::demoModelFolder());
    options.sessionFile = parser.value(session);
    // A plain start reopens the last session or saves into a new one.
    options.autoSession = !parser.isSet(model) && !parser.isSet(session);
    options.editSpecs = parser.values(edit);
    options.prompt = parser.value(prompt);
    options.traceSubject = parser.value(traceSubject);
    options.screenshotDir = parser.value(screenshot);

    kme::app::MainWindow window;
    if (!options.screenshotDir.isEmpty()) window.resize(1400, 900);  // same pictures whatever was saved
    window.showRuntimeWarning(blasWarning);
    window.show();
    if (parser.isSet(walkthrough)) window.startWalkthrough();
    else if (options.autoSession && options.screenshotDir.isEmpty()) window.offerWalkthroughOnce();

    kme::app::StartupScript script(&window, options);
    QObject::connect(&script, &kme::app::StartupScript::done, &app, [](int code) { QCoreApplication::exit(code); });
    script.start();
    return app.exec();
}
