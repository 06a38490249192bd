// The Locate tab's traces saved in the session: listing them in the two
// "Saved" lists (this prompt, dataset average), showing one again without
// recomputing, and saving a finished run (saveGuarded keeps the view when
// the save creates the session). The inputs and the run are in LocateTab.cpp.
#include <QCheckBox>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "app/gui/SessionController.h"
#include "app/gui/tabs/LocateDatasetView.h"
#include "app/gui/tabs/LocateTab.h"
#include "app/gui/widgets/SavedRunsCombo.h"
#include "app/render/TraceHeatmapConvert.h"
#include "engine/core/SafeInput.h"
#include "engine/model/Model.h"
#include "engine/session/SessionStore.h"
#include "engine/trace/CausalTrace.h"
#include "engine/trace/TraceJson.h"
#include "widgets/TraceHeatmapPanel.h"

namespace kme::app {

// A trace record of the session, as listed (request only).
struct LocateTab::SavedEntry {
    qint64 id = 0;
    std::string created;     // ISO 8601 UTC
    nlohmann::json request;  // null when it does not parse
    bool dataset = false;    // "type": "dataset" (LocateDatasetView); else a single-prompt trace
};

namespace {

using json = nlohmann::json;

// A string / whole number of a saved request ("" / 0 when absent or of another type).
QString textOf(const json& j, const char* key) {
    return j.is_object() && j.contains(key) && j.at(key).is_string()
               ? QString::fromStdString(j.at(key).get<std::string>())
               : QString();
}
int numberOf(const json& j, const char* key) {
    return j.is_object() && j.contains(key) && j.at(key).is_number_integer() ? j.at(key).get<int>() : 0;
}

}  // namespace

std::vector<LocateTab::SavedEntry> LocateTab::savedEntries(QString* error) const {
    std::vector<SavedEntry> out;
    kme::SessionStore* store = session_ ? session_->store() : nullptr;
    if (!store) return out;
    try {
        const std::vector<kme::TraceRecord> records = store->listTraces(false);
        for (auto it = records.rbegin(); it != records.rend(); ++it) {
            SavedEntry e;
            e.id = it->id;
            e.created = it->created;
            try {
                e.request = kme::parseJson(it->requestJson, "a saved trace's request");
            } catch (const std::exception&) {
                e.request = json(json::value_t::discarded);
            }  // discarded (null) when it does not parse
            if (e.request.is_discarded()) e.request = nullptr;
            e.dataset = e.request.is_object() && e.request.contains("type") && e.request.at("type") == "dataset";
            out.push_back(std::move(e));
        }
    } catch (const std::exception& e) {  // a damaged session file
        if (error) *error = QString::fromStdString(e.what());
    }
    return out;
}

void LocateTab::refreshSaved(const std::vector<SavedEntry>& entries, qint64 datasetShown) {
    QVector<SavedRunItem> traces, runs;
    for (const SavedEntry& e : entries) {
        const QString when = localTimeText(e.created, QStringLiteral("HH:mm"));
        const QString date = localTimeText(e.created, QStringLiteral("yyyy-MM-dd HH:mm"));
        if (e.dataset) {
            const QString facts = textOf(e.request, "facts");
            const int limit = numberOf(e.request, "limit");
            runs.push_back({e.id,
                            QStringLiteral("%1 — %2 — %3")
                                .arg(QFileInfo(facts).fileName(),
                                     limit > 0 ? tr("first %1 facts").arg(limit) : tr("all facts"), when),
                            tr("%1\nSaved %2").arg(facts, date)});
        } else {
            const QString prompt = textOf(e.request, "prompt"), subject = textOf(e.request, "subject");
            traces.push_back({e.id, QStringLiteral("%1 — %2 — %3").arg(prompt, subject, when),
                              tr("%1\nSubject: %2\nSaved %3").arg(prompt, subject, date)});
        }
    }
    saved_->setItems(traces, shownSavedTrace_);
    dataset_->setSavedRuns(runs, datasetShown);
    updateInputs();
}

bool LocateTab::showRecord(qint64 id, bool dataset, QString* error) {
    kme::SessionStore* store = session_ ? session_->store() : nullptr;
    if (!store) {
        *error = tr("no session is open");
        return false;
    }
    if (!dataset && tracing_) {
        *error = tr("a trace is running");
        return false;
    }
    kme::TraceRecord record;
    json request;
    kme::TraceParams params;
    std::shared_ptr<kme::TraceResult> result;
    try {
        record = store->getTrace(id);
        request = kme::parseJson(record.requestJson, "the trace's request");
        if (!dataset) {
            params = kme::traceParamsFromJson(request);
            result = std::make_shared<kme::TraceResult>(kme::traceResultFromJson(kme::parseJson(record.resultJson, "the trace's result")));
        }
    } catch (const std::exception& e) {  // kme::Error (keys, shapes, the file) or nlohmann::json's parse / type errors
        *error = QString::fromStdString(e.what());
        return false;
    }
    const QString when = localTimeText(record.created, QStringLiteral("yyyy-MM-dd HH:mm"));
    QLabel* status = status_;
    if (dataset) {
        if (!dataset_->showSavedRun(id, QString::fromStdString(record.requestJson),
                                    QString::fromStdString(record.resultJson), when, error))
            return false;
        status = dataset_->statusLabel();
    } else {
        if (model_ && result->nLayer != model_->config().nLayer) {
            *error = tr("it has %1 layers, the loaded model %2").arg(result->nLayer).arg(model_->config().nLayer);
            return false;
        }
        // The request's settings in the fields, as if typed: Run traces it again.
        prompt_->setText(QString::fromStdString(params.prompt));
        subject_->setText(QString::fromStdString(params.subject));
        answer_->setText(QString::fromStdString(params.answer));
        noise_->setText(QString::fromStdString(kme::formatNoiseSpec(params.noise)));
        samples_->setValue(params.samples);
        window_->setValue(std::max(params.window, 0));  // -1 (default) shows as "auto"
        seed_->setValue(static_cast<int>(std::min<uint64_t>(params.seed, std::numeric_limits<int>::max())));
        const auto has = [&params](kme::TraceKind k) {
            return std::find(params.kinds.begin(), params.kinds.end(), k) != params.kinds.end();
        };
        hidden_->setChecked(has(kme::TraceKind::Hidden));
        mlp_->setChecked(has(kme::TraceKind::Mlp));
        attn_->setChecked(has(kme::TraceKind::Attn));
        ++runId_;
        lastResult_ = result;
        shownSavedTrace_ = id;
        subjectShown_ = subject_->text();
        panel_->setData(kme::render::traceHeatmapData(*result));
        panel_->setMarkedLayer(editLayer_);
        status_->setText(tr("Saved trace of %1 (not recomputed): %2").arg(when, summary(*result)));
        saved_->select(id);
        updateInputs();
    }
    // The live weights may differ: an edit made or undone since, or another model of the same shape.
    const QString hash = textOf(request, "weights_hash");
    if (!hash.isEmpty() && !session_->currentHash().isEmpty() && hash != session_->currentHash())
        status->setText(status->text() + tr(" It ran on other weights than the live ones."));
    return true;
}

void LocateTab::showLatest(const std::vector<SavedEntry>& entries, bool dataset) {
    QStringList skipped;
    bool shown = false;
    for (const SavedEntry& e : entries) {
        if (e.dataset != dataset) continue;
        QString error;
        if ((shown = showRecord(e.id, dataset, &error))) break;
        skipped << tr("#%1 (%2)").arg(e.id).arg(error);
    }
    if (!shown) {
        if (dataset) dataset_->clearRun();
        else clearTrace();
    }
    if (skipped.isEmpty()) return;
    QLabel* status = dataset ? dataset_->statusLabel() : status_;
    const QString note = dataset ? tr("Skipped saved dataset runs that cannot be shown: %1.")
                                 : tr("Skipped saved traces that cannot be shown: %1.");
    status->setText((status->text().isEmpty() ? QString() : status->text() + QLatin1Char(' ')) +
                    note.arg(skipped.join(QStringLiteral("; "))));
}

void LocateTab::showSaved() {
    if (saving_) return;  // the autosave session our own save created: keep the views
    QString error;
    const std::vector<SavedEntry> entries = savedEntries(&error);
    refreshSaved(entries, 0);
    if (!tracing_) showLatest(entries, false);
    if (!dataset_->isRunning()) showLatest(entries, true);
    if (!error.isEmpty()) status_->setText(tr("The session's saved traces cannot be read: %1").arg(error));
}

bool LocateTab::showSavedTrace(qint64 id) {
    QString error;
    if (showRecord(id, false, &error)) return true;
    status_->setText(tr("Saved trace #%1 cannot be shown: %2").arg(id).arg(error));
    saved_->select(shownSavedTrace_);
    return false;
}

bool LocateTab::showSavedDatasetRun(qint64 id) {
    QString error;
    if (showRecord(id, true, &error)) return true;
    dataset_->statusLabel()->setText(tr("Saved dataset run #%1 cannot be shown: %2").arg(id).arg(error));
    return false;
}

qint64 LocateTab::saveGuarded(bool dataset, const std::function<void()>& save) {
    const auto newest = [dataset](const std::vector<SavedEntry>& entries) -> qint64 {
        for (const SavedEntry& e : entries)
            if (e.dataset == dataset) return e.id;
        return 0;
    };
    const qint64 before = newest(savedEntries());
    saving_ = true;
    save();
    saving_ = false;
    const std::vector<SavedEntry> entries = savedEntries();
    const qint64 saved = newest(entries) > before ? newest(entries) : 0;  // 0: nothing was saved
    if (!dataset) shownSavedTrace_ = saved;
    refreshSaved(entries, dataset ? saved : dataset_->shownSavedRun());
    return saved;
}

void LocateTab::saveDatasetRun(const QString& requestJson, const QString& resultJson) {
    if (session_) saveGuarded(true, [&] { session_->recordTrace(requestJson, resultJson); });
}

}  // namespace kme::app
