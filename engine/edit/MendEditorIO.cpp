// MEND's editor file: one .safetensors file. Tensors: "edit_lrs" [n_matrices]
// F32; per weight shape K ("128x512"): "net.K.layer.I.{U,V,b,scale,shift}" F32
// and "net.K.stats.{u_mean,u_s,v_mean,v_s}" F64. __metadata__: "format"
// ("kme-mend-editor-1"), "config" (layers, n_hidden, rank, edit_lr, norm),
// "weights_hash" (of the model it was trained for), "matrices" (tensor, shape
// key, mode, in, out, out_in, layer, up), "stats_k" (samples per shape),
// "split" (train / validation / test subjects), "steps", "curve".
// Everything is checked before use: a malformed file is a one-line Format
// error naming the file and the culprit.
#include <sys/stat.h>

#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/MendEditor.h"
#include "engine/io/Safetensors.h"
#include "engine/model/Model.h"
#include "engine/model/Transformer.h"

namespace kme {

namespace {

using json = nlohmann::json;
constexpr const char* kFormat = "kme-mend-editor-1";

[[noreturn]] void bad(const std::string& path, const std::string& what) {
    fail(ErrorKind::Format, "MEND editor " + quoteForMessage(path, 200) + ": " + what);
}

std::vector<std::string> stringList(const json& j, const std::string& path, const std::string& key) {
    if (!j.is_array() || j.size() > 1000000) bad(path, key + " must be a list of strings");
    std::vector<std::string> out;
    for (const json& s : j) {
        if (!s.is_string() || s.get<std::string>().size() > 4096) bad(path, key + " must be a list of strings");
        out.push_back(s.get<std::string>());
    }
    return out;
}

struct Meta {
    edit::MendEditor e;  // everything but the tensors
    std::map<std::string, double> statsK;
};

Meta parseMeta(const SafetensorsFile& f, const std::string& path) {
    const auto& md = f.metadata();
    auto field = [&](const char* key) -> const std::string& {
        auto it = md.find(key);
        if (it == md.end()) bad(path, std::string("metadata lacks \"") + key + "\" (not an editor written by kme train-mend)");
        return it->second;
    };
    if (field("format") != kFormat)
        bad(path, "format is " + quoteForMessage(field("format"), 60) + ", expected " + kFormat);
    Meta m;
    edit::MendEditor& e = m.e;
    const std::string where = "MEND editor " + path;
    try {
        const json cfg = parseJson(field("config"), where + " config");
        if (!cfg.is_object()) bad(path, "config must be an object");
        if (!cfg.contains("layers") || !cfg["layers"].is_array() || cfg["layers"].empty() || cfg["layers"].size() > 1024)
            bad(path, "config.layers must be a non-empty list of layers");
        for (const json& l : cfg["layers"]) {
            if (!l.is_number_integer() || l.get<int64_t>() < 0 || l.get<int64_t>() > 1023)
                bad(path, "config.layers must hold layers in [0, 1023], got " + jsonExcerpt(l));
            e.config.layers.push_back(int(l.get<int64_t>()));
        }
        e.config.nHidden = int(jsonInt(cfg, where + " config", "n_hidden", 0, 8));
        e.config.rank = int(jsonInt(cfg, where + " config", "rank", 1, 1 << 20));
        e.config.editLr = jsonNumber(cfg, where + " config", "edit_lr", -1e6, 1e6);
        e.config.norm = jsonBool(cfg, where + " config", "norm");
        e.weightsHash = field("weights_hash");
        if (e.weightsHash.size() != 64 || e.weightsHash.find_first_not_of("0123456789abcdef") != std::string::npos)
            bad(path, "weights_hash must be 64 lowercase hex digits");
        const json mats = parseJson(field("matrices"), where + " matrices");
        if (!mats.is_array() || mats.empty() || mats.size() > 4096) bad(path, "matrices must be a non-empty list");
        for (const json& mj : mats) {
            if (!mj.is_object()) bad(path, "each of matrices must be an object");
            edit::MendMatrix mm;
            mm.tensor = jsonString(mj, where + " matrices", "tensor", 256);
            mm.shape = jsonString(mj, where + " matrices", "shape", 64);
            mm.mode = jsonInt(mj, where + " matrices", "mode", 0, 4095);
            mm.in = jsonInt(mj, where + " matrices", "in", 1, 1 << 20);
            mm.out = jsonInt(mj, where + " matrices", "out", 1, 1 << 20);
            mm.outIn = jsonBool(mj, where + " matrices", "out_in");
            mm.layer = int(jsonInt(mj, where + " matrices", "layer", 0, 1023));
            mm.up = jsonBool(mj, where + " matrices", "up");
            if (mm.shape != std::to_string(mm.in) + "x" + std::to_string(mm.out))
                bad(path, "matrix " + mm.tensor + ": shape " + mm.shape + " does not match in/out");
            e.matrices.push_back(mm);
        }
        const json k = parseJson(field("stats_k"), where + " stats_k");
        if (!k.is_object()) bad(path, "stats_k must be an object");
        for (const auto& [key, v] : k.items()) m.statsK[key] = jsonNumber(k, where + " stats_k", key, 0, 1e15);
        const json split = parseJson(field("split"), where + " split");
        if (!split.is_object()) bad(path, "split must be an object");
        for (const char* part : {"train", "validation", "test"})
            if (!split.contains(part)) bad(path, std::string("split lacks \"") + part + "\"");
        e.split.train = stringList(split["train"], path, "split.train");
        e.split.validation = stringList(split["validation"], path, "split.validation");
        e.split.test = stringList(split["test"], path, "split.test");
        const json steps = parseJson(field("steps"), where + " steps");
        if (!steps.is_number_integer() || steps.get<int64_t>() < 0) bad(path, "steps must be a whole number");
        e.steps = steps.get<int64_t>();
        const json curve = parseJson(field("curve"), where + " curve");
        if (!curve.is_array()) bad(path, "curve must be a list");
        e.curveJson = curve.dump();
    } catch (const Error& err) {
        if (err.kind() == ErrorKind::Format) throw;
        bad(path, err.what());
    }
    return m;
}

// A copy of a tensor of the file, checked for name, dtype, shape and finiteness.
at::Tensor readTensor(const SafetensorsFile& f, const std::string& path, const std::string& name, DType dtype,
                      const std::vector<int64_t>& shape) {
    const TensorView* v = f.find(name);
    if (!v) bad(path, "tensor " + name + " is missing");
    if (v->dtype != dtype) bad(path, "tensor " + name + " is " + dtypeName(v->dtype) + ", expected " + dtypeName(dtype));
    if (v->shape != shape) bad(path, "tensor " + name + " has the wrong shape");
    const auto opts = at::TensorOptions().dtype(dtype == DType::F64 ? at::kDouble : at::kFloat);
    at::Tensor t = at::empty(shape, opts);
    std::memcpy(t.data_ptr(), v->data, v->nbytes);
    if (!at::isfinite(t).all().item<bool>()) bad(path, "tensor " + name + " holds a non-finite value");
    return t;
}

std::string netName(const std::string& key, size_t layer, const char* part) {
    return "net." + key + ".layer." + std::to_string(layer) + "." + part;
}

}  // namespace

namespace edit {

void saveMendEditor(const MendEditor& e, const std::string& path) {
    std::vector<at::Tensor> keep;  // owns the contiguous copies while writing
    std::vector<TensorData> tensors;
    auto add = [&](const std::string& name, const at::Tensor& t) {
        const at::Tensor c = t.detach().contiguous();
        keep.push_back(c);
        TensorData d;
        d.name = name;
        d.dtype = c.scalar_type() == at::kDouble ? DType::F64 : DType::F32;
        d.shape = c.sizes().vec();
        d.data = c.data_ptr();
        d.nbytes = size_t(c.numel()) * c.element_size();
        tensors.push_back(d);
    };
    add("edit_lrs", e.editLrs.to(at::kFloat));
    json statsK = json::object();
    for (const auto& [key, net] : e.nets) {
        for (size_t i = 0; i < net.layers.size(); ++i) {
            const MendLayer& l = net.layers[i];
            add(netName(key, i, "U"), l.U);
            add(netName(key, i, "V"), l.V);
            add(netName(key, i, "b"), l.b);
            add(netName(key, i, "scale"), l.scale);
            add(netName(key, i, "shift"), l.shift);
        }
        add("net." + key + ".stats.u_mean", net.uMean);
        add("net." + key + ".stats.u_s", net.uS);
        add("net." + key + ".stats.v_mean", net.vMean);
        add("net." + key + ".stats.v_s", net.vS);
        statsK[key] = net.k;
    }
    json mats = json::array();
    for (const auto& m : e.matrices)
        mats.push_back({{"tensor", m.tensor}, {"shape", m.shape}, {"mode", m.mode}, {"in", m.in}, {"out", m.out},
                        {"out_in", m.outIn}, {"layer", m.layer}, {"up", m.up}});
    const json cfg = {{"layers", e.config.layers}, {"n_hidden", e.config.nHidden}, {"rank", e.config.rank},
                      {"edit_lr", e.config.editLr}, {"norm", e.config.norm}};
    const json split = {{"train", e.split.train}, {"validation", e.split.validation}, {"test", e.split.test}};
    const std::map<std::string, std::string> md = {
        {"format", kFormat},           {"config", cfg.dump()},        {"weights_hash", e.weightsHash},
        {"matrices", mats.dump()},     {"stats_k", statsK.dump(-1, ' ', false, json::error_handler_t::strict)},
        {"split", split.dump()},       {"steps", std::to_string(e.steps)}, {"curve", e.curveJson}};
    writeSafetensors(path, tensors, md);
}

MendEditor loadMendEditor(const std::string& path, const Model* model) {
    requireRegularFile(path, "MEND editor");
    std::shared_ptr<SafetensorsFile> f;
    try {
        f = SafetensorsFile::open(path);
    } catch (const Error& err) {
        bad(path, err.what());
    }
    Meta meta = parseMeta(*f, path);
    MendEditor& e = meta.e;
    // The matrices' shapes group into nets; modes count up within a shape.
    std::map<std::string, std::pair<int64_t, int64_t>> dims;
    std::map<std::string, int64_t> modes;
    for (const auto& m : e.matrices) {
        if (m.mode != modes[m.shape]++) bad(path, "matrix " + m.tensor + " has mode out of order");
        dims[m.shape] = {m.in, m.out};
    }
    e.editLrs = readTensor(*f, path, "edit_lrs", DType::F32, {int64_t(e.matrices.size())});
    size_t expected = 1;
    for (const auto& [key, d] : dims) {
        GradientTransform net;
        net.xDim = d.first;
        net.deltaDim = d.second;
        net.nModes = modes[key];
        net.norm = e.config.norm;
        const int64_t D = d.first + d.second, r = std::min<int64_t>(e.config.rank, D);
        for (int i = 0; i <= e.config.nHidden; ++i) {
            MendLayer l;
            l.U = readTensor(*f, path, netName(key, size_t(i), "U"), DType::F32, {D, r});
            l.V = readTensor(*f, path, netName(key, size_t(i), "V"), DType::F32, {r, D});
            l.b = readTensor(*f, path, netName(key, size_t(i), "b"), DType::F32, {D});
            l.scale = readTensor(*f, path, netName(key, size_t(i), "scale"), DType::F32, {net.nModes, D});
            l.shift = readTensor(*f, path, netName(key, size_t(i), "shift"), DType::F32, {net.nModes, D});
            l.relu = i < e.config.nHidden;
            net.layers.push_back(l);
            expected += 5;
        }
        net.uMean = readTensor(*f, path, "net." + key + ".stats.u_mean", DType::F64, {d.first});
        net.uS = readTensor(*f, path, "net." + key + ".stats.u_s", DType::F64, {d.first});
        net.vMean = readTensor(*f, path, "net." + key + ".stats.v_mean", DType::F64, {d.second});
        net.vS = readTensor(*f, path, "net." + key + ".stats.v_s", DType::F64, {d.second});
        expected += 4;
        if ((net.uS < 0).any().item<bool>() || (net.vS < 0).any().item<bool>())
            bad(path, "statistics of " + key + " hold a negative sum of squares");
        if (!meta.statsK.count(key)) bad(path, "stats_k lacks " + key);
        net.k = meta.statsK.at(key);
        e.nets.emplace(key, std::move(net));
    }
    if (f->tensors().size() != expected)
        bad(path, "holds " + std::to_string(f->tensors().size()) + " tensors, expected " + std::to_string(expected));
    if (model) {
        const std::string live = model->weightsHash();
        if (live != e.weightsHash)
            fail(ErrorKind::Input, "MEND editor " + quoteForMessage(path, 200) + " was trained for other weights (" +
                                       e.weightsHash.substr(0, 12) + "…, this model's are " + live.substr(0, 12) +
                                       "…): train one for this model with kme train-mend");
        const Transformer& tf = model->transformer();
        for (const auto& m : e.matrices) {
            if (!tf.tensors().count(m.tensor)) bad(path, "names tensor " + m.tensor + ", which the model lacks");
            const auto sizes = tf.tensor(m.tensor).sizes().vec();
            const std::vector<int64_t> want = m.outIn ? std::vector<int64_t>{m.out, m.in} : std::vector<int64_t>{m.in, m.out};
            if (sizes != want) bad(path, "matrix " + m.tensor + " does not have the model's shape");
        }
    }
    return e;
}

}  // namespace edit

MendEditorInfo readMendEditorInfo(const std::string& path) {
    const edit::MendEditor e = edit::loadMendEditor(path, nullptr);
    MendEditorInfo info;
    info.path = path;
    info.weightsHash = e.weightsHash;
    info.config = e.config;
    info.split = e.split;
    info.steps = e.steps;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) info.bytes = int64_t(st.st_size);
    return info;
}

std::string defaultMendEditorPath(const std::string& modelFolder) {
    if (modelFolder.empty()) return "";
    const std::string p = modelFolder + "/mend-editor.safetensors";
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? p : "";
}

}  // namespace kme
