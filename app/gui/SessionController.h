#pragma once
// The open session and the live model it edits (issue 6, GUI half).
//
// Owns, together: the session file (kme::SessionStore, one *.kmes), the
// loaded model with its EditStack (copy-on-write originals, bit-exact
// revert), the session's edits in order and their deltas in memory. Every
// change is written to the file as it happens (each SessionStore write is
// one durable transaction).
//
// Threading: the store is used on the GUI thread only, except while an
// "Opening session" job builds a new one on the worker and hands it over on
// success. The model and its stack are touched only inside jobs of the
// JobRunner (one at a time), never on the GUI thread.
//
// Weights: the live weights are always "originals + the enabled edits'
// deltas in position order" (DESIGN.md "Edits are data"). Undo / redo toggle
// an edit's enabled flag and rebuild the weights on the worker thread.
//
// Code: SessionFiles.cpp (the session file, recent / last sessions),
// SessionController.cpp (the live model, enabled flags, undo / redo, the
// history as a hash chain, history points), SessionRecords.cpp (the record
// writers: edits, traces, previews, evaluation runs).
#include <QObject>
#include <QString>
#include <QStringList>
#include <QVector>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "app/gui/ModelFacts.h"
#include "engine/edit/EditMethod.h"
#include "engine/session/EditHistory.h"
#include "engine/session/Replay.h"
#include "engine/session/SessionStore.h"

namespace kme {
class EditStack;
}  // namespace kme

namespace kme::app {

class JobRunner;
enum class JobOutcome;

// A loaded model and the one EditStack on it. Destroyed stack first, then
// the model (member order), as EditStack requires.
struct LiveModel {
    explicit LiveModel(std::shared_ptr<kme::Model> m);
    ~LiveModel();
    std::shared_ptr<kme::Model> model;
    std::unique_ptr<kme::EditStack> stack;
};

// A point of the edit history as weights: the originals plus these deltas,
// applied in order.
struct WeightState {
    static constexpr int kNoPosition = -2;  // `position` of a set of edits that is no history point
    QString label;                                               // "original", "after #2 Colosseum: …", "now"
    int position = 0;                                            // 0 original, k after edit k, -1 now, kNoPosition: a set
    std::vector<int64_t> editIds;                                // the enabled edits it contains, in order
    std::vector<std::shared_ptr<const kme::EditPayload>> deltas; // their payloads (weights / adapter / context), same order
    std::string expectedHash;  // weights hash the session recorded for this state ("" = a what-if, never recorded)
};

class SessionController final : public QObject {
    Q_OBJECT

public:
    using WorkerFn = std::function<void(kme::Model& model)>;  // runs on the worker thread

    explicit SessionController(JobRunner* runner, QObject* parent = nullptr);
    ~SessionController() override;

    // ---- the session file ------------------------------------------------
    bool hasSession() const { return store_ != nullptr; }
    QString sessionPath() const;
    QString sessionName() const;  // SessionInfo::name (the file's stem unless renamed)
    // GUI thread only; nullptr without a session. For previews and tests.
    kme::SessionStore* store() const { return store_.get(); }

    // Creates (overwrites) a session file and makes it current: the loaded
    // model, if any, is attached and its weights go back to the originals.
    // False with *error when the file cannot be written or a job is running.
    bool newSession(const QString& path, QString* error = nullptr);
    // Opens a session on the worker thread: resolves its model (absolute,
    // then relative path), loads it unless it is the loaded one, checks the
    // weights hash, replays the enabled edits and verifies the result. Errors
    // come as the job's message; sessionOpenFinished(ok) in every case.
    bool openSession(const QString& path);
    // The last openSession: the file (absolute), why it failed ("" after a
    // success or a cancel) and whether the file's size and modification time
    // were the same after the failed open as before it (the open writes
    // nothing before it has read the session; the message may say so).
    QString openPath() const { return openPath_; }
    QString openError() const { return openError_; }
    bool openLeftFileUnchanged() const { return openLeftFileUnchanged_; }
    // Writes a copy under `path` and continues in the copy (Save As).
    bool saveSessionAs(const QString& path, QString* error = nullptr);
    // Makes sure a session is open: creates an autosave one when none is.
    bool ensureSession(QString* error = nullptr);

    // Autosave sessions live here (QStandardPaths::AppDataLocation/sessions).
    static QString autosaveFolder();
    // A new autosave file name in autosaveFolder() ("<stem>-<time>.kmes").
    static QString newAutosavePath(const QString& stem);
    // Recent sessions, most recent first (QSettings "recent/sessions").
    static QStringList recentSessions();
    static void addRecentSession(const QString& path);
    static void clearRecentSessions();
    // The session open when the app last ran ("" = none).
    static QString lastSession();

    // ---- the model -------------------------------------------------------
    // Loads a model folder on the worker thread. When the open session
    // recorded the same weights, its enabled edits are replayed on it; when
    // it belongs to other weights and has edits, a new autosave session is
    // started for this model. modelLoadFinished(ok) in every case.
    bool loadModelFolder(const QString& folder);
    std::shared_ptr<kme::Model> model() const;
    std::shared_ptr<LiveModel> live() const { return live_; }
    const ModelFacts& facts() const { return facts_; }
    QString baseHash() const { return facts_.weightsHash; }  // the unedited checkpoint
    QString currentHash() const { return currentHash_; }     // the live weights ("" unknown)
    bool isBusy() const;

    // ---- edits -----------------------------------------------------------
    const std::vector<kme::EditRecord>& edits() const { return edits_; }  // position order, no delta bytes
    const kme::EditRecord* edit(int64_t id) const;
    std::vector<kme::WhatIfNote> whatIfNotes() const;
    // The edits as a hash chain, walked once per change (engine/session/EditHistory.h).
    const kme::EditHistory& history() const { return history_; }
    // The requests of an edit, parsed from its record ("" on bad JSON: empty).
    static std::vector<kme::EditRequest> editRequests(const kme::EditRecord& record);
    // The layers an edit changed (from its hyper-parameters).
    static std::vector<int> editLayers(const kme::EditRecord& record);
    // As editLayers, else (methods without a layer hyper-parameter: MEND) the
    // layers whose tensors its weight delta changes ("h.5.mlp..." -> 5).
    std::vector<int> layersOf(const kme::EditRecord& record) const;

    // Records a computed edit: applies its delta on the worker thread,
    // hashes the result, then writes it to the session (creating an
    // autosave session when none is open). `afterApply` runs on the worker
    // right after the delta is applied (e.g. probabilities after); `done`
    // runs on the GUI thread with the new edit id (0 when it failed).
    bool addEdit(std::shared_ptr<const kme::EditResult> result, std::vector<kme::EditRequest> requests,
                 const QString& hashBefore, WorkerFn afterApply = {}, std::function<void(int64_t id)> done = {});
    // Undo / redo: enabling or disabling an edit rebuilds the live weights.
    bool setEnabled(int64_t id, bool enabled);
    bool renameEdit(int64_t id, const QString& name);
    bool deleteEdit(int64_t id);
    // Disables the last enabled edit / enables the first disabled edit after it.
    bool undo();
    bool redo();
    int64_t undoTarget() const;  // 0 = nothing to undo
    int64_t redoTarget() const;  // 0 = nothing to redo

    // ---- history points for Compare -------------------------------------
    QVector<WeightState> historyPoints() const;  // original, after each edit, now
    WeightState stateAt(int position) const;      // 0 original, k after edit k, -1 now
    WeightState liveState() const { return stateAt(-1); }
    // Exactly the edits `ids` (a what-if unless they are the enabled edits),
    // in history order; ids the session does not have are left out. `label`
    // "" = "only #2 (name)" / "#1 + #3" (kme::stateOfEdits).
    WeightState stateOfEdits(const std::vector<int64_t>& ids, const QString& label = {}) const;
    // Worker thread only: the stack's weights become `state`.
    static void applyState(kme::EditStack& stack, const WeightState& state);

    // ---- traces and previews ---------------------------------------------
    // Adds a preview to the session (creating an autosave session when none
    // is open); false with *error when it cannot be written.
    bool addPreview(kme::PreviewRecord preview, QString* error = nullptr);
    // Adds an evaluation run (Evaluate tab) to the session, creating an
    // autosave session when none is open; false with *error when it cannot
    // be written.
    bool addMetricRun(kme::MetricRunRecord run, QString* error = nullptr);

public Q_SLOTS:
    // Saves a trace (request and result as JSON, engine/trace/TraceJson.h)
    // in the session, creating an autosave session when none is open. The
    // request gets "weights_hash": the live weights the trace ran on.
    void recordTrace(const QString& requestJson, const QString& resultJson);

Q_SIGNALS:
    void sessionChanged();  // another file (or none), or the name changed
    void editsChanged();    // list, names, flags
    void weightsChanged();  // the live weights changed (currentHash())
    void modelChanged();    // another model object is live
    void modelLoadFinished(bool ok);
    void sessionOpenFinished(bool ok);
    // Something saved or not (status bar); `error` true for failures.
    void message(const QString& text, bool error);

private:
    struct OpenResult;
    void setStore(std::unique_ptr<kme::SessionStore> store);
    bool attachCurrentModel(QString* error);
    // Rebuilds the live weights to the enabled edits on the worker thread.
    bool rebuildLive(const QString& title, std::function<void(bool ok)> done = {});
    void reloadEdits();  // edits_ from the store (GUI thread)
    void setEdits(std::vector<kme::EditRecord> edits);  // edits_ and history_
    void rebuildHistory();                              // history_ from edits_ and the base hash
    void adoptOpened(OpenResult& opened);
    void rememberSession() const;
    bool writeGuard(QString* error) const;

    JobRunner* runner_;
    std::unique_ptr<kme::SessionStore> store_;
    QString name_;  // cached SessionInfo::name
    std::shared_ptr<LiveModel> live_;
    ModelFacts facts_;
    QString currentHash_;
    std::vector<kme::EditRecord> edits_;
    kme::EditHistory history_;  // edits_ walked as a hash chain on facts_.weightsHash
    std::map<int64_t, std::shared_ptr<const kme::EditPayload>> deltas_;
    QString openPath_;   // the last openSession's file
    QString openError_;  // and why it failed ("" = it did not)
    bool openLeftFileUnchanged_ = false;
};

}  // namespace kme::app
