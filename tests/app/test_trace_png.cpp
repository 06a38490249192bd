// `kme trace --png`: kme_render draws the GUI's heatmap panel offscreen into
// a PNG; the command line uses it through its renderer registry.
#include <QtTest>

#include <QDir>
#include <QFile>
#include <QImage>
#include <QProcess>
#include <QTemporaryDir>
#include <sstream>

#include "app/cli/Cli.h"
#include "app/cli/CliSupport.h"
#include "app/render/TracePng.h"
#include "engine/model/Model.h"
#include "engine/trace/CausalTrace.h"
#include "tests/app/TinyModelFolder.h"

namespace {

const char* const kPrompt = "The Eiffel Tower is located in the city of";

// Pixels that are neither white nor near-white: something was drawn.
int inkPixels(const QImage& image) {
    int n = 0;
    for (int y = 0; y < image.height(); y += 2)
        for (int x = 0; x < image.width(); x += 2) n += qGray(image.pixel(x, y)) < 200;
    return n;
}

}  // namespace

class TestTracePng final : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    std::string modelDir_;
    kme::TraceResult result_;

    int runCli(const std::vector<std::string>& args, std::string* err = nullptr) {
        std::vector<std::string> all{"kme"};
        all.insert(all.end(), args.begin(), args.end());
        std::ostringstream out, errStream;
        const int rc = kme::cli::runCli(all, out, errStream);
        if (err) *err = errStream.str();
        return rc;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        modelDir_ = tmp_.filePath(QStringLiteral("tiny-gpt2")).toStdString();
        QVERIFY(QDir().mkpath(QString::fromStdString(modelDir_)));
        kme::testing::writeTinyModelFolder(modelDir_);
        auto model = kme::Model::load(modelDir_);
        kme::TraceParams p;
        p.prompt = kPrompt;
        p.subject = "Eiffel Tower";
        p.samples = 2;
        result_ = kme::causalTrace(*model, p);
    }

    void rendersAPng() {
        const std::string path = tmp_.filePath(QStringLiteral("trace.png")).toStdString();
        std::string error;
        QVERIFY2(kme::render::renderTracePng(result_, path, &error), error.c_str());
        const QImage image(QString::fromStdString(path));
        QVERIFY(!image.isNull());
        QCOMPARE(image.size(), QSize(kme::render::kTracePngWidth, kme::render::kTracePngHeight));
        QVERIFY(inkPixels(image) > 2000);  // labels, axes, colour bars, cells
        // Each third holds one map with its own colour bar: ink in all of them.
        QImage third = image.copy(2 * image.width() / 3, 0, image.width() / 3, image.height());
        QVERIFY(inkPixels(third) > 500);
        const QString shots = qEnvironmentVariable("KME_SHOT_DIR");  // to look at it
        if (!shots.isEmpty()) image.save(shots + QStringLiteral("/trace-tiny.png"));
    }

    void oneKindOnly() {
        kme::TraceResult r = result_;
        r.scores.erase(kme::TraceKind::Hidden);
        r.scores.erase(kme::TraceKind::Attn);
        const std::string path = tmp_.filePath(QStringLiteral("mlp.png")).toStdString();
        std::string error;
        QVERIFY2(kme::render::renderTracePng(r, path, &error), error.c_str());
        QVERIFY(!QImage(QString::fromStdString(path)).isNull());
        r.scores.clear();
        QVERIFY(!kme::render::renderTracePng(r, path + ".none.png", &error));
        QVERIFY(!error.empty());
        QVERIFY(!QFile::exists(QString::fromStdString(path + ".none.png")));
    }

    void longPromptsGetTaller() {
        // 40 token rows: the picture grows so that labels keep their room.
        kme::TraceResult r = result_;
        while (r.tokens.size() < 40) {
            r.tokens.insert(r.tokens.begin(), " x");
            for (auto& [kind, rows] : r.scores) rows.insert(rows.begin(), rows.front());
        }
        r.subjectBegin += 40 - static_cast<int>(result_.tokens.size());
        r.subjectEnd += 40 - static_cast<int>(result_.tokens.size());
        const std::string path = tmp_.filePath(QStringLiteral("long.png")).toStdString();
        std::string error;
        QVERIFY2(kme::render::renderTracePng(r, path, &error), error.c_str());
        QCOMPARE(QImage(QString::fromStdString(path)).height(),
                 kme::render::kTracePngChrome + 40 * kme::render::kTracePngRowPitch);
    }

    void unwritablePathIsAnError() {
        const std::string path = tmp_.filePath(QStringLiteral("no/such/dir/trace.png")).toStdString();
        std::string error;
        QVERIFY(!kme::render::renderTracePng(result_, path, &error));
        QVERIFY2(error.find("trace.png") != std::string::npos, error.c_str());
    }

    void cliUsesTheRegisteredRenderer() {
        const std::string path = tmp_.filePath(QStringLiteral("cli.png")).toStdString();
        const std::vector<std::string> args{"trace", modelDir_, "--prompt", kPrompt, "--subject", "Eiffel Tower",
                                            "--samples", "2", "--threads", "1", "--png", path};
        // Without a renderer (a build without the GUI): a usage error, before any work.
        kme::cli::setTracePngRenderer({});
        std::string err;
        QCOMPARE(runCli(args, &err), 2);
        QVERIFY2(err.find("GUI") != std::string::npos, err.c_str());
        QVERIFY(!QFile::exists(QString::fromStdString(path)));
        // With kme_render registered, as the `kme` of a GUI build does.
        kme::cli::setTracePngRenderer(kme::render::renderTracePng);
        QCOMPARE(runCli(args, &err), 0);
        const QImage image(QString::fromStdString(path));
        QCOMPARE(image.size(), QSize(kme::render::kTracePngWidth, kme::render::kTracePngHeight));
        // A PNG that cannot be written: exit 1, one line naming the file.
        std::vector<std::string> bad = args;
        bad.back() = tmp_.filePath(QStringLiteral("missing/cli.png")).toStdString();
        QCOMPARE(runCli(bad, &err), 1);
        QVERIFY2(err.find("cli.png") != std::string::npos, err.c_str());
        kme::cli::setTracePngRenderer({});
    }

    void kmeExecutableDrawsWithoutAnApplication() {
        // The real `kme`: no Qt application exists until --png needs one.
        const QString kme = qEnvironmentVariable("KME_CLI");
        if (kme.isEmpty()) QSKIP("KME_CLI is not set (run through ctest)");
        const QString path = tmp_.filePath(QStringLiteral("exe.png"));
        QProcess p;
        // No display and no platform named: kme_render must pick "offscreen" itself.
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (const char* name : {"QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"}) env.remove(QLatin1String(name));
        p.setProcessEnvironment(env);
        p.start(kme, {QStringLiteral("trace"), QString::fromStdString(modelDir_), QStringLiteral("--prompt"),
                      QString::fromLatin1(kPrompt), QStringLiteral("--subject"), QStringLiteral("Eiffel Tower"),
                      QStringLiteral("--samples"), QStringLiteral("2"), QStringLiteral("--png"), path});
        QVERIFY(p.waitForFinished(1200000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
        const QImage image(path);
        QCOMPARE(image.size(), QSize(kme::render::kTracePngWidth, kme::render::kTracePngHeight));
        QVERIFY(inkPixels(image) > 2000);
    }
};

QTEST_MAIN(TestTracePng)
#include "test_trace_png.moc"
