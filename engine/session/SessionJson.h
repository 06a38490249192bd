#pragma once
// A session as JSON: what `kme session list | show | export` print and what
// the GUI's "Export session" writes. Never includes delta blobs (only their
// size and sha256). Keys (CLI.md): `edits` (order, method, request, enabled,
// weights_hash_after, ...), `traces`, `model` {path, weights_hash, ...}.
#include <nlohmann/json.hpp>

#include "engine/session/SessionStore.h"

namespace kme {

enum class SessionJsonDetail {
    List,   // session, model, edits (no hyper-parameters), trace requests, counts
    Show,   // + hyper-parameters, previews, metric runs
    Export  // + model config, trace results, delta sha256: everything but blobs
};

// Reads the whole session in one snapshot (consistent while others write).
nlohmann::json sessionToJson(const SessionStore& store, SessionJsonDetail detail);

// A JSON column as JSON: parsed, or the raw text when it does not parse.
// JSON nested deeper than kMaxJsonDepth (a hostile session) is refused with
// ErrorKind::Format naming `where` ("s.kmes: edit #1's request"), never
// parsed recursively.
nlohmann::json parseJsonColumn(const std::string& text, const std::string& where = "a session column");

}  // namespace kme
