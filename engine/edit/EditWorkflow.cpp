#include "engine/edit/EditWorkflow.h"

#include "engine/core/Error.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"

namespace kme {

RequestScore scoreRequest(const Model& model, const EditRequest& r) {
    RequestScore s;
    s.pNew = targetProbability(model, r.filledPrompt(), r.targetNew);
    if (!r.targetTrue.empty()) s.pTrue = targetProbability(model, r.filledPrompt(), r.targetTrue);
    return s;
}

std::vector<RequestScore> scoreRequests(const Model& model, const std::vector<EditRequest>& requests) {
    std::vector<RequestScore> out;
    out.reserve(requests.size());
    for (const auto& r : requests) out.push_back(scoreRequest(model, r));
    return out;
}

EditOutcome computeScoredEdit(Model& model, EditParams params, const EditStack* stack, const ProgressFn& progress) {
    if (params.requests.empty()) fail(ErrorKind::Input, "no edit request given");
    for (auto& r : params.requests) {
        r = normalizedRequest(r);
        validateRequest(model, r);
    }
    if (stack) params.preservedKeys = stack->writtenKeys();  // AlphaEdit: K_p of the enabled edits
    EditOutcome out;
    out.stateHashBefore = model.stateHash();
    out.before = scoreRequests(model, params.requests);
    out.result = computeEdit(model, params, progress);
    out.params = std::move(params);
    return out;
}

void applyScoredEdit(EditStack& stack, EditOutcome& outcome) {
    if (outcome.applied) fail(ErrorKind::Internal, "the edit is applied already");
    Model& model = stack.model();
    if (model.stateHash() != outcome.stateHashBefore)
        fail(ErrorKind::Internal, "the model changed between computing the edit and applying it");
    stack.apply(outcome.result.payload());
    outcome.applied = true;
    outcome.after = scoreRequests(model, outcome.params.requests);
    outcome.stateHashAfter = model.stateHash();
}

}  // namespace kme
