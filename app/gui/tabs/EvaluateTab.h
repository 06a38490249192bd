#pragma once
// The "Evaluate" tab (issue 7, item 5): runs an edit method over records of
// a fact set (the demo facts next to the model, or a CounterFact / zsRE
// file) with engine/eval/EditEvaluation.h and shows ROME's metrics: a table
// (metric rows x edited / unedited / 95% interval) of the latest run and a
// grouped bar chart that keeps earlier runs, one colour per method run, so
// methods can be compared. Three modes: each record on the unedited weights
// (fresh), all records in one edit (one batch), or the edits accumulated
// (sequential, which adds the efficacy right after each edit). The
// evaluation runs on the live weights (edits applied in the session
// included) on the job runner; the engine restores every weight before it
// returns, and the caption names the weights hash.
//
// Every finished run is saved in the session (a MetricRunRecord whose
// results are engine/eval/EvalJson.h's JSON, creating an autosave session
// when none is open); when another session becomes current the tab shows
// that session's runs instead, so a reopened session shows its evaluations.
//
// The fact file sits above two pages: "One method" (the above) and "Several
// methods" (EvaluateMethodsPanel: methods side by side on the same records,
// the six properties, the retention and scalability curves). The one-method
// page leaves out the runs of saved comparisons (the other page shows them).
#include <QString>
#include <QWidget>
#include <memory>
#include <vector>

#include "engine/edit/EditMethod.h"

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QTabWidget;

namespace kme {
class Model;
struct MetricRunRecord;
}  // namespace kme

namespace kme::widgets {
class ScoreBarChart;
}

namespace kme::app {

class EvaluateMethodsPanel;
class JobControls;
class SavedRunsCombo;
class JobRunner;
class SessionController;

class EvaluateTab final : public QWidget {
    Q_OBJECT

public:
    // `session` may be nullptr (tests): the weights hash is then computed.
    EvaluateTab(JobRunner* runner, SessionController* session, QWidget* parent = nullptr);
    ~EvaluateTab() override;

    // The model evaluated (nullptr: none). Prefills the demo fact file
    // (<model folder>/../facts.json) when it exists.
    void setModel(std::shared_ptr<kme::Model> model);

    // Why Run cannot start ("" = it can): cheap checks, no engine call.
    QString inputError() const;
    bool isEvaluating() const { return evaluating_; }
    // Runs kept for the chart (latest last).
    int runCount() const { return int(runs_.size()); }
    void clearResults();

    QLineEdit* factFileEdit() const { return factFile_; }
    QComboBox* methodCombo() const { return method_; }
    QSpinBox* recordsSpin() const { return records_; }
    QComboBox* selectionCombo() const { return selection_; }
    QComboBox* modeCombo() const { return mode_; }
    QSpinBox* batchSpin() const { return batch_; }
    QSpinBox* stepsSpin() const { return steps_; }
    QCheckBox* fluencyCheck() const { return fluency_; }
    QPushButton* runButton() const;
    QPushButton* cancelButton() const;
    JobControls* jobControls() const { return controls_; }
    // The kept runs, newest first (item data: 1 + the run's index); choosing one shows it in the table.
    QComboBox* savedRunsCombo() const;
    QLabel* messageLabel() const { return message_; }
    QLabel* captionLabel() const { return caption_; }
    QTableWidget* table() const { return table_; }
    QCustomPlot* chart() const;  // the chart's plot (bars, legend)
    kme::widgets::ScoreBarChart* scoreChart() const { return chart_; }
    // The pages: one method (the controls above), several methods (issue 16).
    QTabWidget* pages() const { return pages_; }
    EvaluateMethodsPanel* methodsPanel() const { return methodsPanel_; }

    // Table columns.
    enum Column { kEditedCol = 0, kUneditedCol = 1, kCiCol = 2 };
    // The table row of a metric ("efficacy_score"...; batched and sequential
    // runs add "neighborhood_excluded", "other_attributes_excluded"), -1 when
    // not shown.
    int rowOf(const QString& metric) const;
    // The modes of modeCombo() (its item data).
    enum Mode { kFreshMode = 0, kOneBatchMode = 1, kSequentialMode = 2 };

public Q_SLOTS:
    // Starts the evaluation; false when the inputs are wrong, nothing is loaded or a job runs.
    bool runEvaluation();
    void cancelEvaluation();
    // Replaces the runs shown with the session's saved runs (latest in the
    // table, all on the chart); none without a session. Runs that cannot be
    // read are skipped, and the message says so. Connected to
    // SessionController::sessionChanged (ignored while a run is being saved).
    void showSaved();

Q_SIGNALS:
    // After Run: results shown (ok), or failed / cancelled (message shown).
    void evaluationFinished(bool ok);

private:
    struct Run;
    void buildUi();
    void updateInputs();
    void showMessage(const QString& text, bool error);
    void showTable(const Run& run);
    void updateChart();
    void listRuns(int shown);  // the saved-runs list from runs_; `shown` the index in the table (-1 none)
    void keepRun(std::shared_ptr<Run> run);  // labels it ("ROME #2") and appends it to runs_
    void saveRun(Run& run);                  // in the session; saveNote_ says how it went
    std::shared_ptr<Run> runFromRecord(const kme::MetricRunRecord& record) const;  // throws on a damaged record
    QString methodText(int method) const;    // "ROME"

    JobRunner* runner_;
    SessionController* session_;
    std::shared_ptr<kme::Model> model_;
    QString autoFactFile_;  // the prefilled default ("" none): replaced on a model change unless edited
    QLineEdit* factFile_ = nullptr;
    QTabWidget* pages_ = nullptr;
    EvaluateMethodsPanel* methodsPanel_ = nullptr;
    QComboBox* method_ = nullptr;
    QSpinBox* records_ = nullptr;
    QComboBox* selection_ = nullptr;
    QComboBox* mode_ = nullptr;
    QLabel* batchLabel_ = nullptr;
    QSpinBox* batch_ = nullptr;
    QSpinBox* steps_ = nullptr;
    QCheckBox* fluency_ = nullptr;
    JobControls* controls_ = nullptr;  // Run, Cancel, progress, the saved runs, Clear
    SavedRunsCombo* saved_ = nullptr;
    QPushButton* clear_ = nullptr;
    QLabel* message_ = nullptr;
    QLabel* caption_ = nullptr;
    QTableWidget* table_ = nullptr;
    kme::widgets::ScoreBarChart* chart_ = nullptr;
    std::vector<std::shared_ptr<Run>> runs_;
    bool evaluating_ = false;
    QString note_;           // the last run's outcome, shown while the inputs are fine
    bool noteError_ = false;
    QString saveNote_;       // how saving the last run went (becomes note_ when it finishes)
    bool saveError_ = false;
    bool saving_ = false;    // a run is being written: a session created for it must not replace runs_
};

}  // namespace kme::app
