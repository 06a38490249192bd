// SessionController, part 1 of 3: the session file and its settings: new,
// open (the replay job), save as, the autosave folder, the recent and last
// sessions, attaching the loaded model. Part 2 (SessionController.cpp) is the
// live state: the model, the edits' enabled flags, undo / redo, the history
// points; part 3 (SessionRecords.cpp) writes the records.
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

QString shortHash(const QString& h) { return h.size() > 12 ? h.left(12) + QChar(0x2026) : h; }

}  // namespace

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
    setEdits({});
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
    setEdits(std::move(opened.edits));
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

}  // namespace kme::app
