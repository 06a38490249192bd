// Edits that are not weight changes, on the committed demo model: GRACE's
// codebook (an adapter) and IKE's demonstrations (a context), the state hash
// over weights + adapters + context, and payloads through a session.
// Every expectation is checked against values computed another way: the
// codebook rule against distances from a plain loop, the context prefix
// against the same tokens run in one sequence, the state hashes against
// the checkpoint's.
#include <QtTest>

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/core/Sha256.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditInternal.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/Grace.h"
#include "engine/edit/Payload.h"
#include "engine/edit/WeightDelta.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"
#include "engine/model/Transformer.h"
#include "engine/session/Replay.h"
#include "engine/session/SessionEdits.h"
#include "engine/session/SessionStore.h"
#include "tests/engine/FactEdits.h"

using namespace kme;

namespace {

using kme::testing::request;
using kme::testing::logitsOf;

// The down projection's input at every token of a prompt, [T, n_inner] float64.
at::Tensor keysOf(const Model& m, const std::string& prompt, int layer) {
    at::Tensor k;
    ForwardRequest req;
    const std::vector<int> ids = m.encodePrompt(prompt);
    req.ids = at::tensor(at::ArrayRef<int>(ids), at::TensorOptions().dtype(at::kInt)).to(at::kLong).unsqueeze(0);
    req.logits = LogitsMode::None;
    req.bare = true;
    req.interventions.push_back(Intervention::read(Site::MlpKey, layer, &k));
    m.transformer().forward(req);
    return k[0].to(at::kDouble);
}

// Euclidean distance by a plain loop.
double distance(const std::vector<double>& a, const at::Tensor& b) {
    double ss = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double d = a[i] - b[int64_t(i)].item<double>();
        ss += d * d;
    }
    return std::sqrt(ss);
}

EditParams graceParams(const Model& m, int layer, double eps, std::vector<EditRequest> requests) {
    EditParams p = defaultEditParams(m, EditMethod::Grace);
    p.hparams.layers = {layer};
    p.hparams.graceEps = eps;
    p.hparams.graceIters = 40;
    p.requests = std::move(requests);
    return p;
}

// One payload of each adapter kind, with every field set.
std::vector<AdapterPayload> adapterSamples() {
    AdapterPayload g;
    g.type = "grace";
    g.layer = 3;
    g.entries.push_back(GraceEntry{"00112233aabbccdd", {1.5, -2, 0.25}, {3, 4.125}, 0.75, " Paris"});
    g.entries.push_back(GraceEntry{"ffeeddcc44556677", {0, 1, 2}, {-1, 1e-3}, 2, " Rome"});
    g.changes.push_back(GraceChange{"0123456789abcdef", 0.5, {7, 8}});
    g.changes.push_back(GraceChange{"fedcba9876543210", 1.25, {}});
    AdapterPayload w;
    w.type = "wise";
    w.layer = 2;
    w.wise.shard = 1;
    w.wise.position = 3;
    w.wise.shardSize = 2;
    w.wise.mergeShards = 2;
    w.wise.density = 0.5;
    w.wise.actRatio = 0.88;
    w.wise.minActivation = 1.25;
    w.wise.rows = 4;
    w.wise.cols = 3;
    w.wise.index = {1, 5, 11};
    w.wise.delta = {0.5, -0.25, 2};
    AdapterPayload n;
    n.type = "neurons";
    n.layer = 1;
    n.neurons = {NeuronScale{4, 2, 0}, NeuronScale{1, 7, 0}, NeuronScale{1, 9, 0}};
    return {g, w, n};
}

}  // namespace

class TestPayloads final : public QObject {
    Q_OBJECT

    std::shared_ptr<Model> model_;
    QTemporaryDir tmp_;
    const int layer_ = 5;

    Model& model() {
        if (!model_) model_ = Model::load(demoModelFolder());
        return *model_;
    }

private Q_SLOTS:
    void initTestCase() {
        if (demoModelFolder().empty()) QSKIP("no demo project");
        QVERIFY(tmp_.isValid());
    }

    // Outside every radius the codebook changes nothing, bit for bit; inside
    // it, the edit holds.
    void graceOutsideRadiusIsBitIdentical() {
        Model& m = model();
        const std::string edited = "The Colosseum is located in the city of";
        const std::string outside = "The Pantheon is located in the city of";
        const at::Tensor before = logitsOf(m, outside);
        const double pBefore = targetProbability(m, edited, " Paris");

        const EditResult r = computeEdit(m, graceParams(m, layer_, 1.0, {request("{} is located in the city of", "The Colosseum", "Paris")}));
        QCOMPARE(r.payloadKind, PayloadKind::Adapter);
        QCOMPARE(r.adapter.entries.size(), size_t(1));
        EditStack stack(m);
        stack.apply(r.payload());

        // Premise: every token of the other prompt is farther than the radius.
        const at::Tensor keys = keysOf(m, outside, layer_);
        double nearest = 1e300;
        for (int64_t t = 0; t < keys.size(0); ++t) nearest = std::min(nearest, distance(r.adapter.entries[0].key, keys[t]));
        qInfo("nearest token of the other prompt: distance %.4f, radius %.4f", nearest, r.adapter.entries[0].epsilon);
        QVERIFY(nearest > r.adapter.entries[0].epsilon);
        const at::Tensor after = logitsOf(m, outside);
        QVERIFY(at::equal(before, after));  // identical bytes, not merely close

        const double pAfter = targetProbability(m, edited, " Paris");
        qInfo("p(Paris) %.6f -> %.6f", pBefore, pAfter);
        QVERIFY(pBefore < 0.01);
        QVERIFY(pAfter > 0.9);
        stack.revertAll();
        QCOMPARE(m.stateHash(), m.weightsHash());
    }

    // Two conflicting edits split both radii to d/2 (the nearest d/2 - 1e-5);
    // an edit with the same label within reach grows the nearest radius to d.
    void graceSplitAndExpand() {
        Model& m = model();
        EditStack stack(m);
        const auto r1 = request("{} is located in the city of", "The Colosseum", "Paris");
        const auto r2 = request("{} is located in the city of", "The Pantheon", "Berlin");
        const double eps = 1e4;  // every key within reach
        const EditResult a = computeEdit(m, graceParams(m, layer_, eps, {r1}));
        stack.apply(a.payload());
        const EditResult b = computeEdit(m, graceParams(m, layer_, eps, {r2}));
        const double d = distance(a.adapter.entries[0].key,
                                  at::tensor(at::ArrayRef<double>(b.adapter.entries[0].key), at::kDouble));
        qInfo("keys of the two prompts: distance %.6f (plain loop)", d);
        QVERIFY(d > 0);
        QCOMPARE(b.adapter.entries.size(), size_t(1));
        QCOMPARE(b.adapter.changes.size(), size_t(1));
        QCOMPARE(b.adapter.changes[0].id, a.adapter.entries[0].id);
        const double tol = 1e-9 * d;
        qInfo("split radii: new %.9f (d/2 %.9f), old %.9f (d/2 - 1e-5 %.9f)", b.adapter.entries[0].epsilon, d / 2,
              b.adapter.changes[0].epsilon, d / 2 - 1e-5);
        QVERIFY(std::fabs(b.adapter.entries[0].epsilon - d / 2) <= tol);
        QVERIFY(std::fabs(b.adapter.changes[0].epsilon - (d / 2 - 1e-5)) <= tol);
        stack.apply(b.payload());
        // Both edits hold, each on its own prompt.
        QVERIFY(targetProbability(m, r1.filledPrompt(), " Paris") > 0.5);
        QVERIFY(targetProbability(m, r2.filledPrompt(), " Berlin") > 0.5);

        // Same label as the first entry, another prompt within reach: no new
        // entry, the radius grows to the distance.
        const auto r3 = request("{} can be found in the city of", "The Colosseum", "Paris");
        const EditResult c = computeEdit(m, graceParams(m, layer_, eps, {r3}));
        QCOMPARE(c.adapter.entries.size(), size_t(0));
        QCOMPARE(c.adapter.changes.size(), size_t(1));
        const at::Tensor k3 = keysOf(m, r3.filledPrompt(), layer_);
        const double d3 = distance(a.adapter.entries[0].key, k3[k3.size(0) - 1]);
        qInfo("expansion: radius %.6f, distance %.6f", c.adapter.changes[0].epsilon, d3);
        QCOMPARE(c.adapter.changes[0].id, a.adapter.entries[0].id);
        QVERIFY(std::fabs(c.adapter.changes[0].epsilon - std::max(d3, b.adapter.changes[0].epsilon)) <= 1e-9 * d3);

        // The union of payloads: with the second edit disabled its change of
        // the first entry's radius is gone too.
        const AdapterPayload* onlyFirst[] = {&a.adapter};
        const auto books = graceCodebooks({onlyFirst[0]});
        QCOMPARE(books.at(layer_).entries.size(), size_t(1));
        QCOMPARE(books.at(layer_).entries[0].epsilon, a.adapter.entries[0].epsilon);
        const auto both = graceCodebooks({&a.adapter, &b.adapter});
        QCOMPARE(both.at(layer_).entries[0].epsilon, b.adapter.changes[0].epsilon);
        stack.revertAll();
    }

    // State hashes: two adapters give two new states; undoing everything
    // gives the checkpoint's hash back; the weights never change.
    void stateHashSemantics() {
        Model& m = model();
        const std::string checkpoint = m.weightsHash();
        QCOMPARE(m.stateHash(), checkpoint);
        EditStack stack(m);
        const EditResult a = computeEdit(m, graceParams(m, layer_, 1.0, {request("{} is located in the city of", "The Colosseum", "Paris")}));
        stack.apply(a.payload());
        const std::string s1 = m.stateHash();
        const EditResult b = computeEdit(m, graceParams(m, layer_, 1.0, {request("The capital of {} is", "Germany", "Paris")}));
        stack.apply(b.payload());
        const std::string s2 = m.stateHash();
        QVERIFY(s1 != checkpoint);
        QVERIFY(s2 != s1);
        QVERIFY(s2 != checkpoint);
        QCOMPARE(m.weightsHash(), checkpoint);
        // Rebuilding the same payloads reproduces the same state.
        const EditPayload pa = a.payload(), pb = b.payload();
        stack.rebuild(std::vector<const EditPayload*>{&pa, &pb});
        QCOMPARE(m.stateHash(), s2);
        stack.rebuild(std::vector<const EditPayload*>{&pb});
        QVERIFY(m.stateHash() != s2 && m.stateHash() != s1);
        stack.revertAll();
        QCOMPARE(m.stateHash(), checkpoint);
    }

    // The context is the same as the tokens run in one sequence: the prefix
    // cache changes no number beyond float rounding; the weights are untouched.
    void ikeContextEqualsOneSequence() {
        Model& m = model();
        const std::string hash = m.weightsHash();
        EditParams p = defaultEditParams(m, EditMethod::Ike);
        QVERIFY(!p.demonstrations.empty());  // the demo's kme_edit_defaults.json names its facts
        p.requests = {request("{} is located in the city of", "The Colosseum", "Paris")};
        const EditResult r = computeEdit(m, p);
        QCOMPARE(r.payloadKind, PayloadKind::Context);
        QVERIFY(r.context.demonstrations >= 1);
        QVERIFY(!r.context.ids.empty());
        for (const auto& n : r.notes) qInfo("%s", n.c_str());
        EditStack stack(m);
        stack.apply(r.payload());
        QCOMPARE(m.weightsHash(), hash);  // IKE changes no weight
        QVERIFY(m.stateHash() != hash);

        const std::string prompt = "The Colosseum is located in the city of";
        const at::Tensor withContext = logitsOf(m, prompt);
        std::vector<int64_t> joined = r.context.ids;
        const std::vector<int> ids = m.encodePrompt(prompt);
        joined.insert(joined.end(), ids.begin(), ids.end());
        ForwardRequest req;
        req.ids = at::tensor(at::ArrayRef<int64_t>(joined), at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
        req.logits = LogitsMode::Last;
        req.bare = true;
        const at::Tensor oneSequence = m.transformer().forward(req).logits[0];
        const double diff = (withContext - oneSequence).abs().max().item<double>();
        qInfo("context as a cached prefix vs one sequence: max |d logit| = %.3g (tolerance 1e-4)", diff);
        QVERIFY(diff < 1e-4);
        // Generation with its own cache runs after the context too.
        const GenerateResult g = m.generate(m.encodePrompt(prompt), {3, 1, 0, true});
        QCOMPARE(g.ids.size(), size_t(3));
        stack.revertAll();
        QCOMPARE(m.stateHash(), hash);
    }

    // Every payload kind round-trips through its bytes and through a session,
    // and a replay reproduces the recorded state hash; disabling an edit that
    // a later one was computed on raises the what-if note.
    void payloadsThroughASession() {
        Model& m = model();
        const std::string path = tmp_.filePath("payloads.kmes").toStdString();
        SessionStore store(path);
        attachModel(store, m, m.weightsHash());
        EditStack stack(m);
        std::vector<int64_t> ids;
        std::vector<std::string> states;
        auto record = [&](EditParams p) {
            const std::string before = m.stateHash();
            const EditResult r = computeEdit(m, p);
            const EditPayload payload = r.payload();
            const EditPayload back = EditPayload::fromBytes(payload.kind, payload.toBytes());
            QCOMPARE(back.toBytes(), payload.toBytes());
            stack.apply(payload);
            states.push_back(m.stateHash());
            ids.push_back(store.addEdit(makeEditRecord(r, p.requests, before, m.stateHash())));
        };
        record(graceParams(m, layer_, 1.0, {request("{} is located in the city of", "The Colosseum", "Paris")}));
        {
            EditParams p = defaultEditParams(m, EditMethod::Rome);
            p.hparams.mom2Adjustment = false;
            p.hparams.vNumGradSteps = 8;
            p.requests = {request("The capital of {} is", "Germany", "Paris")};
            record(p);
        }
        {
            EditParams p = defaultEditParams(m, EditMethod::Ike);
            p.hparams.ikeDemonstrations = 0;
            p.requests = {request("The official language of {} is", "Germany", "Japanese")};
            record(p);
        }
        const auto edits = store.listEdits(false);
        QCOMPARE(edits.size(), size_t(3));
        QCOMPARE(edits[0].payloadKind, std::string("adapter"));
        QCOMPARE(edits[1].payloadKind, std::string("weights"));
        QCOMPARE(edits[2].payloadKind, std::string("context"));
        stack.revertAll();

        SessionStore reopened(path);
        QCOMPARE(reopened.schemaVersion(), 2);
        EditStack again(m);
        const ReplayReport rep = replaySession(reopened, stackEditApplier(again));
        QVERIFY(rep.verified);
        QCOMPARE(rep.finalHash, states.back());
        QVERIFY(rep.whatIf.empty());

        // Undo the GRACE edit: the ROME edit was computed on its state, and
        // the IKE edit on the state after both.
        reopened.setEditEnabled(ids[0], false);
        const ReplayReport whatIf = replaySession(reopened, stackEditApplier(again));
        QCOMPARE(whatIf.whatIf.size(), size_t(2));
        QCOMPARE(whatIf.whatIf[0].editId, ids[1]);
        QCOMPARE(whatIf.whatIf[1].editId, ids[2]);
        QVERIFY(!whatIf.verified);
        // Undo everything: the checkpoint's state.
        reopened.setEditEnabled(ids[1], false);
        reopened.setEditEnabled(ids[2], false);
        const ReplayReport none = replaySession(reopened, stackEditApplier(again));
        QCOMPARE(none.finalHash, m.weightsHash());
        QCOMPARE(m.stateHash(), reopened.model()->weightsHash);
    }

    // A session written by the release before payload kinds (schema v1,
    // tests/data/sessions/demo-rome-v1.kmes: two ROME edits of the demo
    // model) opens, migrates to v2 and replays to the weights it recorded.
    void v1SessionMigrates() {
        const std::string fixture = std::string(KME_SOURCE_DIR) + "/tests/data/sessions/demo-rome-v1.kmes";
        const std::string path = tmp_.filePath("v1.kmes").toStdString();
        std::filesystem::copy_file(fixture, path, std::filesystem::copy_options::overwrite_existing);
        std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        std::string recordedAfter;
        {
            // Read-only (kme predict/trace/eval --session): read as version 1, not migrated, not written.
            const auto bytes = [&] {
                std::ifstream in(path, std::ios::binary);
                return std::string(std::istreambuf_iterator<char>(in), {});
            };
            const std::string before = bytes();
            SessionOpenOptions o;
            o.readOnly = true;
            SessionStore ro(path, o);
            QCOMPARE(ro.schemaVersion(), 1);
            const auto edits = ro.listEdits(true);
            QCOMPARE(edits.size(), size_t(2));
            QCOMPARE(edits[0].payloadKind, std::string("weights"));
            QVERIFY(!edits[0].delta.empty());
            Model& m = model();
            EditStack stack(m);
            const ReplayReport rep = replaySession(ro, stackEditApplier(stack));
            QVERIFY(rep.verified);
            QCOMPARE(rep.finalHash, edits[1].weightsHashAfter);
            stack.revertAll();
            QVERIFY(bytes() == before);
        }
        {
            // Opened for writing: migrated.
            SessionStore store(path);
            QCOMPARE(store.schemaVersion(), 2);  // migrated on open
            const auto edits = store.listEdits(false);
            QCOMPARE(edits.size(), size_t(2));
            for (const auto& e : edits) {
                QCOMPARE(e.payloadKind, std::string("weights"));
                QCOMPARE(e.method, std::string("rome"));
                QCOMPARE(e.computedOnHash.size(), size_t(64));
            }
            QCOMPARE(edits[1].computedOnHash, edits[0].weightsHashAfter);
            recordedAfter = edits[1].weightsHashAfter;
            Model& m = model();
            QCOMPARE(store.model()->weightsHash, m.weightsHash());
            EditStack stack(m);
            const ReplayReport rep = replaySession(store, stackEditApplier(stack));
            qInfo("v1 session replayed: %s", rep.summary.c_str());
            QVERIFY(rep.verified);
            QCOMPARE(rep.finalHash, recordedAfter);
            QCOMPARE(m.stateHash(), m.weightsHash());  // weight deltas only: the state is the weights
            stack.revertAll();
        }
        SessionStore again(path);  // a migrated file opens as v2 without another step
        QCOMPARE(again.schemaVersion(), 2);
        QCOMPARE(again.listEdits(false)[1].weightsHashAfter, recordedAfter);
    }

    // The session blobs of every adapter kind are pinned byte for byte
    // (sessions written before read back identically), and so are their
    // descriptions; an unknown kind in a blob is refused by name.
    void adapterBlobsArePinned() {
        const std::vector<AdapterPayload> samples = adapterSamples();
        const char* hashes[] = {"fe6ba445738864c75709c549883a46daacbc78a15b2ece5ea1042d0271fcde4c",
                                "a5a5b6bc83deb9d0f9d24ab62142aa46d2e0329b47550ac923c160203ec832cb",
                                "d97d7413b93a688ab0a2092b84c83aac8914c8ce33610026a5571b2878a8aaff"};
        const char* descriptions[] = {
            "GRACE codebook at layer 3: 2 entries added (key 3 \u2192 value 2, radius 0.75), 2 earlier entries changed",
            "WISE side memory at layer 2, shard 1: 3 of 12 weights changed (max |change| 2), answers where its "
            "activation gap >= 0.88 x 1.25",
            "3 knowledge neurons x 0 (suppressed): layers 1 (2), 4 (1)"};
        for (const AdapterPayload& a : samples)
            qInfo("%s: sha256 %s, \"%s\"", a.type.c_str(), sha256Hex(a.toBytes()).c_str(), a.describe().c_str());
        for (size_t i = 0; i < samples.size(); ++i) {
            const std::string bytes = samples[i].toBytes();
            QCOMPARE(sha256Hex(bytes), std::string(hashes[i]));
            QCOMPARE(samples[i].describe(), std::string(descriptions[i]));
            QCOMPARE(AdapterPayload::fromBytes(bytes), samples[i]);
            QCOMPARE(AdapterPayload::fromBytes(bytes).toBytes(), bytes);
        }
        std::string unknown = samples[0].toBytes();
        const size_t at = unknown.find("grace");
        QVERIFY(at != std::string::npos);
        unknown.replace(at, 5, "lorax");  // same length: the header stays well-formed
        try {
            AdapterPayload::fromBytes(unknown);
            QFAIL("an adapter blob of an unknown type was accepted");
        } catch (const kme::Error& err) {
            qInfo("%s", err.what());
            QCOMPARE(err.kind(), ErrorKind::Format);
            QVERIFY(std::string(err.what()).find("unknown adapter type 'lorax'") != std::string::npos);
            QVERIFY(std::string(err.what()).find("grace, wise, neurons") != std::string::npos);
        }
        // The other payload kinds' blobs, pinned likewise.
        EditPayload weights;
        weights.kind = PayloadKind::Weights;
        weights.weights.parts.push_back(TensorDelta::lowRank("h.1.mlp.c_proj.weight", {3, 2},
                                                             DeltaMatrix{3, 1, {1, -2, 0.5}}, DeltaMatrix{2, 1, {4, 0.25}}));
        weights.weights.parts.push_back(TensorDelta::denseDelta("h.0.ln_1.bias", {2}, DeltaMatrix{2, 1, {1e-3, -7}}));
        weights.weights.keys[1] = DeltaMatrix{3, 2, {1, 2, 3, 4, 5, 6}};
        EditPayload context;
        context.kind = PayloadKind::Context;
        context.context.text = "Imagine that Paris is in Italy.";
        context.context.ids = {5, 17, 400};
        context.context.demonstrations = 1;
        const char* otherHashes[] = {"bc0e6d76084b7cf10daf351febbdf3fba9cf52b51f0646d1870d1faa4bfc4904",
                                     "6ae89a280387e4a337fcc19aea257ffa58aa49ed0c855f7d2d0cd187c52f76b9"};
        const EditPayload* others[] = {&weights, &context};
        for (const EditPayload* p : others)
            qInfo("%s: sha256 %s, \"%s\"", payloadName(p->kind), sha256Hex(p->toBytes()).c_str(), p->describe().c_str());
        for (size_t i = 0; i < 2; ++i) {
            const std::string bytes = others[i]->toBytes();
            QCOMPARE(sha256Hex(bytes), std::string(otherHashes[i]));
            QCOMPARE(EditPayload::fromBytes(others[i]->kind, bytes).toBytes(), bytes);
        }
        // Each kind is checked against the model before anything changes.
        Model& m = model();
        QVERIFY(m.config().nInner != 3 && m.config().nInner != 4);  // the premise: the samples do not fit
        std::vector<AdapterPayload> misfits = samples;
        misfits[2].neurons[0].index = m.config().nInner;
        AdapterPayload lorax = samples[0];
        lorax.type = "lorax";
        misfits.push_back(lorax);
        const char* reasons[] = {"codebook entry has key width 3", "the WISE side memory is 4 x 3",
                                 "scales neuron", "unknown adapter type 'lorax'"};
        EditStack stack(m);
        for (size_t i = 0; i < misfits.size(); ++i) {
            EditPayload p;
            p.kind = PayloadKind::Adapter;
            p.adapter = misfits[i];
            try {
                stack.apply(p);
                QFAIL("an adapter that does not fit the model was applied");
            } catch (const kme::Error& err) {
                qInfo("%s", err.what());
                QCOMPARE(err.kind(), ErrorKind::Input);
                QVERIFY(std::string(err.what()).find(reasons[i]) != std::string::npos);
            }
            QCOMPARE(m.stateHash(), m.weightsHash());
        }
    }

    // A damaged adapter or context blob is refused with its reason.
    void hostileBlobs() {
        AdapterPayload a;
        a.layer = 1;
        GraceEntry e;
        e.id = "x";
        e.key = {1, 2};
        e.value = {3};
        e.epsilon = 1;
        a.entries.push_back(e);
        const std::string bytes = a.toBytes();
        QCOMPARE(AdapterPayload::fromBytes(bytes), a);
        for (const std::string& bad : {std::string(), bytes.substr(0, 20), std::string(8, '\xff') + "{}"}) {
            try {
                AdapterPayload::fromBytes(bad);
                QFAIL("a damaged adapter blob was accepted");
            } catch (const kme::Error& err) {
                QCOMPARE(err.kind(), ErrorKind::Format);
                QVERIFY(std::string(err.what()).find("adapter blob") != std::string::npos);
            }
        }
        ContextPayload c;
        c.text = "x";
        c.ids = {5, 7};
        QCOMPARE(ContextPayload::fromBytes(c.toBytes()), c);
        try {
            AdapterPayload::fromBytes(c.toBytes());
            QFAIL("a context blob was read as an adapter");
        } catch (const kme::Error& err) {
            QVERIFY(std::string(err.what()).find("not a kme_adapter blob") != std::string::npos);
        }
        // An adapter for another model shape is refused before anything changes.
        Model& m = model();
        EditStack stack(m);
        EditPayload p;
        p.kind = PayloadKind::Adapter;
        p.adapter = a;
        try {
            stack.apply(p);
            QFAIL("an adapter of the wrong width was applied");
        } catch (const kme::Error& err) {
            QVERIFY(std::string(err.what()).find("key width 2") != std::string::npos);
        }
        QCOMPARE(m.stateHash(), m.weightsHash());
        // A context token outside the vocabulary.
        p.kind = PayloadKind::Context;
        c.ids = {int64_t(m.config().vocabSize)};
        p.context = c;
        try {
            stack.apply(p);
            QFAIL("a context with an unknown token id was applied");
        } catch (const kme::Error& err) {
            QVERIFY(std::string(err.what()).find("outside the model's vocabulary") != std::string::npos);
        }
    }
};

QTEST_GUILESS_MAIN(TestPayloads)
#include "test_payloads.moc"
