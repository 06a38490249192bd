#pragma once
// The Evaluate tab's "several methods" page (issue 16, item 2): the methods
// checked run one after another on the same records (one selection, one
// order, the same seeds) through engine/eval/EvalCurves.h on the job runner,
// one progress bar per method, Cancel stops the whole comparison. Shown: a
// table of the KME survey's six properties (accuracy = efficacy, generality =
// paraphrase, locality = neighbourhood and the subject's other attributes,
// portability beside the unedited model's two-hop accuracy, retainability =
// efficacy on all N edits after N sequential edits, scalability = efficacy
// with the largest batch), the same as a grouped bar chart, and the retention
// and scalability curves (QCustomPlot; PNG / PDF / SVG and CSV export).
//
// Every finished comparison is saved in the session, one metric run per
// method (engine/eval/EvalCurvesJson.h: the run, its curves, its six
// properties, and the comparison id in its parameters, as `kme eval
// --methods --session` saves them); reopening the session shows the latest
// comparison again.
#include <QString>
#include <QWidget>
#include <functional>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/edit/EditMethod.h"

class QCheckBox;
class QComboBox;
class QGridLayout;
class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace kme {
class Model;
}

namespace kme::widgets {
class CurvePlot;
class ScoreBarChart;
}  // namespace kme::widgets

namespace kme::app {

class JobControls;
class JobRunner;
class SavedRunsCombo;
class SessionController;

class EvaluateMethodsPanel final : public QWidget {
    Q_OBJECT

public:
    // `factFile` gives the fact file the tab shows (shared with the one-method page).
    EvaluateMethodsPanel(JobRunner* runner, SessionController* session, std::function<QString()> factFile,
                         QWidget* parent = nullptr);
    ~EvaluateMethodsPanel() override;

    void setModel(std::shared_ptr<kme::Model> model);
    // Checks exactly these methods (the rest unchecked).
    void setMethods(const std::vector<kme::EditMethod>& methods);
    std::vector<kme::EditMethod> checkedMethods() const;
    QString inputError() const;  // "" = Run can start
    bool isRunning() const { return running_; }

    QListWidget* methodList() const { return methods_; }
    QSpinBox* recordsSpin() const { return records_; }
    QComboBox* selectionCombo() const { return selection_; }
    QCheckBox* retainCheck() const { return retain_; }
    QCheckBox* scaleCheck() const { return scale_; }
    QPushButton* runButton() const;
    QPushButton* cancelButton() const;
    JobControls* jobControls() const { return controls_; }
    QLabel* messageLabel() const { return message_; }
    QTableWidget* table() const { return table_; }
    kme::widgets::ScoreBarChart* chart() const { return chart_; }
    kme::widgets::CurvePlot* retentionPlot() const { return retainPlot_; }
    kme::widgets::CurvePlot* scalePlot() const { return scalePlot_; }
    // One bar per method of the running (or last) comparison.
    std::vector<QProgressBar*> progressBars() const { return bars_; }
    // The session's saved comparisons, newest first (the item data: the first run's id).
    QComboBox* savedCombo() const;

    // The table's columns (rows: methods).
    enum Column { kAccuracy, kGenerality, kLocality, kOtherAttributes, kPortability, kPortabilityUnedited,
                  kRetainability, kScalability, kSeconds, kColumnCount };
    // Methods of the comparison shown, in run order ("rome", ...).
    std::vector<std::string> methodsShown() const;
    // Exports: CSV of the comparison (method,series,x,metric,value); the chart
    // and the curves as PNG / PDF / SVG by suffix. False + *error on failure.
    bool exportCsv(const QString& path, QString* error) const;
    bool exportChart(const QString& path, QString* error) const;

public Q_SLOTS:
    // Re-checks the inputs (the fact file is the tab's: it calls this when it changes).
    void updateInputs();
    bool runComparison();
    void cancelComparison();
    // Lists the session's saved comparisons and shows the latest (none: empty views).
    void showSaved();
    // Shows the saved comparison whose first run is metric run `firstRunId`
    // (as the "Saved comparisons" list names it), its inputs in the controls.
    // False (the views unchanged) when it cannot be read or a run goes on.
    bool showSavedComparison(qint64 firstRunId);

Q_SIGNALS:
    void comparisonFinished(bool ok);

private:
    struct Shown;  // a comparison: its method runs' JSON, read back
    void buildUi();
    void showMessage(const QString& text, bool error);
    void showComparison(const Shown& shown);
    void showInputsOf(const Shown& shown);  // a saved comparison's methods, records, selection, curves
    // Fills the saved list from the session (selecting comparison `shownId`);
    // returns the first run's id of the newest comparison (0: none).
    qint64 listSaved(const std::string& shownId);
    void clearViews();
    void exportWithDialog(int what);  // 0 chart, 1 retention, 2 scale, 3 CSV

    JobRunner* runner_;
    SessionController* session_;
    std::function<QString()> factFile_;
    std::shared_ptr<kme::Model> model_;
    QListWidget* methods_ = nullptr;
    QSpinBox* records_ = nullptr;
    QComboBox* selection_ = nullptr;
    QCheckBox* retain_ = nullptr;
    QCheckBox* scale_ = nullptr;
    JobControls* controls_ = nullptr;  // Run, Cancel, the overall progress, the saved comparisons, Export
    SavedRunsCombo* saved_ = nullptr;
    QPushButton* export_ = nullptr;
    QGridLayout* barsGrid_ = nullptr;
    std::vector<QProgressBar*> bars_;
    std::vector<QLabel*> barLabels_;
    QLabel* message_ = nullptr;
    QLabel* caption_ = nullptr;
    QTableWidget* table_ = nullptr;
    kme::widgets::ScoreBarChart* chart_ = nullptr;
    kme::widgets::CurvePlot* retainPlot_ = nullptr;
    kme::widgets::CurvePlot* scalePlot_ = nullptr;
    std::unique_ptr<Shown> shown_;
    bool running_ = false;
    bool saving_ = false;
    QString note_;
    bool noteError_ = false;
};

}  // namespace kme::app
