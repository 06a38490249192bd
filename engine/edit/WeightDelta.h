#pragma once
// The weight change an edit produced, as data (DESIGN.md "Edits are data"),
// and the stack that applies and reverts such changes on a live model.
// Torch-free: sessions and the app store and show deltas without torch.
//
// Materialisation is deterministic: a part's delta is formed in float64 with
// a fixed summation order (independent of BLAS and thread count), added to
// the current tensor in float64 and rounded once to the tensor's compute
// dtype, so replaying the same deltas gives the same bytes every time.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kme {

class Model;
struct EditPayload;

// A row-major float64 matrix.
struct DeltaMatrix {
    int64_t rows = 0;          // first dimension
    int64_t cols = 0;          // second dimension
    std::vector<double> data;  // rows * cols values, row-major

    double at(int64_t r, int64_t c) const { return data[size_t(r * cols + c)]; }
    bool operator==(const DeltaMatrix& o) const { return rows == o.rows && cols == o.cols && data == o.data; }
};

// The change of one tensor, in the tensor's own storage orientation (GPT-2's
// Conv1D down projection h.L.mlp.c_proj.weight is [n_inner, n_embd]).
struct TensorDelta {
    enum class Kind { LowRank, Dense };
    std::string tensor;          // canonical name, e.g. "h.8.mlp.c_proj.weight"
    std::vector<int64_t> shape;  // the tensor's shape: [rows, cols] or [n] (a bias)
    Kind kind = Kind::Dense;
    DeltaMatrix u;               // LowRank: [rows, r]; delta = u v^T
    DeltaMatrix v;               // LowRank: [cols, r]
    DeltaMatrix dense;           // Dense: [rows, cols] ([n, 1] for a vector)

    int64_t rows() const;
    int64_t cols() const;
    // LowRank: r (the factors' width); Dense: min(rows, cols), an upper bound.
    int64_t rank() const;
    // Frobenius norm of the delta (float64).
    double norm() const;
    // The delta as a dense [rows, cols] matrix (deterministic float64 sum).
    DeltaMatrix materialize() const;

    static TensorDelta lowRank(std::string tensor, std::vector<int64_t> shape, DeltaMatrix u, DeltaMatrix v);
    static TensorDelta denseDelta(std::string tensor, std::vector<int64_t> shape, DeltaMatrix d);
};

struct WeightDelta {
    std::vector<TensorDelta> parts;  // applied in this order (a tensor may appear more than once)
    // Per layer, the keys [n_inner, n] (columns) the edit wrote. AlphaEdit
    // stores them so that later AlphaEdit edits preserve them (K_p): a
    // session's enabled edits carry their own K_p, so undo and what-if stay
    // exact. Not applied to the weights; empty for other methods.
    std::map<int, DeltaMatrix> keys;

    bool empty() const { return parts.empty(); }
    std::vector<std::string> tensors() const;  // distinct names, in first-use order

    // Safetensors bytes (F64 factors, metadata "kme_weight_delta" describing
    // the parts): the session blob. fromBytes throws ErrorKind::Format with
    // the reason for anything malformed.
    std::string toBytes() const;
    static WeightDelta fromBytes(const std::string& bytes);
    // The same, under the names the session layer uses.
    std::string serialize() const { return toBytes(); }
    static WeightDelta deserialize(const std::string& bytes) { return fromBytes(bytes); }

    bool operator==(const WeightDelta& o) const;
    // Every stored value (factors or dense matrices) is finite.
    bool isFinite() const;
};

// Refuses a freshly computed delta holding NaN or Inf, before it is applied
// or recorded: ErrorKind::Input "METHOD produced a non-finite weight change
// (NaN/Inf) - check the hyper-parameters (e.g. HINT)".
void requireFiniteDelta(const WeightDelta& delta, const std::string& method, const std::string& hint);

// The edits on one live model. Copy-on-write: the first time a tensor is
// changed, the stack keeps its original (possibly a view of the read-only
// checkpoint mapping); revertAll() puts the originals back, bit for bit.
// One stack per model; the model must outlive it.
class EditStack {
public:
    explicit EditStack(Model& model);
    ~EditStack();
    EditStack(const EditStack&) = delete;
    EditStack& operator=(const EditStack&) = delete;

    // Adds `delta` to the live weights (on top of earlier edits). Throws
    // ErrorKind::Input, before changing anything, when a part names an
    // unknown tensor, has the wrong shape or would make a weight NaN/Inf.
    void apply(const WeightDelta& delta);
    // Applies an edit's payload of any kind: a weight delta as above; an
    // adapter or a context joins the model's resident state (the live model
    // = weights + enabled adapters + enabled contexts; Model::stateHash()).
    // Throws ErrorKind::Input before changing anything when the payload does
    // not fit the model (layer, widths, token ids, context length).
    void apply(const EditPayload& payload);
    // Restores every touched tensor to its original and removes the adapters
    // and contexts this stack added.
    void revertAll();
    // revertAll(), then apply each delta in order.
    void rebuild(const std::vector<WeightDelta>& deltas);
    void rebuild(const std::vector<const EditPayload*>& payloads);
    // The keys (WeightDelta::keys) of the weight deltas applied through this
    // stack, per layer, concatenated in application order: AlphaEdit's K_p
    // for the next edit on this state (EditParams::preservedKeys).
    std::map<int, DeltaMatrix> writtenKeys() const;

    bool modified() const;  // weights changed, or adapters / contexts added
    int adapterCount() const;
    int contextTokens() const;
    std::vector<std::string> touchedTensors() const;  // sorted names
    Model& model();

private:
    struct Impl;
    std::unique_ptr<Impl> d;
};

}  // namespace kme
