#include "engine/edit/Payload.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/core/Sha256.h"

namespace kme {

using json = nlohmann::json;

const char* payloadName(PayloadKind payload) {
    switch (payload) {
        case PayloadKind::Weights: return "weights";
        case PayloadKind::Adapter: return "adapter";
        case PayloadKind::Context: return "context";
    }
    return "?";
}

PayloadKind parsePayloadKind(const std::string& name) {
    for (PayloadKind k : {PayloadKind::Weights, PayloadKind::Adapter, PayloadKind::Context})
        if (name == payloadName(k)) return k;
    fail(ErrorKind::Format, "unknown payload kind " + quoteForMessage(name, 40) + " (known: weights, adapter, context)");
}

bool GraceEntry::operator==(const GraceEntry& o) const {
    return id == o.id && key == o.key && value == o.value && epsilon == o.epsilon && label == o.label;
}
bool GraceChange::operator==(const GraceChange& o) const {
    return id == o.id && epsilon == o.epsilon && value == o.value;
}
bool WiseChange::operator==(const WiseChange& o) const {
    return shard == o.shard && position == o.position && shardSize == o.shardSize && mergeShards == o.mergeShards &&
           density == o.density && actRatio == o.actRatio && minActivation == o.minActivation && rows == o.rows &&
           cols == o.cols && index == o.index && delta == o.delta;
}
bool AdapterPayload::operator==(const AdapterPayload& o) const {
    return type == o.type && layer == o.layer && entries == o.entries && changes == o.changes && wise == o.wise &&
           neurons == o.neurons;
}
bool ContextPayload::operator==(const ContextPayload& o) const {
    return text == o.text && ids == o.ids && demonstrations == o.demonstrations;
}

namespace {

// The payload blobs: safetensors bytes whose tensors are F64 matrices and
// whose __metadata__ holds "format", "version" and "meta" (JSON text).
constexpr int64_t kMaxBlobElements = int64_t(1) << 32;

std::string packBlob(const std::string& format, const json& meta,
                     const std::vector<std::pair<std::string, DeltaMatrix>>& tensors) {
    json header = json::object();
    header["__metadata__"] = {{"format", format}, {"version", "1"}, {"meta", meta.dump()}};
    size_t offset = 0;
    for (const auto& [name, m] : tensors) {
        const size_t n = m.data.size() * sizeof(double);
        header[name] = {{"dtype", "F64"}, {"shape", {m.rows, m.cols}}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string h = header.dump();
    while (h.size() % 8 != 0) h.push_back(' ');
    std::string out(8, '\0');
    const uint64_t len = h.size();
    for (int b = 0; b < 8; ++b) out[size_t(b)] = static_cast<char>((len >> (8 * b)) & 0xff);
    out += h;
    for (const auto& [name, m] : tensors)
        out.append(reinterpret_cast<const char*>(m.data.data()), m.data.size() * sizeof(double));
    return out;
}

struct Unpacked {
    json meta;
    std::map<std::string, DeltaMatrix> tensors;
};

Unpacked unpackBlob(const std::string& bytes, const std::string& format, const std::string& what) {
    auto bad = [&](const std::string& why) { fail(ErrorKind::Format, what + " blob: " + why); };
    if (bytes.size() < 8) bad("shorter than its 8-byte header length");
    uint64_t len = 0;
    for (int b = 0; b < 8; ++b) len |= uint64_t(static_cast<unsigned char>(bytes[size_t(b)])) << (8 * b);
    if (len > bytes.size() - 8) bad("header length " + std::to_string(len) + " runs past the end");
    json header;
    try {
        header = parseJson(bytes.substr(8, size_t(len)), "header");
    } catch (const Error& e) {
        bad(e.what());
    }
    if (!header.is_object() || !header.contains("__metadata__") || !header["__metadata__"].is_object())
        bad("no __metadata__ object");
    const json& m = header["__metadata__"];
    auto text = [&](const char* key) {
        const auto it = m.find(key);
        if (it == m.end() || !it->is_string()) bad(std::string("metadata '") + key + "' is missing or not a string");
        return it->get<std::string>();
    };
    if (text("format") != format) bad("not a " + format + " blob");
    if (text("version") != "1") bad("unsupported version " + quoteForMessage(text("version"), 40));
    Unpacked out;
    try {
        out.meta = parseJson(text("meta"), "metadata 'meta'");
    } catch (const Error& e) {
        bad(e.what());
    }
    if (!out.meta.is_object()) bad("metadata 'meta' is not an object");
    const char* data = bytes.data() + 8 + len;
    const uint64_t dataSize = bytes.size() - 8 - len;
    for (const auto& [name, t] : header.items()) {
        if (name == "__metadata__") continue;
        if (!t.is_object() || !t.contains("shape") || !t.contains("data_offsets") || t.value("dtype", "") != "F64")
            bad("tensor " + quoteForMessage(name, 40) + " is not an F64 tensor with shape and data_offsets");
        const json& s = t["shape"];
        const json& o = t["data_offsets"];
        auto nonNeg = [](const json& v) { return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0); };
        if (!s.is_array() || s.size() != 2 || !nonNeg(s[0]) || !nonNeg(s[1]) || !o.is_array() || o.size() != 2 ||
            !nonNeg(o[0]) || !nonNeg(o[1]))
            bad("tensor " + quoteForMessage(name, 40) + " has a malformed shape or data_offsets");
        const uint64_t r = s[0].get<uint64_t>(), c = s[1].get<uint64_t>();
        if (r > uint64_t(kMaxBlobElements) || c > uint64_t(kMaxBlobElements) ||
            (c && r > uint64_t(kMaxBlobElements) / c))
            bad("tensor " + quoteForMessage(name, 40) + " declares more elements than any model tensor");
        const uint64_t need = r * c * sizeof(double), a = o[0].get<uint64_t>(), b = o[1].get<uint64_t>();
        if (a > b || b > dataSize || b - a != need)
            bad("tensor " + quoteForMessage(name, 40) + " has data offsets outside the blob or of the wrong size");
        DeltaMatrix mat;
        mat.rows = int64_t(r);
        mat.cols = int64_t(c);
        mat.data.resize(size_t(r * c));
        if (need) std::memcpy(mat.data.data(), data + a, size_t(need));
        for (double x : mat.data)
            if (!std::isfinite(x)) bad("tensor " + quoteForMessage(name, 40) + " holds a non-finite value (NaN/Inf)");
        out.tensors.emplace(name, std::move(mat));
    }
    return out;
}

DeltaMatrix rowsMatrix(const std::vector<const std::vector<double>*>& rows, int64_t width) {
    DeltaMatrix m;
    m.rows = int64_t(rows.size());
    m.cols = width;
    for (const auto* r : rows) m.data.insert(m.data.end(), r->begin(), r->end());
    return m;
}

std::vector<double> rowOf(const DeltaMatrix& m, int64_t r) {
    return std::vector<double>(m.data.begin() + r * m.cols, m.data.begin() + (r + 1) * m.cols);
}

bool allFinite(const std::vector<double>& v) {
    for (double x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

std::string number(double x) {
    std::ostringstream s;
    s << std::setprecision(4) << x;
    return s.str();
}

}  // namespace

// ---------------------------------------------------------------- AdapterPayload

namespace {

DeltaMatrix column(const std::vector<double>& v) {
    DeltaMatrix m;
    m.rows = int64_t(v.size());
    m.cols = 1;
    m.data = v;
    return m;
}

std::string wiseBytes(const AdapterPayload& a) {
    const WiseChange& w = a.wise;
    if (w.index.size() != w.delta.size()) fail(ErrorKind::Internal, "WISE change: indices and values differ in count");
    json meta = {{"type", "wise"},          {"layer", a.layer},
                 {"shard", w.shard},        {"position", w.position},
                 {"shard_size", w.shardSize}, {"merge_shards", w.mergeShards},
                 {"density", w.density},    {"act_ratio", w.actRatio},
                 {"min_activation", w.minActivation}, {"rows", w.rows}, {"cols", w.cols}};
    std::vector<double> index(w.index.begin(), w.index.end());  // exact: every index < 2^53
    return packBlob("kme_adapter", meta, {{"index", column(index)}, {"delta", column(w.delta)}});
}

AdapterPayload wiseFromBytes(const json& m, const std::map<std::string, DeltaMatrix>& tensors, int layer) {
    auto bad = [](const std::string& why) { fail(ErrorKind::Format, "adapter blob (WISE): " + why); };
    AdapterPayload p;
    p.type = "wise";
    p.layer = layer;
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
            bad(std::string("'") + key + "' is missing, not finite or outside [" + number(lo) + ", " + number(hi) + "]");
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
    return p;
}

// "neurons": one row (layer, index, factor) per neuron, F64 (exact for
// every index < 2^53).
std::string neuronsBytes(const AdapterPayload& a) {
    DeltaMatrix m;
    m.rows = int64_t(a.neurons.size());
    m.cols = 3;
    for (const auto& n : a.neurons) m.data.insert(m.data.end(), {double(n.layer), double(n.index), n.factor});
    return packBlob("kme_adapter", json{{"type", "neurons"}, {"layer", a.layer}}, {{"neurons", m}});
}

AdapterPayload neuronsFromBytes(const std::map<std::string, DeltaMatrix>& tensors, int layer) {
    auto bad = [](const std::string& why) { fail(ErrorKind::Format, "adapter blob (neurons): " + why); };
    AdapterPayload p;
    p.type = "neurons";
    p.layer = layer;
    const auto it = tensors.find("neurons");
    if (it == tensors.end()) bad("tensor 'neurons' is missing");
    const DeltaMatrix& m = it->second;
    if (m.rows < 1 || m.cols != 3) bad("'neurons' is not a list of (layer, index, factor) rows");
    std::set<std::pair<int, int64_t>> seen;
    int lowest = 1 << 30;
    for (int64_t r = 0; r < m.rows; ++r) {
        const double l = m.at(r, 0), i = m.at(r, 1), f = m.at(r, 2);
        if (!(l >= 0 && l <= 1024 && l == std::floor(l))) bad("a layer is not an integer in [0, 1024]");
        if (!(i >= 0 && i < double(int64_t(1) << 40) && i == std::floor(i))) bad("a neuron index is not a non-negative integer");
        if (!std::isfinite(f) || std::fabs(f) > 1e6) bad("a factor is not finite or beyond 1e6 in size");
        NeuronScale n{int(l), int64_t(i), f};
        if (!seen.insert({n.layer, n.index}).second) bad("neuron " + std::to_string(n.index) + " of layer " +
                                                         std::to_string(n.layer) + " appears twice");
        lowest = std::min(lowest, n.layer);
        p.neurons.push_back(n);
    }
    if (lowest != layer) bad("'layer' is not the lowest layer of its neurons");
    return p;
}

}  // namespace

bool NeuronScale::operator==(const NeuronScale& o) const {
    return layer == o.layer && index == o.index && factor == o.factor;
}

std::map<int, std::vector<double>> neuronFactors(const std::vector<const AdapterPayload*>& enabled, int64_t nInner) {
    std::map<int, std::vector<double>> out;
    for (const AdapterPayload* p : enabled) {
        if (p->type != "neurons") continue;
        for (const auto& n : p->neurons) {
            if (n.index < 0 || n.index >= nInner)
                fail(ErrorKind::Input, "neuron " + std::to_string(n.index) + " is outside the layer's " +
                                           std::to_string(nInner) + " neurons");
            auto& f = out[n.layer];
            if (f.empty()) f.assign(size_t(nInner), 1.0);
            f[size_t(n.index)] *= n.factor;
        }
    }
    return out;
}

std::string AdapterPayload::toBytes() const {
    if (type == "wise") return wiseBytes(*this);
    if (type == "neurons") return neuronsBytes(*this);
    json meta = {{"type", type}, {"layer", layer}};
    json e = json::array(), c = json::array();
    const int64_t dk = entries.empty() ? 0 : int64_t(entries[0].key.size());
    int64_t dv = entries.empty() ? 0 : int64_t(entries[0].value.size());
    std::vector<const std::vector<double>*> keys, values, changeValues;
    DeltaMatrix eps, changeEps;
    eps.rows = int64_t(entries.size());
    eps.cols = 1;
    for (const auto& x : entries) {
        if (int64_t(x.key.size()) != dk || int64_t(x.value.size()) != dv)
            fail(ErrorKind::Internal, "GRACE entries of one payload differ in width");
        e.push_back({{"id", x.id}, {"label", x.label}});
        keys.push_back(&x.key);
        values.push_back(&x.value);
        eps.data.push_back(x.epsilon);
    }
    changeEps.rows = int64_t(changes.size());
    changeEps.cols = 1;
    int64_t cv = -1;
    for (const auto& x : changes) {
        c.push_back({{"id", x.id}, {"value", !x.value.empty()}});
        changeEps.data.push_back(x.epsilon);
        if (!x.value.empty()) {
            if (cv >= 0 && int64_t(x.value.size()) != cv) fail(ErrorKind::Internal, "GRACE change values differ in width");
            cv = int64_t(x.value.size());
            changeValues.push_back(&x.value);
        }
    }
    meta["entries"] = e;
    meta["changes"] = c;
    return packBlob("kme_adapter", meta,
                    {{"keys", rowsMatrix(keys, dk)},
                     {"values", rowsMatrix(values, dv)},
                     {"epsilons", eps},
                     {"change_epsilons", changeEps},
                     {"change_values", rowsMatrix(changeValues, std::max<int64_t>(cv, 0))}});
}

AdapterPayload AdapterPayload::fromBytes(const std::string& bytes) {
    const Unpacked u = unpackBlob(bytes, "kme_adapter", "adapter");
    auto bad = [](const std::string& why) { fail(ErrorKind::Format, "adapter blob: " + why); };
    AdapterPayload p;
    const json& m = u.meta;
    if (!m.contains("type") || !m["type"].is_string()) bad("no adapter type");
    p.type = m["type"].get<std::string>();
    if (p.type != "grace" && p.type != "wise" && p.type != "neurons")
        bad("unknown adapter type " + quoteForMessage(p.type, 40) + " (known: grace, wise, neurons)");
    if (!m.contains("layer") || !m["layer"].is_number_integer() || m["layer"].get<int64_t>() < 0 ||
        m["layer"].get<int64_t>() > 1024)
        bad("the layer is missing or out of range");
    p.layer = int(m["layer"].get<int64_t>());
    if (p.type == "wise") return wiseFromBytes(m, u.tensors, p.layer);
    if (p.type == "neurons") return neuronsFromBytes(u.tensors, p.layer);
    for (const char* name : {"keys", "values", "epsilons", "change_epsilons", "change_values"})
        if (!u.tensors.count(name)) bad(std::string("tensor '") + name + "' is missing");
    const DeltaMatrix& keys = u.tensors.at("keys");
    const DeltaMatrix& values = u.tensors.at("values");
    const DeltaMatrix& eps = u.tensors.at("epsilons");
    const DeltaMatrix& ceps = u.tensors.at("change_epsilons");
    const DeltaMatrix& cvals = u.tensors.at("change_values");
    const json& e = m.value("entries", json::array());
    const json& c = m.value("changes", json::array());
    if (!e.is_array() || !c.is_array()) bad("entries or changes are not lists");
    const int64_t n = int64_t(e.size());
    if (keys.rows != n || values.rows != n || eps.rows != n || eps.cols != 1)
        bad("the tensors hold " + std::to_string(keys.rows) + " keys for " + std::to_string(n) + " entries");
    for (int64_t i = 0; i < n; ++i) {
        const json& x = e[size_t(i)];
        if (!x.is_object() || !x.contains("id") || !x["id"].is_string() || !x.contains("label") || !x["label"].is_string())
            bad("entry " + std::to_string(i) + " lacks its id or label");
        GraceEntry g;
        g.id = x["id"].get<std::string>();
        g.label = x["label"].get<std::string>();
        g.key = rowOf(keys, i);
        g.value = rowOf(values, i);
        g.epsilon = eps.data[size_t(i)];
        if (g.epsilon < 0) bad("entry " + std::to_string(i) + " has a negative radius");
        p.entries.push_back(std::move(g));
    }
    if (ceps.rows != int64_t(c.size()) || (ceps.rows && ceps.cols != 1)) bad("change radii do not match the changes");
    int64_t nextValue = 0;
    for (size_t i = 0; i < c.size(); ++i) {
        const json& x = c[i];
        if (!x.is_object() || !x.contains("id") || !x["id"].is_string()) bad("change " + std::to_string(i) + " lacks its id");
        GraceChange g;
        g.id = x["id"].get<std::string>();
        g.epsilon = ceps.data[i];
        if (x.value("value", false)) {
            if (nextValue >= cvals.rows) bad("change " + std::to_string(i) + "'s value is missing");
            g.value = rowOf(cvals, nextValue++);
        }
        p.changes.push_back(std::move(g));
    }
    return p;
}

bool AdapterPayload::isFinite() const {
    if (!allFinite(wise.delta) || !std::isfinite(wise.minActivation)) return false;
    for (const auto& n : neurons)
        if (!std::isfinite(n.factor)) return false;
    for (const auto& e : entries)
        if (!allFinite(e.key) || !allFinite(e.value) || !std::isfinite(e.epsilon)) return false;
    for (const auto& c : changes)
        if (!allFinite(c.value) || !std::isfinite(c.epsilon)) return false;
    return true;
}

std::string AdapterPayload::describe() const {
    if (type == "neurons") {
        std::map<int, int> perLayer;
        std::set<double> factors;
        for (const auto& n : neurons) {
            ++perLayer[n.layer];
            factors.insert(n.factor);
        }
        std::string s = std::to_string(neurons.size()) + " knowledge " + (neurons.size() == 1 ? "neuron" : "neurons");
        if (factors.size() == 1) {
            const double f = *factors.begin();
            s += " x " + number(f) + (f == 0 ? " (suppressed)" : f > 1 ? " (amplified)" : "");
        } else {
            s += " scaled";
        }
        std::string layers;
        for (const auto& [l, k] : perLayer)
            layers += (layers.empty() ? "" : ", ") + std::to_string(l) + " (" + std::to_string(k) + ")";
        return s + ": layers " + layers;
    }
    if (type == "wise") {
        double largest = 0;
        for (double x : wise.delta) largest = std::max(largest, std::fabs(x));
        return "WISE side memory at layer " + std::to_string(layer) + ", shard " + std::to_string(wise.shard) + ": " +
               std::to_string(wise.index.size()) + " of " + std::to_string(wise.rows * wise.cols) +
               " weights changed (max |change| " + number(largest) + "), answers where its activation gap >= " +
               number(wise.actRatio) + " x " + number(wise.minActivation);
    }
    std::string s = "GRACE codebook at layer " + std::to_string(layer) + ": " + std::to_string(entries.size()) +
                    (entries.size() == 1 ? " entry" : " entries") + " added";
    if (!entries.empty())
        s += " (key " + std::to_string(entries[0].key.size()) + " \u2192 value " +
             std::to_string(entries[0].value.size()) + ", radius " + number(entries[0].epsilon) + ")";
    if (!changes.empty())
        s += ", " + std::to_string(changes.size()) + " earlier " + (changes.size() == 1 ? "entry" : "entries") +
             " changed";
    return s;
}

std::map<int, GraceCodebook> graceCodebooks(const std::vector<const AdapterPayload*>& enabled) {
    std::map<int, GraceCodebook> books;
    for (const AdapterPayload* p : enabled) {
        if (p->type != "grace") continue;
        GraceCodebook& book = books[p->layer];
        book.layer = p->layer;
        for (const auto& c : p->changes)
            for (auto& e : book.entries)
                if (e.id == c.id) {
                    e.epsilon = c.epsilon;
                    if (!c.value.empty()) e.value = c.value;
                }
        for (const auto& e : p->entries) book.entries.push_back(e);
    }
    return books;
}

// ---------------------------------------------------------------- ContextPayload

std::string ContextPayload::toBytes() const {
    DeltaMatrix ids64;
    ids64.rows = int64_t(ids.size());
    ids64.cols = 1;
    for (int64_t id : ids) ids64.data.push_back(double(id));
    return packBlob("kme_context", {{"text", text}, {"demonstrations", demonstrations}}, {{"ids", ids64}});
}

ContextPayload ContextPayload::fromBytes(const std::string& bytes) {
    const Unpacked u = unpackBlob(bytes, "kme_context", "context");
    auto bad = [](const std::string& why) { fail(ErrorKind::Format, "context blob: " + why); };
    ContextPayload p;
    if (!u.meta.contains("text") || !u.meta["text"].is_string()) bad("no text");
    p.text = u.meta["text"].get<std::string>();
    const json& d = u.meta.value("demonstrations", json(0));
    if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > 1000000) bad("bad demonstration count");
    p.demonstrations = int(d.get<int64_t>());
    if (!u.tensors.count("ids")) bad("tensor 'ids' is missing");
    const DeltaMatrix& ids = u.tensors.at("ids");
    if (ids.rows && ids.cols != 1) bad("'ids' is not one column");
    if (ids.rows > (int64_t(1) << 20)) bad("more than 2^20 context tokens");
    for (double x : ids.data) {
        if (x < 0 || x >= double(int64_t(1) << 24) || x != std::floor(x)) bad("a token id is not an integer in [0, 2^24)");
        p.ids.push_back(int64_t(x));
    }
    return p;
}

std::string ContextPayload::describe() const {
    std::string s = "context of " + std::to_string(ids.size()) + " tokens";
    if (demonstrations > 0)
        s += " (" + std::to_string(demonstrations) + (demonstrations == 1 ? " demonstration" : " demonstrations") +
             " + the new fact)";
    return s;
}

// ---------------------------------------------------------------- EditPayload

std::string EditPayload::toBytes() const {
    switch (kind) {
        case PayloadKind::Weights: return weights.toBytes();
        case PayloadKind::Adapter: return adapter.toBytes();
        case PayloadKind::Context: return context.toBytes();
    }
    return {};
}

EditPayload EditPayload::fromBytes(PayloadKind kind, const std::string& bytes) {
    EditPayload p;
    p.kind = kind;
    switch (kind) {
        case PayloadKind::Weights: p.weights = WeightDelta::fromBytes(bytes); break;
        case PayloadKind::Adapter: p.adapter = AdapterPayload::fromBytes(bytes); break;
        case PayloadKind::Context: p.context = ContextPayload::fromBytes(bytes); break;
    }
    return p;
}

std::string EditPayload::describe() const {
    switch (kind) {
        case PayloadKind::Weights: {
            std::string s;
            for (const auto& part : weights.parts) {
                if (!s.empty()) s += ", ";
                s += part.tensor + " rank " + std::to_string(part.rank());
            }
            return s.empty() ? "no weight change" : s;
        }
        case PayloadKind::Adapter: return adapter.describe();
        case PayloadKind::Context: return context.describe();
    }
    return {};
}

bool EditPayload::isFinite() const {
    switch (kind) {
        case PayloadKind::Weights: return weights.isFinite();
        case PayloadKind::Adapter: return adapter.isFinite();
        case PayloadKind::Context: return true;
    }
    return true;
}

}  // namespace kme
