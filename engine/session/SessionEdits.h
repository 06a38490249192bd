#pragma once
// Recording edits in a session, shared by `kme edit --session` and the app:
// attach the model, bring the live weights to the session's state, append a
// computed edit with its delta and hashes. Torch-free.
#include <string>
#include <vector>

#include "engine/edit/EditMethod.h"
#include "engine/session/Replay.h"
#include "engine/session/SessionStore.h"

namespace kme {

class EditStack;

// Records `model` in the session when it has none; when it has one, the
// model's *unedited* weights hash `baseHash` must be the session's (else
// ErrorKind::Input naming both), and the folder is updated if it moved.
void attachModel(SessionStore& store, const Model& model, const std::string& baseHash);

// Restores the originals on `stack` and applies the session's enabled edits
// in order (verifying the final hash, as replaySession does).
ReplayReport bringToSessionState(const SessionStore& store, EditStack& stack, const ProgressFn& progress = {});

// "Colosseum: Rome -> Paris" for one request, "MEMIT, 50 requests (Colosseum, ...)" for a batch.
std::string defaultEditName(EditMethod method, const std::vector<EditRequest>& requests);
// The requests as the JSON list `kme edit --requests` reads.
std::string editRequestsJson(const std::vector<EditRequest>& requests);

// The session record of a computed edit (name "" = defaultEditName).
EditRecord makeEditRecord(const EditResult& result, const std::vector<EditRequest>& requests,
                          const std::string& computedOnHash, const std::string& hashAfter, std::string name = "");

}  // namespace kme
