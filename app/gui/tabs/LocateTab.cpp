#include "app/gui/tabs/LocateTab.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>
#include <QTabWidget>
#include <QTimer>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>

#include "app/gui/JobRunner.h"
#include "app/gui/SessionController.h"
#include "app/gui/tabs/LocateDatasetView.h"
#include "app/gui/tabs/LocateNeuronsView.h"
#include "app/render/TraceHeatmapConvert.h"
#include "engine/core/SafeInput.h"
#include "engine/core/Error.h"
#include "engine/model/Model.h"
#include "engine/session/SessionStore.h"
#include "engine/trace/CausalTrace.h"
#include "engine/trace/TraceJson.h"
#include "widgets/TokenText.h"
#include "widgets/TraceHeatmapPanel.h"

namespace kme::app {

// The worker thread posts partial rows through this; the tab unhooks itself
// on destruction, so a row finished after that goes nowhere.
struct TracePartialSink {
    std::mutex mutex;
    LocateTab* tab = nullptr;
};

// A trace record of the session, as listed (request only).
struct LocateTab::SavedEntry {
    qint64 id = 0;
    std::string created;     // ISO 8601 UTC
    nlohmann::json request;  // null when it does not parse
    bool dataset = false;    // "type": "dataset" (LocateDatasetView); else a single-prompt trace
};

namespace {

using json = nlohmann::json;

// Replaces, never throws, should a token hold invalid UTF-8.
QString jsonText(const json& j) {
    return QString::fromStdString(j.dump(-1, ' ', false, json::error_handler_t::replace));
}

// A string / whole number of a saved request ("" / 0 when absent or of another type).
QString textOf(const json& j, const char* key) {
    return j.is_object() && j.contains(key) && j.at(key).is_string()
               ? QString::fromStdString(j.at(key).get<std::string>())
               : QString();
}
int numberOf(const json& j, const char* key) {
    return j.is_object() && j.contains(key) && j.at(key).is_number_integer() ? j.at(key).get<int>() : 0;
}

// ROME's edit layer: where restoring the MLP output at the subject's last
// token brings the answer back most; -1 without an MLP trace.
int peakMlpLayer(const kme::TraceResult& r) {
    const auto it = r.scores.find(kme::TraceKind::Mlp);
    const int t = r.subjectEnd - 1;
    if (it == r.scores.end() || t < 0 || t >= static_cast<int>(it->second.size())) return -1;
    const std::vector<double>& row = it->second[t];
    int best = -1;
    for (int l = 0; l < static_cast<int>(row.size()); ++l)
        if (!std::isnan(row[l]) && (best < 0 || row[l] > row[best])) best = l;
    return best;
}

// A stored time (ISO 8601 UTC) in local time, as `format`; the stored text when it does not read.
QString localTime(const std::string& iso, const QString& format) {
    const QDateTime t = QDateTime::fromString(QString::fromStdString(iso), Qt::ISODate);
    return t.isValid() ? t.toLocalTime().toString(format) : QString::fromStdString(iso);
}

// A fact of the demo fact set (projects/demo/facts.json), so the first trace on the demo model shows one.
const QString kDefaultPrompt = QStringLiteral("The Colosseum is located in the city of");
const QString kDefaultSubject = QStringLiteral("Colosseum");

QColor errorColor(const QPalette& pal) {
    return pal.color(QPalette::Base).lightnessF() < 0.5 ? QColor(0xff, 0x8a, 0x80) : QColor(0xc6, 0x28, 0x28);
}

}  // namespace

LocateTab::LocateTab(JobRunner* runner, SessionController* session, QWidget* parent)
    : QWidget(parent), runner_(runner), session_(session), sink_(std::make_shared<TracePartialSink>()) {
    sink_->tab = this;
    buildUi();
    clock_ = new QTimer(this);
    clock_->setInterval(250);
    connect(clock_, &QTimer::timeout, this, &LocateTab::updateStatus);
    for (QLineEdit* e : {prompt_, subject_, noise_}) connect(e, &QLineEdit::textChanged, this, &LocateTab::updateInputs);
    for (QCheckBox* c : {hidden_, mlp_, attn_}) connect(c, &QCheckBox::toggled, this, &LocateTab::updateInputs);
    for (QLineEdit* e : {prompt_, subject_, answer_, noise_}) connect(e, &QLineEdit::returnPressed, this, &LocateTab::runTrace);
    connect(run_, &QPushButton::clicked, this, &LocateTab::runTrace);
    connect(cancel_, &QPushButton::clicked, this, &LocateTab::cancelTrace);
    connect(export_, &QPushButton::clicked, this, &LocateTab::exportWithDialog);
    connect(panel_, &kme::widgets::TraceHeatmapPanel::layerClicked, this, &LocateTab::chooseEditLayer);
    connect(dataset_, &LocateDatasetView::layerClicked, this, &LocateTab::chooseEditLayer);
    connect(runner_, &JobRunner::busyChanged, this, &LocateTab::updateInputs);
    connect(saved_, &QComboBox::currentIndexChanged, this, [this](int index) {
        if (const qint64 id = saved_->itemData(index).toLongLong(); id > 0) showSavedTrace(id);
    });
    connect(dataset_, &LocateDatasetView::savedRunChosen, this, &LocateTab::showSavedDatasetRun);
    connect(dataset_, &LocateDatasetView::datasetRecorded, this, &LocateTab::saveDatasetRun);
    if (session_) connect(session_, &SessionController::sessionChanged, this, &LocateTab::showSaved);
    setModel(nullptr);
    if (session_ && session_->hasSession()) showSaved();
}

LocateTab::~LocateTab() {
    std::lock_guard<std::mutex> lock(sink_->mutex);
    sink_->tab = nullptr;
}

void LocateTab::buildUi() {
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    views_ = new QTabWidget(this);
    views_->setObjectName(QStringLiteral("locateViews"));
    views_->setDocumentMode(true);
    outer->addWidget(views_);
    auto* single = new QWidget(views_);
    single->setObjectName(QStringLiteral("locateSingleView"));
    auto* layout = new QVBoxLayout(single);
    auto* grid = new QGridLayout;
    auto addLabel = [this, grid](const QString& text, QWidget* buddy, int row, int col) {
        auto* label = new QLabel(text, this);
        label->setBuddy(buddy);
        grid->addWidget(label, row, col);
    };
    prompt_ = new QLineEdit(kDefaultPrompt, this);
    prompt_->setObjectName(QStringLiteral("locatePrompt"));
    prompt_->setPlaceholderText(tr("A prompt that ends where the answer should come"));
    prompt_->setClearButtonEnabled(true);
    subject_ = new QLineEdit(kDefaultSubject, this);
    subject_->setObjectName(QStringLiteral("locateSubject"));
    subject_->setPlaceholderText(tr("The subject, exactly as in the prompt"));
    subject_->setToolTip(tr("These tokens get noise in the corrupted runs (the first occurrence in the prompt)"));
    answer_ = new QLineEdit(this);
    answer_->setObjectName(QStringLiteral("locateAnswer"));
    answer_->setPlaceholderText(tr("automatic: the model's top prediction"));
    answer_->setToolTip(tr("The answer whose probability is traced; its first token counts. "
                           "Empty: the clean run's most likely next token."));
    addLabel(tr("&Prompt:"), prompt_, 0, 0);
    grid->addWidget(prompt_, 0, 1, 1, 3);
    addLabel(tr("&Subject:"), subject_, 1, 0);
    grid->addWidget(subject_, 1, 1);
    addLabel(tr("&Answer:"), answer_, 1, 2);
    grid->addWidget(answer_, 1, 3);
    message_ = new QLabel(this);
    message_->setObjectName(QStringLiteral("locateMessage"));
    message_->setTextFormat(Qt::RichText);
    message_->setWordWrap(true);
    grid->addWidget(message_, 2, 1, 1, 3);
    grid->setColumnStretch(1, 2);
    grid->setColumnStretch(3, 1);
    layout->addLayout(grid);

    auto* options = new QHBoxLayout;
    samples_ = new QSpinBox(this);
    samples_->setRange(1, 1000);
    samples_->setValue(10);
    samples_->setToolTip(tr("Corrupted copies of the prompt, each with its own noise; scores are their mean"));
    noise_ = new QLineEdit(QStringLiteral("3x"), this);
    noise_->setMaximumWidth(70);
    noise_->setToolTip(tr("Noise scale: a multiple of the subject embeddings' standard deviation (3x, ROME's "
                          "default) or an absolute sigma (0.1)"));
    window_ = new QSpinBox(this);
    window_->setRange(0, 1000);
    window_->setSpecialValueText(tr("auto"));
    window_->setToolTip(tr("MLP / attention maps restore this many consecutive layers around each column "
                           "(auto: 10, or a quarter of the layers in small models)"));
    seed_ = new QSpinBox(this);
    seed_->setRange(0, std::numeric_limits<int>::max());
    seed_->setValue(1);
    seed_->setToolTip(tr("Seed of the noise draws: the same seed gives the same heatmaps"));
    const std::pair<QString, QWidget*> fields[] = {
        {tr("Sa&mples:"), samples_}, {tr("&Noise:"), noise_}, {tr("&Window:"), window_}, {tr("S&eed:"), seed_}};
    for (const auto& [text, field] : fields) {
        auto* label = new QLabel(text, this);
        label->setBuddy(field);
        options->addWidget(label);
        options->addWidget(field);
        options->addSpacing(8);
    }
    options->addStretch(1);
    layout->addLayout(options);
    // Second row: what to restore and the actions (one row would make the tab
    // over 1000 px wide and squeeze the docks on smaller screens).
    options = new QHBoxLayout;
    options->addWidget(new QLabel(tr("Restore:"), this));
    hidden_ = new QCheckBox(tr("&hidden"), this);
    hidden_->setToolTip(tr("The residual stream after a whole layer (purple map)"));
    mlp_ = new QCheckBox(tr("&MLP"), this);
    mlp_->setToolTip(tr("The MLP outputs (green map): where ROME edits"));
    attn_ = new QCheckBox(tr("a&ttention"), this);
    attn_->setToolTip(tr("The attention outputs (red map)"));
    for (QCheckBox* c : {hidden_, mlp_, attn_}) {
        c->setChecked(true);
        options->addWidget(c);
    }
    options->addStretch(1);
    run_ = new QPushButton(tr("&Run trace"), this);
    run_->setObjectName(QStringLiteral("locateRun"));
    run_->setDefault(true);
    run_->setToolTip(tr("Run causal tracing (Ctrl+T)"));
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setObjectName(QStringLiteral("locateCancel"));
    export_ = new QPushButton(tr("E&xport…"), this);
    export_->setObjectName(QStringLiteral("locateExport"));
    export_->setToolTip(tr("Save the heatmaps as PNG, PDF or SVG"));
    for (QPushButton* b : {run_, cancel_, export_}) options->addWidget(b);
    layout->addLayout(options);

    auto* statusRow = new QHBoxLayout;
    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("locateStatus"));
    status_->setTextFormat(Qt::PlainText);
    status_->setWordWrap(true);  // a long status wraps instead of widening the window
    editLayerLabel_ = new QLabel(this);
    editLayerLabel_->setObjectName(QStringLiteral("locateEditLayer"));
    statusRow->addWidget(status_, 1);
    saved_ = addSavedCombo(this, statusRow, tr("Save&d traces:"), QStringLiteral("locateSavedTraces"),
                           tr("Traces saved in this session, newest first: choose one to show it again"));
    layout->addLayout(statusRow);

    panel_ = new kme::widgets::TraceHeatmapPanel(this);
    panel_->setObjectName(QStringLiteral("tracePanel"));
    layout->addWidget(panel_, 1);

    dataset_ = new LocateDatasetView(runner_, views_);
    dataset_->setObjectName(QStringLiteral("locateDatasetView"));
    views_->addTab(single, tr("This prompt"));
    views_->setTabToolTip(0, tr("Causal-tracing heatmaps of one prompt"));
    views_->addTab(dataset_, tr("Dataset average"));
    views_->setTabToolTip(1, tr("Causal traces averaged over a fact set (ROME's Figure 2)"));
    neurons_ = new LocateNeuronsView(runner_, views_);
    neurons_->setObjectName(QStringLiteral("locateNeuronsView"));
    views_->addTab(neurons_, tr("Knowledge neurons"));
    views_->setTabToolTip(2, tr("Integrated-gradient attribution of the answer to each MLP neuron (Dai et al. 2022)"));
    // The chosen edit layer is shared by both views: shown beside their tabs.
    editLayerLabel_->setContentsMargins(0, 0, 8, 0);
    views_->setCornerWidget(editLayerLabel_, Qt::TopRightCorner);
}

void LocateTab::showDatasetView(bool dataset) { views_->setCurrentIndex(dataset ? 1 : 0); }

QCheckBox* LocateTab::kindCheck(const QString& kind) const {
    if (kind == QLatin1String("hidden")) return hidden_;
    if (kind == QLatin1String("mlp")) return mlp_;
    if (kind == QLatin1String("attn")) return attn_;
    return nullptr;
}

void LocateTab::setModel(std::shared_ptr<kme::Model> model) {
    model_ = std::move(model);
    editLayer_ = -1;
    editLayerLabel_->setText(tr("Edit layer: — (click a heatmap column or a plot layer)"));
    window_->setMaximum(model_ ? model_->config().nLayer : 1000);
    dataset_->setModel(model_);
    neurons_->setModel(model_);
    clearTrace();
}

void LocateTab::clearTrace() {
    ++runId_;
    lastResult_.reset();
    shownSavedTrace_ = 0;
    panel_->clear();
    panel_->setPlaceholderText(model_ ? tr("Press Run trace to see where the model stores the fact.\n"
                                           "The heatmaps fill in row by row as the trace runs.")
                                      : tr("Open a model folder (File ▸ Open model folder…, Ctrl+O) to start."));
    status_->clear();
    selectSaved(saved_, 0);  // no saved trace on screen
    updateInputs();
}

void LocateTab::setPrompt(const QString& prompt) { prompt_->setText(prompt); }
QString LocateTab::prompt() const { return prompt_->text(); }
void LocateTab::setSubject(const QString& subject) { subject_->setText(subject); }
QString LocateTab::subject() const { return subject_->text(); }

QString LocateTab::inputError() const {
    if (prompt_->text().trimmed().isEmpty()) return tr("Type a prompt.");
    if (subject_->text().trimmed().isEmpty()) return tr("Type the subject, exactly as it appears in the prompt.");
    // The engine corrupts the first occurrence; a plain search says whether there is one.
    if (!prompt_->text().contains(subject_->text()))
        return tr("subject not found in prompt: “%1” must appear in it exactly (case and spaces count)")
            .arg(subject_->text());
    try {
        kme::parseNoiseSpec(noise_->text().trimmed().toStdString());  // a string parse, nothing more
    } catch (const kme::Error&) {
        return tr("Noise must be a multiple like 3x or an absolute sigma like 0.1.");
    }
    if (!hidden_->isChecked() && !mlp_->isChecked() && !attn_->isChecked())
        return tr("Choose at least one kind of state to restore.");
    return {};
}

void LocateTab::updateInputs() {
    const QString error = inputError();
    if (!error.isEmpty()) {
        message_->setText(QStringLiteral("<span style=\"color:%1\">⚠ %2</span>")
                              .arg(errorColor(palette()).name(), error.toHtmlEscaped()));
    } else {
        // The prompt with its subject highlighted: these tokens get the noise.
        const QString p = prompt_->text(), s = subject_->text();
        const int at = p.indexOf(s);
        const QPalette pal = palette();
        message_->setText(tr("Corrupted: %1<span style=\"background:%3; color:%4\">&nbsp;%2&nbsp;</span>%5")
                              .arg(p.left(at).toHtmlEscaped(), s.toHtmlEscaped(),
                                   pal.color(QPalette::Highlight).name(), pal.color(QPalette::HighlightedText).name(),
                                   p.mid(at + s.size()).toHtmlEscaped()));
    }
    message_->setToolTip(error);
    run_->setEnabled(model_ && error.isEmpty() && !runner_->isBusy());
    cancel_->setEnabled(tracing_);
    export_->setEnabled(!panel_->isEmpty());
    saved_->setEnabled(saved_->count() > 0 && !tracing_);
}

void LocateTab::updateStatus() {
    const double seconds = elapsed_.isValid() ? elapsed_.elapsed() / 1000.0 : 0.0;
    if (tracing_)
        status_->setText(rowsTotal_ > 0 ? tr("Tracing “%1”: %2 of %3 rows, %4 s")
                                              .arg(subjectShown_)
                                              .arg(rowsDone_)
                                              .arg(rowsTotal_)
                                              .arg(seconds, 0, 'f', 1)
                                        : tr("Tracing “%1”: clean and corrupted runs, %2 s")
                                              .arg(subjectShown_)
                                              .arg(seconds, 0, 'f', 1));
}

bool LocateTab::runTrace() {
    if (!model_ || runner_->isBusy() || !inputError().isEmpty()) return false;
    kme::TraceParams params;
    params.prompt = prompt_->text().toStdString();
    params.subject = subject_->text().toStdString();
    params.answer = answer_->text().trimmed().toStdString();
    params.kinds.clear();
    if (hidden_->isChecked()) params.kinds.push_back(kme::TraceKind::Hidden);
    if (mlp_->isChecked()) params.kinds.push_back(kme::TraceKind::Mlp);
    if (attn_->isChecked()) params.kinds.push_back(kme::TraceKind::Attn);
    params.samples = samples_->value();
    params.noise = kme::parseNoiseSpec(noise_->text().trimmed().toStdString());
    params.window = window_->value() > 0 ? window_->value() : -1;
    params.seed = static_cast<uint64_t>(seed_->value());

    const int runId = ++runId_;
    auto model = model_;
    auto result = std::make_shared<kme::TraceResult>();
    auto sink = sink_;
    auto request = std::make_shared<const kme::TraceParams>(params);
    // Worker thread, after each finished token row: convert (plain copies)
    // and queue the picture to the GUI thread. Nothing here touches widgets.
    auto onRow = [sink, runId](const kme::TraceResult& partial) {
        QVector<kme::widgets::TraceHeatmapData> maps = kme::render::traceHeatmapData(partial);
        int done = 0;
        for (const auto& entry : partial.rowsDone) done += entry.second;
        const int total = static_cast<int>(partial.kinds.size() * partial.tokens.size());
        std::lock_guard<std::mutex> lock(sink->mutex);
        LocateTab* tab = sink->tab;
        if (!tab) return;
        QMetaObject::invokeMethod(
            tab, [tab, runId, maps = std::move(maps), done, total] { tab->showPartial(runId, maps, done, total); },
            Qt::QueuedConnection);
    };
    const bool started = runner_->start(
        tr("Tracing “%1”").arg(subject_->text()),
        [model, params, result, onRow](const kme::ProgressFn& progress) {
            // `progress` returns false once Cancel was pressed: the engine then
            // throws kme::Cancelled within one layer's work.
            *result = kme::causalTrace(*model, params, progress, onRow);
        },
        [this, result] { showFinal(result); },
        [this](JobOutcome outcome, const QString& message) { onTraceFinished(outcome, message); });
    if (!started) return false;
    runningParams_ = request;
    tracing_ = true;
    shownSavedTrace_ = 0;
    selectSaved(saved_, 0);
    subjectShown_ = subject_->text();
    rowsDone_ = rowsTotal_ = 0;
    partialUpdates_ = 0;
    lastResult_.reset();
    panel_->clear();
    panel_->setPlaceholderText(tr("Clean run, then the corrupted runs…"));
    elapsed_.start();
    clock_->start();
    updateStatus();
    updateInputs();
    return true;
}

void LocateTab::cancelTrace() {
    if (tracing_) runner_->cancel();
}

void LocateTab::showPartial(int runId, const QVector<kme::widgets::TraceHeatmapData>& maps, int done, int total) {
    if (runId != runId_ || !tracing_) return;  // a row of an older trace
    ++partialUpdates_;
    rowsDone_ = done;
    rowsTotal_ = total;
    panel_->setData(maps);
    updateStatus();
    updateInputs();
    Q_EMIT traceRowsUpdated(done, total);
}

void LocateTab::showFinal(const std::shared_ptr<kme::TraceResult>& result) {
    lastResult_ = result;
    panel_->setData(kme::render::traceHeatmapData(*result));
    rowsDone_ = rowsTotal_;
}

void LocateTab::onTraceFinished(JobOutcome outcome, const QString& message) {
    tracing_ = false;
    clock_->stop();
    const double seconds = elapsed_.elapsed() / 1000.0;
    switch (outcome) {
        case JobOutcome::Succeeded: {
            const kme::TraceResult& r = *lastResult_;
            status_->setText(tr("Done in %1 s: %2").arg(seconds, 0, 'f', 1).arg(summary(r)));
            if (runningParams_) {
                json request = kme::traceParamsToJson(*runningParams_);
                request["type"] = "prompt";  // a dataset run says "dataset"
                const QString requestJson = jsonText(request), resultJson = jsonText(kme::traceResultToJson(r));
                // MainWindow connects traceRecorded to SessionController::recordTrace.
                saveGuarded(false, [&] { Q_EMIT traceRecorded(requestJson, resultJson); });
            }
            break;
        }
        case JobOutcome::Cancelled:
            status_->setText(tr("Cancelled after %1 s (%2 of %3 rows traced).")
                                 .arg(seconds, 0, 'f', 1)
                                 .arg(rowsDone_)
                                 .arg(rowsTotal_));
            break;
        case JobOutcome::Failed:
            status_->setText(tr("Trace failed: %1").arg(message));
            break;
    }
    if (panel_->isEmpty()) panel_->setPlaceholderText(tr("No heatmaps: %1").arg(status_->text()));
    updateInputs();
    Q_EMIT traceFinished(outcome == JobOutcome::Succeeded);
}

QString LocateTab::summary(const kme::TraceResult& r) const {
    QString text = tr("answer “%1”, %2 samples, window %3, noise σ = %4 (%5).")
                       .arg(kme::widgets::visibleToken(QString::fromStdString(r.answerToken)))
                       .arg(r.samples)
                       .arg(r.window)
                       .arg(r.sigma, 0, 'g', 4)
                       .arg(QString::fromStdString(r.sigmaSource));
    if (const int layer = peakMlpLayer(r); layer >= 0)
        text += tr(" MLP restoration at the subject's last token peaks at layer %1.").arg(layer);
    return text;
}

// ---------------------------------------------------------------- saved in the session

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
    QVector<SavedTraceItem> traces, runs;
    for (const SavedEntry& e : entries) {
        const QString when = localTime(e.created, QStringLiteral("HH:mm"));
        const QString date = localTime(e.created, QStringLiteral("yyyy-MM-dd HH:mm"));
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
    fillSavedCombo(saved_, traces, shownSavedTrace_);
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
    const QString when = localTime(record.created, QStringLiteral("yyyy-MM-dd HH:mm"));
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
        selectSaved(saved_, id);
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
    selectSaved(saved_, shownSavedTrace_);
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

int LocateTab::suggestedEditLayer() const { return lastResult_ ? peakMlpLayer(*lastResult_) : -1; }

void LocateTab::chooseEditLayer(int layer) {
    editLayer_ = layer;
    panel_->setMarkedLayer(layer);
    dataset_->setMarkedLayer(layer);
    editLayerLabel_->setText(layer >= 0 ? tr("Edit layer: <b>%1</b>").arg(layer)
                                        : tr("Edit layer: — (click a heatmap column or a plot layer)"));
    Q_EMIT editLayerChosen(layer);
}

bool LocateTab::exportHeatmaps(const QString& path, QString* error) {
    if (panel_->isEmpty()) {
        if (error) *error = tr("Nothing to export yet: run a trace first.");
        return false;
    }
    return panel_->exportTo(path, error);
}

void LocateTab::exportWithDialog() {
    QString selected;
    const QString png = tr("PNG image (*.png)"), pdf = tr("PDF document (*.pdf)"), svg = tr("SVG drawing (*.svg)");
    QString name = subjectShown_;
    name.replace(QLatin1Char(' '), QLatin1Char('-'));
    QString path = QFileDialog::getSaveFileName(this, tr("Export heatmaps"), QStringLiteral("trace-%1.png").arg(name),
                                                QStringList{png, pdf, svg}.join(QStringLiteral(";;")), &selected);
    if (path.isEmpty()) return;
    if (QFileInfo(path).suffix().isEmpty())
        path += selected == pdf ? QStringLiteral(".pdf") : selected == svg ? QStringLiteral(".svg") : QStringLiteral(".png");
    QString error;
    if (exportHeatmaps(path, &error)) status_->setText(tr("Exported the heatmaps to %1.").arg(path));
    else QMessageBox::warning(this, tr("Export heatmaps"), error);
}

}  // namespace kme::app
