#include "engine/session/SessionJson.h"

#include "engine/edit/Payload.h"
#include "engine/edit/methods/MethodTable.h"

#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/core/Sha256.h"
#include "engine/session/Replay.h"

namespace kme {

using json = nlohmann::json;

json parseJsonColumn(const std::string& text, const std::string& where) {
    if (text.empty()) return nullptr;
    if (jsonNestingDepth(text, kMaxJsonDepth) > kMaxJsonDepth)
        fail(ErrorKind::Format, where + ": JSON nested more than " + std::to_string(kMaxJsonDepth) +
                                    " levels deep (refused: no session KME Studio writes nests that deep)");
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return text;
    return j;
}

json sessionToJson(const SessionStore& store, SessionJsonDetail detail) {
    const bool show = detail != SessionJsonDetail::List;
    const bool full = detail == SessionJsonDetail::Export;
    json out;
    store.readSnapshot([&] {
        const SessionInfo info = store.info();
        out["file"] = store.path();
        out["schema_version"] = info.schemaVersion;
        out["session"] = {
            {"name", info.name}, {"created", info.created}, {"notes", info.notes}, {"app_version", info.appVersion}};

        const auto model = store.model();
        if (model) {
            json m = {{"path", model->absolutePath},
                      {"relative_path", model->relativePath},
                      {"weights_hash", model->weightsHash}};
            if (full) m["config"] = parseJsonColumn(model->configJson, store.path() + ": the model's config.json");
            out["model"] = m;
        } else {
            out["model"] = nullptr;
        }

        const auto edits = store.listEdits(false);
        const auto notes = whatIfNotes(edits, model ? model->weightsHash : std::string());
        json list = json::array();
        for (const auto& e : edits) {
            const std::string where = store.path() + ": edit #" + std::to_string(e.position) + "'s ";
            bool whatIf = false;
            for (const auto& n : notes) whatIf = whatIf || n.editId == e.id;
            json j = {{"id", e.id},
                      {"order", e.position},
                      {"name", e.name},
                      {"method", e.method},
                      {"request", parseJsonColumn(e.requestJson, where + "request")},
                      {"enabled", e.enabled},
                      {"created", e.created},
                      {"computed_on_hash", e.computedOnHash},
                      {"weights_hash_after", e.weightsHashAfter},
                      {"what_if", whatIf},
                      {"delta_bytes", e.deltaBytes},
                      {"payload_kind", e.payloadKind}};
            if (const MethodInfo* m = findMethod(e.method)) j["family"] = familyName(m->family);
            if (show) {
                j["hparams"] = parseJsonColumn(e.hparamsJson, where + "hyper-parameters");
                try {
                    j["payload"] = EditPayload::fromBytes(parsePayloadKind(e.payloadKind), store.editDelta(e.id)).describe();
                } catch (const Error& err) {
                    j["payload"] = std::string("unreadable: ") + err.what();
                }
            }
            if (full) j["delta_sha256"] = sha256Hex(store.editDelta(e.id));
            list.push_back(j);
        }
        out["edits"] = list;
        json whatIf = json::array();
        for (const auto& n : notes)
            whatIf.push_back({{"edit_id", n.editId},
                              {"order", n.position},
                              {"disabled_before", n.disabledBefore},
                              {"message", n.message}});
        out["what_if"] = whatIf;

        json traces = json::array();
        for (const auto& t : store.listTraces(full)) {
            const std::string where = store.path() + ": trace " + std::to_string(t.id) + "'s ";
            json j = {{"id", t.id}, {"created", t.created}, {"request", parseJsonColumn(t.requestJson, where + "request")}};
            if (full) j["result"] = parseJsonColumn(t.resultJson, where + "result");
            traces.push_back(j);
        }
        out["traces"] = traces;

        const auto previews = store.listPreviews();
        const auto runs = store.listMetricRuns();
        if (show) {
            json p = json::array();
            for (const auto& r : previews)
                p.push_back({{"id", r.id},
                             {"edit_id", r.editId ? json(*r.editId) : json(nullptr)},
                             {"created", r.created},
                             {"prompt", r.prompt},
                             {"kind", r.kind},
                             {"before_text", r.beforeText},
                             {"after_text", r.afterText},
                             {"before_probs", parseJsonColumn(r.beforeProbsJson, store.path() + ": a preview's probabilities")},
                             {"after_probs", parseJsonColumn(r.afterProbsJson, store.path() + ": a preview's probabilities")}});
            out["previews"] = p;
            json m = json::array();
            for (const auto& r : runs)
                m.push_back({{"id", r.id},
                             {"created", r.created},
                             {"method", r.method},
                             {"dataset", r.dataset},
                             {"params", parseJsonColumn(r.paramsJson, store.path() + ": a metric run's parameters")},
                             {"results", parseJsonColumn(r.resultsJson, store.path() + ": a metric run's results")}});
            out["metric_runs"] = m;
        }
        out["counts"] = {{"edits", edits.size()},
                         {"traces", traces.size()},
                         {"previews", previews.size()},
                         {"metric_runs", runs.size()}};
    });
    return out;
}

}  // namespace kme
