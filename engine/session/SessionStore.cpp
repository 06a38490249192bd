#include "engine/session/SessionStore.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>

#include "engine/core/Error.h"
#include "engine/session/SessionFile.h"
#include "engine/session/Sqlite.h"

#ifndef KME_VERSION
#define KME_VERSION "0.1.0"
#endif

namespace fs = std::filesystem;

namespace kme {

const char* kmeVersion() { return KME_VERSION; }

std::string isoTimeNow() {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return buf;
}

namespace {

void requireJson(const std::string& path, const std::string& text, const char* field) {
    if (!nlohmann::json::accept(text)) fail(ErrorKind::Input, path + ": " + field + " is not valid JSON");
}

std::string jsonOr(const std::string& text, const char* fallback) { return text.empty() ? fallback : text; }

// An error whose message is complete as it is (write() adds nothing).
struct Refused : Error {
    using Error::Error;
};

// What addEdit compares: each edit's id and enabled flag, in position order.
using EditsState = std::vector<std::pair<int64_t, bool>>;

}  // namespace

struct SessionStore::Impl {
    std::string path;  // as given (messages)
    fs::path absPath;  // absolute, for the model's relative path
    bool readOnly = false;
    int schemaVersion = 0;
    std::unique_ptr<sqlite::Connection> db;
    std::optional<EditsState> expectedEdits;  // armed by expectEdits(): see addEdit

    EditsState currentEdits() {
        EditsState out;
        auto q = db->query("SELECT id, enabled, position FROM edits ORDER BY position", "read the edits");
        while (q.step()) out.emplace_back(q.int64(0), q.int64(1) != 0);
        return out;
    }

    // Inside addEdit's write transaction: refuses when another writer
    // changed the edits since the live weights were brought to them.
    void requireExpectedEdits() {
        if (!expectedEdits) return;
        const EditsState now = currentEdits();
        if (now == *expectedEdits) return;
        std::string what = "its edits were enabled, disabled, deleted or reordered by another process";
        for (size_t i = 0; i < now.size(); ++i) {
            const bool known = std::any_of(expectedEdits->begin(), expectedEdits->end(),
                                           [&](const auto& e) { return e.first == now[i].first; });
            if (!known) {
                what = "edit #" + std::to_string(i + 1) + " was added by another process";
                break;
            }
        }
        throw Refused(ErrorKind::Database, path + ": the session changed while this edit was computed (" + what +
                                               "); nothing recorded \u2014 run the edit again");
    }

    [[noreturn]] void noSuch(const char* what, int64_t id) const {
        fail(ErrorKind::Input, path + ": no " + what + " with id " + std::to_string(id));
    }

    // Every write: one IMMEDIATE transaction, rolled back on any error.
    void write(const char* doing, const std::function<void()>& body) {
        if (readOnly) fail(ErrorKind::Database, path + ": cannot " + doing + ": the session is open read-only");
        try {
            sqlite::WriteTransaction t(*db, doing);
            body();
            t.commit();
        } catch (const Refused&) {
            throw;
        } catch (const Error& e) {
            if (e.kind() != ErrorKind::Database) throw;
            throw Error(ErrorKind::Database,
                        std::string(e.what()) + "; this change was rolled back, everything saved before is intact");
        }
    }

    std::vector<int64_t> editIdsInOrder() {
        std::vector<int64_t> ids;
        auto q = db->query("SELECT id FROM edits ORDER BY position", "read the edits");
        while (q.step()) ids.push_back(q.int64(0));
        return ids;
    }

    // Inside a write transaction. Positions go negative first so that the
    // UNIQUE(position) constraint never sees two rows with one position.
    void applyOrder(const std::vector<int64_t>& ids) {
        db->query("UPDATE edits SET position = -position", "reorder the edits").run();
        for (size_t i = 0; i < ids.size(); ++i)
            db->query("UPDATE edits SET position = ? WHERE id = ?", "reorder the edits")
                .bind(1, int64_t(i + 1))
                .bind(2, ids[i])
                .run();
    }
};

SessionStore::SessionStore(const std::string& path, const SessionOpenOptions& options) : d(new Impl) {
    d->path = path;
    d->absPath = fs::absolute(path).lexically_normal();
    d->readOnly = options.readOnly;
    d->db = openSessionFile(path, options, d->schemaVersion);
}

SessionStore::~SessionStore() = default;
SessionStore::SessionStore(SessionStore&&) noexcept = default;
SessionStore& SessionStore::operator=(SessionStore&&) noexcept = default;

const std::string& SessionStore::path() const { return d->path; }
bool SessionStore::readOnly() const { return d->readOnly; }
int SessionStore::schemaVersion() const { return d->schemaVersion; }

// ---------------------------------------------------------------- session, model

SessionInfo SessionStore::info() const {
    SessionInfo info;
    auto q = d->db->query("SELECT name, created, notes, app_version FROM session WHERE id = 1", "read the session");
    if (q.step()) {
        info.name = q.text(0);
        info.created = q.text(1);
        info.notes = q.text(2);
        info.appVersion = q.text(3);
    }
    info.schemaVersion = d->schemaVersion;
    return info;
}

void SessionStore::setInfo(const std::string& name, const std::string& notes) {
    d->write("save the session name and notes", [&] {
        d->db->query("UPDATE session SET name = ?, notes = ? WHERE id = 1", "save the session name and notes")
            .bind(1, name)
            .bind(2, notes)
            .run();
    });
}

std::optional<ModelRecord> SessionStore::model() const {
    auto q = d->db->query("SELECT absolute_path, relative_path, config_json, weights_hash FROM model WHERE id = 1",
                          "read the model");
    if (!q.step()) return std::nullopt;
    return ModelRecord{q.text(0), q.text(1), q.text(2), q.text(3)};
}

void SessionStore::setModel(const std::string& folder, const std::string& configJson, const std::string& weightsHash) {
    if (weightsHash.empty()) fail(ErrorKind::Input, d->path + ": the model needs a weights hash");
    const fs::path abs = fs::absolute(folder).lexically_normal();
    std::string absolute = abs.string();
    if (absolute.size() > 1 && absolute.back() == '/') absolute.pop_back();
    std::string relative = fs::path(absolute).lexically_relative(d->absPath.parent_path()).string();
    d->write("record the model", [&] {
        auto q = d->db->query("SELECT weights_hash FROM model WHERE id = 1", "record the model");
        const std::string previous = q.step() ? q.text(0) : std::string();
        const int64_t edits = d->db->scalar("SELECT count(*) FROM edits", "record the model");
        if (!previous.empty() && previous != weightsHash && edits > 0)
            fail(ErrorKind::Input, d->path + ": the session's " + std::to_string(edits) +
                                       " edit(s) were computed on weights " + previous + "; the model at " + absolute +
                                       " has weights " + weightsHash + ". Start a new session for other weights");
        d->db
            ->query(
                "INSERT OR REPLACE INTO model (id, absolute_path, relative_path, config_json, weights_hash) "
                "VALUES (1, ?, ?, ?, ?)",
                "record the model")
            .bind(1, absolute)
            .bind(2, relative)
            .bind(3, configJson)
            .bind(4, weightsHash)
            .run();
    });
}

namespace {

// Deepest nesting of arrays/objects outside strings, stopping past `limit`
// (iterative: hostile JSON is never parsed recursively). This file is also
// built without engine/core (tests' session_writer), hence no SafeInput.
int nestingDepth(const std::string& text, int limit) {
    int depth = 0, deepest = 0;
    bool inString = false, escaped = false;
    for (char ch : text) {
        if (inString) {
            if (escaped) escaped = false;
            else if (ch == '\\') escaped = true;
            else if (ch == '"') inString = false;
        } else if (ch == '"') {
            inString = true;
        } else if (ch == '[' || ch == '{') {
            deepest = std::max(deepest, ++depth);
            if (deepest > limit) return deepest;
        } else if (ch == ']' || ch == '}') {
            --depth;
        }
    }
    return deepest;
}

// A config.json as a JSON object, or null when empty, unreadable, too deep
// or not an object.
nlohmann::json configObject(const std::string& text) {
    if (text.empty() || nestingDepth(text, 64) > 64) return nullptr;
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    return j.is_object() ? j : nlohmann::json(nullptr);
}

std::string shortValue(const nlohmann::json* v) {
    std::string s = v ? v->dump() : "absent";
    if (s.size() > 40) s = s.substr(0, 40) + "\u2026";
    return s;
}

}  // namespace

std::string readConfigText(const std::string& folder) {
    const fs::path file = fs::path(folder) / "config.json";
    std::error_code ec;
    if (!fs::is_regular_file(file, ec) || fs::file_size(file, ec) > (16u << 20) || ec) return "";
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string configJsonDifference(const std::string& recordedConfigJson, const std::string& currentConfigJson) {
    const nlohmann::json then = configObject(recordedConfigJson), now = configObject(currentConfigJson);
    if (!then.is_object() || !now.is_object()) return "";  // older or unreadable record: the weights hash decides
    static const char* const kKeys[] = {"model_type", "n_layer", "num_hidden_layers", "n_head", "num_attention_heads",
                                        "n_embd", "hidden_size", "n_inner", "intermediate_size", "n_positions",
                                        "n_ctx", "max_position_embeddings", "vocab_size", "layer_norm_epsilon",
                                        "activation_function", "tie_word_embeddings"};
    std::string out;
    for (const char* key : kKeys) {
        const auto a = then.find(key), b = now.find(key);
        const nlohmann::json* va = a != then.end() && !a->is_null() ? &*a : nullptr;
        const nlohmann::json* vb = b != now.end() && !b->is_null() ? &*b : nullptr;
        if (!va && !vb) continue;
        if (va && vb && *va == *vb) continue;
        out += (out.empty() ? "" : ", ") + std::string(key) + " " + shortValue(va) + " \u2192 " + shortValue(vb);
    }
    return out;
}

ResolvedModel SessionStore::resolveModelPath(const FolderHashFn& hashOf) const {
    const auto m = model();
    if (!m) fail(ErrorKind::Input, d->path + ": the session records no model");
    struct Candidate {
        std::string folder;
        bool relative;
        std::string label;
    };
    std::vector<Candidate> candidates = {{m->absolutePath, false, "the recorded absolute path"}};
    if (!m->relativePath.empty()) {
        const std::string rel = (d->absPath.parent_path() / m->relativePath).lexically_normal().string();
        if (rel != m->absolutePath && rel != m->absolutePath + "/")
            candidates.push_back({rel, true, "the path '" + m->relativePath + "' relative to the session file"});
    }
    std::vector<std::string> problems;  // "X (label) has other weights", in order tried
    bool anyFound = false;
    bool configChanged = false;
    for (const Candidate& c : candidates) {
        std::error_code ec;
        if (!fs::is_directory(c.folder, ec) || !fs::exists(fs::path(c.folder) / "config.json", ec)) {
            problems.push_back(c.folder + " (" + c.label + ") is missing");
            continue;
        }
        anyFound = true;
        // config.json changed under the session (n_layer 8 -> 4 keeps the
        // weights hash): compare the fields that matter with the record.
        const std::string diff = configJsonDifference(m->configJson, readConfigText(c.folder));
        if (!diff.empty()) {
            problems.push_back(c.folder + " (" + c.label + ") has another config.json than the session recorded (" +
                               diff + ")");
            configChanged = true;
            continue;
        }
        if (hashOf) {
            std::string hash;
            try {
                hash = hashOf(c.folder);
            } catch (const Error& e) {
                problems.push_back(c.folder + " (" + c.label + ") cannot be loaded: " + e.what());
                continue;
            }
            if (hash != m->weightsHash) {
                problems.push_back(c.folder + " (" + c.label + ") has weights hash " + hash);
                continue;
            }
        }
        std::string note = "model at " + c.folder + " (" + c.label + ")";
        if (!problems.empty()) note += "; " + problems.front();
        return {c.folder, c.relative, note};
    }
    std::string list;
    for (const auto& p : problems) list += (list.empty() ? "" : "; ") + p;
    if (!anyFound) fail(ErrorKind::Io, d->path + ": the session's model folder is missing: " + list);
    if (configChanged)
        fail(ErrorKind::Database, d->path + ": the model changed since the session was recorded: " + list +
                                      ". Its edits cannot be replayed on another model");
    fail(ErrorKind::Database, d->path + ": the model checkpoint changed: " + list +
                                  ", but the session was recorded on weights hash " + m->weightsHash +
                                  ". Its edits cannot be replayed on other weights");
}

// ---------------------------------------------------------------- edits

namespace {
const char* const kEditColumns =
    "id, position, name, method, request_json, hparams_json, enabled, created, computed_on_state, "
    "state_hash_after, length(delta), payload_kind";
// A version-1 file opened read-only (not migrated): the same values under
// their version-1 names; every v1 edit is a weight delta.
const char* const kEditColumnsV1 =
    "id, position, name, method, request_json, hparams_json, enabled, created, computed_on_hash, "
    "weights_hash_after, length(delta), 'weights'";

std::string editColumns(int schemaVersion) { return schemaVersion < 2 ? kEditColumnsV1 : kEditColumns; }

EditRecord readEdit(const sqlite::Query& q, bool withDelta) {
    EditRecord e;
    e.id = q.int64(0);
    e.position = int(q.int64(1));
    e.name = q.text(2);
    e.method = q.text(3);
    e.requestJson = q.text(4);
    e.hparamsJson = q.text(5);
    e.enabled = q.int64(6) != 0;
    e.created = q.text(7);
    e.computedOnHash = q.text(8);
    e.weightsHashAfter = q.text(9);
    e.deltaBytes = q.int64(10);
    e.payloadKind = q.text(11);
    if (withDelta) e.delta = q.blob(12);
    return e;
}
}  // namespace

int64_t SessionStore::addEdit(EditRecord edit) {
    if (edit.method.empty()) fail(ErrorKind::Input, d->path + ": an edit needs a method");
    requireJson(d->path, edit.requestJson, "the edit request");
    edit.hparamsJson = jsonOr(edit.hparamsJson, "{}");
    requireJson(d->path, edit.hparamsJson, "the edit hyper-parameters");
    if (edit.computedOnHash.empty() || edit.weightsHashAfter.empty())
        fail(ErrorKind::Input, d->path + ": an edit needs the weights hash before and after it");
    if (edit.created.empty()) edit.created = isoTimeNow();
    int64_t id = 0;
    d->write("save the edit", [&] {
        d->requireExpectedEdits();
        const int64_t position = d->db->scalar("SELECT COALESCE(MAX(position), 0) + 1 FROM edits", "save the edit");
        d->db
            ->query(
                "INSERT INTO edits (position, name, method, request_json, hparams_json, delta, enabled, created, "
                "computed_on_state, state_hash_after, payload_kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                "save the edit")
            .bind(1, position)
            .bind(2, edit.name)
            .bind(3, edit.method)
            .bind(4, edit.requestJson)
            .bind(5, edit.hparamsJson)
            .bindBlob(6, edit.delta)
            .bind(7, int64_t(edit.enabled ? 1 : 0))
            .bind(8, edit.created)
            .bind(9, edit.computedOnHash)
            .bind(10, edit.weightsHashAfter)
            .bind(11, edit.payloadKind)
            .run();
        id = d->db->lastInsertId();
    });
    if (d->expectedEdits) d->expectedEdits->emplace_back(id, edit.enabled);
    return id;
}

void SessionStore::expectEdits(const std::vector<EditRecord>& edits) const {
    EditsState state;
    for (const EditRecord& e : edits) state.emplace_back(e.id, e.enabled);
    d->expectedEdits = std::move(state);
}

std::vector<EditRecord> SessionStore::listEdits(bool withDeltas) const {
    const std::string plain = "SELECT " + editColumns(d->schemaVersion) + " FROM edits ORDER BY position";
    const std::string full = "SELECT " + editColumns(d->schemaVersion) + ", delta FROM edits ORDER BY position";
    std::vector<EditRecord> out;
    auto q = d->db->query((withDeltas ? full : plain).c_str(), "read the edits");
    while (q.step()) out.push_back(readEdit(q, withDeltas));
    return out;
}

EditRecord SessionStore::getEdit(int64_t id, bool withDelta) const {
    const std::string plain = "SELECT " + editColumns(d->schemaVersion) + " FROM edits WHERE id = ?";
    const std::string full = "SELECT " + editColumns(d->schemaVersion) + ", delta FROM edits WHERE id = ?";
    auto q = d->db->query((withDelta ? full : plain).c_str(), "read the edit");
    q.bind(1, id);
    if (!q.step()) d->noSuch("edit", id);
    return readEdit(q, withDelta);
}

std::string SessionStore::editDelta(int64_t id) const {
    auto q = d->db->query("SELECT delta FROM edits WHERE id = ?", "read the edit's delta");
    q.bind(1, id);
    if (!q.step()) d->noSuch("edit", id);
    return q.blob(0);
}

void SessionStore::renameEdit(int64_t id, const std::string& name) {
    d->write("rename the edit", [&] {
        d->db->query("UPDATE edits SET name = ? WHERE id = ?", "rename the edit").bind(1, name).bind(2, id).run();
        if (d->db->changes() == 0) d->noSuch("edit", id);
    });
}

void SessionStore::setEditEnabled(int64_t id, bool enabled) {
    d->expectedEdits.reset();  // the live weights follow only after the next replay
    d->write(enabled ? "enable the edit" : "disable the edit", [&] {
        d->db->query("UPDATE edits SET enabled = ? WHERE id = ?", "change the edit")
            .bind(1, int64_t(enabled ? 1 : 0))
            .bind(2, id)
            .run();
        if (d->db->changes() == 0) d->noSuch("edit", id);
    });
}

void SessionStore::deleteEdit(int64_t id) {
    d->expectedEdits.reset();  // the live weights follow only after the next replay
    d->write("delete the edit", [&] {
        auto ids = d->editIdsInOrder();
        const auto it = std::find(ids.begin(), ids.end(), id);
        if (it == ids.end()) d->noSuch("edit", id);
        d->db->query("DELETE FROM edits WHERE id = ?", "delete the edit").bind(1, id).run();
        ids.erase(it);
        d->applyOrder(ids);
    });
}

void SessionStore::reorderEdits(const std::vector<int64_t>& ids) {
    d->expectedEdits.reset();  // the live weights follow only after the next replay
    d->write("reorder the edits", [&] {
        const auto current = d->editIdsInOrder();
        const std::set<int64_t> have(current.begin(), current.end()), given(ids.begin(), ids.end());
        if (given.size() != ids.size() || have != given)
            fail(ErrorKind::Input, d->path + ": a new edit order must list each of the session's " +
                                       std::to_string(current.size()) + " edits exactly once");
        d->applyOrder(ids);
    });
}

void SessionStore::moveEdit(int64_t id, int newPosition) {
    d->expectedEdits.reset();  // the live weights follow only after the next replay
    d->write("move the edit", [&] {
        auto ids = d->editIdsInOrder();
        const auto it = std::find(ids.begin(), ids.end(), id);
        if (it == ids.end()) d->noSuch("edit", id);
        if (newPosition < 1 || size_t(newPosition) > ids.size())
            fail(ErrorKind::Input, d->path + ": edit position " + std::to_string(newPosition) + " is outside 1.." +
                                       std::to_string(ids.size()));
        ids.erase(it);
        ids.insert(ids.begin() + (newPosition - 1), id);
        d->applyOrder(ids);
    });
}

// ---------------------------------------------------------------- traces

int64_t SessionStore::addTrace(TraceRecord trace) {
    requireJson(d->path, trace.requestJson, "the trace request");
    trace.resultJson = jsonOr(trace.resultJson, "{}");
    requireJson(d->path, trace.resultJson, "the trace result");
    if (trace.created.empty()) trace.created = isoTimeNow();
    int64_t id = 0;
    d->write("save the trace", [&] {
        d->db->query("INSERT INTO traces (created, request_json, result_json) VALUES (?, ?, ?)", "save the trace")
            .bind(1, trace.created)
            .bind(2, trace.requestJson)
            .bind(3, trace.resultJson)
            .run();
        id = d->db->lastInsertId();
    });
    return id;
}

std::vector<TraceRecord> SessionStore::listTraces(bool withResults) const {
    std::vector<TraceRecord> out;
    auto q = d->db->query(withResults ? "SELECT id, created, request_json, result_json FROM traces ORDER BY id"
                                      : "SELECT id, created, request_json, '' FROM traces ORDER BY id",
                          "read the traces");
    while (q.step()) out.push_back({q.int64(0), q.text(1), q.text(2), q.text(3)});
    return out;
}

TraceRecord SessionStore::getTrace(int64_t id) const {
    auto q = d->db->query("SELECT id, created, request_json, result_json FROM traces WHERE id = ?", "read the trace");
    q.bind(1, id);
    if (!q.step()) d->noSuch("trace", id);
    return {q.int64(0), q.text(1), q.text(2), q.text(3)};
}

void SessionStore::deleteTrace(int64_t id) {
    d->write("delete the trace", [&] {
        d->db->query("DELETE FROM traces WHERE id = ?", "delete the trace").bind(1, id).run();
        if (d->db->changes() == 0) d->noSuch("trace", id);
    });
}

// ---------------------------------------------------------------- previews, metric runs

int64_t SessionStore::addPreview(PreviewRecord p) {
    p.beforeProbsJson = jsonOr(p.beforeProbsJson, "{}");
    p.afterProbsJson = jsonOr(p.afterProbsJson, "{}");
    requireJson(d->path, p.beforeProbsJson, "the preview's 'before' probabilities");
    requireJson(d->path, p.afterProbsJson, "the preview's 'after' probabilities");
    if (p.created.empty()) p.created = isoTimeNow();
    int64_t id = 0;
    d->write("save the preview", [&] {
        if (p.editId) {
            auto q = d->db->query("SELECT count(*) FROM edits WHERE id = ?", "save the preview");
            q.bind(1, *p.editId);
            if (!q.step() || q.int64(0) == 0) d->noSuch("edit", *p.editId);
        }
        d->db
            ->query(
                "INSERT INTO previews (edit_id, created, prompt, kind, before_text, after_text, "
                "before_probs_json, after_probs_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                "save the preview")
            .bind(1, p.editId)
            .bind(2, p.created)
            .bind(3, p.prompt)
            .bind(4, p.kind)
            .bind(5, p.beforeText)
            .bind(6, p.afterText)
            .bind(7, p.beforeProbsJson)
            .bind(8, p.afterProbsJson)
            .run();
        id = d->db->lastInsertId();
    });
    return id;
}

std::vector<PreviewRecord> SessionStore::listPreviews(std::optional<int64_t> editId) const {
    static const char* const kColumns =
        "SELECT id, edit_id, created, prompt, kind, before_text, after_text, before_probs_json, after_probs_json "
        "FROM previews ";
    static const std::string all = std::string(kColumns) + "ORDER BY id";
    static const std::string unedited = std::string(kColumns) + "WHERE edit_id IS NULL ORDER BY id";
    static const std::string ofEdit = std::string(kColumns) + "WHERE edit_id = ? ORDER BY id";
    const bool one = editId && *editId != 0;
    auto q = d->db->query((!editId ? all : one ? ofEdit : unedited).c_str(), "read the previews");
    if (one) q.bind(1, *editId);
    std::vector<PreviewRecord> out;
    while (q.step()) {
        PreviewRecord p;
        p.id = q.int64(0);
        p.editId = q.optInt64(1);
        p.created = q.text(2);
        p.prompt = q.text(3);
        p.kind = q.text(4);
        p.beforeText = q.text(5);
        p.afterText = q.text(6);
        p.beforeProbsJson = q.text(7);
        p.afterProbsJson = q.text(8);
        out.push_back(std::move(p));
    }
    return out;
}

int64_t SessionStore::addMetricRun(MetricRunRecord run) {
    run.paramsJson = jsonOr(run.paramsJson, "{}");
    run.resultsJson = jsonOr(run.resultsJson, "{}");
    requireJson(d->path, run.paramsJson, "the metric run's parameters");
    requireJson(d->path, run.resultsJson, "the metric run's results");
    if (run.created.empty()) run.created = isoTimeNow();
    int64_t id = 0;
    d->write("save the metric run", [&] {
        d->db
            ->query(
                "INSERT INTO metric_runs (created, method, dataset, params_json, results_json) "
                "VALUES (?, ?, ?, ?, ?)",
                "save the metric run")
            .bind(1, run.created)
            .bind(2, run.method)
            .bind(3, run.dataset)
            .bind(4, run.paramsJson)
            .bind(5, run.resultsJson)
            .run();
        id = d->db->lastInsertId();
    });
    return id;
}

void SessionStore::deleteMetricRun(int64_t id) {
    d->write("delete the metric run", [&] {
        d->db->query("DELETE FROM metric_runs WHERE id = ?", "delete the metric run").bind(1, id).run();
        if (d->db->changes() == 0) d->noSuch("metric run", id);
    });
}

void SessionStore::copyTo(const std::string& path) const {
    // VACUUM INTO: a consistent snapshot, written page by page into a new
    // file (also from a read-only connection); the file must not exist.
    d->db->query("VACUUM INTO ?", "copy the session").bind(1, path).run();
}

std::vector<MetricRunRecord> SessionStore::listMetricRuns() const {
    std::vector<MetricRunRecord> out;
    auto q = d->db->query("SELECT id, created, method, dataset, params_json, results_json FROM metric_runs ORDER BY id",
                          "read the metric runs");
    while (q.step()) out.push_back({q.int64(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text(5)});
    return out;
}

// ---------------------------------------------------------------- reading, checking

void SessionStore::readSnapshot(const std::function<void()>& body) const {
    sqlite::Connection& db = *d->db;
    if (db.inTransaction()) {  // nested: already inside one snapshot
        body();
        return;
    }
    db.exec("BEGIN", "read the session");
    try {
        // The first read fixes the snapshot (WAL: the read mark).
        db.scalar("SELECT count(*) FROM session", "read the session");
        body();
        db.exec("COMMIT", "read the session");
    } catch (...) {
        if (db.inTransaction()) db.exec("ROLLBACK", "read the session");
        throw;
    }
}

std::vector<std::string> SessionStore::integrityCheck() const {
    std::vector<std::string> out;
    auto q = d->db->query("PRAGMA integrity_check", "check the session file");
    while (q.step()) out.push_back(q.text(0));
    return out;
}

}  // namespace kme
