// The "wise" adapter (Wang et al., NeurIPS 2024): one edit's change of the
// side memory of one layer within its knowledge shard, as a sparse list of
// (index, delta) columns with the routing settings in the meta. The enabled
// edits of a layer combine into its memories (engine/edit/Wise.cpp's
// wiseLayers) acting as one WiseHook.
#include <algorithm>
#include <cmath>

#include "engine/core/Error.h"
#include "engine/edit/Wise.h"
#include "engine/edit/adapters/Adapters.h"
#include "engine/model/Config.h"
#include "engine/model/Transformer.h"

namespace kme::edit {

namespace {

using json = nlohmann::json;

std::string toBytes(const AdapterPayload& a) {
    const WiseChange& w = a.wise;
    if (w.index.size() != w.delta.size()) fail(ErrorKind::Internal, "WISE change: indices and values differ in count");
    json meta = {{"type", "wise"},          {"layer", a.layer},
                 {"shard", w.shard},        {"position", w.position},
                 {"shard_size", w.shardSize}, {"merge_shards", w.mergeShards},
                 {"density", w.density},    {"act_ratio", w.actRatio},
                 {"min_activation", w.minActivation}, {"rows", w.rows}, {"cols", w.cols}};
    std::vector<double> index(w.index.begin(), w.index.end());  // exact: every index < 2^53
    return blob::pack("kme_adapter", meta, {{"index", blob::column(index)}, {"delta", blob::column(w.delta)}});
}

void fromBytes(const blob::Unpacked& u, AdapterPayload& p) {
    auto bad = [](const std::string& why) { fail(ErrorKind::Format, "adapter blob (WISE): " + why); };
    const json& m = u.meta;
    const std::map<std::string, DeltaMatrix>& tensors = u.tensors;
    WiseChange& w = p.wise;
    auto integer = [&](const char* key, int64_t lo, int64_t hi) {
        const auto it = m.find(key);
        if (it == m.end() || !it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi)
            bad(std::string("'") + key + "' is missing or outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return it->get<int64_t>();
    };
    auto real = [&](const char* key, double lo, double hi) {
        const auto it = m.find(key);
        if (it == m.end() || !it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < lo ||
            it->get<double>() > hi)
            bad(std::string("'") + key + "' is missing, not finite or outside [" + blob::number(lo) + ", " +
                blob::number(hi) + "]");
        return it->get<double>();
    };
    w.shard = integer("shard", 0, int64_t(1) << 40);
    w.position = integer("position", 0, int64_t(1) << 40);
    w.shardSize = integer("shard_size", 1, int64_t(1) << 40);
    w.mergeShards = integer("merge_shards", 1, int64_t(1) << 40);
    w.density = real("density", 0, 1);
    w.actRatio = real("act_ratio", 0, 1e6);
    w.minActivation = real("min_activation", 0, 1e300);
    w.rows = integer("rows", 1, int64_t(1) << 24);
    w.cols = integer("cols", 1, int64_t(1) << 24);
    if (w.position / w.shardSize != w.shard) bad("position and shard disagree");
    for (const char* name : {"index", "delta"})
        if (!tensors.count(name)) bad(std::string("tensor '") + name + "' is missing");
    const DeltaMatrix& index = tensors.at("index");
    const DeltaMatrix& delta = tensors.at("delta");
    if (index.rows != delta.rows || (index.rows && (index.cols != 1 || delta.cols != 1)))
        bad("'index' and 'delta' are not columns of one length");
    const double size = double(w.rows) * double(w.cols);
    double previous = -1;
    for (double x : index.data) {
        if (x != std::floor(x) || x <= previous || x >= size) bad("an index is not an ascending integer inside the memory");
        previous = x;
        w.index.push_back(int64_t(x));
    }
    w.delta = delta.data;
}

std::string describe(const AdapterPayload& a) {
    const WiseChange& w = a.wise;
    double largest = 0;
    for (double x : w.delta) largest = std::max(largest, std::fabs(x));
    return "WISE side memory at layer " + std::to_string(a.layer) + ", shard " + std::to_string(w.shard) + ": " +
           std::to_string(w.index.size()) + " of " + std::to_string(w.rows * w.cols) +
           " weights changed (max |change| " + blob::number(largest) + "), answers where its activation gap >= " +
           blob::number(w.actRatio) + " x " + blob::number(w.minActivation);
}

void check(const AdapterPayload& a, const ModelConfig& c) {
    requireModelLayer(a, c);
    if (a.wise.rows != c.nInner || a.wise.cols != c.nEmbd)
        fail(ErrorKind::Input, "the WISE side memory is " + std::to_string(a.wise.rows) + " x " +
                                   std::to_string(a.wise.cols) + "; this model's down projection is " +
                                   std::to_string(c.nInner) + " x " + std::to_string(c.nEmbd));
}

void addHooks(const std::vector<const AdapterPayload*>& enabled, const ModelConfig& c, ResidentState& st) {
    for (auto& [layer, wise] : wiseLayers(enabled))
        st.hooks.push_back(std::make_shared<WiseHook>(std::move(wise), c.activation));
}

}  // namespace

const AdapterKind& wiseAdapter() {
    static const AdapterKind row = {"wise", toBytes, fromBytes, describe, check, addHooks};
    return row;
}

}  // namespace kme::edit
