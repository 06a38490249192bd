#include "app/gui/tabs/EvaluateTab.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

#include "app/gui/JobRunner.h"
#include "app/gui/SessionController.h"
#include "app/gui/tabs/EvaluateMethodsPanel.h"
#include "app/gui/tabs/EvaluateTabRun.h"
#include "app/gui/widgets/JobControls.h"
#include "app/gui/widgets/SavedRunsCombo.h"
#include "engine/core/SafeInput.h"
#include "engine/core/Error.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditSetup.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/eval/Dataset.h"
#include "app/gui/tabs/MendEditorPanel.h"
#include "app/gui/widgets/Tones.h"
#include "engine/eval/EditEvaluation.h"
#include "engine/eval/EvalCurvesJson.h"
#include "engine/eval/EvalJson.h"
#include "engine/model/Model.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/ScoreBarChart.h"

namespace kme::app {

namespace {

const char* const kLastFactDirKey = "evaluate/lastFactDir";

// The mode's key in a saved run's parameters.
const char* modeKey(int mode) {
    switch (mode) {
    case EvaluateTab::kOneBatchMode: return "one_batch";
    case EvaluateTab::kSequentialMode: return "sequential";
    default: return "fresh";
    }
}

}  // namespace

EvaluateTab::EvaluateTab(JobRunner* runner, SessionController* session, QWidget* parent)
    : QWidget(parent), runner_(runner), session_(session) {
    buildUi();
    connect(runner_, &JobRunner::busyChanged, this, &EvaluateTab::updateInputs);
    connect(runner_, &JobRunner::progress, this, [this](double done, double total) {
        if (!evaluating_) return;
        controls_->setProgress(done, total);
    });
    if (session_) connect(session_, &SessionController::sessionChanged, this, &EvaluateTab::showSaved);
    setModel(nullptr);
    if (session_ && session_->hasSession()) showSaved();
}

EvaluateTab::~EvaluateTab() = default;

void EvaluateTab::buildUi() {
    auto* outer = new QVBoxLayout(this);
    // The fact file, shared by both pages.
    auto* fileForm = new QFormLayout;
    auto* fileRow = new QHBoxLayout;
    factFile_ = new QLineEdit(this);
    factFile_->setObjectName(QStringLiteral("factFileEdit"));
    factFile_->setPlaceholderText(tr("a CounterFact or zsRE JSON file (the demo model: projects/demo/facts.json)"));
    auto* browse = new QPushButton(tr("&Browse…"), this);
    fileRow->addWidget(factFile_, 1);
    fileRow->addWidget(browse);
    auto* fileLabel = new QLabel(tr("&Fact file:"), this);
    fileLabel->setBuddy(factFile_);
    fileForm->addRow(fileLabel, fileRow);
    outer->addLayout(fileForm);
    pages_ = new QTabWidget(this);
    pages_->setObjectName(QStringLiteral("evaluatePages"));
    outer->addWidget(pages_, 1);
    auto* single = new QWidget(pages_);
    auto* layout = new QVBoxLayout(single);
    pages_->addTab(single, tr("One method"));
    methodsPanel_ = new EvaluateMethodsPanel(runner_, session_, [this] { return factFile_->text(); }, pages_);
    methodsPanel_->setObjectName(QStringLiteral("evaluateMethodsPanel"));
    pages_->addTab(methodsPanel_, tr("Several methods: six properties and curves"));

    auto* box = new QGroupBox(tr("Evaluate an edit method over many facts"), single);
    auto* form = new QFormLayout(box);

    auto* methodRow = new QHBoxLayout;
    method_ = new QComboBox(box);
    method_->setObjectName(QStringLiteral("evalMethodCombo"));
    for (const kme::MethodInfo& m : kme::methodTable()) {  // the method table, its order
        method_->addItem(QString::fromUtf8(m.displayName), int(m.method));
        method_->setItemData(method_->count() - 1,
                             QStringLiteral("%1 (%2)\n%3")
                                 .arg(QString::fromUtf8(m.summary), QString::fromUtf8(kme::familyDisplayName(m.family)),
                                      QString::fromStdString(kme::paperText(m.paper))),
                             Qt::ToolTipRole);
    }
    records_ = new QSpinBox(box);
    records_->setObjectName(QStringLiteral("recordsSpin"));
    records_->setRange(1, 100000);
    records_->setValue(20);
    records_->setToolTip(tr("How many records of the file are edited and measured (each one ≈ one edit)"));
    selection_ = new QComboBox(box);
    selection_->setObjectName(QStringLiteral("selectionCombo"));
    selection_->addItem(tr("spread over the file"), int(kme::RecordSelection::Spread));
    selection_->addItem(tr("first records"), int(kme::RecordSelection::First));
    selection_->addItem(tr("random (seed 0)"), int(kme::RecordSelection::Random));
    selection_->setToolTip(tr("Spread: evenly spaced records, which covers every relation of a sorted file"));
    batch_ = new QSpinBox(box);
    batch_->setObjectName(QStringLiteral("batchSpin"));
    batch_->setRange(1, 10000);
    batch_->setValue(1);
    batch_->setToolTip(tr("Batched methods (`kme methods`): requests solved together in one edit (fresh: each batch on the unedited weights; "
                          "sequential: on the weights with the earlier batches applied)"));
    batchLabel_ = new QLabel(tr("MEMIT &batch:"), box);
    batchLabel_->setBuddy(batch_);
    auto* methodLabel = new QLabel(tr("&Method:"), box);
    methodLabel->setBuddy(method_);
    auto* recordsLabel = new QLabel(tr("&Records:"), box);
    recordsLabel->setBuddy(records_);
    methodRow->addWidget(method_);
    methodRow->addSpacing(12);
    methodRow->addWidget(recordsLabel);
    methodRow->addWidget(records_);
    methodRow->addWidget(selection_);
    methodRow->addStretch(1);
    form->addRow(methodLabel, methodRow);

    auto* modeRow = new QHBoxLayout;
    mode_ = new QComboBox(box);
    mode_->setObjectName(QStringLiteral("evalModeCombo"));
    const QString freshTip = tr("Fresh: each record (MEMIT: each batch) is edited on the unedited weights, "
                                "measured and reverted before the next — ROME's protocol.");
    const QString batchTip = tr("One batch: all records are edited together in one edit (MEMIT solves them in one "
                                "step; ROME and FT-L apply them within the one edit) and measured with all of them "
                                "in place, then reverted. Neighbour prompts another record rewrote are left out.");
    const QString sequentialTip =
        tr("Sequential: the edits accumulate — each record (MEMIT: each batch) is computed on the weights with the "
           "earlier edits applied, and every record is measured once all are in place (MEMIT's protocol). Also "
           "measures each record's efficacy right after its own edit, so you see what later edits undo. The weights "
           "are restored at the end.");
    mode_->addItem(tr("one at a time (fresh)"), int(kFreshMode));
    mode_->addItem(tr("one batch"), int(kOneBatchMode));
    mode_->addItem(tr("sequential"), int(kSequentialMode));
    mode_->setItemData(0, freshTip, Qt::ToolTipRole);
    mode_->setItemData(1, batchTip, Qt::ToolTipRole);
    mode_->setItemData(2, sequentialTip, Qt::ToolTipRole);
    mode_->setToolTip(freshTip + QStringLiteral("\n\n") + batchTip + QStringLiteral("\n\n") + sequentialTip);
    auto* modeLabel = new QLabel(tr("M&ode:"), box);
    modeLabel->setBuddy(mode_);
    modeRow->addWidget(mode_);
    modeRow->addSpacing(12);
    modeRow->addWidget(batchLabel_);
    modeRow->addWidget(batch_);
    modeRow->addStretch(1);
    form->addRow(modeLabel, modeRow);

    auto* optionRow = new QHBoxLayout;
    steps_ = new QSpinBox(box);
    steps_->setObjectName(QStringLiteral("stepsSpin"));
    steps_->setRange(0, 10000);
    steps_->setSpecialValueText(tr("model default"));
    steps_->setToolTip(tr("Optimisation steps per edit: v* / z for ROME and MEMIT, fine-tuning steps for FT-L. "
                          "Fewer is faster and weaker."));
    fluency_ = new QCheckBox(tr("fluency (slower: generates text for every record)"), box);
    fluency_->setObjectName(QStringLiteral("fluencyCheck"));
    fluency_->setToolTip(tr("CounterFact only: the n-gram entropy of sampled continuations; it drops when an edit "
                            "makes the model repeat itself"));
    optionRow->addWidget(steps_);
    optionRow->addSpacing(12);
    optionRow->addWidget(fluency_);
    optionRow->addStretch(1);
    auto* stepsLabel = new QLabel(tr("&Steps:"), box);
    stepsLabel->setBuddy(steps_);
    form->addRow(stepsLabel, optionRow);
    layout->addWidget(box);

    controls_ = new JobControls(tr("&Run evaluation"),
                                {QStringLiteral("runEvaluationButton"), QStringLiteral("cancelEvaluationButton"),
                                 QStringLiteral("evaluateProgress"), QStringLiteral("evaluateStatus")},
                                single);
    controls_->setRunToolTip(
        tr("Edit each record on the live weights, measure, restore: the model is unchanged afterwards"));
    clear_ = new QPushButton(tr("Clear results"), this);
    clear_->setToolTip(tr("Clear the table and the chart (the runs stay saved in the session: reopening it shows "
                          "them again)"));
    saved_ = new SavedRunsCombo(tr("Save&d runs:"), QStringLiteral("evaluateSavedRuns"),
                                tr("The runs on the chart, newest first (saved in the session): choose one to show "
                                   "its table"),
                                this);
    controls_->addTrailingWidget(saved_);
    controls_->addTrailingWidget(clear_);
    layout->addWidget(controls_);

    message_ = new QLabel(this);
    message_->setObjectName(QStringLiteral("evaluateMessage"));
    message_->setTextFormat(Qt::RichText);
    message_->setWordWrap(true);
    layout->addWidget(message_);
    caption_ = new QLabel(this);
    caption_->setObjectName(QStringLiteral("evaluateCaption"));
    caption_->setWordWrap(true);
    caption_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    caption_->setText(tr("No results yet. Each record is edited on its own on the live weights, measured against "
                         "the same weights unedited, and reverted."));
    layout->addWidget(caption_);

    auto* split = new QSplitter(Qt::Horizontal, this);
    table_ = new QTableWidget(0, 3, split);
    table_->setObjectName(QStringLiteral("evaluateTable"));
    table_->setHorizontalHeaderLabels({tr("edited"), tr("unedited"), tr("95% ±")});
    table_->horizontalHeaderItem(kCiCol)->setToolTip(tr("Half-width of the 95% interval of the edited mean"));
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    table_->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table_->setMinimumWidth(440);  // metric names and three columns of numbers, unclipped
    chart_ = new kme::widgets::ScoreBarChart(split);
    chart_->setObjectName(QStringLiteral("evaluateChart"));
    chart_->setMinimumSize(300, 260);
    split->addWidget(table_);
    split->addWidget(chart_);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 2);
    split->setSizes({540, 660});
    layout->addWidget(split, 1);
    updateChart();

    connect(browse, &QPushButton::clicked, this, [this] {
        QSettings settings;
        QString dir = settings.value(kLastFactDirKey).toString();
        if (!factFile_->text().isEmpty()) dir = QFileInfo(factFile_->text()).absolutePath();
        const QString path = QFileDialog::getOpenFileName(this, tr("Fact file to evaluate on"), dir,
                                                          tr("JSON files (*.json);;All files (*)"));
        if (path.isEmpty()) return;
        settings.setValue(kLastFactDirKey, QFileInfo(path).absolutePath());
        factFile_->setText(path);
    });
    connect(factFile_, &QLineEdit::textChanged, this, [this] {
        note_.clear();  // a new file: the old failure no longer applies
        updateInputs();
        methodsPanel_->updateInputs();
    });
    connect(factFile_, &QLineEdit::returnPressed, this, &EvaluateTab::runEvaluation);
    connect(method_, &QComboBox::currentIndexChanged, this, &EvaluateTab::updateInputs);
    connect(mode_, &QComboBox::currentIndexChanged, this, &EvaluateTab::updateInputs);
    connect(controls_, &JobControls::runClicked, this, &EvaluateTab::runEvaluation);
    connect(controls_, &JobControls::cancelClicked, this, &EvaluateTab::cancelEvaluation);
    connect(saved_, &SavedRunsCombo::chosen, this, [this](qint64 id) {
        if (id < 1 || id > qint64(runs_.size())) return;
        showTable(*runs_[size_t(id - 1)]);
        saved_->select(id);
    });
    connect(clear_, &QPushButton::clicked, this, &EvaluateTab::clearResults);
}

void EvaluateTab::setModel(std::shared_ptr<kme::Model> model) {
    model_ = std::move(model);
    methodsPanel_->setModel(model_);
    if (model_) {
        const QString folder = QString::fromStdString(model_->folder());
        const QString facts = QDir::cleanPath(QDir(folder).absoluteFilePath(QStringLiteral("../facts.json")));
        const bool untouched = factFile_->text().isEmpty() || factFile_->text() == autoFactFile_;
        if (untouched) {
            autoFactFile_ = QFileInfo::exists(facts) ? facts : QString();
            factFile_->setText(autoFactFile_);
        }
    }
    updateInputs();
}

QString EvaluateTab::inputError() const {
    if (!model_) return tr("Open a model first (File ▸ Open model folder…).");
    const QString path = factFile_->text().trimmed();
    if (path.isEmpty()) return tr("Choose a fact file: a CounterFact or zsRE JSON file.");
    const QFileInfo info(path);
    if (!info.exists()) return tr("The fact file %1 does not exist.").arg(path);
    if (!info.isFile()) return tr("%1 is not a file.").arg(path);
    if (kme::EditMethod(method_->currentData().toInt()) == kme::EditMethod::Mend &&
        mode_->currentData().toInt() == kSequentialMode)
        return tr("MEND's editor fits only the weights it was trained for, and sequential edits change them after the "
                  "first: evaluate MEND one at a time (fresh).");
    return {};
}

void EvaluateTab::showMessage(const QString& text, bool error) {
    message_->setText(messageHtml(palette(), text, error));
}

void EvaluateTab::updateInputs() {
    const bool batched = kme::methodInfo(kme::EditMethod(method_->currentData().toInt())).batched;
    const bool batches = batched && mode_->currentData().toInt() != kOneBatchMode;
    batchLabel_->setVisible(batches);
    batch_->setVisible(batches);
    const QString error = inputError();
    // A missing model is said once, quietly; a wrong path is an error.
    if (!evaluating_) {
        if (!error.isEmpty()) showMessage(error, bool(model_));
        else showMessage(note_, noteError_);
    }
    controls_->setRunEnabled(error.isEmpty() && !runner_->isBusy(), error);
    controls_->setBusy(evaluating_);
    clear_->setEnabled(!runs_.empty() && !evaluating_);
    saved_->setAvailable(!evaluating_);
}

bool EvaluateTab::runEvaluation() {
    const QString error = inputError();
    if (!error.isEmpty()) {
        showMessage(error, bool(model_));
        return false;
    }
    if (runner_->isBusy() || evaluating_) return false;

    auto run = std::make_shared<Run>();
    const auto method = kme::EditMethod(method_->currentData().toInt());
    const int mode = mode_->currentData().toInt();
    run->methodText = method_->currentText();
    run->factFile = factFile_->text().trimmed();
    run->requested = records_->value();
    if (session_) {
        run->hash = session_->currentHash();
        run->editsApplied = !run->hash.isEmpty() && !session_->baseHash().isEmpty() && run->hash != session_->baseHash();
    }
    kme::SelectionParams sel;
    sel.limit = records_->value();
    sel.how = kme::RecordSelection(selection_->currentData().toInt());
    // One batch: every selected record (known on the worker, 0 until then).
    const int batch = mode == kOneBatchMode ? 0 : kme::methodInfo(method).batched ? batch_->value() : 1;
    const auto evalMode = mode == kSequentialMode ? kme::EvalMode::Sequential : kme::EvalMode::Fresh;
    const int steps = steps_->value();
    const bool fluency = fluency_->isChecked();
    const std::string file = QFile::encodeName(run->factFile).toStdString();
    run->params = {{"dataset", file},
                   {"method", kme::editMethodName(method)},
                   {"mode", modeKey(mode)},
                   {"batch_size", batch},
                   {"records", run->requested},
                   {"selection", kme::recordSelectionName(sel.how)},
                   {"steps", steps},
                   {"fluency", fluency},
                   {"edits_applied", run->editsApplied}};
    auto model = model_;
    // MEND: an editor trained in the window for these weights comes first, as in the Edit tab.
    std::string mendEditor;
    if (method == kme::EditMethod::Mend && session_)
        mendEditor = QFile::encodeName(MendEditorPanel::trainedEditorFor(session_->currentHash())).toStdString();

    const QString title =
        tr("Evaluating %1 on %2 records, %3").arg(run->methodText).arg(run->requested).arg(mode_->currentText());
    const bool started = runner_->start(
        title,
        [run, model, file, sel, method, evalMode, batch, steps, fluency, mendEditor](const kme::ProgressFn& progress) {
            const kme::Dataset dataset = kme::loadDataset(file);
            kme::SelectionParams s = sel;
            s.limit = std::min<int>(s.limit, int(dataset.records.size()));  // "20" on a 10-record file: all
            const std::vector<size_t> indices = kme::selectRecords(dataset, s);
            kme::EvalParams p;
            // The set-up every front end shares (engine/edit/EditSetup.h): the defaults, the
            // window's MEND editor and step count, C = identity when no corpus is known (said
            // in the caption), a refusal naming the method when no layer is known.
            kme::EditOverrides overrides;
            if (!mendEditor.empty() && kme::editDefaults(*model, method).hparams.mendEditor.empty())
                overrides.mendEditor = mendEditor;
            if (steps > 0) overrides.steps = steps;
            overrides.stepsWhereKnown = true;
            overrides.missingCorpus = kme::EditOverrides::MissingCorpus::Identity;
            p.edit = kme::setUpEdit(*model, method, overrides).params;
            p.mode = evalMode;
            p.batchSize = batch > 0 ? batch : int(indices.size());
            p.baseline = true;
            p.generation.enabled = fluency;
            if (run->hash.isEmpty()) run->hash = QString::fromStdString(model->stateHash());
            const kme::EvalResult result = kme::evaluateEdits(*model, dataset, indices, p, progress);
            kme::EvalRunContext context;
            context.dataset = file;
            context.selection = s;
            context.indices = indices;
            context.modelPath = model->folder();
            context.modelContext = model->config().nPositions;
            context.weightsHash = run->hash.toStdString();
            kme::EvalJsonOptions options;
            options.promptDetails = false;  // a session keeps the summaries and each record's values
            options.baselineCounts = true;
            const nlohmann::json report = kme::evalRunToJson(result, dataset, p, context, options);
            run->resultsJson = report.dump();
            // What the tab shows is what the session keeps: the same numbers when it is reopened.
            run->summary = kme::evalRunSummaryFromJson(report);
        },
        [this, run] {
            run->params["weights_hash"] = run->hash.toStdString();
            run->params["batch_size"] = run->summary.batchSize;
            keepRun(run);
            saveRun(*run);
            showTable(*run);
            updateChart();
            listRuns(int(runs_.size()) - 1);
        },
        [this](JobOutcome outcome, const QString& message) {
            evaluating_ = false;
            controls_->setBusy(false);
            noteError_ = outcome == JobOutcome::Failed;
            if (outcome == JobOutcome::Succeeded) {
                note_ = saveNote_;
                noteError_ = saveError_;
            } else if (outcome == JobOutcome::Cancelled) {
                note_ = tr("Cancelled: no results kept; the weights are unchanged.");
            } else {
                note_ = tr("The evaluation failed: %1").arg(message);
            }
            updateInputs();
            Q_EMIT evaluationFinished(outcome == JobOutcome::Succeeded);
        });
    if (!started) return false;
    evaluating_ = true;
    controls_->setBusy(true);
    showMessage(mode == kFreshMode ? tr("%1… (each record: edit, measure, restore)").arg(title)
                                   : tr("%1… (the weights are restored at the end)").arg(title),
                false);
    updateInputs();
    return true;
}

void EvaluateTab::cancelEvaluation() {
    if (evaluating_) runner_->cancel();
}

QComboBox* EvaluateTab::savedRunsCombo() const { return saved_->combo(); }

QPushButton* EvaluateTab::runButton() const { return controls_->runButton(); }

QPushButton* EvaluateTab::cancelButton() const { return controls_->cancelButton(); }

QCustomPlot* EvaluateTab::chart() const { return chart_->plot(); }

}  // namespace kme::app
