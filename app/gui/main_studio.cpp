// kme-studio: the GUI's thin main. Parses options, starts the compute
// runtime, shows the main window and hands the rest to StartupScript.
#include <QApplication>
#include <QStringList>
#include <cstdio>

#include "app/gui/MainWindow.h"
#include "app/gui/StartupScript.h"
#include "engine/core/Paths.h"
#include "engine/io/MappedFiles.h"
#include "engine/model/Model.h"

int main(int argc, char** argv) {
    using kme::app::CommandLine;
    kme::installMappedFileFaultHandler("kme-studio");  // a mapped checkpoint truncated while open: one line, exit 1
    {
        // --help, --version and usage errors first, before QApplication: they
        // need no display. With Qt's own options still in argv, a usage error
        // waits for the parse of what QApplication leaves.
        QStringList raw;
        for (int i = 0; i < argc; ++i) raw << QString::fromLocal8Bit(argv[i]);
        const CommandLine early = kme::app::parseCommandLine(raw, QString());
        if (early.action == CommandLine::Action::Help || early.action == CommandLine::Action::Version) {
            std::fputs(qPrintable(early.text), stdout);
            return std::fflush(stdout) == 0 && !std::ferror(stdout) ? 0 : 1;
        }
        if (early.action == CommandLine::Action::UsageError && !kme::app::mayHoldQtOptions(raw)) {
            std::fprintf(stderr, "%s\n", qPrintable(early.text));
            return 2;
        }
    }
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("KME"));
    QApplication::setApplicationName(QStringLiteral("KME Studio"));
    QApplication::setApplicationVersion(kme::app::studioVersion());

    // What QApplication left: its own options (-platform, -style, ...) are taken.
    const CommandLine line =
        kme::app::parseCommandLine(QApplication::arguments(), QString::fromStdString(kme::demoModelFolder()));
    if (line.action == CommandLine::Action::UsageError) {
        std::fprintf(stderr, "%s\n", qPrintable(line.text));
        return 2;
    }
    if (line.action != CommandLine::Action::Run) {
        std::fputs(qPrintable(line.text), stdout);
        return 0;
    }
    const QString blasWarning = QString::fromStdString(kme::initComputeRuntime(line.threads));
    if (!blasWarning.isEmpty()) std::fprintf(stderr, "kme-studio: %s\n", qPrintable(blasWarning));

    const kme::app::StartupOptions& options = line.options;
    kme::app::MainWindow window;
    if (!options.screenshotDir.isEmpty()) window.resize(1400, 900);  // same pictures whatever was saved
    window.showRuntimeWarning(blasWarning);
    window.show();
    if (line.walkthrough) window.startWalkthrough();
    else if (options.autoSession && options.screenshotDir.isEmpty()) window.offerWalkthroughOnce();

    kme::app::StartupScript script(&window, options);
    QObject::connect(&script, &kme::app::StartupScript::done, &app, [](int code) { QCoreApplication::exit(code); });
    script.start();
    return app.exec();
}
