#include "app/gui/tabs/EvaluateMethodsPanel.h"
#include "app/gui/tabs/EvaluateMethodsShown.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QMenu>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "app/gui/JobRunner.h"
#include "app/gui/SessionController.h"
#include "app/gui/widgets/JobControls.h"
#include "app/gui/widgets/SavedRunsCombo.h"
#include "app/gui/widgets/Tones.h"
#include "engine/core/Error.h"
#include "engine/core/OutputFile.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditSetup.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/EditEvaluation.h"
#include "engine/eval/EvalCurves.h"
#include "engine/eval/EvalCurvesJson.h"
#include "engine/eval/EvalJson.h"
#include "engine/model/Model.h"
#include "engine/session/SessionStore.h"
#include "widgets/CurvePlot.h"
#include "widgets/PlotExport.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/ScoreBarChart.h"

namespace kme::app {

using json = nlohmann::json;
using namespace methods_page;

EvaluateMethodsPanel::EvaluateMethodsPanel(JobRunner* runner, SessionController* session,
                                           std::function<QString()> factFile, QWidget* parent)
    : QWidget(parent), runner_(runner), session_(session), factFile_(std::move(factFile)) {
    buildUi();
    connect(runner_, &JobRunner::busyChanged, this, &EvaluateMethodsPanel::updateInputs);
    // The work reports (method index + its fraction, methods): one bar each.
    connect(runner_, &JobRunner::progress, this, [this](double done, double total) {
        if (!running_ || total <= 0) return;
        controls_->setProgress(done, total);
        for (size_t i = 0; i < bars_.size(); ++i) {
            const double f = std::clamp(done - double(i), 0.0, 1.0);
            bars_[i]->setValue(int(std::lround(1000 * f)));
        }
    });
    if (session_) connect(session_, &SessionController::sessionChanged, this, &EvaluateMethodsPanel::showSaved);
    updateInputs();
    if (session_ && session_->hasSession()) showSaved();
}

EvaluateMethodsPanel::~EvaluateMethodsPanel() = default;

void EvaluateMethodsPanel::buildUi() {
    auto* layout = new QVBoxLayout(this);
    auto* inputs = new QGridLayout;
    auto* methodsLabel = new QLabel(tr("&Methods:"), this);
    methods_ = new QListWidget(this);
    methods_->setObjectName(QStringLiteral("compareMethodsList"));
    methods_->setFlow(QListView::LeftToRight);
    methods_->setWrapping(true);
    methods_->setResizeMode(QListView::Adjust);
    methods_->setSpacing(2);
    methods_->setMaximumHeight(64);
    methods_->setToolTip(tr("The methods run one after another on the same records, with the same selection, "
                            "order and seeds; each with its defaults for the loaded model"));
    methodsLabel->setBuddy(methods_);
    for (const kme::MethodInfo& m : kme::methodTable()) {
        auto* item = new QListWidgetItem(QString::fromUtf8(m.displayName), methods_);
        item->setData(Qt::UserRole, int(m.method));
        item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable);
        item->setToolTip(QStringLiteral("%1 (%2)").arg(QString::fromUtf8(m.summary),
                                                      QString::fromUtf8(kme::familyDisplayName(m.family))));
        const bool preset = m.method == kme::EditMethod::Rome || m.method == kme::EditMethod::Memit ||
                            m.method == kme::EditMethod::Grace || m.method == kme::EditMethod::FtM;
        item->setCheckState(preset ? Qt::Checked : Qt::Unchecked);
    }
    inputs->addWidget(methodsLabel, 0, 0, Qt::AlignTop);
    inputs->addWidget(methods_, 0, 1);

    auto* optionRow = new QHBoxLayout;
    records_ = new QSpinBox(this);
    records_->setObjectName(QStringLiteral("compareRecordsSpin"));
    records_->setRange(1, 100000);
    records_->setValue(20);
    records_->setToolTip(tr("Records edited and measured by every method (the same ones)"));
    selection_ = new QComboBox(this);
    selection_->setObjectName(QStringLiteral("compareSelectionCombo"));
    selection_->addItem(tr("spread over the file"), int(kme::RecordSelection::Spread));
    selection_->addItem(tr("first records"), int(kme::RecordSelection::First));
    selection_->addItem(tr("random (seed 0)"), int(kme::RecordSelection::Random));
    retain_ = new QCheckBox(tr("retention curve"), this);
    retain_->setObjectName(QStringLiteral("compareRetainCheck"));
    retain_->setChecked(true);
    retain_->setToolTip(tr("Retainability: the records edited one after another on the same weights; after k edits, "
                           "the efficacy on edits 1..k and the neighbourhood of those records, for k = 1, 2, 5, 10, "
                           "20, 50, 100 … N"));
    scale_ = new QCheckBox(tr("scalability curve (batch methods)"), this);
    scale_->setObjectName(QStringLiteral("compareScaleCheck"));
    scale_->setChecked(true);
    scale_->setToolTip(tr("Scalability: the same records edited in fresh batches of 1, 10, 50, 100 (capped by the "
                          "records) by the methods that solve requests together (MEMIT, AlphaEdit, EMMET, FT)"));
    auto* recordsLabel = new QLabel(tr("&Records:"), this);
    recordsLabel->setBuddy(records_);
    optionRow->addWidget(recordsLabel);
    optionRow->addWidget(records_);
    optionRow->addWidget(selection_);
    optionRow->addSpacing(12);
    optionRow->addWidget(retain_);
    optionRow->addWidget(scale_);
    optionRow->addStretch(1);
    inputs->addLayout(optionRow, 1, 1);
    layout->addLayout(inputs);

    controls_ = new JobControls(tr("Run &comparison"),
                                {QStringLiteral("runComparisonButton"), QStringLiteral("cancelComparisonButton"),
                                 QStringLiteral("comparisonProgress"), QStringLiteral("comparisonStatus")},
                                this);
    controls_->setRunToolTip(tr("Every checked method on the same records of the fact file, on the live weights; "
                                "the weights are restored after each run"));
    export_ = new QPushButton(tr("E&xport"), this);
    export_->setObjectName(QStringLiteral("exportComparisonButton"));
    auto* menu = new QMenu(export_);
    menu->addAction(tr("Chart as PNG / PDF / SVG…"), this, [this] { exportWithDialog(0); });
    menu->addAction(tr("Retention curve as PNG / PDF / SVG…"), this, [this] { exportWithDialog(1); });
    menu->addAction(tr("Scalability curve as PNG / PDF / SVG…"), this, [this] { exportWithDialog(2); });
    menu->addAction(tr("Table and curves as CSV…"), this, [this] { exportWithDialog(3); });
    export_->setMenu(menu);
    saved_ = new SavedRunsCombo(tr("Save&d comparisons:"), QStringLiteral("savedComparisons"),
                                tr("Comparisons saved in this session, newest first: choose one to show it again "
                                   "(its methods and records go back into the controls)"),
                                this);
    controls_->addTrailingWidget(saved_);
    controls_->addTrailingWidget(export_);
    layout->addWidget(controls_);
    barsGrid_ = new QGridLayout;
    barsGrid_->setHorizontalSpacing(8);
    barsGrid_->setVerticalSpacing(2);
    layout->addLayout(barsGrid_);

    message_ = new QLabel(this);
    message_->setObjectName(QStringLiteral("compareMessage"));
    message_->setTextFormat(Qt::RichText);
    message_->setWordWrap(true);
    layout->addWidget(message_);
    caption_ = new QLabel(this);
    caption_->setObjectName(QStringLiteral("compareCaption"));
    caption_->setWordWrap(true);
    caption_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(caption_);

    auto* vertical = new QSplitter(Qt::Vertical, this);
    auto* top = new QSplitter(Qt::Horizontal, vertical);
    table_ = new QTableWidget(0, kColumnCount, top);
    table_->setObjectName(QStringLiteral("compareTable"));
    QStringList heads;
    for (const PropertyColumn& c : propertyColumns()) heads << tr(c.label);
    heads << tr("s");
    table_->setHorizontalHeaderLabels(heads);
    for (int c = 0; c < int(propertyColumns().size()); ++c)
        table_->horizontalHeaderItem(c)->setToolTip(tr(propertyColumns()[size_t(c)].tip));
    table_->horizontalHeaderItem(kSeconds)->setToolTip(tr("Wall time of the method's runs (all its curves included)"));
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    chart_ = new kme::widgets::ScoreBarChart(top);
    chart_->setObjectName(QStringLiteral("compareChart"));
    chart_->setMinimumSize(300, 220);
    top->addWidget(table_);
    top->addWidget(chart_);
    top->setSizes({640, 560});
    auto* bottom = new QSplitter(Qt::Horizontal, vertical);
    retainPlot_ = new kme::widgets::CurvePlot(bottom);
    retainPlot_->setObjectName(QStringLiteral("retentionPlot"));
    retainPlot_->setMinimumSize(300, 220);
    scalePlot_ = new kme::widgets::CurvePlot(bottom);
    scalePlot_->setObjectName(QStringLiteral("scalePlot"));
    scalePlot_->setMinimumSize(300, 220);
    bottom->addWidget(retainPlot_);
    bottom->addWidget(scalePlot_);
    vertical->addWidget(top);
    vertical->addWidget(bottom);
    layout->addWidget(vertical, 1);
    clearViews();

    connect(methods_, &QListWidget::itemChanged, this, &EvaluateMethodsPanel::updateInputs);
    connect(saved_, &SavedRunsCombo::chosen, this, &EvaluateMethodsPanel::showSavedComparison);
    connect(controls_, &JobControls::runClicked, this, &EvaluateMethodsPanel::runComparison);
    connect(controls_, &JobControls::cancelClicked, this, &EvaluateMethodsPanel::cancelComparison);
}

void EvaluateMethodsPanel::setModel(std::shared_ptr<kme::Model> model) {
    model_ = std::move(model);
    updateInputs();
}

void EvaluateMethodsPanel::setMethods(const std::vector<kme::EditMethod>& methods) {
    for (int i = 0; i < methods_->count(); ++i) {
        QListWidgetItem* item = methods_->item(i);
        const auto m = kme::EditMethod(item->data(Qt::UserRole).toInt());
        item->setCheckState(std::find(methods.begin(), methods.end(), m) != methods.end() ? Qt::Checked : Qt::Unchecked);
    }
}

std::vector<kme::EditMethod> EvaluateMethodsPanel::checkedMethods() const {
    std::vector<kme::EditMethod> out;
    for (int i = 0; i < methods_->count(); ++i)
        if (methods_->item(i)->checkState() == Qt::Checked)
            out.push_back(kme::EditMethod(methods_->item(i)->data(Qt::UserRole).toInt()));
    return out;
}

QString EvaluateMethodsPanel::inputError() const {
    if (!model_) return tr("Open a model first (File ▸ Open model folder…).");
    const QString path = factFile_ ? factFile_().trimmed() : QString();
    if (path.isEmpty()) return tr("Choose a fact file: a CounterFact or zsRE JSON file.");
    const QFileInfo info(path);
    if (!info.exists()) return tr("The fact file %1 does not exist.").arg(path);
    if (!info.isFile()) return tr("%1 is not a file.").arg(path);
    if (checkedMethods().empty()) return tr("Check at least one method.");
    return {};
}

void EvaluateMethodsPanel::showMessage(const QString& text, bool error) {
    message_->setText(messageHtml(palette(), text, error));
}

void EvaluateMethodsPanel::updateInputs() {
    const QString error = inputError();
    if (!running_) {
        if (!error.isEmpty()) showMessage(error, bool(model_));
        else showMessage(note_, noteError_);
    }
    controls_->setRunEnabled(error.isEmpty() && !runner_->isBusy(), error);
    controls_->setBusy(running_);
    export_->setEnabled(shown_ != nullptr && !shown_->runs.empty());
    saved_->setAvailable(!running_);
}

bool EvaluateMethodsPanel::runComparison() {
    const QString error = inputError();
    if (!error.isEmpty()) {
        showMessage(error, bool(model_));
        return false;
    }
    if (runner_->isBusy() || running_) return false;
    const std::vector<kme::EditMethod> methods = checkedMethods();
    auto shown = std::make_shared<Shown>();
    shown->factFile = factFile_().trimmed();
    for (kme::EditMethod m : methods) shown->names.emplace_back(kme::editMethodName(m));
    kme::SelectionParams sel;
    sel.limit = records_->value();
    sel.how = kme::RecordSelection(selection_->currentData().toInt());
    kme::CurveOptions curves;
    curves.retain = retain_->isChecked();
    curves.scale = scale_->isChecked();
    QString hash = session_ ? session_->currentHash() : QString();
    shown->editsApplied = session_ && !hash.isEmpty() && !session_->baseHash().isEmpty() && hash != session_->baseHash();
    const std::string file = QFile::encodeName(shown->factFile).toStdString();
    auto model = model_;
    auto info = std::make_shared<kme::ComparisonInfo>();

    // One bar per method.
    for (QProgressBar* b : bars_) b->deleteLater();
    for (QLabel* l : barLabels_) l->deleteLater();
    bars_.clear();
    barLabels_.clear();
    for (size_t i = 0; i < methods.size(); ++i) {
        auto* label = new QLabel(displayName(shown->names[i]), this);
        auto* bar = new QProgressBar(this);
        bar->setObjectName(QStringLiteral("methodProgress_%1").arg(QString::fromStdString(shown->names[i])));
        bar->setRange(0, 1000);
        bar->setValue(0);
        bar->setMaximumHeight(14);
        bar->setTextVisible(false);
        barsGrid_->addWidget(label, int(i / 3), int(i % 3) * 2);
        barsGrid_->addWidget(bar, int(i / 3), int(i % 3) * 2 + 1);
        barLabels_.push_back(label);
        bars_.push_back(bar);
    }

    const QString title = tr("Comparing %n method(s) on %1 records", nullptr, int(methods.size())).arg(records_->value());
    const bool started = runner_->start(
        title,
        [shown, info, model, file, sel, methods, curves, hash](const kme::ProgressFn& progress) {
            const kme::Dataset dataset = kme::loadDataset(file);
            kme::SelectionParams s = sel;
            s.limit = std::min<int>(s.limit, int(dataset.records.size()));
            const std::vector<size_t> indices = kme::selectRecords(dataset, s);
            std::vector<kme::EvalParams> params;
            for (kme::EditMethod m : methods) {
                kme::EvalParams p;
                // The set-up every front end shares: no corpus known -> C = identity, as the one-method page.
                kme::EditOverrides overrides;
                overrides.missingCorpus = kme::EditOverrides::MissingCorpus::Identity;
                p.edit = kme::setUpEdit(*model, m, overrides).params;
                p.baseline = true;
                p.generation.enabled = false;
                params.push_back(std::move(p));
            }
            const std::string weights = hash.isEmpty() ? model->stateHash() : hash.toStdString();
            const double count = double(methods.size());
            const std::vector<kme::MethodRun> runs = kme::evaluateMethods(
                *model, dataset, indices, params, curves,
                [&](size_t index, double done, double total) {
                    return progress(double(index) + (total > 0 ? std::clamp(done / total, 0.0, 1.0) : 0.0), count);
                });
            kme::EvalRunContext context;
            context.dataset = file;
            context.selection = s;
            context.indices = indices;
            context.modelPath = model->folder();
            context.modelContext = model->config().nPositions;
            context.weightsHash = weights;
            kme::EvalJsonOptions options;
            options.promptDetails = false;  // the session keeps summaries and per-record values
            options.baselineCounts = true;
            for (size_t i = 0; i < runs.size(); ++i) {
                json j = kme::evalRunToJson(runs[i].result, dataset, params[i], context, options);
                kme::addCurvesToJson(runs[i], j);
                shown->runs.push_back(std::move(j));
            }
            shown->records = int(indices.size());
            info->methods = shown->names;
            info->retain = curves.retain;
            info->scale = curves.scale;
            info->dataset = file;
            info->selection = s;
            info->records = int(indices.size());
            info->weightsHash = weights;
            info->tool = "Evaluate tab";
        },
        [this, shown, info] {
            // Saved in the session: one metric run per method, one comparison id.
            info->id = kme::isoTimeNow();
            shown->id = QString::fromStdString(info->id);
            noteError_ = false;
            note_.clear();
            if (!session_) {
                note_ = tr("Not saved: no session.");
            } else {
                saving_ = true;
                for (size_t i = 0; i < shown->runs.size(); ++i) {
                    kme::MetricRunRecord record;
                    record.created = info->id;
                    record.method = shown->names[i];
                    record.dataset = info->dataset;
                    json params = kme::comparisonParamsJson(*info, i);
                    params["edits_applied"] = shown->editsApplied;
                    record.paramsJson = params.dump();
                    record.resultsJson = shown->runs[i].dump();
                    QString error;
                    if (!session_->addMetricRun(record, &error)) {
                        noteError_ = true;
                        note_ = tr("The results are shown but could not be saved in the session: %1").arg(error);
                        break;
                    }
                }
                saving_ = false;
                if (!noteError_) note_ = tr("Saved in session “%1”.").arg(session_->sessionName());
            }
            shown_ = std::make_unique<Shown>(*shown);
            showComparison(*shown_);
            try {
                listSaved(shown_->id.toStdString());  // the new comparison in the saved list
            } catch (const std::exception&) {
                // The list keeps what it had; the comparison itself is shown and saved.
            }
        },
        [this](JobOutcome outcome, const QString& message) {
            running_ = false;
            if (outcome == JobOutcome::Cancelled) {
                noteError_ = false;
                note_ = tr("Cancelled: no results kept; the weights are unchanged.");
            } else if (outcome == JobOutcome::Failed) {
                noteError_ = true;
                note_ = tr("The comparison failed: %1").arg(message);
            }
            updateInputs();
            Q_EMIT comparisonFinished(outcome == JobOutcome::Succeeded);
        });
    if (!started) return false;
    running_ = true;
    showMessage(tr("%1… (each method: edit, measure, restore; then its curves)").arg(title), false);
    updateInputs();
    return true;
}

void EvaluateMethodsPanel::cancelComparison() {
    if (running_) runner_->cancel();
}

QComboBox* EvaluateMethodsPanel::savedCombo() const { return saved_->combo(); }

QPushButton* EvaluateMethodsPanel::runButton() const { return controls_->runButton(); }

QPushButton* EvaluateMethodsPanel::cancelButton() const { return controls_->cancelButton(); }

std::vector<std::string> EvaluateMethodsPanel::methodsShown() const {
    return shown_ ? shown_->names : std::vector<std::string>{};
}

}  // namespace kme::app
