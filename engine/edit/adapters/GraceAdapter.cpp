// The "grace" adapter (Hartvigsen et al., NeurIPS 2023): a codebook at one
// layer. The blob holds the entries this edit added (keys, values, radii;
// meta: their ids and labels) and its changes of earlier entries (radii and,
// where retrained, values). The codebooks of all enabled edits, one a layer,
// act as GraceHooks (engine/edit/Grace.cpp).
#include <algorithm>

#include "engine/core/Error.h"
#include "engine/edit/Grace.h"
#include "engine/edit/adapters/Adapters.h"
#include "engine/model/Config.h"
#include "engine/model/Transformer.h"

namespace kme {

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

namespace edit {

namespace {

using json = nlohmann::json;

std::string toBytes(const AdapterPayload& a) {
    json meta = {{"type", a.type}, {"layer", a.layer}};
    json e = json::array(), c = json::array();
    const int64_t dk = a.entries.empty() ? 0 : int64_t(a.entries[0].key.size());
    int64_t dv = a.entries.empty() ? 0 : int64_t(a.entries[0].value.size());
    std::vector<const std::vector<double>*> keys, values, changeValues;
    DeltaMatrix eps, changeEps;
    eps.rows = int64_t(a.entries.size());
    eps.cols = 1;
    for (const auto& x : a.entries) {
        if (int64_t(x.key.size()) != dk || int64_t(x.value.size()) != dv)
            fail(ErrorKind::Internal, "GRACE entries of one payload differ in width");
        e.push_back({{"id", x.id}, {"label", x.label}});
        keys.push_back(&x.key);
        values.push_back(&x.value);
        eps.data.push_back(x.epsilon);
    }
    changeEps.rows = int64_t(a.changes.size());
    changeEps.cols = 1;
    int64_t cv = -1;
    for (const auto& x : a.changes) {
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
    return blob::pack("kme_adapter", meta,
                      {{"keys", blob::rows(keys, dk)},
                       {"values", blob::rows(values, dv)},
                       {"epsilons", eps},
                       {"change_epsilons", changeEps},
                       {"change_values", blob::rows(changeValues, std::max<int64_t>(cv, 0))}});
}

void fromBytes(const blob::Unpacked& u, AdapterPayload& p) {
    auto bad = [](const std::string& why) { fail(ErrorKind::Format, "adapter blob: " + why); };
    const json& m = u.meta;
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
        g.key = blob::rowOf(keys, i);
        g.value = blob::rowOf(values, i);
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
            g.value = blob::rowOf(cvals, nextValue++);
        }
        p.changes.push_back(std::move(g));
    }
}

std::string describe(const AdapterPayload& a) {
    std::string s = "GRACE codebook at layer " + std::to_string(a.layer) + ": " + std::to_string(a.entries.size()) +
                    (a.entries.size() == 1 ? " entry" : " entries") + " added";
    if (!a.entries.empty())
        s += " (key " + std::to_string(a.entries[0].key.size()) + " \u2192 value " +
             std::to_string(a.entries[0].value.size()) + ", radius " + blob::number(a.entries[0].epsilon) + ")";
    if (!a.changes.empty())
        s += ", " + std::to_string(a.changes.size()) + " earlier " + (a.changes.size() == 1 ? "entry" : "entries") +
             " changed";
    return s;
}

void check(const AdapterPayload& a, const ModelConfig& c) {
    requireModelLayer(a, c);
    for (const auto& e : a.entries)
        if (int64_t(e.key.size()) != c.nInner || int64_t(e.value.size()) != c.nEmbd)
            fail(ErrorKind::Input, "the adapter's codebook entry has key width " + std::to_string(e.key.size()) +
                                       " and value width " + std::to_string(e.value.size()) +
                                       "; this model's layer needs " + std::to_string(c.nInner) + " and " +
                                       std::to_string(c.nEmbd));
    for (const auto& ch : a.changes)
        if (!ch.value.empty() && int64_t(ch.value.size()) != c.nEmbd)
            fail(ErrorKind::Input, "the adapter changes a value to width " + std::to_string(ch.value.size()) +
                                       "; this model needs " + std::to_string(c.nEmbd));
}

void addHooks(const std::vector<const AdapterPayload*>& enabled, const ModelConfig&, ResidentState& st) {
    for (auto& [layer, book] : graceCodebooks(enabled))
        if (!book.entries.empty()) st.hooks.push_back(std::make_shared<GraceHook>(book));
}

}  // namespace

const AdapterKind& graceAdapter() {
    static const AdapterKind row = {"grace", toBytes, fromBytes, describe, check, addHooks};
    return row;
}

}  // namespace edit

}  // namespace kme
