#pragma once
// What an edit produces, as data (DESIGN.md "Payloads"): a weight delta, an
// adapter (parameters acting at a site of the forward pass; the checkpoint's
// weights untouched) or a context (tokens placed before every prompt). Each
// is a versioned safetensors blob in the session. Torch-free.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/edit/WeightDelta.h"

namespace kme {

// What an edit of a method produces.
enum class PayloadKind {
    Weights,  // a weight delta (WeightDelta)
    Adapter,  // parameters acting at a site of the forward pass (AdapterPayload)
    Context,  // tokens placed before every prompt (ContextPayload)
};
const char* payloadName(PayloadKind payload);  // "weights" | "adapter" | "context"
// The kind of a name; ErrorKind::Format naming it otherwise.
PayloadKind parsePayloadKind(const std::string& name);

// One entry of a GRACE codebook (Hartvigsen et al. 2023): when the input of
// the layer's down projection at a token lies within `epsilon` (Euclidean) of
// `key`, the MLP output there is replaced by `value`.
struct GraceEntry {
    std::string id;             // stable name of the entry (16 hex of a sha256), unique in a session
    std::vector<double> key;    // [n_inner] the down projection's input at the edit prompt's last token
    std::vector<double> value;  // [n_embd] the MLP output that replaces the layer's there
    double epsilon = 0;         // deferral radius
    std::string label;          // the target text: entries conflict when their labels differ
    bool operator==(const GraceEntry& o) const;
};
// A later edit's change of an earlier entry (GRACE's radius expansion for the
// same label, the split for a conflicting one, a retrained value).
struct GraceChange {
    std::string id;             // the entry changed
    double epsilon = 0;         // its radius after the edit
    std::vector<double> value;  // its value after the edit (empty: unchanged)
    bool operator==(const GraceChange& o) const;
};

// One WISE edit (Wang et al., NeurIPS 2024): its change of the side memory
// of one layer -- a copy W' of the layer's down projection -- within its
// knowledge shard (a random mask of W' shared by `shard_size` consecutive
// edits), and what the routing of that memory needs.
struct WiseChange {
    int64_t shard = 0;          // the knowledge shard (edits [shard * shardSize, (shard + 1) * shardSize) at the layer)
    int64_t position = 0;       // this edit's place among the layer's WISE edits when it was computed
    int64_t shardSize = 1;      // edits per shard (WISE's save_freq)
    int64_t mergeShards = 2;    // shards merged (TIES) into one memory (merge_freq / save_freq)
    double density = 0.53;      // TIES's trim: the share of each shard's change kept by magnitude
    double actRatio = 0.88;     // the memory answers where its activation gap >= act_ratio x min_activation
    double minActivation = 0;   // the smallest activation gap of the edit's own inputs after training
    int64_t rows = 0, cols = 0; // the memory's shape as x W': rows = n_inner (key side), cols = n_embd
    std::vector<int64_t> index; // changed elements, row * cols + col, ascending
    std::vector<double> delta;  // their change (W'_after - W'_before), one per index
    bool operator==(const WiseChange& o) const;
};

// One knowledge neuron whose activation (the input of its layer's down
// projection) is multiplied by `factor` at every token: Dai et al.'s
// suppress (x 0) and amplify (x 2).
struct NeuronScale {
    int layer = 0;
    int64_t index = 0;   // 0 ... n_inner-1
    double factor = 1;
    bool operator==(const NeuronScale& o) const;
};

struct AdapterPayload {
    std::string type = "grace";          // the adapter's kind: "grace" | "wise" | "neurons"
    int layer = -1;                      // the block it acts in (neurons: the lowest of its neurons' layers)
    std::vector<GraceEntry> entries;     // grace: entries this edit added
    std::vector<GraceChange> changes;    // grace: changes of earlier edits' entries
    WiseChange wise;                     // wise: the side memory's change
    std::vector<NeuronScale> neurons;    // neurons: the scaled neurons (any layers)

    // Safetensors bytes (F64 tensors; metadata "kme_adapter" version 1).
    // fromBytes throws ErrorKind::Format with the reason for anything malformed.
    std::string toBytes() const;
    static AdapterPayload fromBytes(const std::string& bytes);
    bool isFinite() const;
    // "GRACE codebook at layer 3: 1 entry added (key 512 -> value 128, radius 4.0)",
    // "WISE side memory at layer 5, shard 0: 13107 weights changed (max |change| 0.41), ...",
    // "5 knowledge neurons x 0 (suppressed): layers 0 (4), 6 (1)".
    std::string describe() const;
    bool operator==(const AdapterPayload& o) const;
};

// A GRACE codebook at one layer: the union of enabled payloads' entries, in
// order, with each payload's changes applied to the entries before it (an
// entry whose edit is disabled is gone, and so are changes to it).
struct GraceCodebook {
    int layer = -1;
    std::vector<GraceEntry> entries;
};
std::map<int, GraceCodebook> graceCodebooks(const std::vector<const AdapterPayload*>& enabled);
// The per-neuron factors of the enabled "neurons" payloads, by layer ([n_inner]
// each, 1 where no payload scales): scalings of one neuron multiply.
std::map<int, std::vector<double>> neuronFactors(const std::vector<const AdapterPayload*>& enabled, int64_t nInner);

struct ContextPayload {
    std::string text;                 // placed before every prompt
    std::vector<int64_t> ids;         // its tokens
    int demonstrations = 0;           // demonstrations in it (IKE)

    std::string toBytes() const;      // safetensors: I64 "ids"; metadata "kme_context" version 1
    static ContextPayload fromBytes(const std::string& bytes);
    std::string describe() const;     // "context of 41 tokens (1 demonstration + the new fact)"
    bool operator==(const ContextPayload& o) const;
};

// One edit's payload, whatever its kind.
struct EditPayload {
    PayloadKind kind = PayloadKind::Weights;
    WeightDelta weights;
    AdapterPayload adapter;
    ContextPayload context;

    std::string toBytes() const;  // the session blob of its kind
    static EditPayload fromBytes(PayloadKind kind, const std::string& bytes);
    std::string describe() const;  // tensors and ranks / adapter site and size / context length
    bool isFinite() const;
};

}  // namespace kme
