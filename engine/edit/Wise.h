#pragma once
// Engine-internal (includes ATen): WISE's side memory acting in the forward
// pass (Wang et al., NeurIPS 2024; zjunlp/EasyEdit easyeditor/models/wise).
// Only engine/edit .cpp files and engine tests include it.
#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/edit/Payload.h"
#include "engine/model/Transformer.h"

namespace kme::edit {

// One memory the router can choose: W' = W + delta, answering where its
// activation gap reaches `threshold`.
struct WiseMemory {
    at::Tensor delta;               // [n_inner, n_embd] float64 (x W' = x W + x delta)
    double threshold = 0;           // act_ratio x the smallest gap its edits saw
    std::vector<int64_t> shards;    // the knowledge shards in it (one, or the merged ones)
};

// The WISE state of one layer, built from its enabled payloads in order.
struct WiseLayer {
    int layer = -1;
    int64_t edits = 0;                          // enabled WISE edits at the layer
    std::map<int64_t, at::Tensor> shardDelta;   // shard -> the sum of its edits' changes [n_inner, n_embd] float64
    std::map<int64_t, double> shardMinActivation;
    std::vector<WiseMemory> memories;           // what the router chooses from
};

// Per layer, from the enabled adapter payloads (other types ignored): each
// shard's change is the sum of its edits'; a group of `merge_shards`
// consecutive shards (shard / merge_shards) is merged into one memory by
// TIES once all of its shards hold an edit, otherwise each shard is its own
// memory (WISE-Retrieve). Settings (act_ratio, density, merge_shards) come
// from the layer's latest payload.
std::map<int, WiseLayer> wiseLayers(const std::vector<const AdapterPayload*>& enabled);

// TIES merging (Yadav et al. 2023; EasyEdit merge/gta.py with 'magnitude'
// and 'sum', normalize=True, equal weights): each change trimmed to its
// largest `density` share by magnitude, the sign elected by the weighted
// sum, and the agreeing entries averaged. Returns the merged change.
at::Tensor tiesMerge(const std::vector<at::Tensor>& deltas, double density);

// The side memories of one layer as a resident hook. At every token of every
// call the activation gap of memory m is || act(x W'_m + b) - act(x W + b) ||
// (act = the model's MLP activation, as WISE.py's euc()); the memory with the
// largest gap at or above its threshold answers there, else the layer's own
// output stays, bit for bit. (WISE routes a whole input by its mean gap; per
// token gives the same answer whatever the batch, padding or cache -- the
// rule the GRACE hook follows too.)
class WiseHook : public ResidentHook {
public:
    WiseHook(WiseLayer state, std::string activation);
    void attach(std::vector<Intervention>& first, std::vector<Intervention>& last) const override;
    const WiseLayer& state() const { return state_; }

private:
    WiseLayer state_;
    std::string activation_;
    std::vector<at::Tensor> deltas_;  // per memory, float32/compute dtype set at first use
    std::vector<double> thresholds_;
};

// The model's MLP activation by its config name (gelu_new, gelu, silu, relu).
at::Tensor wiseActivation(const std::string& name, const at::Tensor& x);

// The live WISE state of `layer` (empty when none).
WiseLayer liveWiseLayer(const Transformer& tf, int layer);

// The knowledge shard's mask: each of rows x cols weights trains with
// probability `ratio`, drawn from (layer, shard) by splitmix64 (the same on
// every machine), [rows, cols] bool.
at::Tensor wiseMask(int64_t rows, int64_t cols, double ratio, int layer, int64_t shard);

}  // namespace kme::edit
