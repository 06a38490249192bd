#include "app/gui/StartupScript.h"

#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QLineEdit>
#include <QTemporaryDir>
#include <QTabWidget>
#include <QTimer>
#include <QToolButton>
#include <algorithm>
#include <cstdio>
#include <vector>

#include "app/gui/MainWindow.h"
#include "app/gui/Screenshots.h"
#include "app/gui/SessionController.h"
#include "app/gui/tabs/CompareTab.h"
#include "app/gui/tabs/EditTab.h"
#include "app/gui/tabs/LocateTab.h"
#include "app/gui/tabs/PredictTab.h"
#include "engine/core/Error.h"
#include "engine/session/ModelState.h"
#include "engine/edit/methods/MethodTable.h"

#ifndef KME_STUDIO_VERSION
#define KME_STUDIO_VERSION "0.1.0"  // app/CMakeLists.txt passes project(KMEStudio VERSION ...)
#endif

namespace kme::app {

// ---- the command line ------------------------------------------------------------

namespace {

const char* const kProgram = "kme-studio";

// One row per option: the parser and --help are made from the same table.
struct OptionSpec {
    QStringList names;  // short names first ("h", "help")
    QString valueName;  // "" = a switch
    QString help;       // one line
};

const std::vector<OptionSpec>& optionSpecs() {
    static const std::vector<OptionSpec> specs = {
        {{QStringLiteral("h"), QStringLiteral("help")}, {}, QStringLiteral("Print this help on stdout and exit.")},
        {{QStringLiteral("v"), QStringLiteral("version")}, {}, QStringLiteral("Print the version and exit.")},
        {{QStringLiteral("model")}, QStringLiteral("DIR"),
         QStringLiteral("Model folder to open (default: the demo model, when there is one).")},
        // Not "--session": Qt itself takes -session/--session (X11 session management).
        {{QStringLiteral("session-file")}, QStringLiteral("FILE"),
         QStringLiteral("Session (*.kmes) to open: its model, edits (replayed, verified), comparisons; "
                        "a missing FILE is created for --model.")},
        {{QStringLiteral("prompt")}, QStringLiteral("TEXT"),
         QStringLiteral("Prompt to prefill and predict once the model has loaded.")},
        {{QStringLiteral("trace-subject")}, QStringLiteral("SUBJECT"),
         QStringLiteral("Locate: trace SUBJECT in --prompt (or the Locate tab's default prompt) once loaded.")},
        {{QStringLiteral("edit")}, QStringLiteral("SPEC"),
         QStringLiteral("Run the edit \"template|subject|target_new[|target_true]\" once loaded, then compare; "
                        "repeat for several.")},
        {{QStringLiteral("compare")}, QStringLiteral("A|B"),
         QStringLiteral("Compare two states once the session is open (kme compare's STATE: original, now, after:K "
                        "or edit ids like 1,3), e.g. \"1|2\".")},
        {{QStringLiteral("method")}, QStringLiteral("NAME"),
         QStringLiteral("Edit method the Edit tab starts with and --edit uses (kme methods: rome, memit, mend, ...).")},
        {{QStringLiteral("screenshot")}, QStringLiteral("DIR"),
         QStringLiteral("Predict, generate, trace (and --edit) in a temporary session, write DIR/<tab>.png, "
                        "DIR/window.png, quit.")},
        {{QStringLiteral("threads")}, QStringLiteral("N"),
         QStringLiteral("Compute threads, 0 to 1024 (default 0: all cores).")},
        {{QStringLiteral("walkthrough")}, {},
         QStringLiteral("Open the guided walk-through (locate -> edit -> compare -> undo) at its first step.")},
    };
    return specs;
}

QString optionLabel(const OptionSpec& o) {
    QStringList parts;
    for (const QString& n : o.names) parts << (n.size() == 1 ? QStringLiteral("-") : QStringLiteral("--")) + n;
    QString label = parts.join(QStringLiteral(", "));
    if (!o.valueName.isEmpty()) label += QLatin1Char(' ') + o.valueName;
    return label;
}

CommandLine usageError(const QString& text) {
    CommandLine c;
    c.action = CommandLine::Action::UsageError;
    QString what = text;
    if (what.endsWith(QLatin1Char('.'))) what.chop(1);  // Qt's "Unknown option 'x'."
    c.text = QStringLiteral("%1: %2 (see %1 --help)").arg(QLatin1String(kProgram), what);
    return c;
}

}  // namespace

bool mayHoldQtOptions(const QStringList& arguments) {
    // kme-studio's own options are "--name" or "-h" / "-v"; Qt's are "-name"
    // (or "--name" for a few of them).
    static const QStringList qtNames = {
        QStringLiteral("platform"), QStringLiteral("platformpluginpath"), QStringLiteral("platformtheme"),
        QStringLiteral("plugin"), QStringLiteral("qmljsdebugger"), QStringLiteral("qwindowgeometry"),
        QStringLiteral("qwindowicon"), QStringLiteral("qwindowtitle"), QStringLiteral("reverse"),
        QStringLiteral("session"), QStringLiteral("style"), QStringLiteral("stylesheet"),
        QStringLiteral("widgetcount"), QStringLiteral("display"), QStringLiteral("geometry"),
        QStringLiteral("name"), QStringLiteral("title"), QStringLiteral("visual"), QStringLiteral("nograb"),
        QStringLiteral("dograb"), QStringLiteral("sync")};
    for (int i = 1; i < arguments.size(); ++i) {
        const QString& a = arguments[i];
        if (a == QLatin1String("--")) break;
        if (a.size() > 2 && a[0] == QLatin1Char('-') && a[1] != QLatin1Char('-')) return true;
        if (a.startsWith(QLatin1String("--")) && qtNames.contains(a.mid(2).section(QLatin1Char('='), 0, 0)))
            return true;
    }
    return false;
}

QString studioVersion() { return QStringLiteral(KME_STUDIO_VERSION); }

QString studioVersionLine() { return QStringLiteral("%1 %2").arg(QLatin1String(kProgram), studioVersion()); }

QString commandLineHelp() {
    QString out = QStringLiteral("Usage: %1 [options]\n"
                                 "KME Studio %2: locate, edit and compare facts in language models.\n\n"
                                 "Options:\n")
                      .arg(QLatin1String(kProgram), studioVersion());
    int width = 0;
    for (const OptionSpec& o : optionSpecs()) width = std::max(width, int(optionLabel(o).size()));
    for (const OptionSpec& o : optionSpecs())
        out += QStringLiteral("  %1  %2\n").arg(optionLabel(o).leftJustified(width), o.help);
    out += QStringLiteral(
        "\nWithout --model and --session-file the session of the last run is reopened, else a new autosave\n"
        "session starts on the demo model. Qt's own options (-platform NAME, -style NAME, ...) work too.\n");
    return out;
}

CommandLine parseCommandLine(const QStringList& arguments, const QString& defaultModel) {
    QCommandLineParser parser;
    // "-stylesheet" is one (Qt's) option, not -s -t -y ... -h: no help by accident.
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    for (const OptionSpec& o : optionSpecs()) parser.addOption(QCommandLineOption(o.names, o.help, o.valueName));
    auto option = [](const char* name) { return QString::fromLatin1(name); };
    const bool parsed = parser.parse(arguments);
    // --help and --version win over any other mistake on the line.
    if (parser.isSet(option("help"))) {
        CommandLine c;
        c.action = CommandLine::Action::Help;
        c.text = commandLineHelp();
        return c;
    }
    if (parser.isSet(option("version"))) {
        CommandLine c;
        c.action = CommandLine::Action::Version;
        c.text = studioVersionLine() + QLatin1Char('\n');
        return c;
    }
    if (!parsed) return usageError(parser.errorText().trimmed());
    const QStringList positional = parser.positionalArguments();
    if (!positional.isEmpty()) {
        QString arg = positional.first();
        if (arg.size() > 80) arg = arg.left(79) + QChar(0x2026);
        return usageError(QStringLiteral("unexpected argument '%1': only options are taken (a model folder is "
                                         "--model DIR)")
                              .arg(arg));
    }
    for (const OptionSpec& o : optionSpecs()) {
        const QString& name = o.names.last();
        if (o.valueName.isEmpty() || name == QLatin1String("edit")) continue;
        const QStringList values = parser.values(name);
        if (values.size() > 1) return usageError(QStringLiteral("--%1 is given %2 times; give it once").arg(name).arg(values.size()));
        if (values.size() == 1 && values.first().isEmpty() && name != QLatin1String("prompt"))
            return usageError(QStringLiteral("--%1 expects %2, got an empty value").arg(name, o.valueName));
    }
    CommandLine c;
    const QString threads = parser.value(option("threads"));
    bool threadsOk = true;
    c.threads = threads.isEmpty() ? 0 : threads.toInt(&threadsOk);
    if (!threadsOk || c.threads < 0 || c.threads > 1024) {
        QString shown = threads.size() > 80 ? threads.left(79) + QChar(0x2026) : threads;
        return usageError(QStringLiteral("--threads expects a number from 0 to 1024, got '%1'").arg(shown));
    }
    for (const QString& spec : parser.values(option("edit"))) {
        const int parts = int(spec.split(QLatin1Char('|')).size());
        if (parts < 3 || parts > 4) {
            QString shown = spec.size() > 80 ? spec.left(79) + QChar(0x2026) : spec;
            return usageError(
                QStringLiteral("--edit expects \"template|subject|target_new[|target_true]\", got \"%1\"").arg(shown));
        }
    }
    const QString method = parser.value(option("method"));
    if (!method.isEmpty() && !kme::findMethod(method.toStdString())) {
        QString names;
        for (const kme::MethodInfo& m : kme::methodTable())
            names += (names.isEmpty() ? QString() : QStringLiteral(", ")) + QString::fromLatin1(m.name);
        QString shown = method.size() > 40 ? method.left(39) + QChar(0x2026) : method;
        return usageError(QStringLiteral("--method expects one of %1, got '%2'").arg(names, shown));
    }
    c.options.method = method;
    const bool modelSet = parser.isSet(option("model"));
    const bool sessionSet = parser.isSet(option("session-file"));
    c.options.modelFolder = modelSet ? parser.value(option("model")) : defaultModel;
    c.options.sessionFile = parser.value(option("session-file"));
    // A plain start reopens the last session or saves into a new one.
    c.options.autoSession = !modelSet && !sessionSet;
    c.options.editSpecs = parser.values(option("edit"));
    c.options.prompt = parser.value(option("prompt"));
    c.options.traceSubject = parser.value(option("trace-subject"));
    c.options.screenshotDir = parser.value(option("screenshot"));
    const QString compare = parser.value(option("compare"));
    if (!compare.isEmpty()) {
        const QStringList sides = compare.split(QLatin1Char('|'));
        QString why;
        for (const QString& side : sides) {
            try {
                kme::parseStateSpec(side.toStdString(), "--compare");
            } catch (const kme::Error& e) {
                why = QString::fromStdString(e.what());
                break;
            }
        }
        if (sides.size() != 2) why = QStringLiteral("--compare expects \"A|B\" (two states), got \"%1\"").arg(compare.left(80));
        if (!why.isEmpty()) return usageError(why);
        c.options.compareStates = sides;
    }
    c.walkthrough = parser.isSet(option("walkthrough"));
    return c;
}

// ---- the script ----------------------------------------------------------------

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
    const QFileInfo named(options_.sessionFile);
    if (!options_.sessionFile.isEmpty() && !named.exists() && !named.isSymLink()) {
        // --session NEW.kmes: start it, with the model of --model (or the demo).
        // (A dangling symbolic link is opened, and refused, not replaced.)
        if (!window_->newSession(options_.sessionFile)) {
            // The window shows why.
            stopWithoutSession(tr("cannot create the session %1: %2")
                                   .arg(options_.sessionFile, window_->lastError().section(QLatin1Char('\n'), 0, 0)));
            return;
        }
        loadModel();
        return;
    }
    if (!sessionToOpen.isEmpty()) {
        connect(session, &SessionController::sessionOpenFinished, this, &StartupScript::onSessionOpened,
                Qt::SingleShotConnection);
        if (!window_->openSession(sessionToOpen)) {
            disconnect(session, &SessionController::sessionOpenFinished, this, &StartupScript::onSessionOpened);
            window_->showError(tr("The session %1 could not be opened.").arg(QFileInfo(sessionToOpen).fileName()),
                               session->openError(), QStringLiteral("sessionErrorBox"));
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
    if (!ok) {
        // --session-file, or the last run's session: the window shows why
        // (MainWindow, on sessionOpenFinished). Nothing starts in its place.
        const SessionController* session = window_->session();
        const QString file = session->openPath();
        // One line, naming the file (the engine's messages start with it).
        QString line = session->openError().section(QLatin1Char('\n'), 0, 0);
        if (line.isEmpty()) line = tr("opening the session %1 was cancelled").arg(file);
        else if (!line.contains(QFileInfo(file).fileName())) line = tr("cannot open the session %1: %2").arg(file, line);
        stopWithoutSession(line);
        return;
    }
    if (window_->model()) {
        onLoaded(true);  // the session's model is loaded, its edits replayed
        return;
    }
    loadModel();
}

void StartupScript::report(const QString& title, const QString& reason) {
    failed_ = true;
    std::fprintf(stderr, "kme-studio: %s\n", qPrintable(reason.section(QLatin1Char('\n'), 0, 0)));
    window_->showError(title, reason, QStringLiteral("startupErrorBox"));
}

void StartupScript::stopWithoutSession(const QString& line) {
    failed_ = true;
    std::fprintf(stderr, "kme-studio: %s\n", qPrintable(line));
    // No model is loaded and no session started: neither could be the one
    // asked for, and an autosave session would take the user's work away
    // from their file without a word.
    if (!options_.screenshotDir.isEmpty()) QTimer::singleShot(0, this, [this] { Q_EMIT done(1); });
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
    if (const kme::MethodInfo* m = kme::findMethod(options_.method.toStdString()))
        window_->editTab()->setMethod(m->method);
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
            report(tr("--trace-subject cannot run."), tr("cannot trace: %1").arg(error));
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
        if (!options_.compareStates.isEmpty() && window_->model()) {
            compareStates();
            return;
        }
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
        report(tr("--edit cannot run."),
               tr("--edit expects \"template|subject|target_new[|target_true]\", got \"%1\"").arg(spec.left(80)));
        finish();
        return;
    }
    EditTab* tab = window_->editTab();
    // The pictures show the hyper-parameters too.
    if (!options_.screenshotDir.isEmpty()) tab->advancedToggle()->setChecked(true);
    tab->setRequest(parts[0], parts[1], parts[2], parts.value(3));
    if (!tab->inputError().isEmpty()) {
        report(tr("--edit cannot run."), tr("cannot edit: %1").arg(tab->inputError()));
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
    report(tr("--edit cannot run."), tr("the edit could not start"));
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

void StartupScript::compareStates() {
    // kme compare's STATE syntax, resolved against the open session's edits.
    SessionController* session = window_->session();
    std::vector<int64_t> ids[2];
    try {
        for (int i = 0; i < 2; ++i) {
            const kme::StateSpec spec = kme::parseStateSpec(options_.compareStates[i].toStdString(), "--compare");
            ids[i] = kme::resolveState(spec, session->edits(), session->baseHash().toStdString(), "--compare").editIds;
        }
    } catch (const kme::Error& e) {
        report(tr("--compare cannot run."), QString::fromStdString(e.what()));
        failed_ = true;
        finish();
        return;
    }
    CompareTab* compare = window_->compareTab();
    window_->tabs()->setCurrentWidget(compare);
    compare->setStates(ids[0], ids[1]);
    connect(compare, &CompareTab::comparisonFinished, this, &StartupScript::onCompared, Qt::SingleShotConnection);
    if (compare->compare()) return;
    disconnect(compare, &CompareTab::comparisonFinished, this, &StartupScript::onCompared);
    failed_ = true;
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
