// SessionController, part 2 of 3: the live state: the loaded model and its
// one EditStack, the edits' enabled flags (undo / redo / delete rebuild the
// live weights), the edit history as a hash chain (engine/session/EditHistory.h)
// and the history points the Compare tab offers. Part 1 (SessionFiles.cpp):
// the session file and settings; part 3 (SessionRecords.cpp): the record writers.
#include "app/gui/SessionController.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <atomic>
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
std::string toPath(const QString& path) { return QFile::encodeName(path).toStdString(); }
}  // namespace

LiveModel::LiveModel(std::shared_ptr<kme::Model> m)
    : model(std::move(m)), stack(std::make_unique<kme::EditStack>(*model)) {}

LiveModel::~LiveModel() { stack.reset(); }  // before the model it points into

SessionController::SessionController(JobRunner* runner, QObject* parent) : QObject(parent), runner_(runner) {}

SessionController::~SessionController() = default;


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
    state.expectedHash = kme::EditHistory(edits_, sessionBase).expectedHashAt(-1);
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
            rebuildHistory();  // the base hash may differ
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
                    setEdits({});
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
    return history_.whatIfNotes();
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

void SessionController::setEdits(std::vector<kme::EditRecord> edits) {
    edits_ = std::move(edits);
    rebuildHistory();
}

void SessionController::rebuildHistory() { history_ = kme::EditHistory(edits_, facts_.weightsHash.toStdString()); }

void SessionController::reloadEdits() {
    if (!store_) {
        setEdits({});
        return;
    }
    try {
        setEdits(store_->listEdits(false));
    } catch (const kme::Error& e) {
        Q_EMIT message(QString::fromStdString(e.what()), true);
    }
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

int64_t SessionController::undoTarget() const { return history_.undoTarget(); }

int64_t SessionController::redoTarget() const { return history_.redoTarget(); }

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
    for (int64_t id : history_.enabledIds(position)) {
        auto it = deltas_.find(id);
        if (it == deltas_.end()) continue;  // cannot happen: every listed edit has its delta
        s.editIds.push_back(id);
        s.deltas.push_back(it->second);
    }
    s.expectedHash = history_.expectedHashAt(position);
    if (position == 0) {
        s.label = tr("original");
    } else if (position < 0) {
        s.label = tr("now");
    } else {
        s.label = tr("after #%1").arg(position);
        for (const auto& e : history_.entries())
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

}  // namespace kme::app
