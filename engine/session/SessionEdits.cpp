#include "engine/session/SessionEdits.h"

#include <nlohmann/json.hpp>

#include "engine/core/Error.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Config.h"
#include "engine/model/Model.h"

namespace kme {

using json = nlohmann::json;

void attachModel(SessionStore& store, const Model& model, const std::string& baseHash) {
    const auto recorded = store.model();
    if (recorded && recorded->weightsHash != baseHash)
        fail(ErrorKind::Input, store.path() + ": the session belongs to a model with weights " + recorded->weightsHash +
                                   " (" + recorded->absolutePath + "); " + model.folder() + " has weights " + baseHash +
                                   ". Use a new session file for this model");
    if (recorded) {
        const std::string diff = configJsonDifference(recorded->configJson, model.config().rawJson);
        if (!diff.empty())
            fail(ErrorKind::Input, store.path() + ": the session was recorded on another config.json than " +
                                       model.folder() + "/config.json has (" + diff +
                                       "); its edits cannot be replayed on this model. Use a new session file for it");
    }
    if (!recorded || recorded->absolutePath != model.folder())
        store.setModel(model.folder(), model.config().rawJson.empty() ? modelConfigToJson(model.config())
                                                                      : model.config().rawJson,
                       baseHash);
}

ReplayReport bringToSessionState(const SessionStore& store, EditStack& stack, const ProgressFn& progress) {
    return replaySession(store, stackEditApplier(stack), {}, progress);
}

std::string defaultEditName(EditMethod method, const std::vector<EditRequest>& requests) {
    auto trim = [](std::string s) {
        while (!s.empty() && s.front() == ' ') s.erase(s.begin());
        return s;
    };
    if (requests.size() == 1) {
        const EditRequest& r = requests.front();
        if (r.targetTrue.empty()) return r.subject + " \u2192 " + trim(r.targetNew);
        return r.subject + ": " + trim(r.targetTrue) + " \u2192 " + trim(r.targetNew);
    }
    std::string s = std::string(editMethodName(method)) + ", " + std::to_string(requests.size()) + " requests (";
    for (size_t i = 0; i < requests.size() && i < 3; ++i) s += (i ? ", " : "") + requests[i].subject;
    return s + (requests.size() > 3 ? ", \u2026)" : ")");
}

std::string editRequestsJson(const std::vector<EditRequest>& requests) {
    json list = json::array();
    for (const auto& r : requests) {
        json o = {{"prompt", r.prompt}, {"subject", r.subject}, {"target_new", r.targetNew}};
        if (!r.targetTrue.empty()) o["target_true"] = r.targetTrue;
        list.push_back(o);
    }
    return list.dump();
}

EditRecord makeEditRecord(const EditResult& result, const std::vector<EditRequest>& requests,
                          const std::string& computedOnHash, const std::string& hashAfter, std::string name) {
    EditRecord e;
    e.name = name.empty() ? defaultEditName(result.method, requests) : std::move(name);
    e.method = editMethodName(result.method);
    e.requestJson = editRequestsJson(requests);
    json h = json::parse(hparamsToJson(result.hparams, result.method));
    h["context_templates"] = result.contextTemplates;
    e.hparamsJson = h.dump();
    e.payloadKind = payloadName(result.payloadKind);
    e.delta = result.payload().toBytes();
    e.computedOnHash = computedOnHash;
    e.weightsHashAfter = hashAfter;
    return e;
}

}  // namespace kme
