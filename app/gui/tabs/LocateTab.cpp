#include "app/gui/tabs/LocateTab.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
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
#include "app/gui/widgets/ExportDialog.h"
#include "app/gui/widgets/JobControls.h"
#include "app/gui/widgets/SavedRunsCombo.h"
#include "app/gui/widgets/Tones.h"
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

namespace {

using json = nlohmann::json;

// Replaces, never throws, should a token hold invalid UTF-8.
QString jsonText(const json& j) {
    return QString::fromStdString(j.dump(-1, ' ', false, json::error_handler_t::replace));
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

// A fact of the demo fact set (projects/demo/facts.json), so the first trace on the demo model shows one.
const QString kDefaultPrompt = QStringLiteral("The Colosseum is located in the city of");
const QString kDefaultSubject = QStringLiteral("Colosseum");

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
    connect(controls_, &JobControls::runClicked, this, &LocateTab::runTrace);
    connect(controls_, &JobControls::cancelClicked, this, &LocateTab::cancelTrace);
    connect(export_, &QPushButton::clicked, this, &LocateTab::exportWithDialog);
    connect(panel_, &kme::widgets::TraceHeatmapPanel::layerClicked, this, &LocateTab::chooseEditLayer);
    connect(dataset_, &LocateDatasetView::layerClicked, this, &LocateTab::chooseEditLayer);
    connect(runner_, &JobRunner::busyChanged, this, &LocateTab::updateInputs);
    connect(saved_, &SavedRunsCombo::chosen, this, &LocateTab::showSavedTrace);
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
    layout->addLayout(options);

    // Run, Cancel, the progress (token rows) and the status; beside them the saved traces and Export.
    controls_ = new JobControls(tr("&Run trace"),
                                {QStringLiteral("locateRun"), QStringLiteral("locateCancel"),
                                 QStringLiteral("locateProgress"), QStringLiteral("locateStatus")},
                                this);
    controls_->runButton()->setDefault(true);
    controls_->setRunToolTip(tr("Run causal tracing (Ctrl+T)"));
    status_ = controls_->statusLabel();
    editLayerLabel_ = new QLabel(this);
    editLayerLabel_->setObjectName(QStringLiteral("locateEditLayer"));
    saved_ = new SavedRunsCombo(tr("Save&d traces:"), QStringLiteral("locateSavedTraces"),
                                tr("Traces saved in this session, newest first: choose one to show it again"), this);
    export_ = new QPushButton(tr("E&xport…"), this);
    export_->setObjectName(QStringLiteral("locateExport"));
    export_->setToolTip(tr("Save the heatmaps as PNG, PDF or SVG"));
    controls_->addTrailingWidget(saved_);
    controls_->addTrailingWidget(export_);
    layout->addWidget(controls_);

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
    saved_->select(0);  // no saved trace on screen
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
        message_->setText(errorHtml(palette(), error));
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
    controls_->setRunEnabled(model_ && error.isEmpty() && !runner_->isBusy(),
                             model_ ? error : tr("Open a model first (File ▸ Open model folder…)."));
    controls_->setBusy(tracing_);
    export_->setEnabled(!panel_->isEmpty());
    saved_->setAvailable(!tracing_);
}

void LocateTab::updateStatus() {
    const double seconds = elapsed_.isValid() ? elapsed_.elapsed() / 1000.0 : 0.0;
    if (tracing_) controls_->setProgress(rowsDone_, rowsTotal_);
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
    saved_->select(0);
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


QPushButton* LocateTab::runButton() const { return controls_->runButton(); }

QPushButton* LocateTab::cancelButton() const { return controls_->cancelButton(); }

QComboBox* LocateTab::savedTracesCombo() const { return saved_->combo(); }

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
    QString name = subjectShown_;
    name.replace(QLatin1Char(' '), QLatin1Char('-'));
    const QString path = askPictureExportPath(this, tr("Export heatmaps"), QStringLiteral("trace-%1.png").arg(name));
    if (path.isEmpty()) return;
    QString error;
    if (exportHeatmaps(path, &error)) status_->setText(tr("Exported the heatmaps to %1.").arg(path));
    else QMessageBox::warning(this, tr("Export heatmaps"), error);
}

}  // namespace kme::app
