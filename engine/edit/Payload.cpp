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
#include "engine/edit/AdapterKinds.h"
#include "engine/edit/PayloadBlob.h"

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

namespace blob {

// The payload blobs (PayloadBlob.h).
namespace {
constexpr int64_t kMaxBlobElements = int64_t(1) << 32;
}  // namespace

std::string packTensors(const json& metadata, const std::vector<std::pair<std::string, const DeltaMatrix*>>& tensors) {
    json header = json::object();
    header["__metadata__"] = metadata;
    size_t offset = 0;
    for (const auto& [name, m] : tensors) {
        const size_t n = m->data.size() * sizeof(double);
        header[name] = {{"dtype", "F64"}, {"shape", {m->rows, m->cols}}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string h = header.dump();
    while (h.size() % 8 != 0) h.push_back(' ');
    std::string out(8, '\0');
    const uint64_t len = h.size();
    for (int b = 0; b < 8; ++b) out[size_t(b)] = static_cast<char>((len >> (8 * b)) & 0xff);
    out += h;
    out.reserve(out.size() + offset);
    for (const auto& [name, m] : tensors)
        out.append(reinterpret_cast<const char*>(m->data.data()), m->data.size() * sizeof(double));
    return out;
}

std::string pack(const std::string& format, const json& meta,
                 const std::vector<std::pair<std::string, DeltaMatrix>>& tensors) {
    std::vector<std::pair<std::string, const DeltaMatrix*>> named;
    for (const auto& [name, m] : tensors) named.emplace_back(name, &m);
    return packTensors({{"format", format}, {"version", "1"}, {"meta", meta.dump()}}, named);
}

json readHeader(const std::string& bytes, const std::string& what, uint64_t& len) {
    auto bad = [&](const std::string& why) { fail(ErrorKind::Format, what + " blob: " + why); };
    if (bytes.size() < 8) bad("shorter than its 8-byte header length");
    len = 0;
    for (int b = 0; b < 8; ++b) len |= uint64_t(static_cast<unsigned char>(bytes[size_t(b)])) << (8 * b);
    if (len > bytes.size() - 8) bad("header length " + std::to_string(len) + " runs past the end");
    json header;
    try {
        header = parseJson(bytes.substr(8, size_t(len)), "header");  // nesting limited: no recursion on hostile input
    } catch (const Error& e) {
        bad(e.what());
    }
    return header;
}

Unpacked unpack(const std::string& bytes, const std::string& format, const std::string& what) {
    auto bad = [&](const std::string& why) { fail(ErrorKind::Format, what + " blob: " + why); };
    uint64_t len = 0;
    json header = readHeader(bytes, what, len);
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

DeltaMatrix rows(const std::vector<const std::vector<double>*>& list, int64_t width) {
    DeltaMatrix m;
    m.rows = int64_t(list.size());
    m.cols = width;
    for (const auto* r : list) m.data.insert(m.data.end(), r->begin(), r->end());
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

DeltaMatrix column(const std::vector<double>& v) {
    DeltaMatrix m;
    m.rows = int64_t(v.size());
    m.cols = 1;
    m.data = v;
    return m;
}

}  // namespace blob

// ---------------------------------------------------------------- AdapterPayload
// Each kind's blob, description and checks are its row of the adapter table
// (engine/edit/AdapterKinds.h, engine/edit/adapters/).

bool NeuronScale::operator==(const NeuronScale& o) const {
    return layer == o.layer && index == o.index && factor == o.factor;
}

std::string AdapterPayload::toBytes() const {
    const AdapterKind* kind = findAdapterKind(type);
    if (!kind) fail(ErrorKind::Internal, "unknown adapter type " + quoteForMessage(type, 40));
    return kind->toBytes(*this);
}

AdapterPayload AdapterPayload::fromBytes(const std::string& bytes) {
    const blob::Unpacked u = blob::unpack(bytes, "kme_adapter", "adapter");
    auto bad = [](const std::string& why) { fail(ErrorKind::Format, "adapter blob: " + why); };
    AdapterPayload p;
    const json& m = u.meta;
    if (!m.contains("type") || !m["type"].is_string()) bad("no adapter type");
    p.type = m["type"].get<std::string>();
    const AdapterKind* kind = findAdapterKind(p.type);
    if (!kind) bad("unknown adapter type " + quoteForMessage(p.type, 40) + " (known: " + adapterKindNames() + ")");
    if (!m.contains("layer") || !m["layer"].is_number_integer() || m["layer"].get<int64_t>() < 0 ||
        m["layer"].get<int64_t>() > 1024)
        bad("the layer is missing or out of range");
    p.layer = int(m["layer"].get<int64_t>());
    kind->fromBytes(u, p);
    return p;
}

bool AdapterPayload::isFinite() const {
    if (!blob::allFinite(wise.delta) || !std::isfinite(wise.minActivation)) return false;
    for (const auto& n : neurons)
        if (!std::isfinite(n.factor)) return false;
    for (const auto& e : entries)
        if (!blob::allFinite(e.key) || !blob::allFinite(e.value) || !std::isfinite(e.epsilon)) return false;
    for (const auto& c : changes)
        if (!blob::allFinite(c.value) || !std::isfinite(c.epsilon)) return false;
    return true;
}

std::string AdapterPayload::describe() const {
    const AdapterKind* kind = findAdapterKind(type);
    return kind ? kind->describe(*this) : "adapter of unknown type " + quoteForMessage(type, 40);
}

// ---------------------------------------------------------------- ContextPayload

std::string ContextPayload::toBytes() const {
    DeltaMatrix ids64;
    ids64.rows = int64_t(ids.size());
    ids64.cols = 1;
    for (int64_t id : ids) ids64.data.push_back(double(id));
    return blob::pack("kme_context", {{"text", text}, {"demonstrations", demonstrations}}, {{"ids", ids64}});
}

ContextPayload ContextPayload::fromBytes(const std::string& bytes) {
    const blob::Unpacked u = blob::unpack(bytes, "kme_context", "context");
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
