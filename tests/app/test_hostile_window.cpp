// The window given hostile start-up input (issue 12): a --session-file (or
// the last run's session) that cannot be opened is reported in the window —
// message box, error banner, status bar, naming the file and the engine's
// reason — and nothing starts in its place: no model, no new autosave
// session, and the file's bytes (and the files beside it) stay as they were.
// A model folder that does not load says why in the window too. And the
// command line: --help / --version / usage errors (parseCommandLine).
#include <QtTest>

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QMessageBox>
#include <QRegularExpression>
#include <QSettings>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QToolButton>
#include <map>
#include <sys/stat.h>

#include "app/gui/ErrorBanner.h"
#include "app/gui/JobRunner.h"
#include "app/gui/MainWindow.h"
#include "app/gui/SessionController.h"
#include "app/gui/StartupScript.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"
#include "engine/session/SessionEdits.h"
#include "engine/session/SessionStore.h"
#include "tests/app/AppTestSupport.h"
#include "tests/app/TinyModelFolder.h"
#include "tests/engine/test_session_support.h"

using namespace kme::app;
using kme::testing::kAppJobTimeoutMs;
using kme::testing::waitIdle;

namespace {

// Every file under `dir` (recursive) with its bytes: what "left as it was" means.
std::map<QString, QByteArray> snapshot(const QString& dir) {
    std::map<QString, QByteArray> files;
    QDirIterator it(dir, QDir::Files | QDir::Dirs | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System,
                    QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        const QFileInfo info(path);
        QFile f(path);
        QByteArray& bytes = files[QDir(dir).relativeFilePath(path)];
        if (info.isDir()) bytes = "<folder>";
        else if (!info.isFile()) bytes = "<not a regular file>";  // a FIFO: reading it would wait for a writer
        else bytes = f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray("<unreadable>");
    }
    return files;
}

QString describe(const std::map<QString, QByteArray>& files) {
    QStringList out;
    for (const auto& [name, bytes] : files) out << QStringLiteral("%1 (%2 bytes)").arg(name).arg(bytes.size());
    return out.join(QStringLiteral(", "));
}

QString hex(const std::string& bytes) { return QString::fromLatin1(QByteArray::fromStdString(bytes).toHex()); }

}  // namespace

class TestHostileWindow final : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    QString tiny_;          // a tiny model folder
    std::string tinyHash_;  // its weights hash

    // A sound session that records `model` (at its folder), closed.
    void writeSession(const QString& path, const kme::Model& model, bool withEdit = false) {
        kme::SessionStore store(path.toStdString());
        kme::attachModel(store, model, model.weightsHash());
        if (withEdit) {
            kme::WeightDelta delta;
            kme::DeltaMatrix d;
            d.rows = 64;
            d.cols = 16;
            d.data.assign(size_t(d.rows * d.cols), 1e-3);
            delta.parts.push_back(kme::TensorDelta::denseDelta("h.0.mlp.c_proj.weight", {64, 16}, d));
            kme::EditRecord e;
            e.name = "an edit";
            e.method = "ft-l";
            e.requestJson = R"([{"prompt":"The capital of {} is","subject":"France","target_new":" Rome"}])";
            e.hparamsJson = "{}";
            e.delta = delta.serialize();
            e.computedOnHash = model.weightsHash();
            e.weightsHashAfter = model.weightsHash();
            store.addEdit(e);
        }
    }

    // A fresh folder for one row: the file and whatever lies beside it.
    QString rowDir(const QString& name) {
        const QString dir = tmp_.filePath(QStringLiteral("rows/") + name);
        QDir().mkpath(dir);
        return dir;
    }

    // After a start that had to stop: no model, no session, no job, no autosave file.
    static void verifyNothingStarted(MainWindow& w, const QSignalSpy& loaded) {
        QVERIFY(!w.jobRunner()->isBusy());  // a model load would have started by now
        QCOMPARE(loaded.size(), 0);
        QVERIFY(!w.model());
        QVERIFY(!w.session()->hasSession());
        const QStringList autosaved = QDir(SessionController::autosaveFolder()).entryList(QDir::Files);
        QVERIFY2(autosaved.isEmpty(), qPrintable(autosaved.join(QStringLiteral(", "))));
    }

    // The window shows `name` and the reason in its banner, status bar and message box.
    static void verifyShown(MainWindow& w, const QString& name, const QString& reason) {
        const QRegularExpression why(reason, QRegularExpression::CaseInsensitiveOption);
        QVERIFY2(w.lastErrorTitle().contains(name), qPrintable(w.lastErrorTitle()));
        QVERIFY2(w.lastError().contains(name) && why.match(w.lastError()).hasMatch(), qPrintable(w.lastError()));
        QVERIFY(w.errorBanner()->isVisible());
        QVERIFY2(w.errorBanner()->text().contains(name) && why.match(w.errorBanner()->text()).hasMatch(),
                 qPrintable(w.errorBanner()->text()));
        const QString status = w.statusBar()->currentMessage();
        QVERIFY2(status.startsWith(QStringLiteral("Error")) && status.contains(name), qPrintable(status));
        auto* box = w.findChild<QMessageBox*>();
        QVERIFY(box);
        QVERIFY(box->isVisible());
        QVERIFY2(box->text().contains(name), qPrintable(box->text()));
        QVERIFY2(box->informativeText().contains(name) && why.match(box->informativeText()).hasMatch(),
                 qPrintable(box->informativeText()));
        box->close();
    }

private Q_SLOTS:
    void initTestCase() {
        kme::testing::isolateSettings("test_hostile_window");
        QVERIFY(tmp_.isValid());
        tiny_ = tmp_.filePath(QStringLiteral("tiny-gpt2"));
        QVERIFY(QDir().mkpath(tiny_));
        kme::testing::writeTinyModelFolder(tiny_.toStdString());
        const auto model = kme::Model::load(tiny_.toStdString());
        tinyHash_ = model->weightsHash();

        // Random bytes.
        kme::testing::writeFileBytes(rowDir(QStringLiteral("random")).toStdString() + "/random.kmes",
                                     kme::testing::patternBytes(12, 8192));
        // A sound session cut to its first page.
        const QString full = tmp_.filePath(QStringLiteral("full.kmes"));
        writeSession(full, *model);
        const std::string bytes = kme::testing::readFileBytes(full.toStdString());
        QVERIFY(bytes.size() > 4096);
        kme::testing::writeFileBytes(rowDir(QStringLiteral("truncated")).toStdString() + "/truncated.kmes",
                                     bytes.substr(0, 4096));
        // Written by a newer KME Studio.
        const QString newer = rowDir(QStringLiteral("newer")) + QStringLiteral("/newer.kmes");
        writeSession(newer, *model);
        kme::testing::RawDb(newer.toStdString()).exec("PRAGMA user_version = 99");
        // Another program's database.
        kme::testing::RawDb(rowDir(QStringLiteral("foreign")).toStdString() + "/foreign.kmes")
            .exec("PRAGMA application_id = 1330926924; CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT);"
                  "INSERT INTO notes (text) VALUES ('my notes');");
        // A sound session whose one edit's delta holds a NaN (written past the store's checks).
        const QString nan = rowDir(QStringLiteral("nan")) + QStringLiteral("/nan-delta.kmes");
        writeSession(nan, *model, true);
        {
            kme::WeightDelta bad = kme::WeightDelta::deserialize(
                kme::SessionStore(nan.toStdString()).listEdits(true).front().delta);
            bad.parts.front().dense.data[5] = std::numeric_limits<double>::quiet_NaN();
            kme::testing::RawDb(nan.toStdString())
                .exec("UPDATE edits SET delta = X'" + hex(bad.serialize()).toStdString() + "'");
        }
        // A folder named like a session, with a file of the user's in it.
        const QString folder = rowDir(QStringLiteral("folder")) + QStringLiteral("/folder.kmes");
        QVERIFY(QDir().mkpath(folder));
        kme::testing::writeFileBytes(folder.toStdString() + "/keep.txt", "mine\n");
        // A FIFO: nothing may wait for a writer that never comes.
        const QString fifo = rowDir(QStringLiteral("fifo")) + QStringLiteral("/fifo.kmes");
        QCOMPARE(::mkfifo(QFile::encodeName(fifo).constData(), 0600), 0);
        // A sound session whose model folder is gone.
        const QString gone = tmp_.filePath(QStringLiteral("gone-model"));
        QVERIFY(QDir().mkpath(gone));
        for (const QString& f : QDir(tiny_).entryList(QDir::Files))
            QVERIFY(QFile::copy(tiny_ + QLatin1Char('/') + f, gone + QLatin1Char('/') + f));
        {
            const auto goneModel = kme::Model::load(gone.toStdString());
            writeSession(rowDir(QStringLiteral("missing-model")) + QStringLiteral("/missing-model.kmes"), *goneModel);
        }
        QVERIFY(QDir(gone).removeRecursively());
    }

    void init() {
        // Each case starts as a first run: no last session, no autosave files.
        QSettings().clear();
        QDir(SessionController::autosaveFolder()).removeRecursively();
    }

    void corruptSessionFileOpensNothing_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("reason");  // a regular expression the engine's message matches
        auto row = [this](const char* name, const QString& dir, const QString& file, const QString& reason) {
            QTest::newRow(name) << tmp_.filePath(QStringLiteral("rows/%1/%2").arg(dir, file)) << reason;
        };
        row("random bytes", QStringLiteral("random"), QStringLiteral("random.kmes"),
            QStringLiteral("not a KME session file"));
        row("truncated", QStringLiteral("truncated"), QStringLiteral("truncated.kmes"),
            QStringLiteral("truncated|damaged"));
        row("newer schema", QStringLiteral("newer"), QStringLiteral("newer.kmes"), QStringLiteral("newer KME Studio"));
        row("another application's database", QStringLiteral("foreign"), QStringLiteral("foreign.kmes"),
            QStringLiteral("not a KME session file"));
        row("NaN delta", QStringLiteral("nan"), QStringLiteral("nan-delta.kmes"),
            QStringLiteral("edit #1.*(non-finite|NaN)"));
        row("a folder", QStringLiteral("folder"), QStringLiteral("folder.kmes"), QStringLiteral("folder"));
        row("a FIFO", QStringLiteral("fifo"), QStringLiteral("fifo.kmes"), QStringLiteral("cannot read|not a regular"));
        row("missing model folder", QStringLiteral("missing-model"), QStringLiteral("missing-model.kmes"),
            QStringLiteral("model folder is missing"));
    }

    void corruptSessionFileOpensNothing() {
        QFETCH(QString, file);
        QFETCH(QString, reason);
        const QString dir = QFileInfo(file).absolutePath();
        const auto before = snapshot(dir);
        QVERIFY(!before.empty());

        // kme-studio --session-file FILE: the demo model would be the model.
        StartupOptions options;
        options.sessionFile = file;
        options.modelFolder = tiny_;
        MainWindow w;
        w.show();
        StartupScript script(&w, options);
        QSignalSpy opened(w.session(), &SessionController::sessionOpenFinished);
        QSignalSpy loaded(&w, &MainWindow::modelLoadFinished);
        script.start();
        QTRY_COMPARE_WITH_TIMEOUT(opened.size(), 1, kAppJobTimeoutMs);
        QCOMPARE(opened.first().first().toBool(), false);
        QVERIFY(waitIdle(w));

        verifyNothingStarted(w, loaded);
        if (QTest::currentTestFailed()) return;
        verifyShown(w, QFileInfo(file).fileName(), reason);
        if (QTest::currentTestFailed()) return;
        QVERIFY2(w.lastError().contains(QStringLiteral("No session is open")), qPrintable(w.lastError()));
        QVERIFY(SessionController::recentSessions().isEmpty());
        QVERIFY(SessionController::lastSession().isEmpty());
        // The window says the file was not changed, and it was not: same bytes, nothing beside it.
        QVERIFY2(w.lastError().contains(QStringLiteral("The file was not changed")), qPrintable(w.lastError()));
        const auto after = snapshot(dir);
        QVERIFY2(after == before, qPrintable(describe(before) + QStringLiteral(" -> ") + describe(after)));
    }

    void corruptLastSessionStartsNothing() {
        // The plain start reopens the last run's session: when that file is
        // now garbage, the window says so and does not start afresh.
        const QString file = tmp_.filePath(QStringLiteral("rows/random/random.kmes"));
        const auto before = snapshot(QFileInfo(file).absolutePath());
        QSettings().setValue(QStringLiteral("session/last"), file);
        QCOMPARE(SessionController::lastSession(), file);
        StartupOptions options;
        options.modelFolder = tiny_;
        options.autoSession = true;
        MainWindow w;
        w.show();
        StartupScript script(&w, options);
        QSignalSpy opened(w.session(), &SessionController::sessionOpenFinished);
        QSignalSpy loaded(&w, &MainWindow::modelLoadFinished);
        script.start();
        QTRY_COMPARE_WITH_TIMEOUT(opened.size(), 1, kAppJobTimeoutMs);
        QVERIFY(waitIdle(w));
        verifyNothingStarted(w, loaded);
        if (QTest::currentTestFailed()) return;
        verifyShown(w, QStringLiteral("random.kmes"), QStringLiteral("not a KME session file"));
        if (QTest::currentTestFailed()) return;
        QVERIFY(snapshot(QFileInfo(file).absolutePath()) == before);
        // The banner goes when dismissed.
        QTest::mouseClick(w.errorBanner()->dismissButton(), Qt::LeftButton);
        QVERIFY(!w.errorBanner()->isVisible());
    }

    void screenshotsWithCorruptSessionWriteNothing() {
        const QString file = tmp_.filePath(QStringLiteral("rows/newer/newer.kmes"));
        const QString shots = tmp_.filePath(QStringLiteral("shots"));
        StartupOptions options;
        options.sessionFile = file;
        options.modelFolder = tiny_;
        options.screenshotDir = shots;
        MainWindow w;
        w.setErrorBoxesEnabled(false);
        w.show();
        StartupScript script(&w, options);
        QSignalSpy done(&script, &StartupScript::done);
        script.start();
        QTRY_COMPARE_WITH_TIMEOUT(done.size(), 1, kAppJobTimeoutMs);
        QCOMPARE(done.first().first().toInt(), 1);
        QVERIFY(!QFileInfo::exists(shots));
        QVERIFY(!w.model());
        QVERIFY(!w.findChild<QMessageBox*>());  // boxes off: banner and status bar only
        QVERIFY(w.errorBanner()->isVisible());
        QVERIFY2(w.lastError().contains(QStringLiteral("newer KME Studio")), qPrintable(w.lastError()));
    }

    void uncreatableSessionStartsNothing() {
        // --session-file NEW.kmes in a folder that cannot exist (under a file).
        const QString blocker = tmp_.filePath(QStringLiteral("a-file"));
        kme::testing::writeFileBytes(blocker.toStdString(), "x");
        StartupOptions options;
        options.sessionFile = blocker + QStringLiteral("/new.kmes");
        options.modelFolder = tiny_;
        MainWindow w;
        w.show();
        StartupScript script(&w, options);
        QSignalSpy loaded(&w, &MainWindow::modelLoadFinished);
        script.start();
        verifyNothingStarted(w, loaded);
        if (QTest::currentTestFailed()) return;
        QVERIFY2(w.lastError().contains(QStringLiteral("a-file")), qPrintable(w.lastError()));
        QVERIFY(w.errorBanner()->isVisible());
        auto* box = w.findChild<QMessageBox*>(QStringLiteral("sessionErrorBox"));
        QVERIFY(box);
        box->close();
    }

    void badModelFolderShowsReason() {
        const QString bad = tmp_.filePath(QStringLiteral("bad-config"));
        QVERIFY(QDir().mkpath(bad));
        kme::testing::writeTinyModelFolder(bad.toStdString());
        kme::testing::writeFileBytes(bad.toStdString() + "/config.json", "{\"model_type\": \"gpt2\", \"n_layer\": ");
        StartupOptions options;
        options.modelFolder = bad;
        MainWindow w;
        w.show();
        StartupScript script(&w, options);
        QSignalSpy loaded(&w, &MainWindow::modelLoadFinished);
        script.start();
        QTRY_COMPARE_WITH_TIMEOUT(loaded.size(), 1, kAppJobTimeoutMs);
        QCOMPARE(loaded.first().first().toBool(), false);
        QVERIFY(waitIdle(w));
        QVERIFY(!w.model());
        QVERIFY2(w.lastError().contains(QStringLiteral("config.json")), qPrintable(w.lastError()));
        QVERIFY(w.errorBanner()->isVisible());
        QVERIFY2(w.errorBanner()->text().contains(QStringLiteral("config.json")), qPrintable(w.errorBanner()->text()));
        QVERIFY(w.statusBar()->currentMessage().contains(QStringLiteral("config.json")));
        auto* box = w.findChild<QMessageBox*>(QStringLiteral("jobErrorBox"));
        QVERIFY(box);
        QVERIFY(box->informativeText().contains(QStringLiteral("config.json")));
        box->close();
    }

    // ---- the command line --------------------------------------------------

    void helpListsEveryOption_data() {
        QTest::addColumn<QStringList>("args");
        QTest::newRow("--help") << QStringList{QStringLiteral("--help")};
        QTest::newRow("-h") << QStringList{QStringLiteral("-h")};
        QTest::newRow("--help after a mistake") << QStringList{QStringLiteral("--bogus"), QStringLiteral("--help")};
        QTest::newRow("before QApplication, Qt options still there")
            << QStringList{QStringLiteral("-platform"), QStringLiteral("offscreen"), QStringLiteral("--help")};
    }

    void helpListsEveryOption() {
        QFETCH(QStringList, args);
        const CommandLine c = parseCommandLine(QStringList{QStringLiteral("kme-studio")} + args, QString());
        QCOMPARE(int(c.action), int(CommandLine::Action::Help));
        QCOMPARE(c.text, commandLineHelp());
        const QStringList lines = c.text.split(QLatin1Char('\n'));
        QVERIFY(lines.first().startsWith(QStringLiteral("Usage: kme-studio")));
        for (const char* label : {"-h, --help", "-v, --version", "--model DIR", "--session-file FILE", "--prompt TEXT",
                                  "--trace-subject SUBJECT", "--edit SPEC", "--screenshot DIR", "--threads N",
                                  "--walkthrough"}) {
            const QString start = QStringLiteral("  ") + QLatin1String(label) + QLatin1Char(' ');
            int found = 0;
            for (const QString& line : lines) {
                if (!line.startsWith(start)) continue;
                ++found;
                QVERIFY2(line.mid(start.size()).trimmed().size() > 10, qPrintable(line));  // it says what it does
            }
            QVERIFY2(found == 1, label);
        }
    }

    void versionIsPrinted() {
        for (const QString& arg : {QStringLiteral("--version"), QStringLiteral("-v")}) {
            const CommandLine c = parseCommandLine({QStringLiteral("kme-studio"), arg}, QString());
            QCOMPARE(int(c.action), int(CommandLine::Action::Version));
            QVERIFY2(QRegularExpression(QStringLiteral("^kme-studio \\d+\\.\\d+\\.\\d+\n$")).match(c.text).hasMatch(),
                     qPrintable(c.text));
            QCOMPARE(c.text, studioVersionLine() + QLatin1Char('\n'));
        }
    }

    void usageErrors_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("fragment");
        QTest::newRow("unknown option") << QStringList{QStringLiteral("--bogus")} << QStringLiteral("bogus");
        QTest::newRow("missing value") << QStringList{QStringLiteral("--model")} << QStringLiteral("model");
        QTest::newRow("a positional argument") << QStringList{QStringLiteral("my-model")}
                                               << QStringLiteral("unexpected argument 'my-model'");
        QTest::newRow("threads not a number") << QStringList{QStringLiteral("--threads"), QStringLiteral("lots")}
                                              << QStringLiteral("--threads expects a number from 0 to 1024");
        QTest::newRow("threads too many") << QStringList{QStringLiteral("--threads"), QStringLiteral("5000")}
                                          << QStringLiteral("--threads expects a number from 0 to 1024");
        QTest::newRow("model twice") << QStringList{QStringLiteral("--model"), QStringLiteral("a"),
                                                    QStringLiteral("--model"), QStringLiteral("b")}
                                     << QStringLiteral("--model is given 2 times");
        QTest::newRow("empty session file") << QStringList{QStringLiteral("--session-file"), QString()}
                                            << QStringLiteral("--session-file expects FILE");
        QTest::newRow("edit without parts") << QStringList{QStringLiteral("--edit"), QStringLiteral("no parts")}
                                            << QStringLiteral("--edit expects");
        QTest::newRow("a huge argument is not echoed")
            << QStringList{QString(100000, QLatin1Char('x'))} << QStringLiteral("unexpected argument");
    }

    void usageErrors() {
        QFETCH(QStringList, args);
        QFETCH(QString, fragment);
        const CommandLine c = parseCommandLine(QStringList{QStringLiteral("kme-studio")} + args, QString());
        QCOMPARE(int(c.action), int(CommandLine::Action::UsageError));
        QVERIFY2(c.text.startsWith(QStringLiteral("kme-studio: ")), qPrintable(c.text));
        QVERIFY2(c.text.contains(fragment), qPrintable(c.text));
        QVERIFY2(!c.text.contains(QLatin1Char('\n')), qPrintable(c.text));  // one line
        QVERIFY2(c.text.size() < 300, qPrintable(c.text.left(300)));
    }

    void qtOptionsWaitForQApplication() {
        auto holds = [](QStringList args) { return mayHoldQtOptions(QStringList{QStringLiteral("kme-studio")} + args); };
        QVERIFY(holds({QStringLiteral("-platform"), QStringLiteral("offscreen"), QStringLiteral("--bogus")}));
        QVERIFY(holds({QStringLiteral("--style"), QStringLiteral("fusion")}));
        QVERIFY(holds({QStringLiteral("-reverse")}));
        QVERIFY(!holds({QStringLiteral("--bogus")}));
        QVERIFY(!holds({QStringLiteral("-h")}));
        QVERIFY(!holds({QStringLiteral("--model"), QStringLiteral("m"), QStringLiteral("extra")}));
        QVERIFY(!holds({QStringLiteral("--"), QStringLiteral("-platform")}));
    }

    void optionsAreParsed() {
        const CommandLine plain = parseCommandLine({QStringLiteral("kme-studio")}, QStringLiteral("/demo/model"));
        QCOMPARE(int(plain.action), int(CommandLine::Action::Run));
        QCOMPARE(plain.options.modelFolder, QStringLiteral("/demo/model"));
        QVERIFY(plain.options.autoSession);
        QCOMPARE(plain.threads, 0);
        QVERIFY(!plain.walkthrough);

        const CommandLine c = parseCommandLine(
            {QStringLiteral("kme-studio"), QStringLiteral("--model"), QStringLiteral("m"),
             QStringLiteral("--session-file"), QStringLiteral("s.kmes"), QStringLiteral("--edit"),
             QStringLiteral("The {} is in|Paris|Rome"), QStringLiteral("--edit"),
             QStringLiteral("The {} is in|Oslo|Rome|Norway"), QStringLiteral("--threads"), QStringLiteral("2"),
             QStringLiteral("--prompt"), QStringLiteral("The Colosseum is in"), QStringLiteral("--trace-subject"),
             QStringLiteral("Colosseum"), QStringLiteral("--screenshot"), QStringLiteral("shots"),
             QStringLiteral("--walkthrough")},
            QStringLiteral("/demo/model"));
        QCOMPARE(int(c.action), int(CommandLine::Action::Run));
        QCOMPARE(c.options.modelFolder, QStringLiteral("m"));
        QCOMPARE(c.options.sessionFile, QStringLiteral("s.kmes"));
        QVERIFY(!c.options.autoSession);
        QCOMPARE(c.options.editSpecs.size(), 2);
        QCOMPARE(c.options.editSpecs[1], QStringLiteral("The {} is in|Oslo|Rome|Norway"));
        QCOMPARE(c.threads, 2);
        QCOMPARE(c.options.prompt, QStringLiteral("The Colosseum is in"));
        QCOMPARE(c.options.traceSubject, QStringLiteral("Colosseum"));
        QCOMPARE(c.options.screenshotDir, QStringLiteral("shots"));
        QVERIFY(c.walkthrough);
    }
};

QTEST_MAIN(TestHostileWindow)
#include "test_hostile_window.moc"
