#include "app/gui/tabs/LocateNeuronsView.h"

#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <map>

#include "app/gui/JobRunner.h"
#include "app/gui/widgets/ExportDialog.h"
#include "app/gui/widgets/JobControls.h"
#include "app/gui/widgets/Tones.h"
#include "engine/model/Model.h"
#include "engine/trace/NeuronAttribution.h"
#include "widgets/NeuronAttributionPlot.h"

namespace kme::app {

namespace {

constexpr int kTopPerLayer = 12;  // cells per layer row of the strip
constexpr int kTableRows = 40;    // strongest neurons of the prompt listed (selected ones always)

// A fact of the demo fact set (projects/demo/facts.json, case 0) with its paraphrases.
const QString kDefaultPrompt = QStringLiteral("The capital of Germany is");
const QString kDefaultAnswer = QStringLiteral("Berlin");
const QString kDefaultParaphrases = QStringLiteral(
    "The seat of the government of Germany is in\nGermany is a country whose capital is\n"
    "The main city and capital of Germany is");

QString fmt(double v) { return std::abs(v) >= 0.001 || v == 0 ? QString::number(v, 'f', 4) : QString::number(v, 'g', 3); }

// A number cell: sorts by the value (not its text).
QTableWidgetItem* numberItem(double v) {
    auto* item = new QTableWidgetItem;
    item->setData(Qt::DisplayRole, v);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}

}  // namespace

LocateNeuronsView::LocateNeuronsView(JobRunner* runner, QWidget* parent) : QWidget(parent), runner_(runner) {
    buildUi();
    clock_ = new QTimer(this);
    clock_->setInterval(250);
    connect(clock_, &QTimer::timeout, this, &LocateNeuronsView::updateStatus);
    connect(prompt_, &QLineEdit::textChanged, this, &LocateNeuronsView::updateInputs);
    connect(prompt_, &QLineEdit::returnPressed, this, &LocateNeuronsView::runAttribution);
    connect(answer_, &QLineEdit::returnPressed, this, &LocateNeuronsView::runAttribution);
    connect(controls_, &JobControls::runClicked, this, &LocateNeuronsView::runAttribution);
    connect(controls_, &JobControls::cancelClicked, this, &LocateNeuronsView::cancelAttribution);
    connect(export_, &QPushButton::clicked, this, &LocateNeuronsView::exportWithDialog);
    connect(runner_, &JobRunner::busyChanged, this, &LocateNeuronsView::updateInputs);
    connect(runner_, &JobRunner::progress, this, [this](double done, double total) {
        if (!running_) return;  // another job's progress
        done_ = done;
        total_ = total;
        controls_->setProgress(done, total);
        updateStatus();
    });
    setModel(nullptr);
}

LocateNeuronsView::~LocateNeuronsView() = default;

void LocateNeuronsView::buildUi() {
    auto* outer = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    prompt_ = new QLineEdit(kDefaultPrompt, this);
    prompt_->setObjectName(QStringLiteral("neuronsPrompt"));
    prompt_->setToolTip(tr("The prompt; the answer follows its last token"));
    form->addRow(tr("&Prompt:"), prompt_);
    answer_ = new QLineEdit(kDefaultAnswer, this);
    answer_->setObjectName(QStringLiteral("neuronsAnswer"));
    answer_->setPlaceholderText(tr("automatic: the model's top prediction"));
    answer_->setToolTip(tr("The answer whose probability is attributed (its first token)"));
    form->addRow(tr("&Answer:"), answer_);
    paraphrases_ = new QPlainTextEdit(kDefaultParaphrases, this);
    paraphrases_->setObjectName(QStringLiteral("neuronsParaphrases"));
    paraphrases_->setToolTip(tr("Other prompts of the same fact, one a line: the knowledge neurons are those shared "
                                "by most of the prompts"));
    paraphrases_->setFixedHeight(fontMetrics().lineSpacing() * 4 + 10);
    form->addRow(tr("Pa&raphrases:"), paraphrases_);
    outer->addLayout(form);

    auto* settings = new QHBoxLayout;
    steps_ = new QSpinBox(this);
    steps_->setObjectName(QStringLiteral("neuronsSteps"));
    steps_->setRange(1, 10000);
    steps_->setValue(20);
    steps_->setToolTip(tr("Riemann points m of the integrated gradients: m backward passes per layer (20, the paper's)"));
    threshold_ = new QDoubleSpinBox(this);
    threshold_->setObjectName(QStringLiteral("neuronsThreshold"));
    threshold_->setRange(0, 1);
    threshold_->setSingleStep(0.05);
    threshold_->setValue(0.2);
    threshold_->setToolTip(tr("t: a prompt's coarse neurons score above t × its largest score (0.2)"));
    share_ = new QDoubleSpinBox(this);
    share_->setObjectName(QStringLiteral("neuronsShare"));
    share_->setRange(-0.05, 1);
    share_->setSingleStep(0.05);
    share_->setValue(-0.05);
    share_->setSpecialValueText(tr("adaptive"));
    share_->setToolTip(tr("p: keep neurons coarse in at least max(p × n, 3) of the n prompts; adaptive = the paper's "
                          "code (from 0.7, moved by 0.05 towards 2–5 neurons)"));
    for (auto [label, w] : {std::pair<QString, QWidget*>{tr("&Steps:"), steps_}, {tr("&Threshold:"), threshold_},
                            {tr("S&hare:"), share_}}) {
        auto* l = new QLabel(label, this);
        l->setBuddy(w);
        settings->addWidget(l);
        settings->addWidget(w);
    }
    settings->addStretch(1);
    outer->addLayout(settings);

    message_ = new QLabel(this);
    message_->setObjectName(QStringLiteral("neuronsMessage"));
    outer->addWidget(message_);
    controls_ = new JobControls(tr("Find &neurons"),
                                {QStringLiteral("neuronsRun"), QStringLiteral("neuronsCancel"),
                                 QStringLiteral("neuronsProgress"), QStringLiteral("neuronsStatus")},
                                this);
    status_ = controls_->statusLabel();
    export_ = new QPushButton(tr("E&xport…"), this);
    export_->setObjectName(QStringLiteral("neuronsExport"));
    export_->setToolTip(tr("Save the plot as PNG, PDF or SVG"));
    controls_->addTrailingWidget(export_);
    outer->addWidget(controls_);

    auto* split = new QSplitter(Qt::Vertical, this);
    plot_ = new kme::widgets::NeuronAttributionPlot(split);
    table_ = new QTableWidget(0, 6, split);
    table_->setObjectName(QStringLiteral("neuronsTable"));
    table_->setHorizontalHeaderLabels(
        {tr("Rank"), tr("Layer"), tr("Neuron"), tr("Score"), tr("Coarse in"), tr("Knowledge neuron")});
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->verticalHeader()->setVisible(false);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSortingEnabled(true);
    split->addWidget(plot_);
    split->addWidget(table_);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    outer->addWidget(split, 1);
}

void LocateNeuronsView::setModel(std::shared_ptr<kme::Model> model) {
    model_ = std::move(model);
    lastResult_.reset();
    plot_->clear();
    plot_->setPlaceholderText(model_ ? tr("Press Find neurons: integrated gradients of the answer's probability "
                                          "with respect to every MLP neuron at the last token, layer by layer.")
                                     : tr("Open a model folder (File ▸ Open model folder…, Ctrl+O) to start."));
    table_->setRowCount(0);
    status_->clear();
    updateInputs();
}

QPushButton* LocateNeuronsView::runButton() const { return controls_->runButton(); }

QPushButton* LocateNeuronsView::cancelButton() const { return controls_->cancelButton(); }

QString LocateNeuronsView::inputError() const {
    if (prompt_->text().trimmed().isEmpty()) return tr("Type a prompt.");
    return {};
}

void LocateNeuronsView::updateInputs() {
    const QString error = inputError();
    message_->setText(error);
    QPalette pal = message_->palette();
    pal.setColor(QPalette::WindowText, errorColor(palette()));
    message_->setPalette(pal);
    message_->setVisible(!error.isEmpty());
    controls_->setRunEnabled(model_ && error.isEmpty() && !runner_->isBusy(),
                             model_ ? error : tr("Open a model first (File ▸ Open model folder…)."));
    controls_->setBusy(running_);
    export_->setEnabled(!plot_->isEmpty() && !running_);
}

void LocateNeuronsView::updateStatus() {
    if (!running_) return;
    const double seconds = elapsed_.elapsed() / 1000.0;
    status_->setText(total_ > 0 ? tr("Attributing: %1 of %2 layers × prompts, %3 s")
                                      .arg(int(done_))
                                      .arg(int(total_))
                                      .arg(seconds, 0, 'f', 1)
                                : tr("Attributing: %1 s").arg(seconds, 0, 'f', 1));
}

bool LocateNeuronsView::runAttribution() {
    if (!model_ || runner_->isBusy() || !inputError().isEmpty()) return false;
    kme::NeuronParams params;
    params.prompt = prompt_->text().toStdString();
    params.answer = answer_->text().trimmed().toStdString();
    for (const QString& line : paraphrases_->toPlainText().split(QLatin1Char('\n')))
        if (!line.trimmed().isEmpty()) params.paraphrases.push_back(line.toStdString());
    params.steps = steps_->value();
    params.threshold = threshold_->value();
    params.share = share_->value() < 0 ? -1 : share_->value();
    auto model = model_;
    auto result = std::make_shared<kme::NeuronResult>();
    const bool started = runner_->start(
        tr("Finding knowledge neurons"),
        [model, params, result](const kme::ProgressFn& progress) {
            // `progress` returns false once Cancel was pressed: the engine
            // then throws kme::Cancelled after the layer it is on.
            *result = kme::knowledgeNeurons(*model, params, progress);
        },
        [this, result] { showResult(result); },
        [this](JobOutcome outcome, const QString& message) { onFinished(outcome, message); });
    if (!started) return false;
    running_ = true;
    done_ = total_ = 0;
    lastResult_.reset();
    plot_->clear();
    plot_->setPlaceholderText(tr("Attributing layer by layer…"));
    table_->setRowCount(0);
    elapsed_.start();
    clock_->start();
    updateStatus();
    updateInputs();
    return true;
}

void LocateNeuronsView::cancelAttribution() {
    if (running_) runner_->cancel();
}

kme::widgets::NeuronPlotData LocateNeuronsView::plotData(const kme::NeuronResult& r, int topK) {
    kme::widgets::NeuronPlotData d;
    if (r.prompts.empty()) return d;
    const kme::PromptAttribution& main = r.prompts.front();
    d.nLayer = r.nLayer;
    d.topK = std::min(topK, r.nInner);
    d.indices.resize(r.nLayer);
    d.scores.resize(r.nLayer);
    d.layerSums.fill(0.0, r.nLayer);
    d.expectedSums.fill(std::nan(""), r.nLayer);
    for (int l = 0; l < r.nLayer; ++l) {
        const auto& row = main.scores[size_t(l)];
        std::vector<int> order(row.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
        const size_t k = std::min<size_t>(size_t(d.topK), order.size());
        std::partial_sort(order.begin(), order.begin() + long(k), order.end(),
                          [&](int a, int b) { return row[size_t(a)] > row[size_t(b)]; });
        d.indices[l].fill(-1, d.topK);
        d.scores[l].fill(0.0, d.topK);
        for (size_t i = 0; i < k; ++i) {
            d.indices[l][int(i)] = order[i];
            d.scores[l][int(i)] = row[size_t(order[i])];
        }
    }
    for (const auto& la : main.layers) {
        d.layerSums[la.layer] = la.sum;
        d.expectedSums[la.layer] = la.pClean - la.pBaseline;
    }
    for (const auto& n : r.neurons) d.selected.insert({n.layer, n.index});
    d.title = tr("Knowledge neurons of “%1” after “%2”")
                  .arg(QString::fromStdString(r.answerToken), QString::fromStdString(main.prompt));
    QString share = r.shareUsed < 0 ? tr("one prompt, no refinement")
                                    : tr("kept when coarse in ≥ max(%1 × %2, %3) prompts%4")
                                          .arg(r.shareUsed, 0, 'f', 2)
                                          .arg(r.prompts.size())
                                          .arg(r.minCount)
                                          .arg(r.shareAdaptive ? tr(" (adaptive)") : QString());
    d.subtitle = tr("p(answer) %1 · integrated gradients, %2 steps · coarse: score > %3 × max · %4 · %5 knowledge "
                    "neuron(s), outlined")
                     .arg(fmt(main.prob))
                     .arg(r.steps)
                     .arg(r.threshold, 0, 'g', 3)
                     .arg(share)
                     .arg(r.neurons.size());
    return d;
}

void LocateNeuronsView::fillTable(const kme::NeuronResult& r) {
    table_->setSortingEnabled(false);
    table_->setRowCount(0);
    const kme::PromptAttribution& main = r.prompts.front();
    // The prompt's strongest neurons, and every selected one.
    std::vector<std::pair<int, int>> rows;
    std::vector<kme::NeuronScore> all;
    for (int l = 0; l < r.nLayer; ++l)
        for (size_t i = 0; i < main.scores[size_t(l)].size(); ++i) all.push_back({l, int(i), main.scores[size_t(l)][i], 0});
    std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
    std::map<std::pair<int, int>, int> coarseIn;
    for (const auto& pa : r.prompts)
        for (const auto& c : pa.coarse) ++coarseIn[{c.layer, c.index}];
    std::map<std::pair<int, int>, bool> selected;
    for (const auto& n : r.neurons) selected[{n.layer, n.index}] = true;
    std::map<std::pair<int, int>, int> rankOf;
    for (size_t i = 0; i < all.size(); ++i) {
        rankOf[{all[i].layer, all[i].index}] = int(i) + 1;
        if (int(i) < kTableRows || selected.count({all[i].layer, all[i].index})) rows.push_back({all[i].layer, all[i].index});
    }
    table_->setRowCount(int(rows.size()));
    for (int row = 0; row < int(rows.size()); ++row) {
        const auto [layer, index] = rows[size_t(row)];
        const double score = main.scores[size_t(layer)][size_t(index)];
        QString tip = tr("layer %1, neuron %2\nscore on the prompt %3").arg(layer).arg(index).arg(score, 0, 'g', 8);
        for (size_t q = 1; q < r.prompts.size(); ++q)
            tip += tr("\nparaphrase %1: %2").arg(q).arg(r.prompts[q].scores[size_t(layer)][size_t(index)], 0, 'g', 6);
        const bool isSelected = selected.count({layer, index}) > 0;
        QTableWidgetItem* items[6] = {numberItem(rankOf[{layer, index}]), numberItem(layer), numberItem(index),
                                      numberItem(score),
                                      numberItem(coarseIn.count({layer, index}) ? coarseIn[{layer, index}] : 0),
                                      new QTableWidgetItem(isSelected ? tr("✔ selected") : QString())};
        for (int c = 0; c < 6; ++c) {
            items[c]->setToolTip(tip);
            if (isSelected) {
                QFont f = items[c]->font();
                f.setBold(true);
                items[c]->setFont(f);
            }
            table_->setItem(row, c, items[c]);
        }
    }
    table_->setSortingEnabled(true);
    table_->sortByColumn(0, Qt::AscendingOrder);
    table_->resizeColumnsToContents();
}

void LocateNeuronsView::showResult(const std::shared_ptr<kme::NeuronResult>& result) {
    lastResult_ = result;
    plot_->setData(plotData(*result, kTopPerLayer));
    fillTable(*result);
}

void LocateNeuronsView::onFinished(JobOutcome outcome, const QString& message) {
    running_ = false;
    clock_->stop();
    const double seconds = elapsed_.elapsed() / 1000.0;
    switch (outcome) {
        case JobOutcome::Succeeded: {
            const kme::NeuronResult& r = *lastResult_;
            double worstGap = 0;
            for (const auto& la : r.prompts.front().layers) worstGap = std::max(worstGap, std::abs(la.gap()));
            status_->setText(tr("Done in %1 s: %2 knowledge neuron(s) of %3 × %4; completeness: each layer's scores "
                                "sum to p(a) − p(0) within %5 (hover the bars).")
                                 .arg(seconds, 0, 'f', 1)
                                 .arg(r.neurons.size())
                                 .arg(r.nLayer)
                                 .arg(r.nInner)
                                 .arg(fmt(worstGap)));
            break;
        }
        case JobOutcome::Cancelled: status_->setText(tr("Cancelled after %1 s.").arg(seconds, 0, 'f', 1)); break;
        case JobOutcome::Failed: status_->setText(tr("Attribution failed: %1").arg(message)); break;
    }
    if (plot_->isEmpty()) plot_->setPlaceholderText(tr("No plot: %1").arg(status_->text()));
    updateInputs();
    Q_EMIT attributionFinished(outcome == JobOutcome::Succeeded);
}

bool LocateNeuronsView::exportPlot(const QString& path, QString* error) { return plot_->exportTo(path, error); }

void LocateNeuronsView::exportWithDialog() {
    const QString path = askPictureExportPath(this, tr("Export plot"), QStringLiteral("knowledge-neurons.png"));
    if (path.isEmpty()) return;
    QString error;
    if (exportPlot(path, &error)) status_->setText(tr("Exported the plot to %1.").arg(path));
    else QMessageBox::warning(this, tr("Export plot"), error);
}

}  // namespace kme::app
