#pragma once
// Engine-internal header: it includes ATen. Only engine .cpp files and
// engine tests include it; widgets and the app see the torch-free Model.h.
//
// A decoder-only transformer (every family of the architecture table, the
// block layout read from its traits) whose intermediates pass named
// hook points ("sites") where interventions read, replace or add values —
// the one mechanism that tracing and editing share (llama.cpp's cb() habit).
// A forward call may start at any block with cached keys/values of earlier
// positions, so a causal trace restarts a run from layer L instead of 0.
#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/model/Config.h"

namespace kme {

// Where an intervention acts. Widths: Embed/AttnOut/MlpOut/BlockOut n_embd,
// MlpKey n_inner. The same in every family.
enum class Site {
    Embed,     // token embeddings, before learned position embeddings are added (layer ignored)
    AttnOut,   // output of block `layer`'s attention (after its output projection)
    MlpKey,    // input of block `layer`'s down projection: act(up x), or act(gate x) * up x when gated
    MlpOut,    // output of block `layer`'s MLP
    BlockOut   // residual stream after block `layer`
};
const char* siteName(Site site);

struct Intervention {
    enum class Op { Read, Replace, Add, Custom };
    Site site = Site::BlockOut;
    int layer = -1;
    Op op = Op::Read;
    // Cells touched: pairs (rows[i], positions[i]); positions are absolute
    // (a call that starts after a cached prefix sees positions past+0...).
    // Empty `rows` and `positions` = every cell of the call.
    at::Tensor rows;       // [N] int64
    at::Tensor positions;  // [N] int64, absolute token positions
    at::Tensor value;      // Replace/Add: broadcastable to [N, width] (or [B, T, width] for all cells)
    at::Tensor* out = nullptr;  // Read: receives the whole site tensor [B, T, width]
    // Custom: receives the site tensor and the absolute position of its
    // column 0; returns the tensor that continues the forward pass.
    std::function<at::Tensor(const at::Tensor& x, int64_t positionOffset)> fn;

    static Intervention read(Site site, int layer, at::Tensor* out);
    // The cross product rows x positions (empty rows = every row).
    static Intervention replace(Site site, int layer, const std::vector<int64_t>& positions,
                                at::Tensor value, const std::vector<int64_t>& rows = {});
    static Intervention add(Site site, int layer, const std::vector<int64_t>& positions,
                            at::Tensor value, const std::vector<int64_t>& rows = {});
    // Explicit (row, position) pairs.
    static Intervention atCells(Op op, Site site, int layer, at::Tensor rows, at::Tensor positions,
                                at::Tensor value);
    static Intervention custom(Site site, int layer,
                               std::function<at::Tensor(const at::Tensor&, int64_t)> fn);
};

// Keys and values per block, [B, n_kv_head, T, head_dim] (keys after RoPE, at
// absolute positions); undefined for blocks a call did not run. A cache with batch 1 broadcasts over a larger batch.
struct KVCache {
    std::vector<at::Tensor> keys;
    std::vector<at::Tensor> values;
    int64_t length() const;  // cached positions (0 when empty)
    // Positions [0, n) of every block (a view, no copy).
    KVCache prefix(int64_t n) const;
};

enum class LogitsMode { None, Last, All };

struct ForwardRequest {
    at::Tensor ids;              // [B, T] int64; starts at the embedding (startLayer 0)
    at::Tensor hidden;           // [B, T, n_embd] residual stream entering block startLayer (when ids undefined)
    int startLayer = 0;          // first block to run
    const KVCache* past = nullptr;  // positions [0, past->length()) for blocks >= startLayer
    bool keepCache = false;      // fill ForwardResult::cache with past + new keys/values
    bool bare = false;           // ignore the resident state (adapters, context): the weights alone
    LogitsMode logits = LogitsMode::All;
    int stopAfterLayer = -1;     // >= 0: run blocks up to this one, then return (no logits)
    // Optional extra attention restriction, boolean [B or 1, T, past + T]:
    // true = may attend. Combined with the causal mask (train-demo uses it).
    at::Tensor attentionAllowed;
    std::vector<Intervention> interventions;
};

struct ForwardResult {
    at::Tensor logits;  // All: [B, T, vocab]; Last: [B, vocab]; None: undefined
    at::Tensor hidden;  // residual stream after the last block run, [B, T, n_embd]
    KVCache cache;      // when keepCache
    double flops = 0;   // floating-point operations this call performed (matrix products)
};

// Parameters beside the weights that act in every forward pass: an adapter
// payload (a GRACE codebook at one layer, ...). attach() adds its
// interventions for one call: `first` run before the caller's interventions
// at the same (site, layer), `last` after them (the adapter is part of the
// model; a trace's restore or an edit's added vector act on its output).
class ResidentHook {
public:
    virtual ~ResidentHook() = default;
    virtual void attach(std::vector<Intervention>& first, std::vector<Intervention>& last) const = 0;
};

// What the live model carries beside its weights (DESIGN.md "model state"):
// adapters, and a context (token ids) placed before every input. Callers see
// positions and caches of their own tokens only: the context is invisible to
// them except through what the model predicts. `digest` identifies the state
// ("" = nothing beside the weights).
struct ResidentState {
    std::vector<std::shared_ptr<const ResidentHook>> hooks;
    std::vector<int64_t> contextIds;
    std::string digest;
    std::shared_ptr<const void> source;  // what it was built from (engine/edit's payload lists; opaque here)
    bool empty() const { return hooks.empty() && contextIds.empty(); }
};

class Transformer {
public:
    // `tensors` are keyed by canonical names (prefix stripped). Every tensor of
    // the architecture table must be present with the right shape, else a
    // Format error naming the tensor and `source`. `compute` is the dtype
    // activations run in (Undefined: the token embedding's dtype, float32
    // when that is F16/BF16). Weights in another float dtype stay as they are
    // (half checkpoints stay half, mmap'd) and are converted where used, one
    // matrix at a time: the model is never duplicated in the compute dtype.
    Transformer(ModelConfig config, std::map<std::string, at::Tensor> tensors, const std::string& source,
                at::ScalarType compute = at::ScalarType::Undefined);

    const ModelConfig& config() const { return config_; }
    // The compute dtype (activations, hook values); weights may be stored in another.
    at::ScalarType dtype() const { return dtype_; }
    // Converts every tensor (training, float64 tests). Copies.
    void toDType(at::ScalarType dtype);
    // `w` in the compute dtype (itself when it already is; a fresh,
    // differentiable conversion otherwise): for engine code that combines a
    // weight with activations.
    at::Tensor inCompute(const at::Tensor& w) const;
    // A weight ready for a matrix product in the compute dtype. Without
    // autograd, a half weight is converted into a per-thread scratch buffer
    // that the next call overwrites (use the result at once, never keep it);
    // with autograd, a fresh conversion.
    at::Tensor matmulWeight(const at::Tensor& w) const;

    // Runs the model in its live state (weights + resident adapters and
    // context, unless request.bare).
    ForwardResult forward(const ForwardRequest& request) const;
    // Convenience: logits of the last position for one sequence, [vocab].
    at::Tensor lastLogits(const std::vector<int64_t>& ids) const;
    // Final norm + output head (bias included) applied to a residual stream
    // [..., n_embd]: what forward() does after the last block. Differentiable.
    at::Tensor headLogits(const at::Tensor& hidden) const;
    // The residual stream entering block 0 given the token embeddings
    // [B, T, n_embd] of absolute positions offset..: adds learned position
    // embeddings (GPT-2); the embeddings themselves in RoPE families.
    at::Tensor blockInput(const at::Tensor& embed, int64_t offset) const;

    // The live weights. An edit replaces a tensor through setWeight (copy-on-
    // write: never write into a tensor obtained from weight()).
    const at::Tensor& weight(TensorRole role, int layer = -1) const;
    const at::Tensor& tensor(const std::string& canonicalName) const;
    void setTensor(const std::string& canonicalName, at::Tensor value);
    // Increases whenever a tensor is replaced or converted; caches of derived
    // values (the weights hash) key on it, not on storage addresses, which
    // the allocator may reuse.
    uint64_t version() const { return version_; }
    // version() at which this tensor was last replaced or converted (0: as
    // constructed): the weights hash re-hashes only what changed.
    uint64_t tensorVersion(const std::string& canonicalName) const;
    // Adapters and context of the live state (engine/edit's EditStack sets them).
    void setResidentState(ResidentState state);
    const ResidentState& residentState() const { return resident_; }
    const std::map<std::string, at::Tensor>& tensors() const { return tensors_; }
    Orientation orientation(TensorRole role) const;
    int64_t parameterCount() const;

private:
    struct Block {
        at::Tensor ln1w, ln1b, qkvW, qkvB, qW, qB, kW, kB, vW, vB, projW, projB, ln2w, ln2b, gateW, gateB, fcW, fcB,
            downW, downB;
    };
    // What one forward call shares across blocks.
    struct CallContext {
        int64_t B = 0, T = 0, past = 0;  // batch, new positions, cached positions
        const KVCache* pastCache = nullptr;
        at::Tensor blocked, blockedWindow;  // true = may not attend ([.., T, past + T]); window: sliding layers
        at::Tensor ropeCos, ropeSin;        // RoPE families: [T, rotary_dim] for positions past ..
        std::function<at::Tensor(Site, int, at::Tensor)> hook;  // the call's interventions
    };
    void bind();  // refresh the Block views after a tensor changed
    ForwardResult forwardWeights(const ForwardRequest& request) const;  // the weights alone
    ForwardResult forwardResident(const ForwardRequest& request) const;  // with adapters and context (ResidentForward.cpp)
    at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, TensorRole role) const;
    at::Tensor activation(const at::Tensor& x) const;
    at::Tensor norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const;
    // Block l's attention on the normed input a [B, T, n_embd]: the context
    // [B, T, n_head * head_dim] before the output projection; stores keys and
    // values in `cache` when it is given.
    at::Tensor attention(int l, const at::Tensor& a, const CallContext& ctx, KVCache* cache) const;
    // Block l on the residual stream h (TransformerBlock.cpp).
    at::Tensor runBlock(int l, const at::Tensor& h, const CallContext& ctx, KVCache* cache) const;

    ModelConfig config_;
    std::map<std::string, at::Tensor> tensors_;
    at::ScalarType dtype_ = at::kFloat;
    uint64_t version_ = 0;
    std::map<std::string, uint64_t> tensorVersions_;  // canonical name -> version of its last change
    std::vector<Block> blocks_;
    ResidentState resident_;
    // The context's keys/values, computed on first use for (version_, digest).
    mutable std::mutex contextMutex_;
    mutable std::shared_ptr<const KVCache> contextCache_;
    mutable uint64_t contextVersion_ = ~uint64_t(0);
    mutable std::string contextDigest_;
    at::Tensor wte_, wpe_, lnfW_, lnfB_, lmHead_, lmHeadB_;
};

}  // namespace kme
