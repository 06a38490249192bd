#pragma once
// One session = one SQLite file (*.kmes): the model it was opened on, its
// traces, edits (with their weight deltas), previews and metric runs.
// Schema and migrations: engine/session/SessionSchema.h. Replay of the edits:
// engine/session/Replay.h.
//
// Threading: a SessionStore owns one SQLite connection and is used by one
// thread at a time (create it on the thread that uses it, or hand it over
// with no overlap). Other threads and processes open their own SessionStore
// on the same file: the file is in WAL mode, so readers never block the
// writer and each read sees a consistent snapshot; writers wait for each
// other up to the busy timeout.
//
// Durability: every write method is one transaction (BEGIN IMMEDIATE ...
// COMMIT, synchronous=FULL): when it returns, the change survives a crash or
// a power cut; when it throws, nothing of it was written.
//
// Errors: kme::Error of kind Database whose message starts with the file
// name (not a session, damaged, newer schema, read-only, disk full, ...);
// kind Input for bad arguments (unknown edit id, invalid JSON).
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/session/SessionSchema.h"

namespace kme {

namespace sqlite {
class Connection;
}

struct SessionInfo {
    std::string name;        // shown in the title bar; defaults to the file's stem
    std::string created;     // ISO 8601 UTC, set when the file was created
    std::string notes;       // free text
    std::string appVersion;  // KME Studio version that created the file
    int schemaVersion = 0;   // PRAGMA user_version (read only)
};

struct ModelRecord {
    std::string absolutePath;  // model folder when recorded
    std::string relativePath;  // the same, relative to the session file's folder ("" when on another root)
    std::string configJson;    // config.json as read
    std::string weightsHash;   // DESIGN.md weights hash of the unedited checkpoint
};

struct TraceRecord {
    int64_t id = 0;           // assigned by the store
    std::string created;      // ISO 8601 UTC; the store sets it when empty
    std::string requestJson;  // the trace parameters as JSON
    std::string resultJson;   // the trace result as JSON ("" when listed without results)
};

struct EditRecord {
    int64_t id = 0;                // assigned by the store
    int position = 0;              // 1-based order of application; assigned by the store
    std::string name;              // user label ("Eiffel Tower -> Rome")
    std::string method;            // "rome" | "memit" | "ft-l" | ...
    std::string requestJson;       // the edit request(s) as JSON
    std::string hparamsJson;       // hyper-parameters as a JSON object ("" -> "{}")
    std::string payloadKind = "weights";  // "weights" | "adapter" | "context": what `delta` holds
    std::string delta;             // opaque payload bytes (EditPayload::toBytes()); "" when listed without deltas
    int64_t deltaBytes = 0;        // size of the stored delta, bytes (read only)
    bool enabled = true;           // replay applies enabled edits only (undo = disable)
    std::string created;           // ISO 8601 UTC; the store sets it when empty
    // State hashes (Model::stateHash(): the weights hash while no adapter or
    // context is enabled; schema v2 column names computed_on_state, state_hash_after).
    std::string computedOnHash;    // state of the model the edit was computed on
    std::string weightsHashAfter;  // state after applying it there
};

struct PreviewRecord {
    int64_t id = 0;                 // assigned by the store
    std::optional<int64_t> editId;  // the edit it previews; none = the unedited model. Deleted with its edit.
    std::string created;            // ISO 8601 UTC; the store sets it when empty
    std::string prompt;
    std::string kind;             // "generation" | "probability" | ...
    std::string beforeText;       // answer before the edit
    std::string afterText;        // answer after the edit
    std::string beforeProbsJson;  // probabilities (0..1) before, as JSON ("" -> "{}")
    std::string afterProbsJson;   // probabilities (0..1) after, as JSON ("" -> "{}")
};

struct MetricRunRecord {
    int64_t id = 0;           // assigned by the store
    std::string created;      // ISO 8601 UTC; the store sets it when empty
    std::string method;       // edit method evaluated ("rome", "none", ...)
    std::string dataset;      // dataset file or name
    std::string paramsJson;   // run parameters as JSON
    std::string resultsJson;  // metrics as JSON
};

// Where resolveModelPath() found the model.
struct ResolvedModel {
    std::string folder;            // the folder to load
    bool viaRelativePath = false;  // false: the recorded absolute path
    std::string note;              // one line saying which path was used and why
};

struct SessionOpenOptions {
    bool readOnly = false;     // SQLITE_OPEN_READONLY: every write throws; the file is never touched
    bool create = true;        // create a missing file (ignored when readOnly)
    int busyTimeoutMs = 5000;  // how long a write waits for another writer
    std::string sessionName;   // name of a newly created session ("" = the file's stem)
    std::string appVersion;    // recorded in a newly created session ("" = this build's)
    int64_t maxPageCount = 0;  // > 0: PRAGMA max_page_count (a size quota; tests simulate a full disk)
};

// The version this build records in new sessions.
const char* kmeVersion();

class SessionStore {
public:
    // Opens a session file, creating and/or migrating it to kSchemaVersion
    // (inside one transaction) unless read-only. Refuses, with a message
    // naming the file: a file that is not SQLite, a truncated or damaged
    // file, another program's database, a schema newer than this build's,
    // and (read-only) a file that would need creating or migrating.
    explicit SessionStore(const std::string& path, const SessionOpenOptions& options = {});
    ~SessionStore();
    SessionStore(SessionStore&&) noexcept;
    SessionStore& operator=(SessionStore&&) noexcept;
    SessionStore(const SessionStore&) = delete;
    SessionStore& operator=(const SessionStore&) = delete;

    const std::string& path() const;  // as given to the constructor
    bool readOnly() const;
    int schemaVersion() const;

    // Session metadata. setInfo writes name and notes.
    SessionInfo info() const;
    void setInfo(const std::string& name, const std::string& notes);

    // The model. setModel records `folder` (made absolute) and its path
    // relative to the session file. Changing to weights with another hash is
    // refused while the session has edits (they were computed on the old ones).
    std::optional<ModelRecord> model() const;
    void setModel(const std::string& folder, const std::string& configJson, const std::string& weightsHash);

    // Hash of a model folder's weights (e.g. load it and call weightsHash()).
    using FolderHashFn = std::function<std::string(const std::string& folder)>;
    // Finds the session's model: the absolute path, else the path relative to
    // the session file. With `hashOf`, a candidate counts only when its
    // weights hash equals the recorded one. Throws (kind Io) naming the paths
    // tried when neither exists, (kind Database) naming both hashes when the
    // checkpoint changed.
    ResolvedModel resolveModelPath(const FolderHashFn& hashOf = {}) const;

    // Edits, in position order.
    // addEdit appends at the end and returns the id. Concurrent writers: after
    // expectEdits(list) (replaySession calls it with the edits it applied, so
    // `kme edit --session` and the app's replays arm it), addEdit refuses,
    // inside its write transaction, when the session's edits are no longer
    // that list - another process added, deleted, enabled, disabled or
    // reordered edits while this one was computed on the replayed weights:
    // "F: the session changed while this edit was computed (edit #N was
    // added by another process); nothing recorded - run the edit again".
    // A recorded edit extends the expected list; this store's own
    // enable/delete/reorder writes disarm the check (until the next replay).
    int64_t addEdit(EditRecord edit);
    void expectEdits(const std::vector<EditRecord>& edits) const;
    std::vector<EditRecord> listEdits(bool withDeltas = false) const;
    EditRecord getEdit(int64_t id, bool withDelta = true) const;
    std::string editDelta(int64_t id) const;
    void renameEdit(int64_t id, const std::string& name);
    void setEditEnabled(int64_t id, bool enabled);
    void deleteEdit(int64_t id);  // later edits move up; its previews go too
    // New order: `ids` is a permutation of all edit ids, first applied first.
    void reorderEdits(const std::vector<int64_t>& ids);
    void moveEdit(int64_t id, int newPosition);  // 1-based

    int64_t addTrace(TraceRecord trace);
    std::vector<TraceRecord> listTraces(bool withResults = true) const;
    TraceRecord getTrace(int64_t id) const;
    void deleteTrace(int64_t id);

    int64_t addPreview(PreviewRecord preview);
    // All previews, or those of one edit (editId) / of the unedited model (0).
    std::vector<PreviewRecord> listPreviews(std::optional<int64_t> editId = std::nullopt) const;

    int64_t addMetricRun(MetricRunRecord run);
    std::vector<MetricRunRecord> listMetricRuns() const;
    void deleteMetricRun(int64_t id);

    // Writes a consistent copy of the whole session to `path`, a file that
    // must not exist yet (SQLite's VACUUM INTO; works on read-only stores).
    void copyTo(const std::string& path) const;

    // Runs `body` inside one read transaction: every read it makes sees the
    // same snapshot, even while another connection commits (WAL). `body`
    // only reads: a write method called inside it throws.
    void readSnapshot(const std::function<void()>& body) const;

    // PRAGMA integrity_check: {"ok"} for a sound file, else SQLite's findings.
    std::vector<std::string> integrityCheck() const;

private:
    struct Impl;
    std::unique_ptr<Impl> d;
};

// What differs between two config.json texts in the keys that shape the
// weights and the forward pass (model_type, n_layer, n_head, n_embd,
// n_inner, n_positions / n_ctx, vocab_size, layer_norm_epsilon,
// activation_function, tie_word_embeddings and their Hugging Face aliases):
// "n_layer 8 -> 4", or "" when they agree or either text is empty or not a
// JSON object (an older session's record: the weights hash check decides).
// resolveModelPath skips a candidate folder whose config.json differs from
// the recorded one, and `kme edit --session` refuses such a model.
std::string configJsonDifference(const std::string& recordedConfigJson, const std::string& currentConfigJson);
// <folder>/config.json's text ("" when it is not a regular file of at most 16 MiB).
std::string readConfigText(const std::string& folder);

// The current time as ISO 8601 UTC ("2024-05-01T12:00:00Z").
std::string isoTimeNow();

}  // namespace kme
