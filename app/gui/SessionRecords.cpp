// SessionController, part 3 of 3: the record writers. Every record the
// window keeps goes through here into the open session (one is created in
// the autosave folder when none is open): the edits (applied on the worker
// thread, then saved), the traces, the previews and the evaluation runs
// (one metric run per method of a saved comparison).
#include "app/gui/SessionController.h"

#include <atomic>

#include <nlohmann/json.hpp>

#include "app/gui/JobRunner.h"
#include "engine/core/SafeInput.h"
#include "engine/core/Error.h"
#include "engine/edit/Payload.h"
#include "engine/model/Model.h"
#include "engine/session/SessionEdits.h"

namespace kme::app {

using json = nlohmann::json;

// ---- edits -----------------------------------------------------------------

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
