#include "engine/edit/WeightDelta.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
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
    return true;
}

// Safetensors layout: 8-byte little-endian header length, JSON header (padded
// with spaces to a multiple of 8), then the F64 matrices back to back.
std::string WeightDelta::toBytes() const {
    json header = json::object();
    json partsJson = json::array();
    std::vector<const DeltaMatrix*> blobs;
    std::vector<std::string> names;
    for (size_t i = 0; i < parts.size(); ++i) {
        const auto& p = parts[i];
        partsJson.push_back({{"tensor", p.tensor},
                             {"shape", p.shape},
                             {"kind", p.kind == TensorDelta::Kind::LowRank ? "low_rank" : "dense"}});
        const std::string base = "p" + std::to_string(i) + ".";
        if (p.kind == TensorDelta::Kind::LowRank) {
            blobs.push_back(&p.u);
            names.push_back(base + "u");
            blobs.push_back(&p.v);
            names.push_back(base + "v");
        } else {
            blobs.push_back(&p.dense);
            names.push_back(base + "dense");
        }
    }
    header["__metadata__"] = {{"format", "kme_weight_delta"}, {"version", "1"}, {"parts", partsJson.dump()}};
    size_t offset = 0;
    for (size_t i = 0; i < blobs.size(); ++i) {
        const size_t n = blobs[i]->data.size() * sizeof(double);
        header[names[i]] = {{"dtype", "F64"},
                            {"shape", {blobs[i]->rows, blobs[i]->cols}},
                            {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string h = header.dump();
    while (h.size() % 8 != 0) h.push_back(' ');
    std::string out(8, '\0');
    const uint64_t len = h.size();
    for (int b = 0; b < 8; ++b) out[size_t(b)] = static_cast<char>((len >> (8 * b)) & 0xff);
    out += h;
    out.reserve(out.size() + offset);
    for (const DeltaMatrix* m : blobs)
        out.append(reinterpret_cast<const char*>(m->data.data()), m->data.size() * sizeof(double));
    return out;
}

WeightDelta WeightDelta::fromBytes(const std::string& bytes) {
    if (bytes.size() < 8) bad("shorter than its 8-byte header length");
    uint64_t len = 0;
    for (int b = 0; b < 8; ++b) len |= uint64_t(static_cast<unsigned char>(bytes[size_t(b)])) << (8 * b);
    if (len > bytes.size() - 8) bad("header length " + std::to_string(len) + " runs past the end");
    json header;
    try {
        header = json::parse(bytes.substr(8, len));
    } catch (const json::parse_error& e) {
        bad(std::string("header is not JSON (") + e.what() + ")");
    }
    if (!header.is_object() || !header.contains("__metadata__")) bad("no __metadata__");
    const json& meta = header.at("__metadata__");
    if (!meta.is_object() || meta.value("format", "") != "kme_weight_delta") bad("not a kme_weight_delta blob");
    if (meta.value("version", "") != "1") bad("unsupported version '" + meta.value("version", "") + "'");
    json partsJson;
    try {
        partsJson = json::parse(meta.value("parts", "[]"));
    } catch (const json::parse_error&) {
        bad("metadata 'parts' is not JSON");
    }
    if (!partsJson.is_array()) bad("metadata 'parts' is not a list");
    const char* data = bytes.data() + 8 + len;
    const uint64_t dataSize = bytes.size() - 8 - len;
    auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
        if (!header.contains(name)) bad("tensor '" + name + "' is missing");
        const json& t = header.at(name);
        try {
            if (t.at("dtype").get<std::string>() != "F64") bad("tensor '" + name + "' is not F64");
            const auto shape = t.at("shape").get<std::vector<int64_t>>();
            const auto off = t.at("data_offsets").get<std::vector<uint64_t>>();
            if (shape.size() != 2 || shape[0] != rows || (cols >= 0 && shape[1] != cols) || shape[1] < 0)
                bad("tensor '" + name + "' has shape " + shapeText(shape) + ", expected rows " + std::to_string(rows));
            if (off.size() != 2 || off[0] > off[1] || off[1] > dataSize ||
                off[1] - off[0] != uint64_t(shape[0] * shape[1]) * sizeof(double))
                bad("tensor '" + name + "' has data offsets outside the blob or of the wrong size");
            DeltaMatrix m;
            m.rows = shape[0];
            m.cols = shape[1];
            m.data.resize(size_t(m.rows * m.cols));
            if (!m.data.empty()) std::memcpy(m.data.data(), data + off[0], m.data.size() * sizeof(double));
            for (double x : m.data)
                if (!std::isfinite(x)) bad("tensor '" + name + "' holds a non-finite value");
            return m;
        } catch (const json::exception& e) {
            bad("tensor '" + name + "': " + e.what());
        }
    };
    WeightDelta out;
    for (size_t i = 0; i < partsJson.size(); ++i) {
        const json& pj = partsJson[i];
        TensorDelta p;
        try {
            p.tensor = pj.at("tensor").get<std::string>();
            p.shape = pj.at("shape").get<std::vector<int64_t>>();
            const std::string kind = pj.at("kind").get<std::string>();
            if (kind != "low_rank" && kind != "dense") bad("part " + std::to_string(i) + " has kind '" + kind + "'");
            p.kind = kind == "low_rank" ? TensorDelta::Kind::LowRank : TensorDelta::Kind::Dense;
        } catch (const json::exception& e) {
            bad("part " + std::to_string(i) + ": " + e.what());
        }
        if (p.shape.empty() || p.shape.size() > 2 || numel(p.shape) <= 0)
            bad("part " + std::to_string(i) + " has shape " + shapeText(p.shape));
        const std::string base = "p" + std::to_string(i) + ".";
        if (p.kind == TensorDelta::Kind::LowRank) {
            p.u = matrix(base + "u", p.rows(), -1);
            p.v = matrix(base + "v", p.cols(), p.u.cols);
            if (p.u.cols < 1) bad("part " + std::to_string(i) + " has rank 0");
        } else {
            p.dense = matrix(base + "dense", p.rows(), p.cols());
        }
        out.parts.push_back(std::move(p));
    }
    return out;
}

// ---------------------------------------------------------------- EditStack

struct EditStack::Impl {
    Model* model = nullptr;
    std::map<std::string, at::Tensor> originals;  // canonical name -> tensor before the first edit
};

EditStack::EditStack(Model& model) : d(std::make_unique<Impl>()) { d->model = &model; }
EditStack::~EditStack() = default;

Model& EditStack::model() { return *d->model; }
bool EditStack::modified() const { return !d->originals.empty(); }

std::vector<std::string> EditStack::touchedTensors() const {
    std::vector<std::string> out;
    for (const auto& [name, t] : d->originals) out.push_back(name);
    return out;
}

void EditStack::apply(const WeightDelta& delta) {
    Transformer& tf = d->model->transformer();
    for (const auto& p : delta.parts) {
        const auto& all = tf.tensors();
        auto it = all.find(p.tensor);
        if (it == all.end()) fail(ErrorKind::Input, "the edit changes tensor '" + p.tensor + "', which the model lacks");
        if (it->second.sizes().vec() != p.shape)
            fail(ErrorKind::Input, "the edit's delta for '" + p.tensor + "' has shape " + shapeText(p.shape) +
                                       "; the model's tensor is " + shapeText(it->second.sizes().vec()));
    }
    at::NoGradGuard noGrad;
    for (const auto& p : delta.parts) {
        const at::Tensor current = tf.tensor(p.tensor);
        if (!d->originals.count(p.tensor)) d->originals.emplace(p.tensor, current);  // copy-on-write
        // float64 sum, one rounding to the compute dtype: the same bytes on every replay.
        at::Tensor next = (current.detach().to(at::kDouble) + deltaTensor(p)).to(current.scalar_type()).contiguous();
        tf.setTensor(p.tensor, next);
    }
}

void EditStack::revertAll() {
    Transformer& tf = d->model->transformer();
    for (const auto& [name, original] : d->originals) tf.setTensor(name, original);
    d->originals.clear();
}

void EditStack::rebuild(const std::vector<WeightDelta>& deltas) {
    revertAll();
    for (const auto& delta : deltas) apply(delta);
}

}  // namespace kme
