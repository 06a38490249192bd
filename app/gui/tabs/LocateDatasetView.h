#pragma once
// The Locate tab's "Dataset average" view: causal traces averaged over a fact
// set (ROME's Figure 2, kme::traceDataset) on the job runner, with progress,
// cancel and a plot that grows as facts are traced. Clicking a layer chooses
// the edit layer, as clicking a heatmap column does. A finished run goes out
// as JSON (datasetRecorded) for the session; runs saved in the session are
// shown again without recomputing (showSavedRun, the "Saved" combo box; the
// Locate tab reads them from the session).
#include <QElapsedTimer>
#include <QVector>
#include <QWidget>
#include <memory>

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTimer;

namespace kme {
class Model;
struct TraceDatasetResult;
}  // namespace kme
namespace kme::widgets {
class TraceDatasetPlot;
struct TraceDatasetPlotData;
}  // namespace kme::widgets

namespace kme::app {

class JobControls;
class JobRunner;
class SavedRunsCombo;
enum class JobOutcome;
struct SavedRunItem;
struct DatasetPartialSink;

class LocateDatasetView final : public QWidget {
    Q_OBJECT

public:
    explicit LocateDatasetView(JobRunner* runner, QWidget* parent = nullptr);
    ~LocateDatasetView() override;

    // The model runs use (nullptr: nothing loaded). Clears the plot; points
    // the fact file at the model's project (<project>/facts.json) when the
    // user has not chosen one.
    void setModel(std::shared_ptr<kme::Model> model);

    void setFactFile(const QString& path);
    QString factFile() const;
    // Where a fact file is looked for first: <model folder>/../facts.json,
    // else the demo project's facts.json; "" when neither exists.
    static QString defaultFactFile(const kme::Model* model);
    // Why Run cannot start ("" = it can): plain checks, no engine call.
    QString inputError() const;

    bool isRunning() const { return running_; }
    int partialUpdates() const { return partialUpdates_; }  // growing averages shown during the last run
    // The last finished run (nullptr: none yet, or cancelled / failed).
    std::shared_ptr<const kme::TraceDatasetResult> lastResult() const { return lastResult_; }
    // ROME's edit layer from the last finished run: where the MLP effect at
    // the last subject token peaks; -1 without one.
    int suggestedEditLayer() const;
    // Writes the plot as PNG, PDF or SVG (by suffix).
    bool exportPlot(const QString& path, QString* error = nullptr);
    // Marks the chosen edit layer in the plot (-1: none).
    void setMarkedLayer(int layer);

    // Shows a run saved in the session (request and result as written by
    // datasetRecorded): plot, caption and status, and its fact file (when it
    // exists), limit and samples in the fields; nothing is recomputed.
    // `when` is the time it was saved, as shown. False with *error, and the
    // view unchanged, when the JSON does not read as a dataset run or its
    // layers differ from the loaded model's, or a run is going on.
    bool showSavedRun(qint64 id, const QString& requestJson, const QString& resultJson, const QString& when,
                      QString* error = nullptr);
    // The saved run on screen (0: a live run, or none).
    qint64 shownSavedRun() const { return shownSavedRun_; }
    // Back to the empty plot (a session without dataset runs).
    void clearRun();
    // The session's saved runs for the "Saved" combo box, newest first;
    // `shown` is the one on screen (0: none).
    void setSavedRuns(const QVector<SavedRunItem>& runs, qint64 shown);
    QComboBox* savedRunsCombo() const;

    QLineEdit* factFileEdit() const { return facts_; }
    QPushButton* browseButton() const { return browse_; }
    QSpinBox* limitSpin() const { return limit_; }
    QSpinBox* samplesSpin() const { return samples_; }
    QPushButton* runButton() const;
    QPushButton* cancelButton() const;
    JobControls* jobControls() const { return controls_; }
    QPushButton* exportButton() const { return export_; }
    QLabel* messageLabel() const { return message_; }  // the inline error
    QLabel* statusLabel() const { return status_; }
    QLabel* captionLabel() const { return caption_; }  // what the plot shows, and the suggested layer
    kme::widgets::TraceDatasetPlot* plot() const { return plot_; }

public Q_SLOTS:
    // Starts a run; false when the inputs are wrong, nothing is loaded or a job runs.
    bool runDataset();
    void cancelDataset();
    void browseFactFile();
    void exportWithDialog();

Q_SIGNALS:
    void datasetFinished(bool ok);
    // After each traced fact, when its averages reached the GUI thread.
    void datasetUpdated(int considered, int total);
    void layerClicked(int layer);
    // A run finished: its request ({"type": "dataset", "facts", "limit",
    // "samples", "noise", "window", "seed", "kinds", "strategy"}) and result
    // (traceDatasetResultToJson) as JSON, for the session to keep.
    void datasetRecorded(const QString& requestJson, const QString& resultJson);
    // The user chose a saved run in the "Saved" combo box.
    void savedRunChosen(qint64 id);

private:
    void buildUi();
    void updateInputs();
    void updateStatus();
    void updateCaption();
    QString summary(const kme::TraceDatasetResult& r) const;  // "3 of 5 facts traced …; samples, window, noise."
    void showPartial(int runId, const kme::widgets::TraceDatasetPlotData& data);
    void showFinal(const std::shared_ptr<kme::TraceDatasetResult>& result);
    void onFinished(JobOutcome outcome, const QString& message);

    JobRunner* runner_ = nullptr;
    std::shared_ptr<kme::Model> model_;
    std::shared_ptr<DatasetPartialSink> sink_;  // lets the worker post averages while this view lives
    std::shared_ptr<const kme::TraceDatasetResult> lastResult_;
    QLineEdit* facts_ = nullptr;
    QPushButton* browse_ = nullptr;
    QSpinBox* limit_ = nullptr;
    QSpinBox* samples_ = nullptr;
    JobControls* controls_ = nullptr;  // Run, Cancel, progress, the status, the saved runs, Export
    QPushButton* export_ = nullptr;
    QLabel* message_ = nullptr;
    QLabel* status_ = nullptr;         // controls_'s status line
    QLabel* caption_ = nullptr;
    SavedRunsCombo* saved_ = nullptr;
    kme::widgets::TraceDatasetPlot* plot_ = nullptr;
    QTimer* clock_ = nullptr;  // refreshes the seconds while a run goes on
    QElapsedTimer elapsed_;
    bool running_ = false;
    bool factsChosen_ = false;  // the user typed or browsed a fact file: keep it across models
    int runId_ = 0;             // averages of an older run are ignored
    double done_ = 0, total_ = 0;  // records, from the job's progress
    int partialUpdates_ = 0;
    int traced_ = 0;            // facts averaged so far in the running job
    QString sourceShown_;       // the fact file of the plot on screen
    QString runningRequest_;    // the request JSON of the running job
    qint64 shownSavedRun_ = 0;  // the saved run on screen (0: none)
};

}  // namespace kme::app
