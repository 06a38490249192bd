// The Evaluate tab's one-method results: the metric table, the grouped bar
// chart of the kept runs, and the runs saved in (and read back from) the
// session. The inputs and the run itself are in EvaluateTab.cpp.
#include <QFile>
#include <QFileInfo>
#include <QComboBox>
#include <QLabel>
#include <QTableWidget>
#include <cmath>
#include <nlohmann/json.hpp>

#include "app/gui/SessionController.h"
#include "app/gui/tabs/EvaluateTab.h"
#include "app/gui/tabs/EvaluateTabRun.h"
#include "app/gui/widgets/SavedRunsCombo.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/eval/EvalCurvesJson.h"
#include "engine/eval/EvalJson.h"
#include "engine/session/SessionStore.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/ScoreBarChart.h"

namespace kme::app {

namespace {

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
    listRuns(int(runs_.size()) - 1);
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

void EvaluateTab::listRuns(int shown) {
    QVector<SavedRunItem> items;  // newest first
    for (int i = int(runs_.size()) - 1; i >= 0; --i) {
        const Run& run = *runs_[size_t(i)];
        const QString when = run.created.isEmpty()
                                 ? tr("not saved")
                                 : localTimeText(run.created.toStdString(), QStringLiteral("HH:mm"));
        items.push_back({qint64(i) + 1, QStringLiteral("%1 — %2 records — %3").arg(run.label).arg(run.summary.recordCount).arg(when),
                         tr("%1 on %2\n%3").arg(run.label, run.factFile,
                                                 run.created.isEmpty() ? tr("not saved in the session")
                                                                       : tr("Saved %1").arg(run.created))});
    }
    saved_->setItems(items, shown >= 0 ? qint64(shown) + 1 : 0);
}

void EvaluateTab::clearResults() {
    runs_.clear();
    listRuns(-1);
    table_->setRowCount(0);
    caption_->setText(tr("No results yet."));
    updateChart();
    updateInputs();
}

}  // namespace kme::app
