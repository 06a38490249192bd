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
#include <QProgressBar>
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
#include "engine/core/SafeInput.h"
#include "engine/core/Error.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/EditEvaluation.h"
#include "engine/eval/EvalCurvesJson.h"
#include "engine/eval/EvalJson.h"
#include "engine/model/Model.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/ScoreBarChart.h"

namespace kme::app {

namespace {

const char* const kLastFactDirKey = "evaluate/lastFactDir";

QColor errorColor(const QPalette& pal) {
    return pal.color(QPalette::Base).lightnessF() < 0.5 ? QColor(0xff, 0x8a, 0x80) : QColor(0xc6, 0x28, 0x28);
}

struct MetricRow {
    const char* key;
    const char* label;
    bool percent;
    bool chart;  // a score (a share of prompts): drawn on the chart
};

// The table's rows, in the CLI's order; rows no run measured are left out.
const std::vector<MetricRow>& metricRows() {
    static const std::vector<MetricRow> rows = {
        {"efficacy_score", QT_TRANSLATE_NOOP("EvaluateTab", "efficacy score (%)"), true, true},
        {"efficacy_magnitude", QT_TRANSLATE_NOOP("EvaluateTab", "efficacy magnitude (%)"), true, false},
        {"paraphrase_score", QT_TRANSLATE_NOOP("EvaluateTab", "paraphrase score (%)"), true, true},
        {"paraphrase_magnitude", QT_TRANSLATE_NOOP("EvaluateTab", "paraphrase magnitude (%)"), true, false},
        {"neighborhood_score", QT_TRANSLATE_NOOP("EvaluateTab", "neighbourhood score (%)"), true, true},
        {"neighborhood_magnitude", QT_TRANSLATE_NOOP("EvaluateTab", "neighbourhood magnitude (%)"), true, false},
        {"score", QT_TRANSLATE_NOOP("EvaluateTab", "score: harmonic mean (%)"), true, false},
        {"other_attributes_score", QT_TRANSLATE_NOOP("EvaluateTab", "other attributes kept (%)"), true, true},
        {"other_attributes_accuracy", QT_TRANSLATE_NOOP("EvaluateTab", "other attributes top-1 (%)"), true, false},
        {"portability", QT_TRANSLATE_NOOP("EvaluateTab", "portability: two-hop prompts follow (%)"), true, true},
        {"portability_unedited", QT_TRANSLATE_NOOP("EvaluateTab", "two-hop accuracy of the unedited model (%)"), true, false},
        {"efficacy_accuracy", QT_TRANSLATE_NOOP("EvaluateTab", "efficacy token accuracy (%)"), true, true},
        {"paraphrase_accuracy", QT_TRANSLATE_NOOP("EvaluateTab", "paraphrase token accuracy (%)"), true, true},
        {"neighborhood_accuracy", QT_TRANSLATE_NOOP("EvaluateTab", "neighbourhood token accuracy (%)"), true, true},
        {"fluency", QT_TRANSLATE_NOOP("EvaluateTab", "fluency: n-gram entropy (bits)"), false, false},
        {"efficacy_at_edit_score", QT_TRANSLATE_NOOP("EvaluateTab", "efficacy right after the edit (%)"), true, false}};
    return rows;
}

// Batched and sequential runs: prompts left out because another applied
// edit rewrote them (counts, edited column only), shown when the group the
// count belongs to was measured.
struct ExcludedRow {
    const char* key;
    const char* label;
    const char* measuredKey;  // the metric the count belongs to
    int kme::EvalRunSummary::*count;
};
const std::vector<ExcludedRow>& excludedRows() {
    static const std::vector<ExcludedRow> rows = {
        {"neighborhood_excluded", QT_TRANSLATE_NOOP("EvaluateTab", "neighbour prompts left out (rewritten by an edit)"),
         "neighborhood_score", &kme::EvalRunSummary::neighborhoodExcluded},
        {"other_attributes_excluded", QT_TRANSLATE_NOOP("EvaluateTab", "other attributes left out (edited too)"),
         "other_attributes_score", &kme::EvalRunSummary::otherAttributesExcluded}};
    return rows;
}

// The mode's key in a saved run's parameters.
const char* modeKey(int mode) {
    switch (mode) {
    case EvaluateTab::kOneBatchMode: return "one_batch";
    case EvaluateTab::kSequentialMode: return "sequential";
    default: return "fresh";
    }
}

// Fresh runs whose batch holds every record are "one batch".
bool oneBatch(const kme::EvalRunSummary& s) {
    return s.mode == kme::EvalMode::Fresh && s.batchSize > 1 && s.batchSize >= s.recordCount;
}

const char* chartLabel(const std::string& key) {
    if (key == "efficacy_score") return QT_TRANSLATE_NOOP("EvaluateTab", "efficacy");
    if (key == "paraphrase_score") return QT_TRANSLATE_NOOP("EvaluateTab", "paraphrase");
    if (key == "neighborhood_score") return QT_TRANSLATE_NOOP("EvaluateTab", "neighbour-\nhood");
    if (key == "other_attributes_score") return QT_TRANSLATE_NOOP("EvaluateTab", "other\nattributes");
    if (key == "portability") return QT_TRANSLATE_NOOP("EvaluateTab", "portability");
    if (key == "efficacy_accuracy") return QT_TRANSLATE_NOOP("EvaluateTab", "efficacy (tokens)");
    if (key == "paraphrase_accuracy") return QT_TRANSLATE_NOOP("EvaluateTab", "paraphrase (tokens)");
    if (key == "neighborhood_accuracy") return QT_TRANSLATE_NOOP("EvaluateTab", "neighbourhood (tokens)");
    return "";
}

bool measured(const kme::MetricSummary& s, const std::string& key) {
    const kme::MetricStat* st = s.find(key);
    return st && st->count > 0;
}

QTableWidgetItem* cellItem(const QString& text) {
    auto* item = new QTableWidgetItem(text);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}

}  // namespace

// One finished evaluation, kept for the chart (and saved in the session).
struct EvaluateTab::Run {
    QString label;       // "ROME", "ROME, sequential" (a second alike: "ROME #2")
    QString methodText;  // "ROME"
    QString factFile;
    int requested = 0;       // records asked for
    QString hash;            // the live weights evaluated (full hash)
    bool editsApplied = false;
    QString created;         // ISO 8601 UTC when saved in the session ("" not saved)
    nlohmann::json params;   // the tab's settings (MetricRunRecord::paramsJson)
    std::string resultsJson; // kme::evalRunToJson (MetricRunRecord::resultsJson)
    kme::EvalRunSummary summary;  // read back from resultsJson: what the table and the chart show
};

EvaluateTab::EvaluateTab(JobRunner* runner, SessionController* session, QWidget* parent)
    : QWidget(parent), runner_(runner), session_(session) {
    buildUi();
    connect(runner_, &JobRunner::busyChanged, this, &EvaluateTab::updateInputs);
    connect(runner_, &JobRunner::progress, this, [this](double done, double total) {
        if (!evaluating_) return;
        progress_->setRange(0, total > 0 ? 1000 : 0);
        if (total > 0) progress_->setValue(int(1000 * done / total));
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

    auto* runRow = new QHBoxLayout;
    run_ = new QPushButton(tr("&Run evaluation"), this);
    run_->setObjectName(QStringLiteral("runEvaluationButton"));
    run_->setToolTip(tr("Edit each record on the live weights, measure, restore: the model is unchanged afterwards"));
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setObjectName(QStringLiteral("cancelEvaluationButton"));
    clear_ = new QPushButton(tr("Clear results"), this);
    clear_->setToolTip(tr("Clear the table and the chart (the runs stay saved in the session: reopening it shows "
                          "them again)"));
    progress_ = new QProgressBar(this);
    progress_->setTextVisible(false);
    progress_->setMaximumWidth(240);
    progress_->setVisible(false);
    runRow->addWidget(run_);
    runRow->addWidget(cancel_);
    runRow->addWidget(progress_);
    runRow->addStretch(1);
    runRow->addWidget(clear_);
    layout->addLayout(runRow);

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
    connect(run_, &QPushButton::clicked, this, &EvaluateTab::runEvaluation);
    connect(cancel_, &QPushButton::clicked, this, &EvaluateTab::cancelEvaluation);
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
    return {};
}

void EvaluateTab::showMessage(const QString& text, bool error) {
    if (text.isEmpty()) {
        message_->clear();
        return;
    }
    message_->setText(error ? QStringLiteral("<span style=\"color:%1\">⚠ %2</span>")
                                  .arg(errorColor(palette()).name(), text.toHtmlEscaped())
                            : text.toHtmlEscaped());
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
    run_->setEnabled(error.isEmpty() && !runner_->isBusy() && !evaluating_);
    cancel_->setEnabled(evaluating_);
    clear_->setEnabled(!runs_.empty() && !evaluating_);
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

    const QString title =
        tr("Evaluating %1 on %2 records, %3").arg(run->methodText).arg(run->requested).arg(mode_->currentText());
    const bool started = runner_->start(
        title,
        [run, model, file, sel, method, evalMode, batch, steps, fluency](const kme::ProgressFn& progress) {
            const kme::Dataset dataset = kme::loadDataset(file);
            kme::SelectionParams s = sel;
            s.limit = std::min<int>(s.limit, int(dataset.records.size()));  // "20" on a 10-record file: all
            const std::vector<size_t> indices = kme::selectRecords(dataset, s);
            kme::EvalParams p;
            p.edit = kme::defaultEditParams(*model, method);
            if (p.edit.hparams.layers.empty())
                kme::fail(kme::ErrorKind::Input,
                          "no default layer is known for this model: add a kme_edit_defaults.json to its folder or "
                          "evaluate with the command line (kme eval --layer)");
            const kme::MethodInfo& info = kme::methodInfo(method);
            if (steps > 0) {
                // The method's step-count key, through its schema row.
                const kme::HparamSpec* spec = kme::findHparam(method, info.stepsKey);
                if (spec) {
                    kme::checkHparamValue(*spec, steps, "steps");
                    spec->set(p.edit.hparams, steps);
                }
            }
            if (info.needsKeyStatistics && p.edit.hparams.mom2Adjustment && p.edit.statsTexts.empty()) {
                // No corpus known for C: the identity (as --no-mom2), said in the caption.
                p.edit.hparams.mom2Adjustment = false;
                p.edit.statsLabel.clear();
            }
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
        },
        [this](JobOutcome outcome, const QString& message) {
            evaluating_ = false;
            progress_->setVisible(false);
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
    progress_->setRange(0, 0);
    progress_->setVisible(true);
    showMessage(mode == kFreshMode ? tr("%1… (each record: edit, measure, restore)").arg(title)
                                   : tr("%1… (the weights are restored at the end)").arg(title),
                false);
    updateInputs();
    return true;
}

void EvaluateTab::saveRun(Run& run) {
    saveError_ = false;
    if (!session_) {
        saveNote_ = tr("Not saved: no session.");
        return;
    }
    kme::MetricRunRecord record;
    record.created = kme::isoTimeNow();
    record.method = kme::editMethodName(run.summary.method);
    record.dataset = QFile::encodeName(run.factFile).toStdString();
    record.paramsJson = run.params.dump();
    record.resultsJson = run.resultsJson;
    QString error;
    // Without a session one is created first; its sessionChanged must not replace the runs shown.
    saving_ = true;
    const bool saved = session_->addMetricRun(record, &error);
    saving_ = false;
    if (saved) {
        run.created = QString::fromStdString(record.created);
        saveNote_ = tr("Saved in session “%1”.").arg(session_->sessionName());
    } else {
        saveError_ = true;
        saveNote_ = tr("The results are shown but could not be saved in the session: %1").arg(error);
    }
}

void EvaluateTab::keepRun(std::shared_ptr<Run> run) {
    const kme::EvalRunSummary& s = run->summary;
    QString base = run->methodText;
    if (s.mode == kme::EvalMode::Sequential) base = tr("%1, sequential").arg(base);
    else if (oneBatch(s)) base = tr("%1, one batch").arg(base);
    // Alike runs: a new colour with a number, so runs stay comparable.
    int same = 0;
    for (const auto& r : runs_) same += r->label == base || r->label.startsWith(base + QStringLiteral(" #"));
    run->label = same ? QStringLiteral("%1 #%2").arg(base).arg(same + 1) : base;
    runs_.push_back(std::move(run));
}

QString EvaluateTab::methodText(int method) const {
    const int at = method_->findData(method);
    return at >= 0 ? method_->itemText(at) : QString::fromLatin1(kme::editMethodName(kme::EditMethod(method)));
}

std::shared_ptr<EvaluateTab::Run> EvaluateTab::runFromRecord(const kme::MetricRunRecord& record) const {
    auto run = std::make_shared<Run>();
    run->summary = kme::evalRunSummaryFromJson(record.resultsJson);
    const kme::EvalRunSummary& s = run->summary;
    nlohmann::json params;
    try {
        params = kme::parseJson(record.paramsJson, "the evaluation run's parameters");
    } catch (const std::exception&) {
        params = nlohmann::json(nlohmann::json::value_t::discarded);
    }
    if (!params.is_object()) params = nlohmann::json::object();  // runs saved by other tools: their results alone
    run->params = params;
    run->methodText = methodText(int(s.method));
    run->factFile = QFile::decodeName(QByteArray::fromStdString(record.dataset.empty() ? s.dataset : record.dataset));
    const auto number = [&](const char* key, int fallback) {
        const auto it = params.find(key);
        return it != params.end() && it->is_number_integer() ? it->get<int>() : fallback;
    };
    run->requested = number("records", s.recordCount);
    const auto applied = params.find("edits_applied");
    run->editsApplied = applied != params.end() && applied->is_boolean() && applied->get<bool>();
    run->hash = QString::fromStdString(s.weightsHash);
    run->created = QString::fromStdString(record.created);
    run->resultsJson = record.resultsJson;
    return run;
}

void EvaluateTab::showSaved() {
    if (saving_) return;
    runs_.clear();
    int skipped = 0;
    QString firstProblem;
    kme::SessionStore* store = session_ ? session_->store() : nullptr;
    std::vector<kme::MetricRunRecord> records;
    if (store) {
        try {
            records = store->listMetricRuns();
        } catch (const std::exception& e) {
            skipped = -1;
            firstProblem = QString::fromStdString(e.what());
        }
    }
    for (const kme::MetricRunRecord& record : records) {
        if (!kme::comparisonIdOf(record.paramsJson).empty()) continue;  // the several-methods page shows these
        try {
            keepRun(runFromRecord(record));
        } catch (const std::exception& e) {
            if (skipped++ == 0)
                firstProblem = tr("run %1 of %2: %3").arg(record.id).arg(QString::fromStdString(record.created),
                                                                         QString::fromStdString(e.what()));
        }
    }
    if (runs_.empty()) {
        table_->setRowCount(0);
        caption_->setText(tr("No results yet."));
    } else {
        showTable(*runs_.back());
    }
    updateChart();
    noteError_ = skipped != 0;
    if (skipped < 0) note_ = tr("The session's evaluation runs could not be read: %1").arg(firstProblem);
    else if (skipped > 0)
        note_ = tr("%n saved evaluation run(s) could not be read and were skipped (%1).", nullptr, skipped)
                    .arg(firstProblem);
    else if (!runs_.empty())
        note_ = tr("%n evaluation run(s) saved in session “%1”.", nullptr, int(runs_.size())).arg(session_->sessionName());
    else note_.clear();
    // Also under the results: the message line gives way to input errors (no model yet, ...).
    if (noteError_) caption_->setText(caption_->text() + QStringLiteral("\n⚠ ") + note_);
    updateInputs();
}

void EvaluateTab::cancelEvaluation() {
    if (evaluating_) runner_->cancel();
}

QCustomPlot* EvaluateTab::chart() const { return chart_->plot(); }

int EvaluateTab::rowOf(const QString& metric) const {
    for (int r = 0; r < table_->rowCount(); ++r) {
        const QTableWidgetItem* h = table_->verticalHeaderItem(r);
        if (h && h->data(Qt::UserRole).toString() == metric) return r;
    }
    return -1;
}

void EvaluateTab::showTable(const Run& run) {
    const kme::EvalRunSummary& r = run.summary;
    table_->setRowCount(0);
    auto addRow = [this](const char* key, const char* label) {
        const int at = table_->rowCount();
        table_->insertRow(at);
        auto* header = new QTableWidgetItem(tr(label));
        header->setData(Qt::UserRole, QString::fromLatin1(key));
        table_->setVerticalHeaderItem(at, header);
        return at;
    };
    for (const MetricRow& row : metricRows()) {
        const bool e = measured(r.edited, row.key), b = measured(r.baseline, row.key);
        if (!e && !b) continue;
        const int at = addRow(row.key, row.label);
        if (std::string(row.key) == "efficacy_at_edit_score")
            table_->verticalHeaderItem(at)->setToolTip(
                tr("Sequential: each record's efficacy right after its own edit, before the later ones; the "
                   "efficacy score above is measured once all edits are in place (the gap is what later edits "
                   "undid)."));
        const double k = row.percent ? 100 : 1;
        const int decimals = row.percent ? 1 : 3;
        auto put = [&](int col, const kme::MetricSummary& s, bool ci) {
            const kme::MetricStat* st = s.find(row.key);
            QString text = QStringLiteral("—");
            if (st && st->count > 0) {
                if (!ci) text = QString::number(st->mean * k, 'f', decimals);
                else if (st->count > 1 && std::string(row.key) != "score")
                    text = QString::number(st->ci95 * k, 'f', decimals);
            }
            QTableWidgetItem* item = cellItem(text);
            if (st && st->count > 0) item->setToolTip(tr("%n record(s)", nullptr, st->count));
            table_->setItem(at, col, item);
        };
        put(kEditedCol, r.edited, false);
        put(kUneditedCol, r.baseline, false);
        put(kCiCol, r.edited, true);
    }
    // Edits applied together leave out what another of them rewrote.
    if (r.mode == kme::EvalMode::Sequential || r.batchSize > 1)
        for (const ExcludedRow& row : excludedRows()) {
            if (!measured(r.edited, row.measuredKey) && !measured(r.baseline, row.measuredKey)) continue;
            const int at = addRow(row.key, row.label);
            table_->verticalHeaderItem(at)->setToolTip(
                tr("Prompts another edit applied at the same time rewrote on purpose: not counted in the scores"));
            table_->setItem(at, kEditedCol, cellItem(QString::number(r.*row.count)));
            table_->setItem(at, kUneditedCol, cellItem(QStringLiteral("—")));
            table_->setItem(at, kCiCol, cellItem(QStringLiteral("—")));
        }

    QString layers;
    for (int l : r.layers) layers += (layers.isEmpty() ? QString() : QStringLiteral(",")) + QString::number(l);
    const int at = selection_->findData(int(r.selection));
    const QString selection =
        at >= 0 ? selection_->itemText(at) : QString::fromLatin1(kme::recordSelectionName(r.selection));
    QString caption = tr("%1 on %2 record(s) of %3 (%4), layer%5 %6: %7 s (editing %8 s, measuring %9 s).")
                          .arg(run.methodText)
                          .arg(r.recordCount)
                          .arg(QFileInfo(run.factFile).fileName(), selection,
                               r.layers.size() > 1 ? QStringLiteral("s") : QString(), layers)
                          .arg(r.seconds, 0, 'f', 1)
                          .arg(r.editSeconds, 0, 'f', 1)
                          .arg(r.metricSeconds, 0, 'f', 1);
    caption += QLatin1Char(' ');
    if (r.mode == kme::EvalMode::Sequential)
        caption += (r.batchSize > 1 ? tr("Sequential, batches of %1: ").arg(r.batchSize) : tr("Sequential: ")) +
                   tr("the edits accumulated and every record was measured with all of them applied.");
    else if (oneBatch(r))
        caption += tr("One batch: all records were edited in one edit and measured together.");
    else if (r.batchSize > 1)
        caption += tr("Batches of %1, each on the weights without the other batches.").arg(r.batchSize);
    else caption += tr("Each record was edited on its own.");
    caption += QLatin1Char(' ');
    caption += run.editsApplied
                   ? tr("Weights evaluated: the live weights %1, with the session's edits applied (the “unedited” "
                        "column is these weights before the evaluation's edits).")
                         .arg(run.hash.left(12))
                   : tr("Weights evaluated: %1 (the model as loaded).").arg(run.hash.left(12));
    caption += r.mode == kme::EvalMode::Fresh && !oneBatch(r) ? tr(" The weights are restored after every edit.")
                                                              : tr(" The weights were restored at the end.");
    if (r.mom2) caption += tr(" Key statistics: %1.").arg(QString::fromStdString(r.statsCorpus));
    else if (kme::methodInfo(r.method).needsKeyStatistics) caption += tr(" Key statistics: none (C = identity).");
    if (r.recordCount < run.requested) caption += tr(" The file has only %1 record(s).").arg(r.recordCount);
    if (!run.created.isEmpty()) caption += tr(" Saved in the session (%1).").arg(run.created);
    caption_->setText(caption);
}

void EvaluateTab::updateChart() {
    // The metric groups: CounterFact's scores when a kept run measured them,
    // else the token accuracies (zsRE).
    std::vector<std::string> keys;
    bool counterFact = false;
    for (const auto& run : runs_) counterFact = counterFact || measured(run->summary.edited, "efficacy_score");
    for (const MetricRow& row : metricRows()) {
        if (!row.chart) continue;
        const bool accuracy = std::string(row.key).find("_accuracy") != std::string::npos;
        if (counterFact == accuracy) continue;
        for (const auto& run : runs_)
            if (measured(run->summary.edited, row.key)) {
                keys.emplace_back(row.key);
                break;
            }
    }
    QStringList groups;
    for (const std::string& key : keys) groups << tr(chartLabel(key));
    // The series: the unedited weights of the latest run (grey), then every run.
    const auto series = [&keys](const QString& name, const kme::MetricSummary& summary, bool baseline) {
        kme::widgets::ScoreSeries s{name, {}, {}, baseline};
        for (const std::string& key : keys) {
            const kme::MetricStat* st = summary.find(key);
            s.values << (st && st->count > 0 ? st->mean * 100 : std::nan(""));
            s.errors << (st && st->count > 1 ? st->ci95 * 100 : 0.0);
        }
        return s;
    };
    std::vector<kme::widgets::ScoreSeries> all;
    if (!keys.empty()) {
        if (!runs_.back()->summary.baseline.values.empty())
            all.push_back(series(tr("unedited"), runs_.back()->summary.baseline, true));
        for (const auto& run : runs_) all.push_back(series(run->label, run->summary.edited, false));
    }
    chart_->setData(groups, std::move(all));
}

void EvaluateTab::clearResults() {
    runs_.clear();
    table_->setRowCount(0);
    caption_->setText(tr("No results yet."));
    updateChart();
    updateInputs();
}

}  // namespace kme::app
