#include "app/gui/tabs/LocateDatasetView.h"

#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>
#include <QTimer>
#include <QVBoxLayout>
#include <cmath>
#include <mutex>

#include "app/gui/JobRunner.h"
#include "app/gui/widgets/ExportDialog.h"
#include "app/gui/widgets/JobControls.h"
#include "app/gui/widgets/SavedRunsCombo.h"
#include "app/gui/widgets/Tones.h"
#include "app/render/TraceDatasetConvert.h"
#include "engine/core/SafeInput.h"
#include "engine/core/Paths.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"
#include "engine/trace/TraceDataset.h"
#include "engine/trace/TraceJson.h"
#include "widgets/TraceDatasetPlot.h"

namespace kme::app {

// The worker thread posts growing averages through this; the view unhooks
// itself on destruction, so averages computed after that go nowhere.
struct DatasetPartialSink {
    std::mutex mutex;
    LocateDatasetView* view = nullptr;
};

namespace {

constexpr int kDefaultLimit = 40;    // facts: enough for a stable average, a few seconds on the demo model
constexpr int kDefaultSamples = 10;  // ROME's

// 0.509; tiny effects (random models) keep their digits: 4.1e-07.
QString fmt(double v) { return std::abs(v) >= 0.001 || v == 0 ? QString::number(v, 'f', 3) : QString::number(v, 'g', 3); }

QString factCount(int n) {
    return n == 1 ? LocateDatasetView::tr("1 fact") : LocateDatasetView::tr("%1 facts").arg(n);
}

}  // namespace

LocateDatasetView::LocateDatasetView(JobRunner* runner, QWidget* parent)
    : QWidget(parent), runner_(runner), sink_(std::make_shared<DatasetPartialSink>()) {
    sink_->view = this;
    buildUi();
    clock_ = new QTimer(this);
    clock_->setInterval(250);
    connect(clock_, &QTimer::timeout, this, &LocateDatasetView::updateStatus);
    connect(facts_, &QLineEdit::textEdited, this, [this] { factsChosen_ = true; });
    connect(facts_, &QLineEdit::textChanged, this, &LocateDatasetView::updateInputs);
    connect(facts_, &QLineEdit::returnPressed, this, &LocateDatasetView::runDataset);
    connect(browse_, &QPushButton::clicked, this, &LocateDatasetView::browseFactFile);
    connect(controls_, &JobControls::runClicked, this, &LocateDatasetView::runDataset);
    connect(controls_, &JobControls::cancelClicked, this, &LocateDatasetView::cancelDataset);
    connect(export_, &QPushButton::clicked, this, &LocateDatasetView::exportWithDialog);
    connect(plot_, &kme::widgets::TraceDatasetPlot::layerClicked, this, &LocateDatasetView::layerClicked);
    connect(runner_, &JobRunner::busyChanged, this, &LocateDatasetView::updateInputs);
    connect(saved_, &SavedRunsCombo::chosen, this, &LocateDatasetView::savedRunChosen);
    connect(runner_, &JobRunner::progress, this, [this](double done, double total) {
        if (!running_) return;  // another job's progress
        done_ = done;
        total_ = total;
        controls_->setProgress(done, total);
        updateStatus();
    });
    facts_->setText(defaultFactFile(nullptr));
    setModel(nullptr);
}

LocateDatasetView::~LocateDatasetView() {
    std::lock_guard<std::mutex> lock(sink_->mutex);
    sink_->view = nullptr;
}

void LocateDatasetView::buildUi() {
    auto* layout = new QVBoxLayout(this);
    auto* row = new QHBoxLayout;
    facts_ = new QLineEdit(this);
    facts_->setObjectName(QStringLiteral("datasetFacts"));
    facts_->setPlaceholderText(tr("A CounterFact or zsRE JSON file"));
    facts_->setClearButtonEnabled(true);
    facts_->setToolTip(tr("The facts to trace: each record's prompt with its subject, and its true answer "
                          "(target_true). Only facts the model answers correctly are averaged."));
    auto* factsLabel = new QLabel(tr("&Fact file:"), this);
    factsLabel->setBuddy(facts_);
    browse_ = new QPushButton(tr("&Browse…"), this);
    browse_->setObjectName(QStringLiteral("datasetBrowse"));
    limit_ = new QSpinBox(this);
    limit_->setObjectName(QStringLiteral("datasetLimit"));
    limit_->setRange(0, 1000000);
    limit_->setValue(kDefaultLimit);
    limit_->setSpecialValueText(tr("all"));
    limit_->setToolTip(tr("Look at the first N facts of the file (all: every fact)"));
    samples_ = new QSpinBox(this);
    samples_->setObjectName(QStringLiteral("datasetSamples"));
    samples_->setRange(1, 1000);
    samples_->setValue(kDefaultSamples);
    samples_->setToolTip(tr("Corrupted copies per fact, each with its own noise"));
    row->addWidget(factsLabel);
    row->addWidget(facts_, 1);
    row->addWidget(browse_);
    row->addSpacing(8);
    for (const auto& [text, spin] : {std::pair<QString, QSpinBox*>{tr("&Limit:"), limit_}, {tr("Sa&mples:"), samples_}}) {
        auto* label = new QLabel(text, this);
        label->setBuddy(spin);
        row->addWidget(label);
        row->addWidget(spin);
        row->addSpacing(8);
    }
    layout->addLayout(row);

    message_ = new QLabel(this);
    message_->setObjectName(QStringLiteral("datasetMessage"));
    message_->setTextFormat(Qt::RichText);
    message_->setWordWrap(true);
    layout->addWidget(message_);
    // Run, Cancel, the progress and the status, and beside them the runs saved in the session.
    controls_ = new JobControls(tr("&Run dataset trace"),
                                {QStringLiteral("datasetRun"), QStringLiteral("datasetCancel"),
                                 QStringLiteral("datasetProgress"), QStringLiteral("datasetStatus")},
                                this);
    controls_->setRunToolTip(tr("Trace every fact the model gets right and average, as in ROME's Figure 2"));
    status_ = controls_->statusLabel();
    saved_ = new SavedRunsCombo(tr("Save&d runs:"), QStringLiteral("datasetSavedRuns"),
                                tr("Dataset runs saved in this session, newest first: choose one to show it again"),
                                this);
    export_ = new QPushButton(tr("E&xport…"), this);
    export_->setObjectName(QStringLiteral("datasetExport"));
    export_->setToolTip(tr("Save the plot as PNG, PDF or SVG"));
    controls_->addTrailingWidget(saved_);
    controls_->addTrailingWidget(export_);
    layout->addWidget(controls_);
    caption_ = new QLabel(this);
    caption_->setObjectName(QStringLiteral("datasetCaption"));
    caption_->setTextFormat(Qt::RichText);
    caption_->setWordWrap(true);
    layout->addWidget(caption_);

    plot_ = new kme::widgets::TraceDatasetPlot(this);
    plot_->setObjectName(QStringLiteral("traceDatasetPlotWidget"));
    layout->addWidget(plot_, 1);
}

QString LocateDatasetView::defaultFactFile(const kme::Model* model) {
    if (model) {
        const QString project = QFileInfo(QString::fromStdString(model->folder())).dir().filePath(QStringLiteral("facts.json"));
        if (QFileInfo::exists(project)) return QDir::cleanPath(project);
    }
    const QString demo = QString::fromStdString(kme::demoProjectFolder());
    if (!demo.isEmpty()) {
        const QString path = QDir(demo).filePath(QStringLiteral("facts.json"));
        if (QFileInfo::exists(path)) return QDir::cleanPath(path);
    }
    return {};
}

void LocateDatasetView::setModel(std::shared_ptr<kme::Model> model) {
    model_ = std::move(model);
    if (!factsChosen_) {
        const QString path = defaultFactFile(model_.get());
        if (!path.isEmpty()) facts_->setText(path);
    }
    clearRun();
}

void LocateDatasetView::clearRun() {
    ++runId_;
    lastResult_.reset();
    shownSavedRun_ = 0;
    plot_->clear();
    plot_->setPlaceholderText(model_ ? tr("Press Run dataset trace to average causal traces over the fact file.\n"
                                          "The curves grow as facts are traced.")
                                     : tr("Open a model folder (File ▸ Open model folder…, Ctrl+O) to start."));
    status_->clear();
    saved_->select(0);  // no saved run on screen
    updateCaption();
    updateInputs();
}

void LocateDatasetView::setFactFile(const QString& path) {
    factsChosen_ = true;
    facts_->setText(path);
}

QString LocateDatasetView::factFile() const { return facts_->text().trimmed(); }

QString LocateDatasetView::inputError() const {
    const QString path = factFile();
    if (path.isEmpty()) return tr("Choose a fact file (CounterFact or zsRE JSON).");
    if (!QFileInfo(path).isFile()) return tr("No such file: %1").arg(path);
    return {};
}

void LocateDatasetView::updateInputs() {
    const QString error = inputError();
    message_->setText(error.isEmpty() ? QString() : errorHtml(palette(), error));
    message_->setVisible(!error.isEmpty());
    controls_->setRunEnabled(model_ && error.isEmpty() && !runner_->isBusy(),
                             model_ ? error : tr("Open a model first (File ▸ Open model folder…)."));
    controls_->setBusy(running_);
    export_->setEnabled(!plot_->isEmpty());
    saved_->setAvailable(!running_);
}

void LocateDatasetView::updateStatus() {
    if (!running_) return;
    const double seconds = elapsed_.isValid() ? elapsed_.elapsed() / 1000.0 : 0.0;
    status_->setText(total_ > 0 ? tr("Tracing facts of %1: %2 of %3 looked at, %4 traced, %5 s")
                                      .arg(sourceShown_)
                                      .arg(static_cast<int>(std::floor(done_)))
                                      .arg(static_cast<int>(total_))
                                      .arg(traced_)
                                      .arg(seconds, 0, 'f', 1)
                                : tr("Reading %1, %2 s").arg(sourceShown_).arg(seconds, 0, 'f', 1));
}

void LocateDatasetView::updateCaption() {
    const kme::widgets::TraceDatasetPlotData& d = plot_->data();
    QString text = tr("<b>What this shows.</b> The heatmaps of many facts averaged, as in ROME's Figure 2: for "
                      "each kind of state (hidden purple, MLP green, attention red) and each layer, how much "
                      "restoring it brings the true answer back (<i>average indirect effect</i> = p(restored) − "
                      "p(corrupted)), one line per token position. Only facts the model answers correctly are "
                      "traced; shaded bands are 95% intervals.");
    if (!d.isEmpty() && d.traced > 0) {
        const auto* mlp = d.curves(QStringLiteral("mlp"));
        const auto* attn = d.curves(QStringLiteral("attn"));
        const int subj = d.bucketIndex(QStringLiteral("last subject token"));
        const int last = d.bucketIndex(QStringLiteral("last token"));
        QString finding;
        if (mlp && mlp->peakLayer(subj) >= 0) {
            const int l = mlp->peakLayer(subj);
            finding += tr(" %1 MLP effect at the <b>last subject token</b> peaks at <b>layer %2</b> (%3 ± %4, "
                          "of a total effect of %5): the suggested edit layer.")
                           .arg(d.complete ? tr("Over %1, the").arg(factCount(d.traced))
                                           : tr("So far (%1), the").arg(factCount(d.traced)))
                           .arg(l)
                           .arg(fmt(mlp->meanAt(subj, l)), fmt(mlp->ciAt(subj, l)), fmt(d.meanHigh - d.meanLow));
            if (mlp->peakLayer(last) >= 0 && mlp->meanAt(last, mlp->peakLayer(last)) > mlp->meanAt(subj, l))
                finding += tr(" The MLP effect at the last token is larger still (%1 at layer %2): this model "
                              "may read the answer out late rather than look it up at the subject.")
                               .arg(fmt(mlp->meanAt(last, mlp->peakLayer(last))))
                               .arg(mlp->peakLayer(last));
        }
        if (attn && attn->peakLayer(last) >= 0)
            finding += tr(" Attention matters most at the last token at layer %1.").arg(attn->peakLayer(last));
        text += finding + tr(" <b>Click a layer</b> to choose it as the edit layer.");
    } else if (!d.isEmpty() || lastResult_) {
        text += tr(" <b>None of the facts looked at was answered correctly</b> by this model, so there is nothing "
                   "to average: try a model trained on these facts (the demo model on projects/demo/facts.json).");
    }
    caption_->setText(text);
}

bool LocateDatasetView::runDataset() {
    if (!model_ || runner_->isBusy() || !inputError().isEmpty()) return false;
    const std::string path = factFile().toStdString();
    kme::TraceDatasetParams params;
    params.limit = limit_->value();
    params.trace.samples = samples_->value();
    params.trace.noise.factsPath = path;  // 3x the std of this fact set's subject embeddings, as `kme trace-dataset`
    // The request as the session keeps it: the trace settings without a
    // prompt of their own, the fact file ("facts") and the limit.
    nlohmann::json request = kme::traceParamsToJson(params.trace);
    for (const char* key : {"prompt", "subject", "answer"}) request.erase(key);
    request["type"] = "dataset";
    request["limit"] = params.limit;

    const int runId = ++runId_;
    auto model = model_;
    auto result = std::make_shared<kme::TraceDatasetResult>();
    auto sink = sink_;
    const QString source = QFileInfo(factFile()).fileName();
    // Worker thread, after each traced fact: convert (plain copies) and queue
    // the growing averages to the GUI thread. Nothing here touches widgets.
    auto onRecord = [sink, runId, source](const kme::TraceDatasetResult& partial) {
        kme::widgets::TraceDatasetPlotData data = kme::render::traceDatasetPlotData(partial, source);
        std::lock_guard<std::mutex> lock(sink->mutex);
        LocateDatasetView* view = sink->view;
        if (!view) return;
        QMetaObject::invokeMethod(
            view, [view, runId, data = std::move(data)] { view->showPartial(runId, data); }, Qt::QueuedConnection);
    };
    const bool started = runner_->start(
        tr("Tracing the facts of %1").arg(source),
        [model, path, params, result, onRecord](const kme::ProgressFn& progress) {
            const kme::Dataset dataset = kme::loadDataset(path);
            // `progress` returns false once Cancel was pressed: the engine then
            // throws kme::Cancelled within one layer's work.
            *result = kme::traceDataset(*model, dataset, params, progress, onRecord);
        },
        [this, result] { showFinal(result); },
        [this](JobOutcome outcome, const QString& message) { onFinished(outcome, message); });
    if (!started) return false;
    running_ = true;
    runningRequest_ = QString::fromStdString(request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    shownSavedRun_ = 0;
    saved_->select(0);
    sourceShown_ = source;
    done_ = total_ = 0;
    traced_ = 0;
    partialUpdates_ = 0;
    lastResult_.reset();
    plot_->clear();
    plot_->setPlaceholderText(tr("Tracing the first facts…"));
    elapsed_.start();
    clock_->start();
    updateStatus();
    updateCaption();
    updateInputs();
    return true;
}

void LocateDatasetView::cancelDataset() {
    if (running_) runner_->cancel();
}

void LocateDatasetView::showPartial(int runId, const kme::widgets::TraceDatasetPlotData& data) {
    if (runId != runId_ || !running_) return;  // averages of an older run
    ++partialUpdates_;
    traced_ = data.traced;
    done_ = std::max(done_, double(data.considered));
    total_ = data.limit;
    plot_->setData(data);
    updateStatus();
    updateCaption();
    updateInputs();
    Q_EMIT datasetUpdated(data.considered, data.limit);
}

void LocateDatasetView::showFinal(const std::shared_ptr<kme::TraceDatasetResult>& result) {
    lastResult_ = result;
    if (result->traced == 0) plot_->clear();  // nothing averaged: the placeholder says why
    else plot_->setData(kme::render::traceDatasetPlotData(*result, sourceShown_));
}

void LocateDatasetView::onFinished(JobOutcome outcome, const QString& message) {
    running_ = false;
    clock_->stop();
    const double seconds = elapsed_.elapsed() / 1000.0;
    switch (outcome) {
        case JobOutcome::Succeeded: {
            const kme::TraceDatasetResult& r = *lastResult_;
            status_->setText(tr("Done in %1 s: %2").arg(seconds, 0, 'f', 1).arg(summary(r)));
            if (r.traced == 0)
                plot_->setPlaceholderText(tr("Nothing to average: the model answered none of the %1 looked at "
                                             "correctly.")
                                              .arg(factCount(r.considered)));
            Q_EMIT datasetRecorded(runningRequest_,
                                   QString::fromStdString(kme::traceDatasetResultToJson(r).dump(
                                       -1, ' ', false, nlohmann::json::error_handler_t::replace)));
            break;
        }
        case JobOutcome::Cancelled:
            status_->setText(tr("Cancelled after %1 s (%2 of %3 facts looked at); the plot keeps the averages over "
                                "the %4 traced so far.")
                                 .arg(seconds, 0, 'f', 1)
                                 .arg(static_cast<int>(std::floor(done_)))
                                 .arg(static_cast<int>(total_))
                                 .arg(traced_));
            break;
        case JobOutcome::Failed:
            status_->setText(tr("Dataset trace failed: %1").arg(message));
            break;
    }
    if (plot_->isEmpty() && outcome != JobOutcome::Succeeded)
        plot_->setPlaceholderText(tr("No plot: %1").arg(status_->text()));
    updateCaption();
    updateInputs();
    Q_EMIT datasetFinished(outcome == JobOutcome::Succeeded);
}

QString LocateDatasetView::summary(const kme::TraceDatasetResult& r) const {
    QString text = tr("%1 of %2 facts traced (the model's top-1 is the true answer)").arg(r.traced).arg(r.considered);
    if (r.skipped) text += tr(", %n skipped (prompt too long or subject not in the prompt)", nullptr, r.skipped);
    return text + tr("; %1 samples, window %2, noise σ = %3.").arg(r.samples).arg(r.window).arg(r.sigma, 0, 'g', 4);
}

bool LocateDatasetView::showSavedRun(qint64 id, const QString& requestJson, const QString& resultJson,
                                     const QString& when, QString* error) {
    // Refused: the view stays as it is, and so does the combo box's choice.
    const auto refuse = [this, error](const QString& why) {
        if (error) *error = why;
        saved_->select(shownSavedRun_);
        return false;
    };
    if (running_) return refuse(tr("a dataset trace is running"));
    std::shared_ptr<kme::TraceDatasetResult> result;
    kme::TraceParams trace;
    int limit = 0;
    try {
        const nlohmann::json request = kme::parseJson(requestJson.toStdString(), "the dataset trace's request");
        trace = kme::traceParamsFromJson(request);
        limit = request.contains("limit") ? request.at("limit").get<int>() : 0;
        result = std::make_shared<kme::TraceDatasetResult>(
            kme::traceDatasetResultFromJson(kme::parseJson(resultJson.toStdString(), "the dataset trace's result")));
    } catch (const std::exception& e) {  // kme::Error (shapes, keys) or nlohmann::json's parse / type errors
        return refuse(QString::fromStdString(e.what()));
    }
    if (model_ && result->nLayer != model_->config().nLayer)
        return refuse(tr("it has %1 layers, the loaded model %2").arg(result->nLayer).arg(model_->config().nLayer));
    const QString path = QString::fromStdString(trace.noise.factsPath);
    if (!path.isEmpty() && QFileInfo(path).isFile()) setFactFile(path);
    limit_->setValue(limit);
    samples_->setValue(trace.samples);
    ++runId_;
    lastResult_ = result;
    shownSavedRun_ = id;
    sourceShown_ = QFileInfo(path).fileName();
    if (result->traced == 0) {
        plot_->clear();
        plot_->setPlaceholderText(tr("Nothing to average: the model answered none of the %1 looked at correctly.")
                                      .arg(factCount(result->considered)));
    } else {
        plot_->setData(kme::render::traceDatasetPlotData(*result, sourceShown_));
    }
    status_->setText(tr("Saved run of %1 on %2 (not recomputed): %3").arg(when, sourceShown_, summary(*result)));
    saved_->select(id);
    updateCaption();
    updateInputs();
    return true;
}

void LocateDatasetView::setSavedRuns(const QVector<SavedRunItem>& runs, qint64 shown) {
    shownSavedRun_ = shown;
    saved_->setItems(runs, shown);
    updateInputs();
}

QComboBox* LocateDatasetView::savedRunsCombo() const { return saved_->combo(); }

QPushButton* LocateDatasetView::runButton() const { return controls_->runButton(); }

QPushButton* LocateDatasetView::cancelButton() const { return controls_->cancelButton(); }

int LocateDatasetView::suggestedEditLayer() const {
    return lastResult_ ? lastResult_->peakLayer(kme::TraceKind::Mlp, kme::kLastSubjectBucket) : -1;
}

void LocateDatasetView::setMarkedLayer(int layer) { plot_->setMarkedLayer(layer); }

bool LocateDatasetView::exportPlot(const QString& path, QString* error) {
    if (plot_->isEmpty()) {
        if (error) *error = tr("Nothing to export yet: run a dataset trace first.");
        return false;
    }
    return plot_->exportTo(path, error);
}

void LocateDatasetView::browseFactFile() {
    const QString start = factFile().isEmpty() ? QString::fromStdString(kme::demoProjectFolder()) : factFile();
    const QString path = QFileDialog::getOpenFileName(this, tr("Choose a fact file"), start,
                                                      tr("Fact files (*.json);;All files (*)"));
    if (!path.isEmpty()) setFactFile(path);
}

void LocateDatasetView::exportWithDialog() {
    const QString name = QFileInfo(sourceShown_).completeBaseName();
    const QString path =
        askPictureExportPath(this, tr("Export plot"), QStringLiteral("trace-dataset-%1.png").arg(name));
    if (path.isEmpty()) return;
    QString error;
    if (exportPlot(path, &error)) status_->setText(tr("Exported the plot to %1.").arg(path));
    else QMessageBox::warning(this, tr("Export plot"), error);
}

}  // namespace kme::app
