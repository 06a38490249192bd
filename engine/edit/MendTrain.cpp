// `kme train-mend`: meta-training of MEND's editor (Mend.h), after
// zjunlp/EasyEdit easyeditor/trainer/EditTrainer.py + algs/MEND.py:
//   for a training record: the gradient factors of the target NLL on the edit
//   prompt (the model unchanged), the editor's step on the MLP matrices, then
//   on the edited model
//     L = c_edit * NLL(target_new | edit prompt and its paraphrases)
//       + c_loc  * KL(p_before || p_after) over every position of unrelated prompts
//   (the record's neighbourhood prompts -- same relation, other subjects -- and
//   one other training record's prompt), backpropagated to the editor
//   networks and the steps alpha (the factors themselves are constants, as the
//   reference's hooks detach them); Adam on both (lr, lr_lr), the gradient's
//   global norm clipped at grad_clip. One record per step.
// Records are split by subject into train / validation / test; validation
// points (CounterFact scores of kme eval) every eval_every steps go into the
// curve, each with a checkpoint (the editor file, resumable; Adam's moments
// restart on resume).
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/edit/EditInternal.h"
#include "engine/edit/FineTuneLoss.h"
#include "engine/edit/MendEditor.h"
#include "engine/eval/Metrics.h"
#include "engine/model/Model.h"

namespace kme {

namespace {

using json = nlohmann::json;
using edit::GradFactors;
using edit::MendEditor;

bool fileExists(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0;
}

MendSplit splitBySubject(const std::vector<FactRecord>& records, double valShare, double testShare, uint64_t seed) {
    std::vector<std::string> subjects;
    std::set<std::string> seen;
    for (const auto& r : records)
        if (seen.insert(r.subject).second) subjects.push_back(r.subject);
    std::mt19937_64 rng(seed);
    std::shuffle(subjects.begin(), subjects.end(), rng);
    const size_t n = subjects.size();
    const size_t nTest = std::max<size_t>(1, size_t(std::lround(testShare * double(n))));
    const size_t nVal = std::max<size_t>(1, size_t(std::lround(valShare * double(n))));
    if (n < nTest + nVal + 1)
        fail(ErrorKind::Input, "train-mend: " + std::to_string(n) +
                                   " subjects are too few to split into train, validation and test");
    MendSplit s;
    s.test.assign(subjects.begin(), subjects.begin() + long(nTest));
    s.validation.assign(subjects.begin() + long(nTest), subjects.begin() + long(nTest + nVal));
    s.train.assign(subjects.begin() + long(nTest + nVal), subjects.end());
    return s;
}

std::vector<const FactRecord*> recordsOf(const std::vector<FactRecord>& records, const std::vector<std::string>& subjects) {
    const std::set<std::string> want(subjects.begin(), subjects.end());
    std::vector<const FactRecord*> out;
    for (const auto& r : records)
        if (want.count(r.subject)) out.push_back(&r);
    return out;
}

// Applies the deltas to the live tensors; the originals come back on destruction.
class Applied {
public:
    Applied(Transformer& tf, const MendEditor& e, const std::vector<at::Tensor>& deltas) : tf_(tf) {
        for (size_t i = 0; i < deltas.size(); ++i) {
            const std::string& name = e.matrices[i].tensor;
            const at::Tensor w = tf.tensor(name);
            originals_.emplace(name, w);
            tf.setTensor(name, w + deltas[i].to(w.scalar_type()));
        }
    }
    ~Applied() {
        for (const auto& [name, t] : originals_) tf_.setTensor(name, t);
    }

private:
    Transformer& tf_;
    std::map<std::string, at::Tensor> originals_;
};

// KL(pre || post) per position of the token distributions, averaged over the
// batch's real (unpadded) positions (EasyEdit losses.kl_loc_loss).
at::Tensor klLoc(const at::Tensor& pre, const at::Tensor& post, const std::vector<int64_t>& lengths) {
    const int64_t B = pre.size(0), T = pre.size(1);
    at::Tensor mask = at::zeros({B, T}, post.options());
    for (int64_t b = 0; b < B; ++b) mask[b].narrow(0, 0, lengths[size_t(b)]).fill_(1.0);
    const at::Tensor lp = at::log_softmax(pre, -1);
    const at::Tensor kl = (lp.exp() * (lp - at::log_softmax(post, -1))).sum(-1);
    return (kl * mask).sum() / mask.sum();
}

// The editor's step for one record's edit (no gradient to the editor).
std::vector<at::Tensor> editDeltas(Model& model, MendEditor& e, const FactRecord& r, bool training, double* nll = nullptr) {
    const edit::TargetBatch b = edit::targetBatch(model, {{r.filledPrompt(), r.targetNew}});
    std::vector<GradFactors> f = edit::gradientFactors(model.transformer(), e, b.ids, b.promptLen, b.totalLen, nll);
    return edit::mendDeltas(e, f, training);
}

// `tick` runs before each record (the caller's progress: a window's cancel throws from it).
MendQuality quality(Model& model, MendEditor& e, const std::vector<const FactRecord*>& records, size_t limit,
                    const std::function<void()>& tick) {
    MendQuality q;
    double es = 0, ps = 0, ns = 0, nll = 0;
    int nEs = 0, nPs = 0, nNs = 0;
    GenerationOptions gen;
    gen.enabled = false;
    for (size_t i = 0; i < records.size() && i < limit; ++i) {
        if (tick) tick();
        const FactRecord& r = *records[i];
        std::vector<at::Tensor> deltas;
        {
            at::NoGradGuard noGrad;
            deltas = editDeltas(model, e, r, false);
        }
        at::NoGradGuard noGrad;
        Applied applied(model.transformer(), e, deltas);
        const RecordMetrics m = computeRecordMetrics(model, r, MetricSet::CounterFact, gen, int(i));
        if (auto v = m.efficacyScore()) es += *v, ++nEs;
        if (auto v = m.paraphraseScore()) ps += *v, ++nPs;
        if (auto v = m.neighborhoodScore()) ns += *v, ++nNs;
        if (!m.efficacy.empty()) nll += m.efficacy[0].expected.nll;
        ++q.records;
    }
    q.efficacy = nEs ? es / nEs : 0;
    q.paraphrase = nPs ? ps / nPs : 0;
    q.neighborhood = nNs ? ns / nNs : 0;
    q.editNll = q.records ? nll / q.records : 0;
    return q;
}

json qualityJson(const MendQuality& q) {
    return {{"records", q.records}, {"efficacy_score", q.efficacy}, {"paraphrase_score", q.paraphrase},
            {"neighborhood_score", q.neighborhood}, {"edit_nll", q.editNll}};
}

MendQuality qualityFromJson(const json& j) {
    MendQuality q;
    q.records = j.value("records", 0);
    q.efficacy = j.value("efficacy_score", 0.0);
    q.paraphrase = j.value("paraphrase_score", 0.0);
    q.neighborhood = j.value("neighborhood_score", 0.0);
    q.editNll = j.value("edit_nll", 0.0);
    return q;
}

json curveJson(const std::vector<MendCurvePoint>& curve) {
    json out = json::array();
    for (const auto& p : curve)
        out.push_back({{"step", p.step}, {"seconds", p.seconds}, {"edit_loss", p.editLoss}, {"loc_loss", p.locLoss},
                       {"validation", qualityJson(p.validation)}});
    return out;
}

std::vector<MendCurvePoint> curveFromJson(const std::string& text) {
    std::vector<MendCurvePoint> out;
    for (const json& j : json::parse(text)) {
        if (!j.is_object()) continue;
        MendCurvePoint p;
        p.step = j.value("step", int64_t(0));
        p.seconds = j.value("seconds", 0.0);
        p.editLoss = j.value("edit_loss", 0.0);
        p.locLoss = j.value("loc_loss", 0.0);
        if (j.contains("validation") && j["validation"].is_object()) p.validation = qualityFromJson(j["validation"]);
        out.push_back(p);
    }
    return out;
}

std::string pct(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f%%", 100 * v);
    return b;
}

std::string qualityText(const MendQuality& q) {
    return "efficacy " + pct(q.efficacy) + ", paraphrase " + pct(q.paraphrase) + ", neighbourhood " +
           pct(q.neighborhood) + " (" + std::to_string(q.records) + " records)";
}

}  // namespace

MendTrainResult trainMend(Model& model, const MendTrainParams& p, const MendLogFn& log, const ProgressFn& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    auto say = [&](const std::string& s) {
        if (log) log(s);
    };
    if (p.out.empty()) fail(ErrorKind::Input, "train-mend: no output file");
    if (p.minutes <= 0 && p.maxSteps <= 0) fail(ErrorKind::Input, "train-mend: --minutes must be positive");
    std::vector<FactRecord> records;
    for (const auto& r : p.records)
        if (!r.paraphrasePrompts.empty() && !r.targetTrue.empty() && !r.neighborhoodPrompts.empty()) records.push_back(r);
    if (records.size() < 3)
        fail(ErrorKind::Input, "train-mend: the data set needs CounterFact records with target_true, paraphrase and "
                               "neighbourhood prompts (" + std::to_string(records.size()) + " of " +
                                   std::to_string(p.records.size()) + " have them)");

    MendTrainResult res;
    res.split = splitBySubject(records, p.validationShare, p.testShare, p.seed);
    const auto train = recordsOf(records, res.split.train), val = recordsOf(records, res.split.validation),
               test = recordsOf(records, res.split.test);

    MendConfig cfg = p.config;
    if (cfg.layers.empty())
        for (int l = std::max(0, model.config().nLayer - p.lastLayers); l < model.config().nLayer; ++l) cfg.layers.push_back(l);
    const std::string ckpt = p.checkpoint.empty() ? p.out + ".kme-checkpoint" : p.checkpoint;
    MendEditor e;
    if (p.resume && fileExists(ckpt)) {
        e = edit::loadMendEditor(ckpt, &model);
        if (e.split.train != res.split.train || e.split.validation != res.split.validation || e.split.test != res.split.test)
            fail(ErrorKind::Input, "train-mend: the checkpoint " + ckpt +
                                       " was made from another data set or seed (its split differs); remove it or pass --fresh");
        res.curve = curveFromJson(e.curveJson);
        res.resumed = true;
        say("resuming from " + ckpt + " at step " + std::to_string(e.steps));
    } else {
        e = edit::newMendEditor(model, cfg, p.seed);
        e.split = res.split;
    }
    res.parameters = e.parameterCount();
    say("editor: layers " + [&] {
        std::string s;
        for (int l : e.config.layers) s += (s.empty() ? "" : ",") + std::to_string(l);
        return s;
    }() + ", " + std::to_string(e.matrices.size()) + " matrices, " + std::to_string(e.nets.size()) + " networks, " +
        std::to_string(res.parameters) + " parameters; subjects " + std::to_string(res.split.train.size()) + " train / " +
        std::to_string(res.split.validation.size()) + " validation / " + std::to_string(res.split.test.size()) + " test");

    const size_t valLimit = size_t(std::max(1, p.validationRecords));
    // Scoring (before, at each point, after) reports progress too, so that a caller that stops by
    // throwing from it (the window's Cancel) is heard there; its answer is read only between steps.
    const std::function<void()> tick = [&] {
        reportProgress(progress, p.maxSteps > 0 ? double(e.steps) : elapsed(),
                       p.maxSteps > 0 ? double(p.maxSteps) : p.minutes * 60);
    };
    // "Before": the fresh editor (identity networks, the initial steps) scored
    // now only when starting; on resume the curve's first point is it.
    if (res.curve.empty()) {
        MendEditor fresh = e;
        MendCurvePoint pt;
        pt.step = 0;
        pt.validation = quality(model, fresh, val, valLimit, tick);
        res.curve.push_back(pt);
        say("step 0: validation " + qualityText(pt.validation));
    }
    std::vector<at::Tensor> params = e.parameters();
    for (at::Tensor& t : params) t.set_requires_grad(true);
    std::vector<edit::Adam> opts;
    for (size_t i = 0; i < params.size(); ++i) opts.emplace_back(i + 1 == params.size() ? p.lrLr : p.lr);

    Transformer& tf = model.transformer();
    std::mt19937_64 rng(p.seed * 7919 + uint64_t(e.steps));
    std::uniform_int_distribution<size_t> pick(0, train.size() - 1);
    double sumEdit = 0, sumLoc = 0;
    int64_t since = 0;
    const double budget = p.minutes * 60;
    const double priorSeconds = res.curve.empty() ? 0 : res.curve.back().seconds;
    while (true) {
        if (p.maxSteps > 0 && e.steps >= p.maxSteps) break;
        if (p.maxSteps <= 0 && elapsed() >= budget) break;
        if (!reportProgress(progress, p.maxSteps > 0 ? double(e.steps) : elapsed(), p.maxSteps > 0 ? double(p.maxSteps) : budget))
            break;
        const FactRecord& r = *train[pick(rng)];
        const FactRecord& other = *train[pick(rng)];
        // Locality prompts and their logits before the edit.
        std::vector<std::vector<int64_t>> locSeqs;
        std::vector<int64_t> locLen;
        auto addLoc = [&](const std::string& prompt) {
            const std::vector<int> ids = model.encodePrompt(prompt);
            locSeqs.emplace_back(ids.begin(), ids.end());
            locLen.push_back(int64_t(ids.size()));
        };
        for (size_t i = 0; i < r.neighborhoodPrompts.size() && i < 3; ++i) addLoc(r.neighborhoodPrompts[i]);
        if (other.subject != r.subject) addLoc(other.filledPrompt());
        const at::Tensor locIds = edit::padBatch(locSeqs);
        at::Tensor pre;
        {
            at::NoGradGuard noGrad;
            ForwardRequest fr;
            fr.ids = locIds;
            pre = tf.forward(fr).logits;
        }
        std::vector<std::pair<std::string, std::string>> outer = {{r.filledPrompt(), r.targetNew}};
        for (const auto& para : r.paraphrasePrompts) outer.push_back({para, r.targetNew});
        const edit::TargetBatch ob = edit::targetBatch(model, outer);

        const std::vector<at::Tensor> deltas = editDeltas(model, e, r, true);
        at::Tensor lEdit, lLoc;
        {
            Applied applied(tf, e, deltas);
            ForwardRequest fo;
            fo.ids = ob.ids;
            lEdit = edit::targetNewLoss(tf.forward(fo).logits, ob.ids, ob.promptLen, ob.totalLen);
            ForwardRequest fl;
            fl.ids = locIds;
            lLoc = klLoc(pre, tf.forward(fl).logits, locLen);
        }
        const at::Tensor loss = p.cEdit * lEdit + p.cLoc * lLoc;
        loss.backward();
        {
            at::NoGradGuard noGrad;
            double sq = 0;
            for (const at::Tensor& t : params)
                if (t.grad().defined()) sq += t.grad().to(at::kDouble).pow(2).sum().item<double>();
            const double norm = std::sqrt(sq);
            const double scale = std::isfinite(norm) && norm > p.gradClip ? p.gradClip / norm : 1.0;
            if (!std::isfinite(norm))
                fail(ErrorKind::Internal, "train-mend: the editor's gradient is not finite at step " + std::to_string(e.steps));
            for (size_t i = 0; i < params.size(); ++i) {
                if (!params[i].grad().defined()) continue;
                opts[i].step(params[i], params[i].grad() * scale);
                params[i].mutable_grad() = at::Tensor();
            }
        }
        sumEdit += lEdit.item<double>();
        sumLoc += lLoc.item<double>();
        ++since;
        ++e.steps;
        const bool last = (p.maxSteps > 0 && e.steps >= p.maxSteps) || (p.maxSteps <= 0 && elapsed() >= budget);
        if (e.steps % std::max(1, p.evalEvery) == 0 || last) {
            MendCurvePoint pt;
            pt.step = e.steps;
            pt.seconds = priorSeconds + elapsed();
            pt.editLoss = sumEdit / double(std::max<int64_t>(1, since));
            pt.locLoss = sumLoc / double(std::max<int64_t>(1, since));
            {
                at::NoGradGuard noGrad;
                pt.validation = quality(model, e, val, valLimit, tick);
            }
            res.curve.push_back(pt);
            sumEdit = sumLoc = 0;
            since = 0;
            char line[256];
            std::snprintf(line, sizeof line, "step %lld (%.0f s): edit loss %.4f, locality KL %.5f; validation ",
                          (long long)pt.step, pt.seconds, pt.editLoss, pt.locLoss);
            say(line + qualityText(pt.validation));
            e.curveJson = curveJson(res.curve).dump();
            edit::saveMendEditor(e, ckpt);
        }
    }
    {
        at::NoGradGuard noGrad;
        for (at::Tensor& t : params) t.set_requires_grad(false);
        // Scored after the time budget (not part of it): the fresh editor on
        // the test subjects, the trained one on validation and test.
        const size_t final = p.finalRecords > 0 ? size_t(p.finalRecords) : records.size();
        MendEditor fresh = edit::newMendEditor(model, e.config, p.seed);
        res.validationBefore = quality(model, fresh, val, final, tick);
        res.testBefore = quality(model, fresh, test, final, tick);
        res.validationAfter = quality(model, e, val, final, tick);
        res.testAfter = quality(model, e, test, final, tick);
    }
    e.curveJson = curveJson(res.curve).dump();
    edit::saveMendEditor(e, p.out);
    std::remove(ckpt.c_str());
    res.steps = e.steps;
    res.seconds = elapsed();
    say("validation: before " + qualityText(res.validationBefore) + "; after " +
        qualityText(res.validationAfter));
    say("test: before " + qualityText(res.testBefore) + "; after " + qualityText(res.testAfter));
    return res;
}

}  // namespace kme
