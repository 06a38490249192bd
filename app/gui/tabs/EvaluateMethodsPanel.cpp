#include "app/gui/tabs/EvaluateMethodsPanel.h"

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

#include "app/gui/JobRunner.h"
#include "app/gui/SessionController.h"
#include "engine/core/Error.h"
#include "engine/core/OutputFile.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/EditDefaults.h"
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

namespace {

using json = nlohmann::json;

QColor errorColor(const QPalette& pal) {
    return pal.color(QPalette::Base).lightnessF() < 0.5 ? QColor(0xff, 0x8a, 0x80) : QColor(0xc6, 0x28, 0x28);
}

// The six properties' keys in a run's "six", in table order (the columns).
struct PropertyColumn {
    const char* key;
    const char* label;
    const char* tip;
};
const std::vector<PropertyColumn>& propertyColumns() {
    static const std::vector<PropertyColumn> columns = {
        {"accuracy", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "accuracy"),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "Efficacy: the new answer beats the old on the edit's own prompt (%)")},
        {"generality", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "generality"),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "Paraphrase score: paraphrased prompts follow the edit (%)")},
        {"locality", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "locality"),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "Neighbourhood score: other subjects keep their answers (%)")},
        {"other_attributes", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "other attr."),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "Locality on the edited subject's other facts (%)")},
        {"portability", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "portability"),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "Two-hop prompts whose answer changes with the edit follow it (%)")},
        {"portability_unedited", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "2-hop before"),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel",
                           "The unedited model's two-hop accuracy: a model that cannot answer the two-hop question "
                           "before the edit cannot port it after (%)")},
        {"retainability", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "retainability"),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel",
                           "Efficacy on all N edits after N sequential edits: earlier edits survive later ones (%)")},
        {"scalability", QT_TRANSLATE_NOOP("EvaluateMethodsPanel", "scalability"),
         QT_TRANSLATE_NOOP("EvaluateMethodsPanel",
                           "Efficacy when the records are edited in batches of the largest size (batch methods) (%)")}};
    return columns;
}

double numberOr(const json& j, const char* key, double fallback = std::nan("")) {
    if (!j.is_object()) return fallback;
    const auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

QTableWidgetItem* cellItem(const QString& text) {
    auto* item = new QTableWidgetItem(text);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}

QString displayName(const std::string& name) {
    const kme::MethodInfo* row = kme::findMethod(name);
    return QString::fromUtf8(row ? row->displayName : name.c_str());
}

}  // namespace

struct EvaluateMethodsPanel::Shown {
    QString id;        // the comparison id (its start time)
    QString factFile;
    int records = 0;
    bool editsApplied = false;
    std::vector<std::string> names;  // methods, in run order
    std::vector<json> runs;          // each: evalRunToJson (compact) + "retain" / "scale" / "six"
};

EvaluateMethodsPanel::EvaluateMethodsPanel(JobRunner* runner, SessionController* session,
                                           std::function<QString()> factFile, QWidget* parent)
    : QWidget(parent), runner_(runner), session_(session), factFile_(std::move(factFile)) {
    buildUi();
    connect(runner_, &JobRunner::busyChanged, this, &EvaluateMethodsPanel::updateInputs);
    // The work reports (method index + its fraction, methods): one bar each.
    connect(runner_, &JobRunner::progress, this, [this](double done, double total) {
        if (!running_ || total <= 0) return;
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

    auto* runRow = new QHBoxLayout;
    run_ = new QPushButton(tr("Run &comparison"), this);
    run_->setObjectName(QStringLiteral("runComparisonButton"));
    run_->setToolTip(tr("Every checked method on the same records of the fact file, on the live weights; the "
                        "weights are restored after each run"));
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setObjectName(QStringLiteral("cancelComparisonButton"));
    export_ = new QPushButton(tr("E&xport"), this);
    export_->setObjectName(QStringLiteral("exportComparisonButton"));
    auto* menu = new QMenu(export_);
    menu->addAction(tr("Chart as PNG / PDF / SVG…"), this, [this] { exportWithDialog(0); });
    menu->addAction(tr("Retention curve as PNG / PDF / SVG…"), this, [this] { exportWithDialog(1); });
    menu->addAction(tr("Scalability curve as PNG / PDF / SVG…"), this, [this] { exportWithDialog(2); });
    menu->addAction(tr("Table and curves as CSV…"), this, [this] { exportWithDialog(3); });
    export_->setMenu(menu);
    runRow->addWidget(run_);
    runRow->addWidget(cancel_);
    runRow->addStretch(1);
    runRow->addWidget(export_);
    layout->addLayout(runRow);
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
    heads << tr("seconds");
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
    top->setSizes({560, 640});
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
    connect(run_, &QPushButton::clicked, this, &EvaluateMethodsPanel::runComparison);
    connect(cancel_, &QPushButton::clicked, this, &EvaluateMethodsPanel::cancelComparison);
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
    if (text.isEmpty()) {
        message_->clear();
        return;
    }
    message_->setText(error ? QStringLiteral("<span style=\"color:%1\">⚠ %2</span>")
                                  .arg(errorColor(palette()).name(), text.toHtmlEscaped())
                            : text.toHtmlEscaped());
}

void EvaluateMethodsPanel::updateInputs() {
    const QString error = inputError();
    if (!running_) {
        if (!error.isEmpty()) showMessage(error, bool(model_));
        else showMessage(note_, noteError_);
    }
    run_->setEnabled(error.isEmpty() && !runner_->isBusy() && !running_);
    cancel_->setEnabled(running_);
    export_->setEnabled(shown_ != nullptr && !shown_->runs.empty());
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
                p.edit = kme::defaultEditParams(*model, m);
                const kme::MethodInfo& row = kme::methodInfo(m);
                if (row.layers != kme::LayerShape::None && p.edit.hparams.layers.empty())
                    kme::fail(kme::ErrorKind::Input,
                              std::string("no default ") + row.displayName +
                                  " layer is known for this model: add a kme_edit_defaults.json to its folder or "
                                  "leave the method out");
                if (row.needsKeyStatistics && p.edit.hparams.mom2Adjustment && p.edit.statsTexts.empty()) {
                    p.edit.hparams.mom2Adjustment = false;  // no corpus known: C = identity, as the one-method page
                    p.edit.statsLabel.clear();
                }
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

std::vector<std::string> EvaluateMethodsPanel::methodsShown() const {
    return shown_ ? shown_->names : std::vector<std::string>{};
}

void EvaluateMethodsPanel::clearViews() {
    table_->setRowCount(0);
    chart_->clear();
    retainPlot_->setData(tr("Retainability: efficacy on edits 1..k after k sequential edits (solid), their "
                            "neighbourhood (dashed)"),
                         tr("edits made (k)"), {}, false);
    scalePlot_->setData(tr("Scalability: efficacy (solid) and neighbourhood (dashed) against the batch size"),
                        tr("requests per edit (batch size)"), {}, true);
    caption_->setText(tr("No comparison yet. Check methods, then Run comparison: every method edits the same "
                         "records of the fact file."));
}

void EvaluateMethodsPanel::showComparison(const Shown& shown) {
    clearViews();
    const auto& columns = propertyColumns();
    table_->setRowCount(int(shown.runs.size()));
    QStringList rowNames;
    for (size_t r = 0; r < shown.runs.size(); ++r) {
        const json& run = shown.runs[r];
        const json six = run.value("six", json::object());
        rowNames << displayName(shown.names[r]);
        for (size_t c = 0; c < columns.size(); ++c) {
            const double v = numberOr(six, columns[c].key);
            QString text = std::isnan(v) ? QStringLiteral("—") : QString::number(100 * v, 'f', 1);
            if (std::string(columns[c].key) == "scalability" && !std::isnan(v))
                text += tr(" (b=%1)").arg(int(numberOr(six, "scale_batch", 0)));
            if (std::string(columns[c].key) == "scalability" && std::isnan(v) && run.contains("scale_skipped"))
                text = tr("n/a");
            QTableWidgetItem* item = cellItem(text);
            if (std::string(columns[c].key) == "scalability" && run.contains("scale_skipped"))
                item->setToolTip(QString::fromStdString(run["scale_skipped"].get<std::string>()));
            table_->setItem(int(r), int(c), item);
        }
        table_->setItem(int(r), kSeconds, cellItem(QString::number(numberOr(run, "method_seconds", 0), 'f', 1)));
    }
    table_->setVerticalHeaderLabels(rowNames);

    // The chart: the six properties (other attributes beside locality), the
    // unedited weights in grey where it has a value (the same records for all).
    const std::vector<std::pair<const char*, const char*>> groups = {
        {"accuracy", QT_TR_NOOP("accuracy")},       {"generality", QT_TR_NOOP("generality")},
        {"locality", QT_TR_NOOP("locality")},       {"other_attributes", QT_TR_NOOP("other\nattributes")},
        {"portability", QT_TR_NOOP("portability")}, {"retainability", QT_TR_NOOP("retainability")},
        {"scalability", QT_TR_NOOP("scalability")}};
    QStringList groupNames;
    for (const auto& g : groups) groupNames << tr(g.second);
    std::vector<kme::widgets::ScoreSeries> series;
    if (!shown.runs.empty()) {
        const json base = shown.runs.front().value("baseline", json());
        const json six = shown.runs.front().value("six", json::object());
        kme::widgets::ScoreSeries unedited{tr("unedited"), {}, {}, true};
        const std::map<std::string, double> values = {
            {"accuracy", numberOr(base, "efficacy_score")},
            {"generality", numberOr(base, "paraphrase_score")},
            {"locality", numberOr(base, "neighborhood_score")},
            {"other_attributes", numberOr(base, "other_attributes_score")},
            {"portability", numberOr(six, "portability_unedited")}};
        bool any = false;
        for (const auto& g : groups) {
            const auto it = values.find(g.first);
            const double v = it == values.end() ? std::nan("") : it->second;
            any = any || !std::isnan(v);
            unedited.values << (std::isnan(v) ? v : 100 * v);
        }
        if (any) series.push_back(unedited);
    }
    for (size_t r = 0; r < shown.runs.size(); ++r) {
        const json six = shown.runs[r].value("six", json::object());
        const json ci = shown.runs[r].value("metrics_ci95", json::object());
        kme::widgets::ScoreSeries s{displayName(shown.names[r]), {}, {}, false};
        for (const auto& g : groups) {
            const double v = numberOr(six, g.first);
            s.values << (std::isnan(v) ? v : 100 * v);
            const char* ciKey = std::string(g.first) == "accuracy"     ? "efficacy_score"
                                : std::string(g.first) == "generality" ? "paraphrase_score"
                                : std::string(g.first) == "locality"   ? "neighborhood_score"
                                                                       : nullptr;
            const double e = ciKey ? numberOr(ci, ciKey) : std::nan("");
            s.errors << (std::isnan(e) ? 0.0 : 100 * e);
        }
        series.push_back(std::move(s));
    }
    chart_->setData(groupNames, std::move(series));

    // The curves, one colour per method (its place in the run, as the bars).
    std::vector<kme::widgets::CurveLine> retainLines, scaleLines;
    for (size_t r = 0; r < shown.runs.size(); ++r) {
        const QString name = displayName(shown.names[r]);
        for (const auto& [key, xKey, lines] :
             {std::tuple<const char*, const char*, std::vector<kme::widgets::CurveLine>*>{"retain", "k", &retainLines},
              {"scale", "batch", &scaleLines}}) {
            const auto it = shown.runs[r].find(key);
            if (it == shown.runs[r].end()) continue;
            kme::CurveData d;
            try {
                d = kme::curveFromJson(*it, xKey);
            } catch (const std::exception&) {
                continue;  // a damaged curve: the rest of the comparison still shows
            }
            kme::widgets::CurveLine eff{tr("%1 efficacy").arg(name), {}, {}, int(r), false};
            kme::widgets::CurveLine nb{tr("%1 neighbourhood").arg(name), {}, {}, int(r), true};
            for (size_t i = 0; i < d.x.size(); ++i) {
                eff.x << d.x[i];
                nb.x << d.x[i];
                eff.y << 100 * d.efficacy[i];
                nb.y << 100 * d.neighborhood[i];
            }
            lines->push_back(eff);
            lines->push_back(nb);
        }
    }
    retainPlot_->setData(retainPlot_->title(), tr("edits made (k)"), std::move(retainLines), false);
    scalePlot_->setData(scalePlot_->title(), tr("requests per edit (batch size)"), std::move(scaleLines), true);

    QStringList names;
    for (const std::string& n : shown.names) names << displayName(n);
    QString caption = tr("%1 on the same %2 record(s) of %3, in the same order. Accuracy, generality, locality and "
                         "portability: each record edited alone on the live weights and reverted.")
                          .arg(names.join(QStringLiteral(", ")))
                          .arg(shown.records)
                          .arg(QFileInfo(shown.factFile).fileName());
    if (retainPlot_->isEmpty()) caption += tr(" No retention curve was asked for.");
    else caption += tr(" Retainability: the records edited one after another, then restored.");
    if (!shown.id.isEmpty()) caption += tr(" Saved in the session (%1).").arg(shown.id);
    if (shown.editsApplied) caption += tr(" Weights: the live weights with the session's edits applied.");
    caption_->setText(caption);
    updateInputs();
}

void EvaluateMethodsPanel::showSaved() {
    if (saving_) return;
    shown_.reset();
    clearViews();
    note_.clear();
    noteError_ = false;
    kme::SessionStore* store = session_ ? session_->store() : nullptr;
    if (store) {
        try {
            // The latest comparison: the runs sharing the last comparison id, in run order.
            std::vector<kme::MetricRunRecord> records = store->listMetricRuns();
            std::string latest;
            for (const kme::MetricRunRecord& r : records) {
                const std::string id = kme::comparisonIdOf(r.paramsJson);
                if (!id.empty()) latest = id;
            }
            if (!latest.empty()) {
                auto shown = std::make_unique<Shown>();
                shown->id = QString::fromStdString(latest);
                for (const kme::MetricRunRecord& r : records) {
                    if (kme::comparisonIdOf(r.paramsJson) != latest) continue;
                    const json params = json::parse(r.paramsJson, nullptr, false);
                    json results = kme::parseJson(r.resultsJson, "a saved comparison run");
                    kme::evalRunSummaryFromJson(results);  // throws for a run that is not one
                    shown->names.push_back(r.method);
                    shown->runs.push_back(std::move(results));
                    shown->factFile = QFile::decodeName(QByteArray::fromStdString(r.dataset));
                    shown->records = int(numberOr(params, "records", 0));
                    shown->editsApplied = params.is_object() && params.value("edits_applied", false);
                }
                shown_ = std::move(shown);
                showComparison(*shown_);
                note_ = tr("Comparison of %n method(s) saved in session “%1”.", nullptr, int(shown_->runs.size()))
                            .arg(session_->sessionName());
            }
        } catch (const std::exception& e) {
            shown_.reset();
            clearViews();
            noteError_ = true;
            note_ = tr("The session's saved comparison could not be read: %1").arg(QString::fromStdString(e.what()));
        }
    }
    updateInputs();
}

bool EvaluateMethodsPanel::exportCsv(const QString& path, QString* error) const {
    if (!shown_ || shown_->runs.empty()) {
        if (error) *error = tr("%1: nothing to export yet").arg(path);
        return false;
    }
    try {
        json runs = json::array();
        for (size_t i = 0; i < shown_->runs.size(); ++i) runs.push_back(shown_->runs[i]);
        kme::writeFileAtomically(QFile::encodeName(path).toStdString(), kme::methodRunsCsv(runs), "CSV file");
        return true;
    } catch (const std::exception& e) {
        if (error) *error = QString::fromStdString(e.what());
        return false;
    }
}

bool EvaluateMethodsPanel::exportChart(const QString& path, QString* error) const {
    if (!shown_ || shown_->runs.empty()) {
        if (error) *error = tr("%1: nothing to export yet").arg(path);
        return false;
    }
    QCustomPlot* plot = chart_->plot();
    const QSize size = chart_->isVisible() && !chart_->size().isEmpty() ? chart_->size() : QSize(900, 520);
    const QColor background = palette().color(QPalette::Base);
    return kme::widgets::exportPlotFile(
        path, size, tr("Six properties"), background,
        [plot, background](QCPPainter& painter, const QRect& rect) {
            painter.fillRect(rect, background);
            plot->toPainter(&painter, rect.width(), rect.height());
            plot->replot(QCustomPlot::rpQueuedReplot);
        },
        tr("the chart"), error);
}

void EvaluateMethodsPanel::exportWithDialog(int what) {
    const QString png = tr("PNG image (*.png)"), pdf = tr("PDF document (*.pdf)"), svg = tr("SVG drawing (*.svg)");
    const QString csv = tr("CSV table (*.csv)");
    const QStringList names = {QStringLiteral("methods-chart.png"), QStringLiteral("retention.png"),
                               QStringLiteral("scalability.png"), QStringLiteral("methods.csv")};
    QString selected;
    QString path = QFileDialog::getSaveFileName(this, tr("Export"), names[what],
                                                what == 3 ? csv : QStringList{png, pdf, svg}.join(QStringLiteral(";;")),
                                                &selected);
    if (path.isEmpty()) return;
    if (QFileInfo(path).suffix().isEmpty())
        path += what == 3          ? QStringLiteral(".csv")
                : selected == pdf ? QStringLiteral(".pdf")
                : selected == svg ? QStringLiteral(".svg")
                                  : QStringLiteral(".png");
    QString error;
    const bool ok = what == 0   ? exportChart(path, &error)
                    : what == 1 ? retainPlot_->exportTo(path, &error)
                    : what == 2 ? scalePlot_->exportTo(path, &error)
                                : exportCsv(path, &error);
    if (ok) showMessage(tr("Exported to %1.").arg(path), false);
    else QMessageBox::warning(this, tr("Export"), error);
}

}  // namespace kme::app
