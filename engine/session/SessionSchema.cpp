#include "engine/session/SessionSchema.h"

namespace kme {

namespace {

// Version 1. Times are ISO 8601 UTC text ("2024-05-01T12:00:00Z"); JSON
// columns hold UTF-8 JSON text; hashes are DESIGN.md's weights hash (64
// lowercase hex characters).
const char* const kSchemaV1 = R"sql(
CREATE TABLE session (
    id           INTEGER PRIMARY KEY CHECK (id = 1),   -- exactly one row
    name         TEXT NOT NULL,
    created      TEXT NOT NULL,
    notes        TEXT NOT NULL DEFAULT '',
    app_version  TEXT NOT NULL                         -- KME Studio version that created the file
);

CREATE TABLE model (
    id             INTEGER PRIMARY KEY CHECK (id = 1), -- one model per session
    absolute_path  TEXT NOT NULL,                      -- model folder when recorded
    relative_path  TEXT NOT NULL,                      -- the same, relative to the session file's folder ('' if none)
    config_json    TEXT NOT NULL,                      -- config.json as read
    weights_hash   TEXT NOT NULL                       -- hash of the checkpoint's (unedited) weights
);

CREATE TABLE traces (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    created       TEXT NOT NULL,
    request_json  TEXT NOT NULL,                       -- the trace parameters
    result_json   TEXT NOT NULL                        -- the trace result (scores per kind)
);

CREATE TABLE edits (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    position            INTEGER NOT NULL UNIQUE,       -- 1-based order of application
    name                TEXT NOT NULL DEFAULT '',
    method              TEXT NOT NULL,                 -- rome | memit | ft-l | ...
    request_json        TEXT NOT NULL,
    hparams_json        TEXT NOT NULL,
    delta               BLOB NOT NULL,                 -- WeightDelta::serialize() bytes
    enabled             INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created             TEXT NOT NULL,
    computed_on_hash    TEXT NOT NULL,                 -- weights hash the delta was computed on
    weights_hash_after  TEXT NOT NULL                  -- weights hash after applying it there
);

CREATE TABLE previews (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    edit_id            INTEGER REFERENCES edits(id) ON DELETE CASCADE,  -- NULL: not tied to an edit
    created            TEXT NOT NULL,
    prompt             TEXT NOT NULL,
    kind               TEXT NOT NULL,                  -- generation | probability | ...
    before_text        TEXT NOT NULL DEFAULT '',
    after_text         TEXT NOT NULL DEFAULT '',
    before_probs_json  TEXT NOT NULL DEFAULT '{}',
    after_probs_json   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX previews_by_edit ON previews(edit_id);

CREATE TABLE metric_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    created       TEXT NOT NULL,
    method        TEXT NOT NULL,
    dataset       TEXT NOT NULL,
    params_json   TEXT NOT NULL,
    results_json  TEXT NOT NULL
);
)sql";

// Version 2: edits that are not weight changes. Each edit says what its
// payload is (the `delta` blob then holds that kind's bytes: a weight delta,
// an adapter or a context), and its two hashes are *state* hashes (DESIGN.md:
// weights + enabled adapters + enabled context; equal to the weights hash
// while no adapter or context is enabled, so every version-1 value is
// already the right state hash and is kept as it is).
const char* const kSchemaV2 = R"sql(
ALTER TABLE edits ADD COLUMN payload_kind TEXT NOT NULL DEFAULT 'weights'
    CHECK (payload_kind IN ('weights', 'adapter', 'context'));
ALTER TABLE edits RENAME COLUMN computed_on_hash TO computed_on_state;
ALTER TABLE edits RENAME COLUMN weights_hash_after TO state_hash_after;
)sql";

}  // namespace

const std::vector<MigrationStep>& migrationSteps() {
    static const std::vector<MigrationStep> steps = {
        {1, "initial schema: session, model, traces, edits, previews, metric_runs", kSchemaV1},
        {2, "edit payload kinds (weights / adapter / context) and state hashes", kSchemaV2},
    };
    return steps;
}

const std::vector<const char*>& schemaTables() {
    static const std::vector<const char*> tables = {"session", "model", "traces", "edits", "previews", "metric_runs"};
    return tables;
}

}  // namespace kme
