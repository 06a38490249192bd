// Timings (printed, not asserted) of ROME and MEMIT on a random model of
// GPT-2 small's shape (~500 MB temporary folder): statistics computed, then
// cached. Runs only with KME_EDIT_PERF=1 (a minute or more on two cores).
#include <QtTest>

#include <ATen/ATen.h>

#include <chrono>

#include "engine/edit/EditMethod.h"
#include "engine/edit/KeyStatistics.h"
#include "engine/edit/WeightDelta.h"
#include "test_edit_support.h"

using namespace kme;
using namespace edittest;

namespace {
double seconds(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

class TestEditPerf final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::shared_ptr<Model> model_;
    std::vector<std::string> corpus_ = wordCorpus(3000, 1);

    void report(const char* what, const EditResult& r, double total) {
        const StatsInfo s = r.stats.empty() ? StatsInfo{} : r.stats[0];
        qInfo("%s: %.2f s (statistics %s %.2f s over %lld texts / %lld tokens; v* %zu passes)", what, total,
              r.stats.empty() ? "none," : s.fromCache ? "cached," : "computed,", s.seconds, (long long)s.samples,
              (long long)s.tokens, r.requests[0].losses.size());
    }

private Q_SLOTS:
    void initTestCase() {
        if (qEnvironmentVariable("KME_EDIT_PERF") != "1")
            QSKIP("set KME_EDIT_PERF=1 to time edits on a GPT-2-small-shaped model");
        QVERIFY(tmp_.isValid());
        qputenv("KME_CACHE_DIR", (tmp_.path() + "/cache").toUtf8());
        initComputeRuntime(qEnvironmentVariableIntValue("KME_EDIT_PERF_THREADS"));
        const std::string folder = tmp_.path().toStdString() + "/gpt2-small-random";
        auto t0 = std::chrono::steady_clock::now();
        writeRandomModelFolder(folder, gpt2SmallConfig(), 1234);
        model_ = Model::load(folder);
        const double written = seconds(t0);
        t0 = std::chrono::steady_clock::now();
        model_->weightsHash();
        qInfo("threads %d; model written and loaded in %.1f s; weights hash in %.2f s", computeThreads(), written,
              seconds(t0));
    }

    void solves() {
        at::Generator gen = at::detail::createCPUGenerator(1);
        const at::Tensor x = at::randn({20000, 3072}, gen, at::kDouble);
        auto t0 = std::chrono::steady_clock::now();
        const at::Tensor c = at::mm(x.t(), x) / 20000.0;
        const double gram = seconds(t0);
        const at::Tensor k = at::randn({3072}, gen, at::kDouble);
        t0 = std::chrono::steady_clock::now();
        const at::Tensor a = at::linalg_solve(c, k);
        const double lu = seconds(t0);
        t0 = std::chrono::steady_clock::now();
        const at::Tensor l = at::linalg_cholesky(c);
        const at::Tensor b = at::cholesky_solve(k.unsqueeze(1), l).squeeze(1);
        const double chol = seconds(t0);
        qInfo("n_inner 3072, float64: X^T X of 20000 keys %.2f s; LU solve %.2f s; Cholesky solve %.2f s (max diff %.3g)",
              gram, lu, chol, (a - b).abs().max().item<double>());
    }

    void rome() {
        EditParams p;
        p.requests = {request("Eiffel Tower", "Rome", "The {} is located in the city of")};
        p.hparams = defaultHparams(EditMethod::Rome, model_->config());
        p.hparams.layers = {6};
        p.hparams.mom2Tokens = 20000;
        p.statsTexts = corpus_;
        p.statsLabel = "word corpus";
        auto t0 = std::chrono::steady_clock::now();
        const EditResult cold = computeEdit(*model_, p);
        report("ROME layer 6, statistics and context templates computed", cold, seconds(t0));
        t0 = std::chrono::steady_clock::now();
        const EditResult warm = computeEdit(*model_, p);
        report("ROME layer 6, statistics cached in memory", warm, seconds(t0));
        clearKeyStatisticsMemoryCache();
        t0 = std::chrono::steady_clock::now();
        const EditResult disk = computeEdit(*model_, p);
        report("ROME layer 6, statistics cached on disk", disk, seconds(t0));
        QVERIFY(warm.delta == cold.delta && disk.delta == cold.delta);  // deterministic
        p.hparams.mom2Adjustment = false;
        t0 = std::chrono::steady_clock::now();
        const EditResult identity = computeEdit(*model_, p);
        report("ROME layer 6, --no-mom2", identity, seconds(t0));
        EditStack stack(*model_);
        t0 = std::chrono::steady_clock::now();
        stack.apply(cold.delta);
        const double applied = seconds(t0);
        t0 = std::chrono::steady_clock::now();
        stack.revertAll();
        qInfo("apply %.4f s, revert %.6f s", applied, seconds(t0));
    }

    void memit() {
        EditParams m;
        m.method = EditMethod::Memit;
        m.hparams = defaultHparams(EditMethod::Memit, model_->config());
        m.hparams.layers = {4, 5, 6};
        m.hparams.mom2Tokens = 20000;
        m.statsTexts = corpus_;
        for (const char* s : {"Paris", "Rome", "Tokyo", "Danube", "Thames", "Rhine", "violin", "piano", "guitar", "fox"})
            m.requests.push_back(request(s, "Japan", "The {} is located in"));
        auto t0 = std::chrono::steady_clock::now();
        const EditResult first = computeEdit(*model_, m);
        int computed = 0;
        for (const auto& s : first.stats) computed += s.fromCache ? 0 : 1;
        qInfo("MEMIT, 10 requests, layers 4-6, statistics computed for %d of 3 layers: %.2f s", computed, seconds(t0));
        t0 = std::chrono::steady_clock::now();
        computeEdit(*model_, m);
        qInfo("MEMIT, 10 requests, layers 4-6, statistics cached: %.2f s", seconds(t0));
        QCOMPARE(first.delta.parts.size(), size_t(3));
    }
};

QTEST_GUILESS_MAIN(TestEditPerf)
#include "test_edit_perf.moc"
