// Causal tracing: the fast strategy against ROME's straightforward one, and
// ROME's invariants.
#include <QtTest>

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>

#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/model/Transformer.h"
#include "engine/trace/CausalTrace.h"

using namespace kme;

namespace {

// A random model whose predictions are far from uniform (weights scaled up),
// so that corrupting and restoring states moves probabilities visibly.
std::shared_ptr<Model> sharpModel(const std::string& folder, int nLayer, uint64_t seed, bool f64) {
    ModelConfig c;
    c.nLayer = nLayer;
    c.nHead = 2;
    c.nEmbd = 16;
    c.nInner = 48;
    c.nPositions = 48;
    c.vocabSize = 300;
    writeRandomModelFolder(folder, c, seed);
    LoadOptions o;
    o.float64 = f64;
    auto m = Model::load(folder, o);
    at::NoGradGuard g;
    for (const auto& [name, t] : std::map<std::string, at::Tensor>(m->transformer().tensors()))
        if (t.dim() == 2) m->transformer().setTensor(name, t * 6.0);
    const std::string lnf = tensorName(Architecture::Gpt2, TensorRole::OutNormW);
    m->transformer().setTensor(lnf, m->transformer().tensor(lnf) * 15.0);
    return m;
}

double maxDiff(const TraceResult& a, const TraceResult& b) {
    double d = 0;
    for (const auto& [kind, rows] : a.scores)
        for (size_t t = 0; t < rows.size(); ++t)
            for (size_t l = 0; l < rows[t].size(); ++l) d = std::max(d, std::abs(rows[t][l] - b.scores.at(kind)[t][l]));
    return d;
}

TraceParams params(const std::string& prompt, const std::string& subject) {
    TraceParams p;
    p.prompt = prompt;
    p.subject = subject;
    p.samples = 4;
    p.noise.value = 3;
    p.noise.factsPath = "none";
    return p;
}

}  // namespace

class TestTrace final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir(const std::string& n) { return tmp_.path().toStdString() + "/" + n; }

private Q_SLOTS:
    void initTestCase() { initComputeRuntime(1); }  // tiny models: threads only add overhead

    void windowFormulaIsRomes() {
        // range(max(0, L - W // 2), min(n, L - (-W // 2)))
        QCOMPARE(traceWindowLayers(20, 10, 48), std::make_pair(15, 25));
        QCOMPARE(traceWindowLayers(2, 10, 48), std::make_pair(0, 7));
        QCOMPARE(traceWindowLayers(46, 10, 48), std::make_pair(41, 48));
        QCOMPARE(traceWindowLayers(5, 3, 12), std::make_pair(4, 7));
        QCOMPARE(traceWindowLayers(5, 1, 12), std::make_pair(5, 6));
        QCOMPARE(traceWindowLayers(5, 4, 12), std::make_pair(3, 7));
        QCOMPARE(defaultTraceWindow(48), 10);
        QCOMPARE(defaultTraceWindow(6), 1);
        QCOMPARE(defaultTraceWindow(12), 3);
    }

    void fastEqualsReference_data() {
        QTest::addColumn<int>("layers");
        QTest::addColumn<int>("window");
        QTest::addColumn<QString>("prompt");
        QTest::addColumn<QString>("subject");
        QTest::newRow("4 layers, w1, subject in the middle") << 4 << 1 << "The Eiffel Tower is located in the city of" << "Eiffel Tower";
        QTest::newRow("5 layers, w3, subject first") << 5 << 3 << "Danube rivers of Europe flow into" << "Danube";
        QTest::newRow("3 layers, w10, subject last") << 3 << 10 << "She plays the violin" << "violin";
        QTest::newRow("2 layers, w2, one-token subject") << 2 << 2 << "She plays the" << "the";
        QTest::newRow("6 layers, w4") << 6 << 4 << "The capital of France is Paris, and the capital of Italy is" << "Italy";
        // ROME's window on a 12-layer model: windows starting at layer 0 share
        // their first layers, then split one by one (the fast strategy's sharing).
        QTest::newRow("12 layers, w10") << 12 << 10 << "The Eiffel Tower is in" << "Eiffel Tower";
        QTest::newRow("12 layers, w5, odd") << 12 << 5 << "Miles Davis plays the" << "Miles Davis";
    }

    void fastEqualsReference() {
        QFETCH(int, layers);
        QFETCH(int, window);
        QFETCH(QString, prompt);
        QFETCH(QString, subject);
        auto m = sharpModel(dir("parity" + std::to_string(layers)), layers, 100 + layers, true);
        TraceParams p = params(prompt.toStdString(), subject.toStdString());
        p.window = window;
        p.strategy = TraceStrategy::Reference;
        const auto t0 = std::chrono::steady_clock::now();
        const TraceResult ref = causalTrace(*m, p);
        const auto t1 = std::chrono::steady_clock::now();
        p.strategy = TraceStrategy::Fast;
        const TraceResult fast = causalTrace(*m, p);
        const auto t2 = std::chrono::steady_clock::now();
        const double d = maxDiff(ref, fast);
        qInfo("float64, %d layers, window %d, %zu tokens: max |fast - reference| = %.3g (tolerance 1e-5); "
              "high %.4f low %.4f; reference %.3f s, fast %.3f s",
              layers, window, ref.tokens.size(), d, ref.highScore, ref.lowScore,
              std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count());
        QVERIFY(d <= 1e-5);
        QVERIFY(std::abs(ref.highScore - ref.lowScore) > 1e-4);  // the trace measures something
        // The same numbers in float32, to float32 rounding.
        auto m32 = sharpModel(dir("parity32-" + std::to_string(layers)), layers, 100 + layers, false);
        p.strategy = TraceStrategy::Reference;
        const TraceResult r32 = causalTrace(*m32, p);
        p.strategy = TraceStrategy::Fast;
        const TraceResult f32 = causalTrace(*m32, p);
        qInfo("float32: max |fast - reference| = %.3g", maxDiff(r32, f32));
        QVERIFY(maxDiff(r32, f32) <= 1e-4);
        // The same numbers when the fast strategy cuts its batches and logits
        // into the smallest pieces (one copy, one group of samples at a time).
        p.strategy = TraceStrategy::Fast;
        p.pieceBytes = 1;
        const TraceResult pieces = causalTrace(*m, p);
        qInfo("float64, smallest pieces: max |fast - reference| = %.3g", maxDiff(ref, pieces));
        QVERIFY(maxDiff(ref, pieces) <= 1e-5);
        const TraceResult pieces32 = causalTrace(*m32, p);
        QVERIFY(maxDiff(r32, pieces32) <= 1e-4);  // float32: products of other shapes round differently
    }

    void fastEqualsReferenceOnTheDemoModel() {
        const std::string demo = demoModelFolder();
        if (demo.empty()) QSKIP("no demo model (projects/demo/model)");
        LoadOptions o;
        o.float64 = true;
        auto m = Model::load(demo, o);
        TraceParams p;
        p.prompt = "The Colosseum is located in the city of";
        p.subject = "Colosseum";
        p.samples = 4;  // parity does not need ROME's 10; keeps the reference run short
        p.strategy = TraceStrategy::Reference;
        const TraceResult ref = causalTrace(*m, p);
        p.strategy = TraceStrategy::Fast;
        const TraceResult fast = causalTrace(*m, p);
        qInfo("demo model, float64, %d layers, window %d, %zu tokens, %d samples: max |fast - reference| = %.3g; "
              "reference %.3f s, fast %.3f s",
              ref.nLayer, ref.window, ref.tokens.size(), ref.samples, maxDiff(ref, fast), ref.seconds, fast.seconds);
        QVERIFY(maxDiff(ref, fast) <= 1e-5);
        QVERIFY(ref.highScore - ref.lowScore > 0.5);  // the demo knows this fact
    }

    void romesInvariants() {
        auto m = sharpModel(dir("inv"), 4, 7, true);
        TraceParams p = params("The quick brown fox jumps over the lazy dog", "brown fox");
        p.window = 3;
        for (TraceStrategy strategy : {TraceStrategy::Reference, TraceStrategy::Fast}) {
            p.strategy = strategy;
            const TraceResult r = causalTrace(*m, p);
            const int T = int(r.tokens.size()), L = r.nLayer;
            QVERIFY(r.subjectBegin > 0);
            // Rows before the subject equal the low score.
            for (const auto& [kind, rows] : r.scores)
                for (int t = 0; t < r.subjectBegin; ++t)
                    for (int l = 0; l < L; ++l) QVERIFY(std::abs(rows[t][l] - r.lowScore) <= 1e-12);
            // Hidden: the last token at the last layer is the clean run.
            QVERIFY(std::abs(r.scores.at(TraceKind::Hidden)[T - 1][L - 1] - r.highScore) <= 1e-12);
        }
        // Zero noise: every cell equals the clean probability.
        p.noise.multiple = false;
        p.noise.value = 0;
        for (TraceStrategy strategy : {TraceStrategy::Reference, TraceStrategy::Fast}) {
            p.strategy = strategy;
            const TraceResult r = causalTrace(*m, p);
            QVERIFY(std::abs(r.lowScore - r.highScore) <= 1e-12);
            for (const auto& [kind, rows] : r.scores)
                for (const auto& row : rows)
                    for (double v : row) QVERIFY(std::abs(v - r.highScore) <= 1e-12);
        }
    }

    void restoringTheWholeSubjectAtLayerZeroIsClean() {
        // A one-token subject at the last position: restoring its block-0
        // output undoes all the corruption.
        auto m = sharpModel(dir("last"), 3, 9, true);
        TraceParams p = params("She plays the", "the");
        const TraceResult r = causalTrace(*m, p);
        QCOMPARE(r.subjectEnd, int(r.tokens.size()));
        QCOMPARE(r.subjectEnd - r.subjectBegin, 1);
        QVERIFY(std::abs(r.scores.at(TraceKind::Hidden)[r.subjectBegin][0] - r.highScore) <= 1e-12);
    }

    void noiseFileRoundTrip() {
        auto m = sharpModel(dir("noise"), 3, 11, true);
        TraceParams p = params("The Eiffel Tower is located in", "Eiffel Tower");
        p.noiseOut = dir("noise.safetensors");
        const TraceResult a = causalTrace(*m, p);
        TraceParams q = params("The Eiffel Tower is located in", "Eiffel Tower");
        q.seed = 999;  // ignored: the draws come from the file
        q.samples = 2;  // ignored: the file has 4
        q.noiseIn = p.noiseOut;
        const TraceResult b = causalTrace(*m, q);
        QCOMPARE(b.samples, 4);
        QCOMPARE(maxDiff(a, b), 0.0);
        QCOMPARE(a.lowScore, b.lowScore);
        // A subject of another length does not fit the file.
        TraceParams bad = q;
        bad.subject = "Tower";
        try {
            causalTrace(*m, bad);
            QFAIL("no error");
        } catch (const kme::Error& e) {
            QVERIFY(QString(e.what()).contains("noise"));
        }
    }

    void seedsAndAnswers() {
        auto m = sharpModel(dir("seed"), 3, 13, true);
        TraceParams p = params("The Eiffel Tower is located in", "Eiffel Tower");
        const TraceResult a = causalTrace(*m, p), b = causalTrace(*m, p);
        QCOMPARE(maxDiff(a, b), 0.0);
        p.seed = 2;
        QVERIFY(causalTrace(*m, p).lowScore != a.lowScore);
        // The default answer is the clean top-1 token.
        QCOMPARE(a.answerId, m->topNext(a.ids, 1)[0].id);
        p.answer = "Paris";
        const TraceResult c = causalTrace(*m, p);
        QCOMPARE(c.answerId, m->tokenizer().encode(" Paris").front());
    }

    void badInput() {
        auto m = sharpModel(dir("bad"), 2, 15, false);
        auto expect = [&](TraceParams p, const QString& fragment) {
            try {
                causalTrace(*m, p);
                QFAIL("no error");
            } catch (const kme::Error& e) {
                QVERIFY2(QString(e.what()).contains(fragment), e.what());
                QCOMPARE(e.kind(), ErrorKind::Input);
            }
        };
        expect(params("The Eiffel Tower is located in", "Colosseum"), "Colosseum");
        expect(params(std::string(300, 'a') + " b c d e f", "b"), "context");
        expect(params("The Eiffel Tower", ""), "subject");
        TraceParams zero = params("The Eiffel Tower", "Tower");
        zero.samples = 0;
        expect(zero, "samples");
        QVERIFY_THROWS_EXCEPTION(kme::Error, parseNoiseSpec("lots"));
        QCOMPARE(parseNoiseSpec("3x").multiple, true);
        QCOMPARE(parseNoiseSpec("0.1").value, 0.1);
    }

    void cancelReturnsPromptly() {
        auto m = sharpModel(dir("cancel"), 6, 17, false);
        TraceParams p = params("The capital of France is Paris, and the capital of Italy is", "France");
        p.strategy = TraceStrategy::Reference;
        int rows = 0;
        const auto t0 = std::chrono::steady_clock::now();
        try {
            causalTrace(*m, p, [&](double done, double) { return done < 3; }, [&](const TraceResult& partial) {
                rows = partial.rowsDone.at(TraceKind::Hidden);
            });
            QFAIL("not cancelled");
        } catch (const Cancelled&) {
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        qInfo("cancelled after %d rows in %.3f s", rows, s);
        QCOMPARE(rows, 3);
    }

    void partialResultsFillRowByRow() {
        auto m = sharpModel(dir("partial"), 2, 19, false);
        TraceParams p = params("The Eiffel Tower is located in", "Eiffel Tower");
        p.kinds = {TraceKind::Mlp};
        int calls = 0;
        causalTrace(*m, p, {}, [&](const TraceResult& partial) {
            ++calls;
            const auto& rows = partial.scores.at(TraceKind::Mlp);
            const int done = partial.rowsDone.at(TraceKind::Mlp);
            QVERIFY(!std::isnan(rows[done - 1][0]));
            if (done < int(rows.size())) QVERIFY(std::isnan(rows[done][0]));
        });
        QCOMPARE(calls, int(m->encodePrompt(p.prompt).size()));
    }
};

QTEST_GUILESS_MAIN(TestTrace)
#include "test_trace.moc"
