// `kme trace-dataset --png`: kme_render draws the Locate tab's dataset-average
// plot offscreen into a PNG; the command line uses it through its renderer
// registry, and without one (a build without the GUI) --png is a usage error.
#include <QtTest>

#include <QDir>
#include <QFile>
#include <QImage>
#include <QProcess>
#include <QTemporaryDir>
#include <fstream>
#include <sstream>

#include "app/cli/Cli.h"
#include "app/cli/CliSupport.h"
#include "app/render/TraceDatasetPng.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"
#include "engine/trace/TraceDataset.h"
#include "tests/app/TinyFactFile.h"
#include "tests/app/TinyModelFolder.h"

namespace {

// Pixels that are neither white nor near-white: something was drawn.
int inkPixels(const QImage& image, const QRect& area) {
    int n = 0;
    for (int y = area.top(); y <= area.bottom(); y += 2)
        for (int x = area.left(); x <= area.right(); x += 2) n += qGray(image.pixel(x, y)) < 200;
    return n;
}

// A PNG a viewer will open: the signature, the size we asked for, ink in every third.
void checkPng(const QString& path) {
    QFile f(path);
    QVERIFY2(f.open(QIODevice::ReadOnly), qPrintable(path));
    QCOMPARE(f.read(8), QByteArray("\x89PNG\r\n\x1a\n", 8));
    QVERIFY(f.size() > 20000);  // three plots with text, not an empty canvas
    const QImage image(path);
    QCOMPARE(image.size(), QSize(kme::render::kTraceDatasetPngWidth, kme::render::kTraceDatasetPngHeight));
    const int third = image.width() / 3;
    for (int i = 0; i < 3; ++i)
        QVERIFY2(inkPixels(image, QRect(i * third, 0, third, image.height())) > 1000, qPrintable(QString::number(i)));
}

}  // namespace

class TestTraceDatasetPng final : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    std::string modelDir_, facts_;
    kme::TraceDatasetResult result_;

    int runCli(const std::vector<std::string>& args, std::string* err = nullptr, std::string* out = nullptr) {
        std::vector<std::string> all{"kme"};
        all.insert(all.end(), args.begin(), args.end());
        std::ostringstream o, e;
        const int rc = kme::cli::runCli(all, o, e);
        if (err) *err = e.str();
        if (out) *out = o.str();
        return rc;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        modelDir_ = tmp_.filePath(QStringLiteral("tiny-gpt2")).toStdString();
        QVERIFY(QDir().mkpath(QString::fromStdString(modelDir_)));
        kme::testing::writeTinyModelFolder(modelDir_);
        auto model = kme::Model::load(modelDir_);
        facts_ = tmp_.filePath(QStringLiteral("facts.json")).toStdString();
        const auto written = kme::testing::writeTinyFactFile(*model, facts_, 4, 1);
        QVERIFY(written.known >= 2);
        kme::TraceDatasetParams p;
        p.trace.samples = 2;
        p.trace.noise.factsPath = facts_;
        result_ = kme::traceDataset(*model, kme::loadDataset(facts_), p);
        QCOMPARE(result_.traced, written.known);
    }

    void rendersAPng() {
        const std::string path = tmp_.filePath(QStringLiteral("dataset.png")).toStdString();
        std::string error;
        QVERIFY2(kme::render::renderTraceDatasetPng(result_, facts_, path, &error), error.c_str());
        checkPng(QString::fromStdString(path));
        const QString shots = qEnvironmentVariable("KME_SHOT_DIR");  // to look at it
        if (!shots.isEmpty()) QImage(QString::fromStdString(path)).save(shots + QStringLiteral("/trace-dataset-tiny.png"));
    }

    void nothingTracedIsAnError() {
        kme::TraceDatasetResult none = result_;
        none.traced = 0;
        none.mean.clear();
        const std::string path = tmp_.filePath(QStringLiteral("none.png")).toStdString();
        std::string error;
        QVERIFY(!kme::render::renderTraceDatasetPng(none, facts_, path, &error));
        QVERIFY2(error.find("nothing to plot") != std::string::npos, error.c_str());
        QVERIFY(!QFile::exists(QString::fromStdString(path)));
        QVERIFY(!kme::render::renderTraceDatasetPng(result_, facts_, tmp_.filePath(QStringLiteral("no/dir/x.png")).toStdString(),
                                                    &error));
        QVERIFY2(error.find("x.png") != std::string::npos, error.c_str());
    }

    void cliUsesTheRegisteredRenderer() {
        const std::string png = tmp_.filePath(QStringLiteral("cli.png")).toStdString();
        const std::string json = tmp_.filePath(QStringLiteral("cli.json")).toStdString();
        const std::vector<std::string> args{"trace-dataset", modelDir_, "--dataset", facts_, "--samples", "2",
                                            "--threads",     "1",       "--png",     png,    "--json",    json};
        // Without a renderer (a build without the GUI): a usage error, before any work.
        kme::cli::setTraceDatasetPngRenderer({});
        std::string err, out;
        QCOMPARE(runCli(args, &err), 2);
        QVERIFY2(err.find("GUI") != std::string::npos, err.c_str());
        QVERIFY(!QFile::exists(QString::fromStdString(png)));
        QVERIFY(!QFile::exists(QString::fromStdString(json)));
        // With kme_render registered, as the `kme` of a GUI build does.
        kme::cli::setTraceDatasetPngRenderer(kme::render::renderTraceDatasetPng);
        QCOMPARE(runCli(args, &err, &out), 0);
        checkPng(QString::fromStdString(png));
        QVERIFY2(out.find("records traced") != std::string::npos, out.c_str());
        std::ifstream j(json);
        const auto parsed = nlohmann::json::parse(j);
        QCOMPARE(parsed.at("records_traced").get<int>(), result_.traced);
        QCOMPARE(parsed.at("kinds").at("mlp").size(), size_t(6));
        // A PNG that cannot be written: exit 1, one line naming the file, no JSON.
        std::vector<std::string> bad = args;
        bad[bad.size() - 3] = tmp_.filePath(QStringLiteral("missing/cli.png")).toStdString();
        bad.back() = tmp_.filePath(QStringLiteral("bad.json")).toStdString();
        QCOMPARE(runCli(bad, &err), 1);
        QVERIFY2(err.find("cli.png") != std::string::npos, err.c_str());
        QVERIFY(!QFile::exists(tmp_.filePath(QStringLiteral("bad.json"))));
        kme::cli::setTraceDatasetPngRenderer({});
    }

    void kmeExecutableDrawsWithoutAnApplication() {
        // The real `kme`: no Qt application exists until --png needs one.
        const QString kme = qEnvironmentVariable("KME_CLI");
        if (kme.isEmpty()) QSKIP("KME_CLI is not set (run through ctest)");
        const QString path = tmp_.filePath(QStringLiteral("exe.png"));
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (const char* name : {"QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"}) env.remove(QLatin1String(name));
        p.setProcessEnvironment(env);
        p.start(kme, {QStringLiteral("trace-dataset"), QString::fromStdString(modelDir_), QStringLiteral("--dataset"),
                      QString::fromStdString(facts_), QStringLiteral("--samples"), QStringLiteral("2"),
                      QStringLiteral("--png"), path});
        QVERIFY(p.waitForFinished(1200000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
        checkPng(path);
    }
};

QTEST_MAIN(TestTraceDatasetPng)
#include "test_trace_dataset_png.moc"
