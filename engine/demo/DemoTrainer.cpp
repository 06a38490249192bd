#include "engine/demo/DemoTrainer.h"

#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/OutputFile.h"
#include "engine/eval/Dataset.h"
#include "engine/io/Safetensors.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "engine/model/Transformer.h"
#include "engine/tokenizer/BpeTrainer.h"

namespace fs = std::filesystem;

namespace kme {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The training stream: token ids with, per token, 0 = outside any subject,
// 1 = a subject piece, 2 = a subject's last piece; documents separated by
// <|endoftext|>.
struct Stream {
    std::vector<int64_t> ids;
    std::vector<int8_t> flags;
    std::vector<int64_t> docStarts;  // starts with room for a whole training window
};

Stream buildStream(const DemoCorpus& corpus, const CorpusRecipe& recipe, const Tokenizer& tok, const TrainDemoParams& p,
                   int64_t eos) {
    Stream s;
    std::mt19937_64 rng(p.seed);
    std::vector<int64_t> starts;
    while (static_cast<int64_t>(s.ids.size()) < p.corpusTokens) {
        const CorpusDoc doc = corpus.generate(rng, recipe);
        starts.push_back(static_cast<int64_t>(s.ids.size()));
        const auto spans = tok.encodeWithOffsets(doc.text);
        for (size_t i = 0; i < spans.size(); ++i) {
            int8_t flag = 0;
            for (const auto& [a, b] : doc.subjectSpans)
                if (a <= spans[i].start && spans[i].end <= b) flag = 1;
            s.ids.push_back(spans[i].id);
            s.flags.push_back(flag);
        }
        s.ids.push_back(eos);
        s.flags.push_back(0);
    }
    for (size_t i = 0; i < s.flags.size(); ++i)
        if (s.flags[i] == 1 && (i + 1 == s.flags.size() || s.flags[i + 1] == 0)) s.flags[i] = 2;
    for (int64_t st : starts)
        if (st + p.context + 1 <= static_cast<int64_t>(s.ids.size())) s.docStarts.push_back(st);
    return s;
}

// Attention restriction of one sequence [T, T]: a query after a subject
// mention may not see the mention's pieces other than the last.
at::Tensor subjectMask(const int8_t* flags, int T) {
    at::Tensor allowed = at::ones({T, T}, at::TensorOptions().dtype(at::kBool));
    auto a = allowed.accessor<bool, 2>();
    int last = -1;  // index of the last piece of the span being walked backwards
    std::vector<int> spanEnd(T, -1);
    for (int i = T - 1; i >= 0; --i) {
        if (flags[i] == 2) last = i;
        else if (flags[i] == 1) spanEnd[i] = last;
        else last = -1;
    }
    for (int k = 0; k < T; ++k)
        if (spanEnd[k] >= 0)
            for (int q = spanEnd[k] + 1; q < T; ++q) a[q][k] = false;
    return allowed;
}

void trainTokenizer(const DemoCorpus& corpus, const CorpusRecipe& recipe, const TrainDemoParams& p, const std::string& vocab,
                    const std::string& merges) {
    std::mt19937_64 rng(p.seed + 7);
    std::vector<std::string> texts;
    for (int i = 0; i < p.bpeDocs; ++i) texts.push_back(corpus.generate(rng, recipe).text);
    BpeTrainParams bp;
    bp.vocabSize = 256 + p.bpeMerges + 1;
    bp.minFrequency = 2;
    for (const auto& w : corpus.nameOnlyWords()) bp.countOverrides[w] = p.nameWordCount;
    trainByteLevelBpe(texts, bp, vocab, merges);
}

std::vector<at::Tensor> parameters(const Transformer& tf) {
    std::vector<at::Tensor> out;
    for (const auto& [name, t] : tf.tensors()) out.push_back(t);
    return out;
}

void saveWeights(const Transformer& tf, const std::string& path) {
    std::vector<at::Tensor> keep;
    std::vector<TensorData> data;
    for (const auto& [name, t] : tf.tensors()) {
        at::Tensor c = t.detach().contiguous();
        keep.push_back(c);
        data.push_back(TensorData{name, DType::F32, c.sizes().vec(), c.data_ptr(), c.nbytes()});
    }
    writeSafetensors(path, data, {{"format", "pt"}});
}

}  // namespace

DemoQuality evaluateDemoQuality(const Model& model, const Dataset& facts) {
    return evaluateDemoQuality(model.transformer(), model.tokenizer(), facts);
}

DemoQuality evaluateDemoQuality(const Transformer& tf, const Tokenizer& tok, const Dataset& facts) {
    at::NoGradGuard noGrad;
    // (prompt ids, expected first token) grouped by length, so each group is one batch.
    std::map<size_t, std::vector<std::pair<std::vector<int64_t>, int64_t>>> factGroups, paraGroups;
    DemoQuality q;
    for (const auto& r : facts.records) {
        const std::string target = r.targetTrue.empty() || r.targetTrue[0] == ' ' ? r.targetTrue : " " + r.targetTrue;
        const auto t = tok.encode(target);
        if (t.empty()) continue;
        auto add = [&](auto& groups, const std::string& prompt) {
            const auto ids = tok.encode(prompt);
            if (static_cast<int>(ids.size()) > tf.config().nPositions) return;  // cannot be asked: counts as wrong
            groups[ids.size()].push_back({std::vector<int64_t>(ids.begin(), ids.end()), t.front()});
        };
        add(factGroups, r.filledPrompt());
        ++q.facts;
        for (const auto& p : r.paraphrasePrompts) {
            add(paraGroups, p);
            ++q.paraphrases;
        }
    }
    auto score = [&](const auto& groups) {
        int correct = 0;
        for (const auto& [len, items] : groups) {
            std::vector<int64_t> flat;
            for (const auto& [ids, t] : items) flat.insert(flat.end(), ids.begin(), ids.end());
            ForwardRequest req;
            req.ids = at::tensor(at::ArrayRef<int64_t>(flat), at::TensorOptions().dtype(at::kLong))
                          .view({int64_t(items.size()), int64_t(len)});
            req.logits = LogitsMode::Last;
            const at::Tensor pred = tf.forward(req).logits.argmax(-1);
            for (size_t i = 0; i < items.size(); ++i) correct += pred[i].item<int64_t>() == items[i].second;
        }
        return correct;
    };
    q.factsCorrect = score(factGroups);
    q.paraphrasesCorrect = score(paraGroups);
    return q;
}

TrainDemoResult trainDemo(const TrainDemoParams& p, const TrainLogFn& logFn, const ProgressFn& progress) {
    const auto t0 = Clock::now();
    auto log = [&](const std::string& s) {
        if (logFn) logFn(s);
    };
    std::error_code ec;
    fs::create_directories(p.outDir, ec);
    if (ec) fail(ErrorKind::Io, p.outDir + ": cannot create folder (" + ec.message() + ")");
    DemoCorpus corpus = DemoCorpus::load(p.projectDir + "/corpus.json");
    const Dataset facts = loadDataset(p.projectDir + "/facts.json");
    if (p.factSubjectsOnly) {
        std::vector<std::string> names;
        for (const auto& r : facts.records) names.push_back(r.subject);
        corpus.restrictSubjects(names);
    }
    const CorpusRecipe recipe = p.recipe ? *p.recipe : corpus.defaultRecipe();
    {
        std::ostringstream s;
        s << "corpus: " << corpus.subjects().size() << " subjects; documents";
        for (const auto& [k, w] : recipe.mix) s << " " << k << ":" << w;
        s << "; subject mask for the first " << int(100 * p.maskFraction) << "% of training";
        log(s.str());
    }
    const std::string ckptDir = p.checkpointDir.empty() ? p.outDir + "/checkpoint" : p.checkpointDir;
    const std::string vocab = p.outDir + "/vocab.json", merges = p.outDir + "/merges.txt";
    // A checkpoint carries its tokenizer (older ones: in the output folder).
    const bool ckptTokenizer = fs::exists(ckptDir + "/vocab.json") && fs::exists(ckptDir + "/merges.txt");
    const bool resuming = p.resume && fs::exists(ckptDir + "/trainer.json") &&
                          (ckptTokenizer || (fs::exists(vocab) && fs::exists(merges)));

    // Tokenizer (kept from the checkpoint when resuming).
    if (resuming && ckptTokenizer) {
        for (const char* f : {"/vocab.json", "/merges.txt"}) {
            fs::copy_file(ckptDir + f, p.outDir + f, fs::copy_options::overwrite_existing, ec);
            if (ec) fail(ErrorKind::Io, p.outDir + f + ": cannot write (" + ec.message() + ")");
        }
    }
    if (!resuming) {
        const auto tb = Clock::now();
        trainTokenizer(corpus, recipe, p, vocab, merges);
        log("tokenizer: " + std::to_string(p.bpeMerges) + " merges in " + std::to_string(since(tb)) + " s");
    }
    Tokenizer tok = Tokenizer::fromVocabMerges(vocab, merges);
    const int64_t eos = *tok.eosId();
    for (const char* name : {"Lionel Messi", "Eiffel Tower", "New Orleans", "Paris", "Toyota"}) {
        std::string pieces;
        for (int id : tok.encode(std::string(" ") + name)) pieces += "[" + tok.tokenDisplay(id) + "]";
        log(std::string("  ") + name + " -> " + pieces);
    }

    ModelConfig config;
    config.nLayer = p.nLayer;
    config.nHead = p.nHead;
    config.nEmbd = p.nEmbd;
    config.nInner = 4 * p.nEmbd;
    config.nPositions = p.context;
    config.vocabSize = tok.vocabSize();
    config.eosTokenId = config.bosTokenId = static_cast<int>(eos);
    std::unique_ptr<Transformer> tf = randomTransformer(config, p.seed);
    if (resuming) {
        const Checkpoint ck = Checkpoint::openFile(ckptDir + "/model.safetensors");
        for (const auto& tv : ck.tensors())
            tf->setTensor(tv.name, at::from_blob(const_cast<uint8_t*>(tv.data), tv.shape, at::kFloat).clone());
    }
    for (auto& t : parameters(*tf)) t.set_requires_grad(true);

    const auto ts = Clock::now();
    const Stream stream = buildStream(corpus, recipe, tok, p, eos);
    log("stream: " + std::to_string(stream.ids.size()) + " tokens, " + std::to_string(stream.docStarts.size()) +
        " documents in " + std::to_string(since(ts)) + " s; " + std::to_string(tf->parameterCount()) + " parameters");

    std::vector<at::Tensor> decay, noDecay;
    for (const auto& t : parameters(*tf)) (t.dim() >= 2 ? decay : noDecay).push_back(t);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                   torch::optim::AdamWOptions(p.lr).betas({0.9, 0.95}).weight_decay(p.weightDecay)));
    groups.emplace_back(noDecay, std::make_unique<torch::optim::AdamWOptions>(
                                     torch::optim::AdamWOptions(p.lr).betas({0.9, 0.95}).weight_decay(0.0)));
    torch::optim::AdamW opt(groups, torch::optim::AdamWOptions(p.lr));

    int step = 0, planned = p.steps;
    double priorSeconds = 0;  // training time before a resume
    std::mt19937_64 rng(p.seed + 1);
    if (resuming) {
        std::ifstream tj(ckptDir + "/trainer.json");
        json state;
        tj >> state;
        step = state.at("step").get<int>();
        planned = state.at("planned").get<int>();
        priorSeconds = state.value("seconds", 0.0);
        std::istringstream(state.at("rng").get<std::string>()) >> rng;
        torch::load(opt, ckptDir + "/optimizer.pt");
        log("resumed at step " + std::to_string(step) + " of " + std::to_string(planned));
    }
    const double budget = p.minutes * 60.0;
    const double trainStart = since(t0);
    auto trainedSeconds = [&] { return priorSeconds + since(t0) - trainStart; };
    auto checkpoint = [&] {
        fs::create_directories(ckptDir);
        saveWeights(*tf, ckptDir + "/model.safetensors");
        torch::save(opt, ckptDir + "/optimizer.pt");
        std::ostringstream r;
        r << rng;
        writeFileAtomically(ckptDir + "/trainer.json",
                            json{{"step", step}, {"planned", planned}, {"rng", r.str()}, {"seconds", trainedSeconds()}}.dump(),
                            "training checkpoint");
        for (const char* f : {"/vocab.json", "/merges.txt"}) {
            std::error_code copyError;
            fs::copy_file(p.outDir + f, ckptDir + f, fs::copy_options::overwrite_existing, copyError);
            if (copyError) fail(ErrorKind::Io, ckptDir + f + ": cannot write (" + copyError.message() + ")");
        }
    };

    const int T = p.context, B = p.batch;
    const auto tTrain = Clock::now();
    const int startStep = step;
    double lossAvg = 0;
    int64_t tokensSeen = 0;
    TrainDemoResult result;
    // The schedule's clock: steps when --steps is given, else elapsed time
    // (robust on a loaded machine; the log records the steps it took).
    while (true) {
        double frac;
        if (planned > 0) {
            if (step >= planned) break;
            frac = double(step) / planned;
        } else {
            frac = trainedSeconds() / budget;
            if (frac >= 1.0) break;
        }
        const double lr = p.lr * std::min(1.0, (step + 1.0) / p.warmup) *
                          (p.minLrShare + (1 - p.minLrShare) * 0.5 * (1 + std::cos(M_PI * frac)));
        for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
        const bool masked = frac < p.maskFraction;

        std::vector<int64_t> x(size_t(B) * (T + 1));
        at::Tensor allowed;
        if (masked) allowed = at::ones({B, T, T}, at::TensorOptions().dtype(at::kBool));
        for (int b = 0; b < B; ++b) {
            const int64_t st = stream.docStarts[rng() % stream.docStarts.size()];
            std::copy(stream.ids.begin() + st, stream.ids.begin() + st + T + 1, x.begin() + size_t(b) * (T + 1));
            if (masked && (rng() >> 11) * (1.0 / 9007199254740992.0) < p.maskRows)
                allowed[b] = subjectMask(stream.flags.data() + st, T);
        }
        const at::Tensor xt = at::tensor(at::ArrayRef<int64_t>(x), at::TensorOptions().dtype(at::kLong)).view({B, T + 1});
        ForwardRequest req;
        req.ids = xt.narrow(1, 0, T);
        req.logits = LogitsMode::All;
        if (masked) req.attentionAllowed = allowed;
        const at::Tensor logits = tf->forward(req).logits;
        const at::Tensor loss = at::cross_entropy_loss(logits.reshape({-1, config.vocabSize}),
                                                       xt.narrow(1, 1, T).reshape({-1}));
        opt.zero_grad();
        loss.backward();
        torch::nn::utils::clip_grad_norm_(parameters(*tf), 1.0);
        opt.step();
        ++step;
        tokensSeen += int64_t(B) * T;
        const double l = loss.item<double>();
        lossAvg = step - startStep == 1 ? l : 0.98 * lossAvg + 0.02 * l;
        if (!reportProgress(progress, planned > 0 ? step : frac, planned > 0 ? planned : 1.0)) {
            checkpoint();
            throw Cancelled();
        }
        if (step % 25 == 0) {
            std::ostringstream s;
            s << "step " << step << (planned > 0 ? "/" + std::to_string(planned) : std::string()) << " loss " << lossAvg << " lr " << lr << (masked ? " mask" : "")
              << " tok/s " << int(tokensSeen / since(tTrain)) << " min " << since(t0) / 60;
            log(s.str());
        }
        if (step % p.evalEvery == 0) {
            const DemoQuality q = evaluateDemoQuality(*tf, tok, facts);
            std::ostringstream s;
            s << "eval at step " << step << ": facts " << q.factsCorrect << "/" << q.facts << ", paraphrases "
              << q.paraphrasesCorrect << "/" << q.paraphrases;
            log(s.str());
            checkpoint();
        }
    }
    result.steps = step;
    result.tokensSeen = tokensSeen;
    result.finalLoss = lossAvg;
    result.parameters = tf->parameterCount();
    result.vocabSize = tok.vocabSize();
    for (auto& t : parameters(*tf)) t.set_requires_grad(false);
    saveWeights(*tf, p.outDir + "/model.safetensors");
    writeFileAtomically(p.outDir + "/config.json", modelConfigToJson(config), "model config");
    auto trained = Model::load(p.outDir);
    result.quality = evaluateDemoQuality(*trained, facts);
    result.seconds = since(t0);
    fs::remove_all(ckptDir, ec);
    return result;
}

}  // namespace kme
