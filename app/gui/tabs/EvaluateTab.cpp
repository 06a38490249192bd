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
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <utility>

#include "app/gui/JobRunner.h"
#include "app/gui/SessionController.h"
#include "engine/core/Error.h"
#include "engine/edit/EditDefaults.h"
#include "engine/eval/Dataset.h"
#include "engine/eval/EditEvaluation.h"
#include "engine/model/Model.h"
#include "widgets/QCustomPlotInclude.h"

namespace kme::app {

namespace {

const char* const kLastFactDirKey = "evaluate/lastFactDir";

QColor errorColor(const QPalette& pal) {
    return pal.color(QPalette::Base).lightnessF() < 0.5 ? QColor(0xff, 0x8a, 0x80) : QColor(0xc6, 0x28, 0x28);
}

QColor mix(const QColor& a, const QColor& b, double t) {
    return QColor::fromRgbF(float(a.redF() + (b.redF() - a.redF()) * t), float(a.greenF() + (b.greenF() - a.greenF()) * t),
                            float(a.blueF() + (b.blueF() - a.blueF()) * t));
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
        {"efficacy_accuracy", QT_TRANSLATE_NOOP("EvaluateTab", "efficacy token accuracy (%)"), true, true},
        {"paraphrase_accuracy", QT_TRANSLATE_NOOP("EvaluateTab", "paraphrase token accuracy (%)"), true, true},
        {"neighborhood_accuracy", QT_TRANSLATE_NOOP("EvaluateTab", "neighbourhood token accuracy (%)"), true, true},
        {"fluency", QT_TRANSLATE_NOOP("EvaluateTab", "fluency: n-gram entropy (bits)"), false, false},
        {"efficacy_at_edit_score", QT_TRANSLATE_NOOP("EvaluateTab", "efficacy right after the edit (%)"), true, false}};
    return rows;
}

const char* chartLabel(const std::string& key) {
    if (key == "efficacy_score") return QT_TRANSLATE_NOOP("EvaluateTab", "efficacy");
    if (key == "paraphrase_score") return QT_TRANSLATE_NOOP("EvaluateTab", "paraphrase");
    if (key == "neighborhood_score") return QT_TRANSLATE_NOOP("EvaluateTab", "neighbour-\nhood");
    if (key == "other_attributes_score") return QT_TRANSLATE_NOOP("EvaluateTab", "other\nattributes");
    if (key == "efficacy_accuracy") return QT_TRANSLATE_NOOP("EvaluateTab", "efficacy (tokens)");
    if (key == "paraphrase_accuracy") return QT_TRANSLATE_NOOP("EvaluateTab", "paraphrase (tokens)");
    if (key == "neighborhood_accuracy") return QT_TRANSLATE_NOOP("EvaluateTab", "neighbourhood (tokens)");
    return "";
}

bool measured(const kme::MetricSummary& s, const std::string& key) {
    const kme::MetricStat* st = s.find(key);
    return st && st->count > 0;
}

}  // namespace

// One finished evaluation, kept for the chart.
struct EvaluateTab::Run {
    QString label;       // "ROME" (a second ROME run of other settings: "ROME #2")
    QString methodText;  // "ROME"
    QString factFile;
    QString selection;
    int requested = 0;
    QString hash;            // the live weights evaluated (full hash)
    bool editsApplied = false;
    QString statsNote;       // key statistics used
    std::shared_ptr<kme::EvalResult> result = std::make_shared<kme::EvalResult>();
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
    setModel(nullptr);
}

EvaluateTab::~EvaluateTab() = default;

void EvaluateTab::buildUi() {
    auto* layout = new QVBoxLayout(this);

    auto* box = new QGroupBox(tr("Evaluate an edit method over many facts"), this);
    auto* form = new QFormLayout(box);
    auto* fileRow = new QHBoxLayout;
    factFile_ = new QLineEdit(box);
    factFile_->setObjectName(QStringLiteral("factFileEdit"));
    factFile_->setPlaceholderText(tr("a CounterFact or zsRE JSON file (the demo model: projects/demo/facts.json)"));
    auto* browse = new QPushButton(tr("&Browse…"), box);
    fileRow->addWidget(factFile_, 1);
    fileRow->addWidget(browse);
    auto* fileLabel = new QLabel(tr("&Fact file:"), box);
    fileLabel->setBuddy(factFile_);
    form->addRow(fileLabel, fileRow);

    auto* methodRow = new QHBoxLayout;
    method_ = new QComboBox(box);
    method_->setObjectName(QStringLiteral("evalMethodCombo"));
    method_->addItem(tr("ROME"), int(kme::EditMethod::Rome));
    method_->addItem(tr("MEMIT"), int(kme::EditMethod::Memit));
    method_->addItem(tr("FT-L"), int(kme::EditMethod::FtL));
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
    batch_->setToolTip(tr("MEMIT: requests solved together in one edit (each batch on the unedited model)"));
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
    methodRow->addSpacing(12);
    methodRow->addWidget(batchLabel_);
    methodRow->addWidget(batch_);
    methodRow->addStretch(1);
    form->addRow(methodLabel, methodRow);

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
    clear_->setToolTip(tr("Forget the runs kept for the chart"));
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
    table_->setMinimumWidth(360);
    plot_ = new QCustomPlot(split);
    plot_->setObjectName(QStringLiteral("evaluateChart"));
    plot_->setMinimumSize(360, 260);
    plot_->yAxis->setRange(0, 105);
    plot_->yAxis->setLabel(tr("score (%)"));
    plot_->legend->setVisible(true);
    // The legend in a row under the chart, so it never hides a bar.
    auto* legendRow = new QCPLayoutGrid;
    plot_->plotLayout()->addElement(1, 0, legendRow);
    legendRow->setMargins(QMargins(0, 0, 0, 4));
    legendRow->addElement(0, 0, plot_->legend);
    plot_->legend->setFillOrder(QCPLegend::foColumnsFirst);
    plot_->plotLayout()->setRowStretchFactor(1, 0.001);
    split->addWidget(table_);
    split->addWidget(plot_);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 2);
    split->setSizes({420, 780});
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
    });
    connect(factFile_, &QLineEdit::returnPressed, this, &EvaluateTab::runEvaluation);
    connect(method_, &QComboBox::currentIndexChanged, this, &EvaluateTab::updateInputs);
    connect(run_, &QPushButton::clicked, this, &EvaluateTab::runEvaluation);
    connect(cancel_, &QPushButton::clicked, this, &EvaluateTab::cancelEvaluation);
    connect(clear_, &QPushButton::clicked, this, &EvaluateTab::clearResults);
}

void EvaluateTab::setModel(std::shared_ptr<kme::Model> model) {
    model_ = std::move(model);
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
    const bool memit = kme::EditMethod(method_->currentData().toInt()) == kme::EditMethod::Memit;
    batchLabel_->setVisible(memit);
    batch_->setVisible(memit);
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
    run->methodText = method_->currentText();
    run->factFile = factFile_->text().trimmed();
    run->selection = selection_->currentText();
    run->requested = records_->value();
    if (session_) {
        run->hash = session_->currentHash();
        run->editsApplied = !run->hash.isEmpty() && !session_->baseHash().isEmpty() && run->hash != session_->baseHash();
    }
    kme::SelectionParams sel;
    sel.limit = records_->value();
    sel.how = kme::RecordSelection(selection_->currentData().toInt());
    const int batch = method == kme::EditMethod::Memit ? batch_->value() : 1;
    const int steps = steps_->value();
    const bool fluency = fluency_->isChecked();
    const std::string file = QFile::encodeName(run->factFile).toStdString();
    auto model = model_;

    const QString title = tr("Evaluating %1 on %2 records").arg(run->methodText).arg(run->requested);
    const bool started = runner_->start(
        title,
        [run, model, file, sel, method, batch, steps, fluency](const kme::ProgressFn& progress) {
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
            if (steps > 0) {
                if (method == kme::EditMethod::FtL) p.edit.hparams.ftSteps = steps;
                else p.edit.hparams.vNumGradSteps = steps;
            }
            if (method != kme::EditMethod::FtL && p.edit.hparams.mom2Adjustment && p.edit.statsTexts.empty()) {
                // No corpus known for C: the identity (as --no-mom2), said in the caption.
                p.edit.hparams.mom2Adjustment = false;
                p.edit.statsLabel.clear();
                run->statsNote = QStringLiteral("key statistics: none known for this model, C = identity");
            } else if (method != kme::EditMethod::FtL && p.edit.hparams.mom2Adjustment) {
                run->statsNote = QStringLiteral("key statistics: ") + QString::fromStdString(p.edit.statsLabel);
            }
            p.mode = kme::EvalMode::Fresh;
            p.batchSize = batch;
            p.baseline = true;
            p.generation.enabled = fluency;
            if (run->hash.isEmpty()) run->hash = QString::fromStdString(model->weightsHash());
            *run->result = kme::evaluateEdits(*model, dataset, indices, p, progress);
        },
        [this, run] {
            // Same method again: a new colour with a number, so runs stay comparable.
            int same = 0;
            for (const auto& r : runs_) same += r->methodText == run->methodText;
            run->label = same ? QStringLiteral("%1 #%2").arg(run->methodText).arg(same + 1) : run->methodText;
            runs_.push_back(run);
            showTable(*run);
            updateChart();
        },
        [this](JobOutcome outcome, const QString& message) {
            evaluating_ = false;
            progress_->setVisible(false);
            noteError_ = outcome == JobOutcome::Failed;
            if (outcome == JobOutcome::Succeeded) note_.clear();
            else if (outcome == JobOutcome::Cancelled)
                note_ = tr("Cancelled: no results kept; the weights are unchanged.");
            else note_ = tr("The evaluation failed: %1").arg(message);
            updateInputs();
            Q_EMIT evaluationFinished(outcome == JobOutcome::Succeeded);
        });
    if (!started) return false;
    evaluating_ = true;
    progress_->setRange(0, 0);
    progress_->setVisible(true);
    showMessage(tr("%1… (each record: edit, measure, restore)").arg(title), false);
    updateInputs();
    return true;
}

void EvaluateTab::cancelEvaluation() {
    if (evaluating_) runner_->cancel();
}

int EvaluateTab::rowOf(const QString& metric) const {
    for (int r = 0; r < table_->rowCount(); ++r) {
        const QTableWidgetItem* h = table_->verticalHeaderItem(r);
        if (h && h->data(Qt::UserRole).toString() == metric) return r;
    }
    return -1;
}

void EvaluateTab::showTable(const Run& run) {
    const kme::EvalResult& r = *run.result;
    table_->setRowCount(0);
    for (const MetricRow& row : metricRows()) {
        const bool e = measured(r.edited, row.key), b = measured(r.baseline, row.key);
        if (!e && !b) continue;
        const int at = table_->rowCount();
        table_->insertRow(at);
        auto* header = new QTableWidgetItem(tr(row.label));
        header->setData(Qt::UserRole, QString::fromLatin1(row.key));
        table_->setVerticalHeaderItem(at, header);
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
            auto* item = new QTableWidgetItem(text);
            item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            if (st && st->count > 0) item->setToolTip(tr("%n record(s)", nullptr, st->count));
            table_->setItem(at, col, item);
        };
        put(kEditedCol, r.edited, false);
        put(kUneditedCol, r.baseline, false);
        put(kCiCol, r.edited, true);
    }

    QString layers;
    for (int l : r.layers) layers += (layers.isEmpty() ? QString() : QStringLiteral(",")) + QString::number(l);
    QString caption = tr("%1 on %2 record(s) of %3 (%4), layer%5 %6: %7 s (editing %8 s, measuring %9 s).")
                          .arg(run.methodText)
                          .arg(r.records.size())
                          .arg(QFileInfo(run.factFile).fileName(), run.selection,
                               r.layers.size() > 1 ? QStringLiteral("s") : QString(), layers)
                          .arg(r.seconds, 0, 'f', 1)
                          .arg(r.editSeconds, 0, 'f', 1)
                          .arg(r.metricSeconds, 0, 'f', 1);
    if (r.batchSize > 1) caption += tr(" Batches of %1.").arg(r.batchSize);
    caption += QLatin1Char(' ');
    caption += run.editsApplied
                   ? tr("Weights evaluated: the live weights %1, with the session's edits applied (the “unedited” "
                        "column is these weights before each evaluation edit).")
                         .arg(run.hash.left(12))
                   : tr("Weights evaluated: %1 (the model as loaded).").arg(run.hash.left(12));
    caption += tr(" The weights are restored after every record.");
    if (!run.statsNote.isEmpty()) caption += QLatin1Char(' ') + run.statsNote + QLatin1Char('.');
    if (int(r.records.size()) < run.requested)
        caption += tr(" The file has only %1 record(s).").arg(r.records.size());
    caption_->setText(caption);
}

void EvaluateTab::updateChart() {
    plot_->clearPlottables();
    const QPalette pal = palette();
    const QColor base = pal.color(QPalette::Base), text = pal.color(QPalette::Text);
    const bool dark = base.lightnessF() < 0.5;
    plot_->setBackground(QBrush(base));
    for (QCPAxis* a : {plot_->xAxis, plot_->yAxis}) {
        const QColor axis = mix(base, text, 0.6);
        a->setBasePen(QPen(axis));
        a->setTickPen(QPen(axis));
        a->setSubTickPen(QPen(axis));
        a->setTickLabelColor(text);
        a->setLabelColor(text);
        a->grid()->setPen(QPen(mix(base, text, 0.15), 1, Qt::DotLine));
    }
    plot_->legend->setBrush(QBrush(base));
    plot_->legend->setTextColor(text);
    plot_->legend->setBorderPen(QPen(mix(base, text, 0.4)));

    // The metric groups: CounterFact's scores when a kept run measured them,
    // else the token accuracies (zsRE).
    std::vector<std::string> keys;
    bool counterFact = false;
    for (const auto& run : runs_) counterFact = counterFact || measured(run->result->edited, "efficacy_score");
    for (const MetricRow& row : metricRows()) {
        if (!row.chart) continue;
        const bool accuracy = std::string(row.key).find("_accuracy") != std::string::npos;
        if (counterFact == accuracy) continue;
        for (const auto& run : runs_)
            if (measured(run->result->edited, row.key)) {
                keys.emplace_back(row.key);
                break;
            }
    }
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    for (size_t i = 0; i < keys.size(); ++i) ticker->addTick(double(i + 1), tr(chartLabel(keys[i])));
    plot_->xAxis->setTicker(ticker);
    plot_->xAxis->setSubTicks(false);
    plot_->xAxis->setTickLength(0, 4);
    plot_->xAxis->setRange(0.4, std::max<double>(1.6, keys.size() + 0.6));
    if (keys.empty()) {
        plot_->legend->setVisible(false);
        plot_->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    plot_->legend->setVisible(true);

    // Series: the unedited weights of the latest run (grey), then every run.
    struct Series {
        QString name;
        const kme::MetricSummary* summary;
        QColor colour;
    };
    std::vector<Series> series;
    series.push_back({tr("unedited"), &runs_.back()->result->baseline, mix(base, text, 0.45)});
    static const int hues[] = {210, 28, 130, 280, 0, 50, 180, 320};
    for (size_t i = 0; i < runs_.size(); ++i)
        series.push_back({runs_[i]->label, &runs_[i]->result->edited,
                          QColor::fromHsl(hues[i % 8], 170, dark ? 150 : 110)});

    // One group for the plot's life (clearPlottables() takes the bars out of it).
    auto* group = plot_->findChild<QCPBarsGroup*>(QStringLiteral("evaluateBarsGroup"));
    if (!group) {
        group = new QCPBarsGroup(plot_);
        group->setObjectName(QStringLiteral("evaluateBarsGroup"));
    }
    group->setSpacingType(QCPBarsGroup::stAbsolute);
    group->setSpacing(1);
    const double width = 0.8 / double(series.size());
    for (const Series& s : series) {
        auto* bars = new QCPBars(plot_->xAxis, plot_->yAxis);
        bars->setName(s.name);
        bars->setWidth(width);
        bars->setBrush(s.colour);
        bars->setPen(QPen(s.colour.darker(dark ? 80 : 120)));
        bars->setBarsGroup(group);
        QVector<double> x, y, err;
        for (size_t i = 0; i < keys.size(); ++i) {
            const kme::MetricStat* st = s.summary->find(keys[i]);
            x << double(i + 1);
            y << (st && st->count > 0 ? st->mean * 100 : 0);
            err << (st && st->count > 1 ? st->ci95 * 100 : 0);
        }
        bars->setData(x, y, true);
        auto* errors = new QCPErrorBars(plot_->xAxis, plot_->yAxis);
        errors->removeFromLegend();
        errors->setDataPlottable(bars);
        errors->setData(err);
        errors->setPen(QPen(text));
    }
    plot_->replot(QCustomPlot::rpQueuedReplot);
}

void EvaluateTab::clearResults() {
    runs_.clear();
    table_->setRowCount(0);
    caption_->setText(tr("No results yet."));
    updateChart();
    updateInputs();
}

}  // namespace kme::app
