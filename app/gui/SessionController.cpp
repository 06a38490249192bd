#include "app/gui/SessionController.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QSettings>
#include <QStandardPaths>
#include <atomic>
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "app/gui/JobRunner.h"
#include "engine/core/SafeInput.h"
#include "engine/core/Error.h"
#include "engine/edit/Payload.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"
#include "engine/session/ModelState.h"
#include "engine/session/SessionEdits.h"

namespace kme::app {

namespace {

using json = nlohmann::json;

// Settings keys (STYLE.md 10: declared where used).
const char* const kRecentSessionsKey = "recent/sessions";
const char* const kLastSessionKey = "session/last";
constexpr int kMaxRecentSessions = 8;

std::string toPath(const QString& path) { return QFile::encodeName(path).toStdString(); }
QString fromPath(const std::string& path) { return QFile::decodeName(QByteArray::fromStdString(path)); }
QString cleanAbsolute(const QString& path) { return QDir::cleanPath(QFileInfo(path).absoluteFilePath()); }

// A session file and the files SQLite keeps beside it in WAL mode.
void removeSessionFiles(const QString& path) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) QFile::remove(path + QLatin1String(suffix));
}

kme::SessionOpenOptions openOptions(const QString& path, bool create) {
    kme::SessionOpenOptions o;
    o.create = create;
    o.sessionName = QFileInfo(path).completeBaseName().toStdString();
    return o;
}

// The hash a state's weights must have when every enabled edit lands on the
// base it was computed on; "" once the chain leaves the recorded hashes.
std::string expectedHashOf(const std::vector<kme::EditRecord>& edits, const std::string& base, int position) {
    std::string known = base;
    for (const auto& e : edits) {
        if (position >= 0 && e.position > position) break;
        if (!e.enabled) continue;
        if (known.empty() || known != e.computedOnHash) return {};
        known = e.weightsHashAfter;
    }
    return known;
}

QString shortHash(const QString& h) { return h.size() > 12 ? h.left(12) + QChar(0x2026) : h; }

}  // namespace

LiveModel::LiveModel(std::shared_ptr<kme::Model> m)
    : model(std::move(m)), stack(std::make_unique<kme::EditStack>(*model)) {}

LiveModel::~LiveModel() { stack.reset(); }  // before the model it points into

// What an "Opening session" job builds on the worker thread.
struct SessionController::OpenResult {
    std::unique_ptr<kme::SessionStore> store;
    std::shared_ptr<LiveModel> live;  // the live model afterwards (maybe the one already loaded)
    ModelFacts facts;
    std::vector<kme::EditRecord> edits;
    std::map<int64_t, std::shared_ptr<const kme::EditPayload>> deltas;
    std::string currentHash;
    std::string summary;        // the replay's one line
    std::string note;           // which model path was used
    bool attachLive = false;    // the session records no model: attach the loaded one
    std::atomic<bool> touchedOld{false};  // the loaded model's weights were changed
};

SessionController::SessionController(JobRunner* runner, QObject* parent) : QObject(parent), runner_(runner) {}

SessionController::~SessionController() = default;

// ---- session files ---------------------------------------------------------

QString SessionController::sessionPath() const { return store_ ? fromPath(store_->path()) : QString(); }
QString SessionController::sessionName() const { return name_; }

QString SessionController::autosaveFolder() {
    return QDir(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)).filePath(QStringLiteral("sessions"));
}

QString SessionController::newAutosavePath(const QString& stem) {
    const QDir dir(autosaveFolder());
    const QString time = QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"));
    QString path = dir.filePath(QStringLiteral("%1-%2.kmes").arg(stem, time));
    for (int i = 2; QFileInfo::exists(path); ++i) path = dir.filePath(QStringLiteral("%1-%2-%3.kmes").arg(stem, time).arg(i));
    return path;
}

QStringList SessionController::recentSessions() {
    return QSettings().value(kRecentSessionsKey).toStringList();
}

void SessionController::addRecentSession(const QString& path) {
    QStringList list = recentSessions();
    list.removeAll(path);
    list.prepend(path);
    while (list.size() > kMaxRecentSessions) list.removeLast();
    QSettings().setValue(kRecentSessionsKey, list);
}

void SessionController::clearRecentSessions() { QSettings().remove(kRecentSessionsKey); }

QString SessionController::lastSession() { return QSettings().value(kLastSessionKey).toString(); }

void SessionController::rememberSession() const {
    if (!store_) return;
    addRecentSession(sessionPath());
    QSettings().setValue(kLastSessionKey, sessionPath());
}

void SessionController::setStore(std::unique_ptr<kme::SessionStore> store) {
    store_ = std::move(store);
    name_.clear();
    if (store_) {
        try {
            name_ = QString::fromStdString(store_->info().name);
        } catch (const kme::Error&) {
        }
        if (name_.isEmpty()) name_ = QFileInfo(sessionPath()).completeBaseName();
    }
}

bool SessionController::isBusy() const { return runner_->isBusy(); }

bool SessionController::writeGuard(QString* error) const {
    if (!runner_->isBusy()) return true;
    if (error) *error = tr("“%1” is still running: wait for it or cancel it (Esc).").arg(runner_->currentTitle());
    return false;
}

bool SessionController::newSession(const QString& path, QString* error) {
    if (!writeGuard(error)) return false;
    const QString target = cleanAbsolute(path);
    if (store_ && target == cleanAbsolute(sessionPath())) {
        if (error) *error = tr("%1 is the open session; choose another file name.").arg(target);
        return false;
    }
    if (!QDir().mkpath(QFileInfo(target).absolutePath())) {
        if (error) *error = tr("Cannot create the folder %1.").arg(QFileInfo(target).absolutePath());
        return false;
    }
    removeSessionFiles(target);  // the file dialog asked before overwriting
    std::unique_ptr<kme::SessionStore> created;
    try {
        auto o = openOptions(target, true);
        o.appVersion = QCoreApplication::applicationVersion().toStdString();
        created = std::make_unique<kme::SessionStore>(toPath(target), o);
    } catch (const std::exception& e) {
        if (error) *error = QString::fromStdString(e.what());
        return false;
    }
    bool hadEnabled = false;
    for (const auto& e : edits_) hadEnabled |= e.enabled;
    setStore(std::move(created));
    edits_.clear();
    deltas_.clear();
    QString attachError;
    if (!attachCurrentModel(&attachError)) Q_EMIT message(attachError, true);
    rememberSession();
    Q_EMIT sessionChanged();
    Q_EMIT editsChanged();
    // The new session starts from the checkpoint as it is on disk.
    if (hadEnabled && live_) rebuildLive(tr("Restoring the original weights"));
    return true;
}

bool SessionController::ensureSession(QString* error) {
    if (store_) return true;
    const QString stem = live_ ? QFileInfo(facts_.folder).fileName() == QLatin1String("model")
                                     ? QFileInfo(QFileInfo(facts_.folder).absolutePath()).fileName()
                                     : QFileInfo(facts_.folder).fileName()
                               : QStringLiteral("session");
    if (!newSession(newAutosavePath(stem.isEmpty() ? QStringLiteral("session") : stem), error)) return false;
    Q_EMIT message(tr("Saving as you go in %1").arg(QDir::toNativeSeparators(sessionPath())), false);
    return true;
}

bool SessionController::saveSessionAs(const QString& path, QString* error) {
    if (!store_) {
        if (error) *error = tr("No session is open.");
        return false;
    }
    if (!writeGuard(error)) return false;
    const QString source = cleanAbsolute(sessionPath());
    const QString target = cleanAbsolute(path);
    if (source == target) return true;
    std::string notes;
    try {
        notes = store_->info().notes;
    } catch (const kme::Error&) {
    }
    // Closing the only connection checkpoints the write-ahead log into the
    // main file, so a plain copy of that file is the whole session.
    store_.reset();
    auto reopen = [&](const QString& p) {
        auto o = openOptions(p, false);
        setStore(std::make_unique<kme::SessionStore>(toPath(p), o));
    };
    removeSessionFiles(target);
    const bool copied = QDir().mkpath(QFileInfo(target).absolutePath()) && QFile::copy(source, target);
    try {
        if (!copied) {
            reopen(source);
            if (error) *error = tr("Cannot write %1.").arg(target);
            return false;
        }
        reopen(target);
        store_->setInfo(QFileInfo(target).completeBaseName().toStdString(), notes);
        setStore(std::move(store_));  // refresh the cached name
    } catch (const std::exception& e) {
        if (error) *error = QString::fromStdString(e.what());
        if (!store_) {
            try {
                reopen(source);
            } catch (const std::exception&) {
            }
        }
        Q_EMIT sessionChanged();
        return false;
    }
    rememberSession();
    Q_EMIT sessionChanged();
    return true;
}

bool SessionController::attachCurrentModel(QString* error) {
    if (!store_ || !live_) return true;
    try {
        const auto recorded = store_->model();
        const std::string base = facts_.weightsHash.toStdString();
        if (recorded && recorded->weightsHash != base) {
            if (!store_->listEdits(false).empty()) {
                if (error)
                    *error = tr("%1 belongs to other weights (%2); the loaded model has %3.")
                                 .arg(sessionPath(), shortHash(QString::fromStdString(recorded->weightsHash)),
                                      shortHash(facts_.weightsHash));
                return false;
            }
            const kme::Model& m = *live_->model;
            store_->setModel(m.folder(), m.config().rawJson.empty() ? kme::modelConfigToJson(m.config()) : m.config().rawJson,
                             base);
            return true;
        }
        kme::attachModel(*store_, *live_->model, base);
        return true;
    } catch (const std::exception& e) {
        if (error) *error = QString::fromStdString(e.what());
        return false;
    }
}

bool SessionController::openSession(const QString& path) {
    const QString absolute = cleanAbsolute(path);
    auto out = std::make_shared<OpenResult>();
    std::shared_ptr<LiveModel> old = live_;
    const std::string oldBase = facts_.weightsHash.toStdString();
    const QString oldFolder = old ? cleanAbsolute(facts_.folder) : QString();
    const ModelFacts oldFacts = facts_;
    const WeightState oldState = liveState();
    const std::string file = toPath(absolute);
    openPath_ = absolute;
    openError_.clear();
    openLeftFileUnchanged_ = false;
    // What the file looked like before: a failed open says whether it is unchanged.
    const QFileInfo before(absolute);
    const qint64 sizeBefore = before.exists() ? before.size() : -1;
    const QDateTime timeBefore = before.exists() ? before.lastModified() : QDateTime();
    const bool walBefore = QFileInfo::exists(absolute + QStringLiteral("-wal"));
    const bool started = runner_->start(
        tr("Opening session %1").arg(QFileInfo(absolute).fileName()),
        [out, old, oldBase, oldFolder, oldFacts, oldState, file](const kme::ProgressFn& progress) {
            out->store = std::make_unique<kme::SessionStore>(file, openOptions(fromPath(file), false));
            kme::SessionStore& store = *out->store;
            out->edits = store.listEdits(true);
            for (auto& e : out->edits) {
                try {
                    out->deltas[e.id] = std::make_shared<const kme::EditPayload>(
                        kme::EditPayload::fromBytes(kme::parsePayloadKind(e.payloadKind), e.delta));
                } catch (const kme::Error& err) {
                    kme::fail(kme::ErrorKind::Database, file + ": edit #" + std::to_string(e.position) + " '" + e.name +
                                                            "': its stored " + e.payloadKind + " payload is unreadable: " +
                                                            err.what());
                }
                e.delta.clear();  // kept once, as EditPayload
            }
            const auto recorded = store.model();
            if (!recorded) {
                for (const auto& e : out->edits)
                    if (e.enabled)
                        kme::fail(kme::ErrorKind::Database,
                                  file + ": the session has enabled edits but records no model to apply them to");
                if (old) {
                    out->touchedOld = true;
                    old->stack->revertAll();
                    out->live = old;
                    out->facts = oldFacts;
                    out->currentHash = old->model->stateHash();
                    out->attachLive = true;
                }
                out->summary = "no model recorded yet";
                return;
            }
            const kme::ResolvedModel resolved = store.resolveModelPath();
            if (resolved.viaRelativePath) out->note = resolved.note;
            const bool reuse = old && oldFolder == cleanAbsolute(fromPath(resolved.folder)) && oldBase == recorded->weightsHash;
            if (reuse) {
                out->live = old;
                out->facts = oldFacts;
            } else {
                auto model = kme::Model::load(resolved.folder);
                out->facts = gatherModelFacts(*model);
                if (out->facts.weightsHash.toStdString() != recorded->weightsHash)
                    kme::fail(kme::ErrorKind::Database,
                              file + ": the model at " + resolved.folder + " has weights hash " +
                                  out->facts.weightsHash.toStdString() + ", but the session was recorded on " +
                                  recorded->weightsHash + " (the checkpoint changed since)");
                out->live = std::make_shared<LiveModel>(model);
            }
            try {
                if (reuse) out->touchedOld = true;
                const kme::ReplayReport report = kme::bringToSessionState(store, *out->live->stack, progress);
                out->summary = report.summary;
            } catch (...) {
                // Leave the loaded model as it was: the open failed.
                if (reuse) {
                    try {
                        applyState(*old->stack, oldState);
                        out->touchedOld = false;
                    } catch (...) {
                    }
                }
                throw;
            }
            out->currentHash = out->live->model->stateHash();
        },
        [this, out] { adoptOpened(*out); },
        [this, out, absolute, sizeBefore, timeBefore, walBefore](JobOutcome outcome, const QString& message) {
            if (outcome != JobOutcome::Succeeded) {
                // Closed now, not when the job's last copy goes: the file is
                // released, and whatever the connection wrote is in it.
                out->store.reset();
                out->deltas.clear();
                if (outcome == JobOutcome::Failed)
                    openError_ = message.isEmpty() ? tr("%1 could not be opened.").arg(absolute) : message;
                QFileInfo after(absolute);
                after.refresh();
                openLeftFileUnchanged_ = sizeBefore >= 0 && (after.exists() ? after.size() : -1) == sizeBefore &&
                                         (after.exists() ? after.lastModified() : QDateTime()) == timeBefore &&
                                         QFileInfo::exists(absolute + QStringLiteral("-wal")) == walBefore;
            }
            if (outcome != JobOutcome::Succeeded && out->touchedOld) rebuildLive(tr("Restoring the weights"));
            Q_EMIT sessionOpenFinished(outcome == JobOutcome::Succeeded);
        });
    if (!started) openError_ = tr("“%1” is still running: wait for it or cancel it (Esc).").arg(runner_->currentTitle());
    return started;
}

void SessionController::adoptOpened(OpenResult& opened) {
    const bool modelChangedNow = opened.live != live_;
    setStore(std::move(opened.store));
    live_ = opened.live;
    if (live_) facts_ = opened.facts;
    edits_ = std::move(opened.edits);
    deltas_ = std::move(opened.deltas);
    currentHash_ = QString::fromStdString(opened.currentHash);
    opened.touchedOld = false;  // the new state is the live one now
    if (opened.attachLive) {
        QString error;
        if (!attachCurrentModel(&error)) Q_EMIT message(error, true);
    }
    rememberSession();
    if (modelChangedNow) Q_EMIT modelChanged();
    Q_EMIT sessionChanged();
    Q_EMIT editsChanged();
    Q_EMIT weightsChanged();
    QString text = tr("Opened session %1: %2.").arg(name_, QString::fromStdString(opened.summary));
    if (!opened.note.empty()) text += QLatin1Char(' ') + QString::fromStdString(opened.note);
    Q_EMIT message(text, false);
}

// ---- the model -------------------------------------------------------------

std::shared_ptr<kme::Model> SessionController::model() const { return live_ ? live_->model : nullptr; }

bool SessionController::loadModelFolder(const QString& folder) {
    const QString absolute = QDir::cleanPath(QDir(folder).absolutePath());
    struct Loaded {
        std::shared_ptr<LiveModel> live;
        ModelFacts facts;
        std::string currentHash;
        bool replayed = false;
    };
    auto out = std::make_shared<Loaded>();
    // When the open session recorded these very weights, the new model gets
    // the session's edits (e.g. the same folder opened again).
    std::string sessionBase;
    if (store_) {
        try {
            if (auto rec = store_->model()) sessionBase = rec->weightsHash;
        } catch (const kme::Error&) {
        }
    }
    WeightState state = liveState();
    state.expectedHash = expectedHashOf(edits_, sessionBase, -1);
    const std::string path = toPath(absolute);
    return runner_->start(
        tr("Loading %1").arg(modelDisplayName(absolute)),
        [out, path, sessionBase, state](const kme::ProgressFn&) {
            // Model::load maps the weights and builds the transformer; the
            // facts hash every weight. Both can take seconds: worker thread.
            auto model = kme::Model::load(path);
            out->facts = gatherModelFacts(*model);
            out->live = std::make_shared<LiveModel>(model);
            if (!state.deltas.empty() && out->facts.weightsHash.toStdString() == sessionBase) {
                applyState(*out->live->stack, state);
                out->replayed = true;
            }
            out->currentHash = model->stateHash();
            if (out->replayed && !state.expectedHash.empty() && out->currentHash != state.expectedHash)
                kme::fail(kme::ErrorKind::Database, "replaying the session's edits on " + path + " gave weights hash " +
                                                        out->currentHash + ", the session recorded " +
                                                        state.expectedHash);
        },
        [this, out] {
            live_ = out->live;
            facts_ = out->facts;
            currentHash_ = QString::fromStdString(out->currentHash);
            if (!out->replayed && store_) {
                bool hasEdits = !edits_.empty();
                bool sameWeights = false;
                try {
                    auto rec = store_->model();
                    sameWeights = rec && rec->weightsHash == facts_.weightsHash.toStdString();
                } catch (const kme::Error&) {
                }
                if (hasEdits && !sameWeights) {
                    // The session's edits belong to other weights: keep them
                    // there and continue in a fresh session for this model.
                    const QString previous = name_;
                    setStore(nullptr);
                    edits_.clear();
                    deltas_.clear();
                    QString error;
                    if (ensureSession(&error))
                        Q_EMIT message(tr("Session %1 belongs to another model; started %2 for %3.")
                                           .arg(previous, name_, facts_.name),
                                       false);
                    else
                        Q_EMIT message(error, true);
                }
            }
            QString error;
            if (!attachCurrentModel(&error)) Q_EMIT message(error, true);
            Q_EMIT modelChanged();
            Q_EMIT sessionChanged();
            Q_EMIT editsChanged();
            Q_EMIT weightsChanged();
        },
        [this](JobOutcome outcome, const QString&) { Q_EMIT modelLoadFinished(outcome == JobOutcome::Succeeded); });
}

// ---- edits -----------------------------------------------------------------

const kme::EditRecord* SessionController::edit(int64_t id) const {
    for (const auto& e : edits_)
        if (e.id == id) return &e;
    return nullptr;
}

std::vector<kme::WhatIfNote> SessionController::whatIfNotes() const {
    // The live model's unedited hash is the session's model hash: attaching
    // and opening make sure of that.
    if (!store_) return {};
    return kme::whatIfNotes(edits_, facts_.weightsHash.toStdString());
}

std::vector<kme::EditRequest> SessionController::editRequests(const kme::EditRecord& record) {
    try {
        return kme::parseEditRequests(record.requestJson, "edit #" + std::to_string(record.position));
    } catch (const kme::Error&) {
        return {};
    }
}

std::vector<int> SessionController::editLayers(const kme::EditRecord& record) {
    try {
        const json h = kme::parseJson(record.hparamsJson.empty() ? std::string("{}") : record.hparamsJson, "the edit's hyper-parameters");
        if (h.contains("layers") && h["layers"].is_array()) return h["layers"].get<std::vector<int>>();
    } catch (const std::exception&) {
    }
    return {};
}

std::vector<int> SessionController::layersOf(const kme::EditRecord& record) const {
    std::vector<int> layers = editLayers(record);
    if (!layers.empty()) return layers;
    const auto it = deltas_.find(record.id);
    if (it == deltas_.end() || !it->second || it->second->kind != kme::PayloadKind::Weights) return layers;
    std::set<int> seen;
    for (const auto& part : it->second->weights.parts) {
        // Canonical tensor names: "h.<layer>.<...>".
        if (part.tensor.rfind("h.", 0) != 0) continue;
        const size_t dot = part.tensor.find('.', 2);
        if (dot == std::string::npos || dot == 2) continue;
        const std::string digits = part.tensor.substr(2, dot - 2);
        if (digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
        seen.insert(std::stoi(digits));
    }
    return {seen.begin(), seen.end()};
}

void SessionController::reloadEdits() {
    if (!store_) {
        edits_.clear();
        return;
    }
    try {
        edits_ = store_->listEdits(false);
    } catch (const kme::Error& e) {
        Q_EMIT message(QString::fromStdString(e.what()), true);
    }
}

bool SessionController::addEdit(std::shared_ptr<const kme::EditResult> result, std::vector<kme::EditRequest> requests,
                                const QString& hashBefore, WorkerFn afterApply, std::function<void(int64_t)> done) {
    auto fail = [&](const QString& text) {
        Q_EMIT message(text, true);
        return false;
    };
    if (!live_) return fail(tr("Open a model before editing."));
    if (!result) return fail(tr("There is no edit to record."));
    QString error;
    if (!writeGuard(&error)) return fail(error);
    if (!ensureSession(&error)) return fail(tr("The edit cannot be saved: %1").arg(error));
    auto live = live_;
    auto record = std::make_shared<kme::EditRecord>();
    auto applied = std::make_shared<std::atomic<bool>>(false);
    auto kept = std::make_shared<std::shared_ptr<const kme::EditPayload>>();
    const std::string before = hashBefore.toStdString();
    return runner_->start(
        tr("Applying the edit"),
        [live, result, requests, before, record, applied, kept, afterApply](const kme::ProgressFn&) {
            auto payload = std::make_shared<const kme::EditPayload>(result->payload());
            live->stack->apply(*payload);
            *kept = payload;
            applied->store(true);
            // The record holds the delta's bytes (megabytes for a dense FT-L
            // change of a big model): serialised here, not on the GUI thread.
            *record = kme::makeEditRecord(*result, requests, before, live->model->stateHash());
            if (afterApply) afterApply(*live->model);
        },
        {},
        [this, result, record, applied, kept, done](JobOutcome outcome, const QString&) {
            int64_t id = 0;
            if (outcome == JobOutcome::Succeeded && store_) {
                try {
                    id = store_->addEdit(*record);
                } catch (const std::exception& e) {
                    Q_EMIT message(tr("The edit could not be saved: %1").arg(QString::fromStdString(e.what())), true);
                }
            }
            if (id == 0) {
                // Not recorded: the live weights go back to the session's state.
                if (applied->load()) rebuildLive(tr("Restoring the weights"));
                if (done) done(0);
                return;
            }
            // The payload applied is kept as it is.
            deltas_[id] = *kept;
            reloadEdits();
            currentHash_ = QString::fromStdString(record->weightsHashAfter);
            Q_EMIT editsChanged();
            Q_EMIT weightsChanged();
            if (done) done(id);
        });
}

bool SessionController::rebuildLive(const QString& title, std::function<void(bool)> done) {
    if (!live_) {
        if (done) done(true);
        return true;
    }
    auto live = live_;
    WeightState state = liveState();
    auto hash = std::make_shared<std::string>();
    auto applied = std::make_shared<std::atomic<bool>>(false);
    const bool started = runner_->start(
        title,
        [live, state, hash, applied](const kme::ProgressFn&) {
            applyState(*live->stack, state);
            applied->store(true);
            *hash = live->model->stateHash();
            if (!state.expectedHash.empty() && *hash != state.expectedHash)
                kme::fail(kme::ErrorKind::Database,
                          "rebuilding the weights gave hash " + *hash + ", the session recorded " + state.expectedHash +
                              " for this state (a delta or the edit engine changed)");
        },
        {},
        [this, hash, applied, done](JobOutcome outcome, const QString&) {
            // No progress calls: once applied, the weights are the state even after a cancel.
            currentHash_ = applied->load() ? QString::fromStdString(*hash) : QString();
            Q_EMIT weightsChanged();
            if (done) done(applied->load() && outcome != JobOutcome::Failed);
        });
    if (!started) {
        currentHash_.clear();
        Q_EMIT message(tr("The weights could not be rebuilt now; undo or redo again when the running job ends."), true);
        Q_EMIT weightsChanged();
    }
    return started;
}

bool SessionController::setEnabled(int64_t id, bool enabled) {
    QString error;
    const kme::EditRecord* e = edit(id);
    if (!store_ || !e) return false;
    if (e->enabled == enabled) return true;
    if (!writeGuard(&error)) {
        Q_EMIT message(error, true);
        return false;
    }
    const QString name = QString::fromStdString(e->name);
    try {
        store_->setEditEnabled(id, enabled);
    } catch (const std::exception& ex) {
        Q_EMIT message(QString::fromStdString(ex.what()), true);
        return false;
    }
    reloadEdits();
    Q_EMIT editsChanged();
    return rebuildLive(enabled ? tr("Applying “%1” again").arg(name) : tr("Removing “%1”").arg(name));
}

bool SessionController::renameEdit(int64_t id, const QString& name) {
    const kme::EditRecord* e = edit(id);
    if (!store_ || !e || name.trimmed().isEmpty()) return false;
    if (QString::fromStdString(e->name) == name.trimmed()) return true;
    try {
        store_->renameEdit(id, name.trimmed().toStdString());
    } catch (const std::exception& ex) {
        Q_EMIT message(QString::fromStdString(ex.what()), true);
        return false;
    }
    reloadEdits();
    Q_EMIT editsChanged();
    return true;
}

bool SessionController::deleteEdit(int64_t id) {
    QString error;
    const kme::EditRecord* e = edit(id);
    if (!store_ || !e) return false;
    if (!writeGuard(&error)) {
        Q_EMIT message(error, true);
        return false;
    }
    const bool wasEnabled = e->enabled;
    const QString name = QString::fromStdString(e->name);
    try {
        store_->deleteEdit(id);
    } catch (const std::exception& ex) {
        Q_EMIT message(QString::fromStdString(ex.what()), true);
        return false;
    }
    deltas_.erase(id);
    reloadEdits();
    Q_EMIT editsChanged();
    if (wasEnabled) return rebuildLive(tr("Removing “%1”").arg(name));
    return true;
}

int64_t SessionController::undoTarget() const {
    for (auto it = edits_.rbegin(); it != edits_.rend(); ++it)
        if (it->enabled) return it->id;
    return 0;
}

int64_t SessionController::redoTarget() const {
    // The first disabled edit after the last enabled one: undo, undo, redo,
    // redo walks the history back and forth.
    int64_t target = 0;
    for (auto it = edits_.rbegin(); it != edits_.rend(); ++it) {
        if (it->enabled) break;
        target = it->id;
    }
    return target;
}

bool SessionController::undo() {
    const int64_t id = undoTarget();
    return id != 0 && setEnabled(id, false);
}

bool SessionController::redo() {
    const int64_t id = redoTarget();
    return id != 0 && setEnabled(id, true);
}

// ---- history points ----------------------------------------------------------

WeightState SessionController::stateAt(int position) const {
    WeightState s;
    s.position = position;
    for (const auto& e : edits_) {
        if (position >= 0 && e.position > position) break;
        if (!e.enabled) continue;
        auto it = deltas_.find(e.id);
        if (it == deltas_.end()) continue;  // cannot happen: every listed edit has its delta
        s.editIds.push_back(e.id);
        s.deltas.push_back(it->second);
    }
    s.expectedHash = expectedHashOf(edits_, facts_.weightsHash.toStdString(), position);
    if (position == 0) {
        s.label = tr("original");
    } else if (position < 0) {
        s.label = tr("now");
    } else {
        s.label = tr("after #%1").arg(position);
        for (const auto& e : edits_)
            if (e.position == position) {
                s.label += QStringLiteral(" ") + QString::fromStdString(e.name);
                if (!e.enabled) s.label += tr(" (off)");
            }
    }
    return s;
}

WeightState SessionController::stateOfEdits(const std::vector<int64_t>& ids, const QString& label) const {
    std::vector<int64_t> known;
    for (int64_t id : ids)
        if (edit(id) && deltas_.count(id)) known.push_back(id);
    const kme::ModelState m = kme::stateOfEdits(known, edits_, facts_.weightsHash.toStdString(), label.toStdString());
    WeightState s;
    s.position = WeightState::kNoPosition;
    s.label = QString::fromStdString(m.label);
    s.editIds = m.editIds;
    for (int64_t id : m.editIds) s.deltas.push_back(deltas_.at(id));
    s.expectedHash = m.expectedHash;
    return s;
}

QVector<WeightState> SessionController::historyPoints() const {
    QVector<WeightState> points;
    points << stateAt(0);
    for (const auto& e : edits_) points << stateAt(e.position);
    points << stateAt(-1);
    return points;
}

void SessionController::applyState(kme::EditStack& stack, const WeightState& state) {
    // EditStack::rebuild without copying the deltas.
    stack.revertAll();
    for (const auto& d : state.deltas) stack.apply(*d);
}

// ---- traces and previews -------------------------------------------------------

void SessionController::recordTrace(const QString& requestJson, const QString& resultJson) {
    QString error;
    if (!ensureSession(&error)) {
        Q_EMIT message(tr("The trace could not be saved: %1").arg(error), true);
        return;
    }
    kme::TraceRecord t;
    t.requestJson = requestJson.toStdString();
    try {
        json request = kme::parseJson(t.requestJson, "the trace's request");
        if (request.is_object() && !currentHash_.isEmpty()) {
            request["weights_hash"] = currentHash_.toStdString();
            t.requestJson = request.dump();
        }
    } catch (const std::exception&) {
        // Kept as given: the store checks that it is JSON and says so.
    }
    t.resultJson = resultJson.toStdString();
    try {
        store_->addTrace(t);
    } catch (const std::exception& e) {
        Q_EMIT message(tr("The trace could not be saved: %1").arg(QString::fromStdString(e.what())), true);
    }
}

bool SessionController::addPreview(kme::PreviewRecord preview, QString* error) {
    if (!ensureSession(error)) return false;
    try {
        store_->addPreview(std::move(preview));
        return true;
    } catch (const std::exception& e) {
        if (error) *error = QString::fromStdString(e.what());
        return false;
    }
}

bool SessionController::addMetricRun(kme::MetricRunRecord run, QString* error) {
    if (!ensureSession(error)) return false;
    try {
        store_->addMetricRun(std::move(run));
        return true;
    } catch (const std::exception& e) {
        if (error) *error = QString::fromStdString(e.what());
        return false;
    }
}

}  // namespace kme::app
