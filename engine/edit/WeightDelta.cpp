#include "engine/edit/WeightDelta.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/PayloadBlob.h"
#include "engine/model/Model.h"
#include "engine/model/Transformer.h"

namespace kme {

namespace {

using json = nlohmann::json;

int64_t numel(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
}

std::string shapeText(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

[[noreturn]] void bad(const std::string& why) { fail(ErrorKind::Format, "weight delta blob: " + why); }

// The delta of one part as a float64 tensor of the target tensor's shape.
at::Tensor deltaTensor(const TensorDelta& part) {
    DeltaMatrix m = part.materialize();
    at::Tensor t = at::empty({m.rows, m.cols}, at::TensorOptions().dtype(at::kDouble));
    std::memcpy(t.data_ptr<double>(), m.data.data(), m.data.size() * sizeof(double));
    return t.view(part.shape);
}

}  // namespace

// ---------------------------------------------------------------- TensorDelta

int64_t TensorDelta::rows() const { return shape.empty() ? 0 : shape[0]; }
int64_t TensorDelta::cols() const { return shape.size() >= 2 ? shape[1] : 1; }

int64_t TensorDelta::rank() const {
    return kind == Kind::LowRank ? u.cols : std::min(rows(), cols());
}

double TensorDelta::norm() const {
    const DeltaMatrix m = materialize();
    double s = 0;
    for (double x : m.data) s += x * x;
    return std::sqrt(s);
}

DeltaMatrix TensorDelta::materialize() const {
    if (kind == Kind::Dense) return dense;
    DeltaMatrix out;
    out.rows = u.rows;
    out.cols = v.rows;
    out.data.assign(size_t(out.rows * out.cols), 0.0);
    const int64_t r = u.cols, C = out.cols;
    // v transposed to [r, cols] so that the inner loop runs over contiguous
    // memory; each element sums k = 0..r-1 in order, whatever the threads.
    std::vector<double> vt(size_t(r * C));
    for (int64_t j = 0; j < C; ++j)
        for (int64_t k = 0; k < r; ++k) vt[size_t(k * C + j)] = v.data[size_t(j * r + k)];
    at::parallel_for(0, out.rows, 16, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            double* row = out.data.data() + i * C;
            for (int64_t k = 0; k < r; ++k) {
                const double a = u.data[size_t(i * r + k)];
                const double* b = vt.data() + k * C;
                for (int64_t j = 0; j < C; ++j) row[j] += a * b[j];
            }
        }
    });
    return out;
}

TensorDelta TensorDelta::lowRank(std::string tensor, std::vector<int64_t> shape, DeltaMatrix u, DeltaMatrix v) {
    TensorDelta p;
    p.tensor = std::move(tensor);
    p.shape = std::move(shape);
    p.kind = Kind::LowRank;
    p.u = std::move(u);
    p.v = std::move(v);
    if (p.u.rows != p.rows() || p.v.rows != p.cols() || p.u.cols != p.v.cols || p.u.cols < 1)
        fail(ErrorKind::Internal, "low-rank delta of " + p.tensor + ": factors do not fit " + shapeText(p.shape));
    return p;
}

TensorDelta TensorDelta::denseDelta(std::string tensor, std::vector<int64_t> shape, DeltaMatrix d) {
    TensorDelta p;
    p.tensor = std::move(tensor);
    p.shape = std::move(shape);
    p.kind = Kind::Dense;
    p.dense = std::move(d);
    if (p.dense.rows != p.rows() || p.dense.cols != p.cols())
        fail(ErrorKind::Internal, "dense delta of " + p.tensor + ": matrix does not fit " + shapeText(p.shape));
    return p;
}

// ---------------------------------------------------------------- WeightDelta

std::vector<std::string> WeightDelta::tensors() const {
    std::vector<std::string> out;
    for (const auto& p : parts)
        if (std::find(out.begin(), out.end(), p.tensor) == out.end()) out.push_back(p.tensor);
    return out;
}

bool WeightDelta::operator==(const WeightDelta& o) const {
    if (parts.size() != o.parts.size()) return false;
    for (size_t i = 0; i < parts.size(); ++i) {
        const auto &a = parts[i], &b = o.parts[i];
        if (a.tensor != b.tensor || a.shape != b.shape || a.kind != b.kind || !(a.u == b.u) || !(a.v == b.v) ||
            !(a.dense == b.dense))
            return false;
    }
    return keys == o.keys;
}

// Safetensors (blob::packTensors): the parts' factors or dense matrices
// ("p<i>.u", "p<i>.v" / "p<i>.dense"), then the keys ("k<layer>").
std::string WeightDelta::toBytes() const {
    json partsJson = json::array();
    std::vector<std::pair<std::string, const DeltaMatrix*>> tensors;
    for (size_t i = 0; i < parts.size(); ++i) {
        const auto& p = parts[i];
        partsJson.push_back({{"tensor", p.tensor},
                             {"shape", p.shape},
                             {"kind", p.kind == TensorDelta::Kind::LowRank ? "low_rank" : "dense"}});
        const std::string base = "p" + std::to_string(i) + ".";
        if (p.kind == TensorDelta::Kind::LowRank) {
            tensors.emplace_back(base + "u", &p.u);
            tensors.emplace_back(base + "v", &p.v);
        } else {
            tensors.emplace_back(base + "dense", &p.dense);
        }
    }
    json keyLayers = json::array();
    for (const auto& [layer, k] : keys) {
        keyLayers.push_back(layer);
        tensors.emplace_back("k" + std::to_string(layer), &k);
    }
    json metadata = {{"format", "kme_weight_delta"}, {"version", "1"}, {"parts", partsJson.dump()}};
    if (!keys.empty()) metadata["keys"] = keyLayers.dump();
    return blob::packTensors(metadata, tensors);
}

namespace {

// No model tensor has more elements than this (GPT-2 XL's embedding has 8e7):
// a stored delta declaring more is refused before anything is allocated.
constexpr int64_t kMaxDeltaElements = int64_t(1) << 32;

// a * b as an element count: false when negative, overflowing or above the limit.
bool elementCount(int64_t a, int64_t b, int64_t& out) {
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &out)) return false;
    return out <= kMaxDeltaElements;
}

// A JSON array of `size` (or 1..2 when size is 0) non-negative integers
// within int64; `what` names it in the message.
std::vector<int64_t> dimensions(const json& j, size_t size, const std::string& what) {
    if (!j.is_array() || (size ? j.size() != size : (j.empty() || j.size() > 2)))
        bad(what + " must be a list of " + (size ? std::to_string(size) : std::string("1 or 2")) + " sizes, got " +
            (j.is_array() ? std::to_string(j.size()) + " values" : jsonTypeName(j)));
    std::vector<int64_t> out;
    for (const json& v : j) {
        if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) ||
            v.get<int64_t>() < 0)
            bad(what + " must hold non-negative integers, got " + quoteForMessage(v.is_primitive() ? v.dump() : jsonTypeName(v), 40));
        out.push_back(v.get<int64_t>());
    }
    return out;
}

// A string member of a JSON object ("" when absent); anything else is refused by name.
std::string textMember(const json& o, const char* key, const std::string& where) {
    const auto it = o.find(key);
    if (it == o.end()) return "";
    if (!it->is_string()) bad(where + " '" + key + "' must be a string, got " + jsonTypeName(*it));
    return it->get<std::string>();
}

}  // namespace

WeightDelta WeightDelta::fromBytes(const std::string& bytes) {
    uint64_t len = 0;
    json header = blob::readHeader(bytes, "weight delta", len);
    if (!header.is_object() || !header.contains("__metadata__")) bad("no __metadata__");
    const json& meta = header.at("__metadata__");
    if (!meta.is_object()) bad("__metadata__ is " + jsonTypeName(meta) + ", not an object");
    if (textMember(meta, "format", "metadata") != "kme_weight_delta") bad("not a kme_weight_delta blob");
    const std::string version = textMember(meta, "version", "metadata");
    if (version != "1") bad("unsupported version " + quoteForMessage(version, 40));
    json partsJson;
    try {
        const std::string text = textMember(meta, "parts", "metadata");
        partsJson = parseJson(text.empty() ? "[]" : text, "metadata 'parts'");
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::Format || std::string(e.what()).rfind("weight delta blob", 0) == 0) throw;
        bad(e.what());
    }
    if (!partsJson.is_array()) bad("metadata 'parts' is not a list");
    const char* data = bytes.data() + 8 + len;
    const uint64_t dataSize = bytes.size() - 8 - len;
    auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
        const auto it = header.find(name);
        if (it == header.end()) bad("tensor '" + name + "' is missing");
        const json& t = *it;
        if (!t.is_object()) bad("tensor '" + name + "' is " + jsonTypeName(t) + ", not an object");
        if (textMember(t, "dtype", "tensor '" + name + "':") != "F64") bad("tensor '" + name + "' is not F64");
        if (!t.contains("shape") || !t.contains("data_offsets"))
            bad("tensor '" + name + "' lacks its shape or data_offsets");
        const auto shape = dimensions(t.at("shape"), 2, "tensor '" + name + "' shape");
        const auto off = dimensions(t.at("data_offsets"), 2, "tensor '" + name + "' data_offsets");
        if ((rows >= 0 && shape[0] != rows) || (cols >= 0 && shape[1] != cols))
            bad("tensor '" + name + "' has shape " + shapeText(shape) + ", expected " +
                (cols >= 0 ? shapeText({rows, cols}) : "rows " + std::to_string(rows)));
        int64_t count = 0;
        if (!elementCount(shape[0], shape[1], count))
            bad("tensor '" + name + "' declares shape " + shapeText(shape) + ": more elements than any model tensor");
        const uint64_t need = uint64_t(count) * sizeof(double);
        if (uint64_t(off[0]) > uint64_t(off[1]) || uint64_t(off[1]) > dataSize || uint64_t(off[1] - off[0]) != need)
            bad("tensor '" + name + "' has data offsets outside the blob or of the wrong size (shape " +
                shapeText(shape) + " needs " + std::to_string(need) + " bytes, the blob's data is " +
                std::to_string(dataSize) + ")");
        DeltaMatrix m;
        m.rows = shape[0];
        m.cols = shape[1];
        m.data.resize(size_t(count));
        if (!m.data.empty()) std::memcpy(m.data.data(), data + off[0], m.data.size() * sizeof(double));
        for (double x : m.data)
            if (!std::isfinite(x)) bad("tensor '" + name + "' holds a non-finite value (NaN/Inf)");
        return m;
    };
    WeightDelta out;
    for (size_t i = 0; i < partsJson.size(); ++i) {
        const json& pj = partsJson[i];
        const std::string where = "part " + std::to_string(i);
        if (!pj.is_object()) bad(where + " is " + jsonTypeName(pj) + ", not an object");
        TensorDelta p;
        p.tensor = textMember(pj, "tensor", where);
        if (p.tensor.empty()) bad(where + " names no tensor");
        if (!pj.contains("shape")) bad(where + " has no shape");
        p.shape = dimensions(pj.at("shape"), 0, where + " shape");
        const std::string kind = textMember(pj, "kind", where);
        if (kind != "low_rank" && kind != "dense") bad(where + " has kind " + quoteForMessage(kind, 40));
        p.kind = kind == "low_rank" ? TensorDelta::Kind::LowRank : TensorDelta::Kind::Dense;
        int64_t count = 0;
        if (!elementCount(p.rows(), p.cols(), count) || count <= 0)
            bad(where + " has shape " + shapeText(p.shape));
        const std::string base = "p" + std::to_string(i) + ".";
        if (p.kind == TensorDelta::Kind::LowRank) {
            p.u = matrix(base + "u", p.rows(), -1);
            if (p.u.cols < 1) bad(where + " has rank 0");
            p.v = matrix(base + "v", p.cols(), p.u.cols);
        } else {
            p.dense = matrix(base + "dense", p.rows(), p.cols());
        }
        out.parts.push_back(std::move(p));
    }
    // Optional: the keys each layer's change was written for (AlphaEdit's K_p).
    json keyLayers = json::array();
    try {
        const std::string text = textMember(meta, "keys", "metadata");
        if (!text.empty()) keyLayers = parseJson(text, "metadata 'keys'");
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::Format || std::string(e.what()).rfind("weight delta blob", 0) == 0) throw;
        bad(e.what());
    }
    if (!keyLayers.is_array()) bad("metadata 'keys' is not a list of layers");
    for (const json& l : keyLayers) {
        if (!l.is_number_integer() || l.get<int64_t>() < 0 || l.get<int64_t>() > 100000)
            bad("metadata 'keys' holds " + quoteForMessage(l.is_primitive() ? l.dump() : jsonTypeName(l), 40) +
                ", not a layer number");
        const int layer = int(l.get<int64_t>());
        if (out.keys.count(layer)) bad("metadata 'keys' names layer " + std::to_string(layer) + " twice");
        DeltaMatrix k = matrix("k" + std::to_string(layer), -1, -1);
        if (k.rows < 1 || k.cols < 1) bad("tensor 'k" + std::to_string(layer) + "' holds no keys");
        out.keys.emplace(layer, std::move(k));
    }
    return out;
}

bool WeightDelta::isFinite() const {
    auto finite = [](const DeltaMatrix& m) {
        return std::all_of(m.data.begin(), m.data.end(), [](double x) { return std::isfinite(x); });
    };
    for (const auto& [layer, k] : keys)
        if (!finite(k)) return false;
    return std::all_of(parts.begin(), parts.end(), [&](const TensorDelta& p) {
        return p.kind == TensorDelta::Kind::LowRank ? finite(p.u) && finite(p.v) : finite(p.dense);
    });
}

void requireFiniteDelta(const WeightDelta& delta, const std::string& method, const std::string& hint) {
    if (!delta.isFinite())
        fail(ErrorKind::Input, method + " produced a non-finite weight change (NaN/Inf) \u2014 check the hyper-parameters (e.g. " +
                                   hint + ")");
}

namespace edit {
at::Tensor materializedDelta(const TensorDelta& part) { return deltaTensor(part); }
}  // namespace edit

}  // namespace kme
