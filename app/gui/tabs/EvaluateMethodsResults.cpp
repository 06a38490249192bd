// The several-methods page's results: the six-property table, the grouped
// chart and the two curves of a comparison, the latest saved comparison read
// back from the session, and the exports (CSV, PNG / PDF / SVG).
#include "app/gui/tabs/EvaluateMethodsPanel.h"
#include "app/gui/tabs/EvaluateMethodsShown.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFile>
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
#include "app/gui/widgets/ExportDialog.h"
#include "app/gui/widgets/SavedRunsCombo.h"
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

using json = nlohmann::json;
using namespace methods_page;

void EvaluateMethodsPanel::clearViews() {
    table_->setRowCount(0);
    chart_->clear();
    retainPlot_->setData(tr("Retention: edits 1..k after k edits"), tr("edits made (k)"), {}, false);
    scalePlot_->setData(tr("Scalability: fresh batches"), tr("requests per edit (batch size)"), {}, true);
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
        {"accuracy", QT_TR_NOOP("accu-\nracy")},       {"generality", QT_TR_NOOP("gener-\nality")},
        {"locality", QT_TR_NOOP("loca-\nlity")},       {"other_attributes", QT_TR_NOOP("other\nattr.")},
        {"portability", QT_TR_NOOP("porta-\nbility")}, {"retainability", QT_TR_NOOP("retain-\nability")},
        {"scalability", QT_TR_NOOP("scal-\nability")}};
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
            kme::widgets::CurveLine eff{name, {}, {}, int(r), false};  // the legend names the method
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
    caption += tr(" Curves: solid = efficacy, dashed = neighbourhood.");
    if (!shown.id.isEmpty()) caption += tr(" Saved in the session (%1).").arg(shown.id);
    if (shown.editsApplied) caption += tr(" Weights: the live weights with the session's edits applied.");
    caption_->setText(caption);
    updateInputs();
}

qint64 EvaluateMethodsPanel::listSaved(const std::string& shownId) {
    // The comparisons: runs sharing a comparison id, named by their first run.
    struct Group {
        qint64 firstRun = 0;
        std::string created, dataset;
        QStringList methods;
    };
    std::vector<std::string> order;
    std::map<std::string, Group> groups;
    kme::SessionStore* store = session_ ? session_->store() : nullptr;
    if (store)
        for (const kme::MetricRunRecord& r : store->listMetricRuns()) {
            const std::string id = kme::comparisonIdOf(r.paramsJson);
            if (id.empty()) continue;
            auto [it, fresh] = groups.try_emplace(id);
            if (fresh) {
                order.push_back(id);
                it->second.firstRun = r.id;
                it->second.created = r.created;
                it->second.dataset = r.dataset;
            }
            it->second.methods << displayName(r.method);
        }
    QVector<SavedRunItem> items;  // newest first
    qint64 shown = 0;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        const Group& g = groups.at(*it);
        const QString methods = g.methods.join(QStringLiteral(", "));
        items.push_back({g.firstRun, QStringLiteral("%1 — %2").arg(methods, localTimeText(g.created, QStringLiteral("HH:mm"))),
                         tr("%1\n%2\nSaved %3")
                             .arg(methods, QFile::decodeName(QByteArray::fromStdString(g.dataset)),
                                  localTimeText(g.created, QStringLiteral("yyyy-MM-dd HH:mm")))});
        if (*it == shownId) shown = g.firstRun;
    }
    saved_->setItems(items, shown);
    return items.isEmpty() ? 0 : items.front().id;
}

void EvaluateMethodsPanel::showSaved() {
    if (saving_) return;
    shown_.reset();
    clearViews();
    note_.clear();
    noteError_ = false;
    try {
        const qint64 latest = listSaved({});
        if (latest) showSavedComparison(latest);
    } catch (const std::exception& e) {
        saved_->setItems({}, 0);
        noteError_ = true;
        note_ = tr("The session's saved comparisons could not be read: %1").arg(QString::fromStdString(e.what()));
    }
    updateInputs();
}

bool EvaluateMethodsPanel::showSavedComparison(qint64 firstRunId) {
    kme::SessionStore* store = session_ ? session_->store() : nullptr;
    if (!store || running_) return false;
    try {
        const std::vector<kme::MetricRunRecord> records = store->listMetricRuns();
        std::string wanted;
        for (const kme::MetricRunRecord& r : records)
            if (r.id == firstRunId) wanted = kme::comparisonIdOf(r.paramsJson);
        if (wanted.empty())
            kme::fail(kme::ErrorKind::Input, "metric run " + std::to_string(firstRunId) + " is not part of a saved comparison");
        auto shown = std::make_unique<Shown>();
        shown->id = QString::fromStdString(wanted);
        for (const kme::MetricRunRecord& r : records) {
            if (kme::comparisonIdOf(r.paramsJson) != wanted) continue;
            const json params = json::parse(r.paramsJson, nullptr, false);
            json results = kme::parseJson(r.resultsJson, "a saved comparison run");
            kme::evalRunSummaryFromJson(results);  // throws for a run that is not one
            shown->names.push_back(r.method);
            shown->runs.push_back(std::move(results));
            shown->factFile = QFile::decodeName(QByteArray::fromStdString(r.dataset));
            shown->records = int(numberOr(params, "records", 0));
            shown->editsApplied = params.is_object() && params.value("edits_applied", false);
            if (params.is_object()) {
                const auto selection = params.find("selection");
                if (selection != params.end() && selection->is_string()) shown->selection = *selection;
                const auto curves = params.find("curves");
                if (curves != params.end() && curves->is_array()) {
                    shown->retain = std::find(curves->begin(), curves->end(), "retain") != curves->end();
                    shown->scale = std::find(curves->begin(), curves->end(), "scale") != curves->end();
                }
            }
        }
        shown_ = std::move(shown);
        showInputsOf(*shown_);
        showComparison(*shown_);
        saved_->select(firstRunId);
        noteError_ = false;
        note_ = tr("Comparison of %n method(s) saved in session “%1”.", nullptr, int(shown_->runs.size()))
                    .arg(session_->sessionName());
    } catch (const std::exception& e) {
        shown_.reset();
        clearViews();
        saved_->select(0);
        noteError_ = true;
        note_ = tr("The session's saved comparison could not be read: %1").arg(QString::fromStdString(e.what()));
        updateInputs();
        return false;
    }
    updateInputs();
    return true;
}

void EvaluateMethodsPanel::showInputsOf(const Shown& shown) {
    // The controls say what the comparison shown ran with, so Run repeats it:
    // its methods checked (names this build does not know are left out), its
    // record count, selection and curves.
    std::vector<kme::EditMethod> methods;
    for (const std::string& name : shown.names)
        if (const kme::MethodInfo* row = kme::findMethod(name)) methods.push_back(row->method);
    if (!methods.empty()) setMethods(methods);
    if (shown.records > 0) records_->setValue(shown.records);
    if (const auto how = kme::parseRecordSelection(shown.selection)) {
        const int at = selection_->findData(int(*how));
        if (at >= 0) selection_->setCurrentIndex(at);
    }
    if (shown.retain || shown.scale) {
        retain_->setChecked(shown.retain);
        scale_->setChecked(shown.scale);
    }
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
    const QStringList names = {QStringLiteral("methods-chart.png"), QStringLiteral("retention.png"),
                               QStringLiteral("scalability.png"), QStringLiteral("methods.csv")};
    const QString path = what == 3 ? askCsvExportPath(this, tr("Export"), names[what])
                                   : askPictureExportPath(this, tr("Export"), names[what]);
    if (path.isEmpty()) return;
    QString error;
    const bool ok = what == 0   ? exportChart(path, &error)
                    : what == 1 ? retainPlot_->exportTo(path, &error)
                    : what == 2 ? scalePlot_->exportTo(path, &error)
                                : exportCsv(path, &error);
    if (ok) showMessage(tr("Exported to %1.").arg(path), false);
    else QMessageBox::warning(this, tr("Export"), error);
}

}  // namespace kme::app
