#pragma once
// The steps of one edit, the same for every front end (kme edit, the Edit
// tab; kme eval and the Evaluate tab run them per record inside
// evaluateEdits):
//   set up (engine/edit/EditSetup.h) -> requests checked -> scores before
//   -> compute (the model unchanged) -> apply -> scores after -> record
//   (engine/session/SessionEdits.h: makeEditRecord of the outcome).
// Computing and applying are separate calls because the window applies on
// the session's worker after the compute job; the command line calls both.
// Torch-free.
#include <optional>
#include <string>
#include <vector>

#include "engine/core/Progress.h"
#include "engine/edit/EditMethod.h"

namespace kme {

class EditStack;

// p(target_new) and p(target_true) of one request on the model as it is
// (all target tokens, teacher-forced); pTrue empty for an unknown target_true.
struct RequestScore {
    double pNew = 0;
    std::optional<double> pTrue;
};
RequestScore scoreRequest(const Model& model, const EditRequest& request);
std::vector<RequestScore> scoreRequests(const Model& model, const std::vector<EditRequest>& requests);

struct EditOutcome {
    EditParams params;                 // as computed: requests normalized, K_p of the stack
    EditResult result;
    std::vector<RequestScore> before;  // per request
    std::vector<RequestScore> after;   // filled by applyEdit
    std::string stateHashBefore;       // the state the edit was computed on
    std::string stateHashAfter;        // filled by applyEdit
    bool applied = false;
};

// Normalizes and checks the requests (ErrorKind::Input naming the request
// before any work), takes AlphaEdit's preserved keys from `stack` (the
// enabled edits' keys; nullptr = none), scores the requests, computes the
// edit. The model is the same on return (also after an error or a cancel).
EditOutcome computeScoredEdit(Model& model, EditParams params, const EditStack* stack, const ProgressFn& progress = {});
// Applies the outcome's payload on `stack` (whose model it was computed on)
// and scores the requests after; sets stateHashAfter.
void applyScoredEdit(EditStack& stack, EditOutcome& outcome);

}  // namespace kme
