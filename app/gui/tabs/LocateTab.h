#pragma once
// The "Locate" tab: where does the model store a fact? Two views:
// "This prompt": prompt, subject and trace settings go in; a causal trace
// (ROME's method, kme::causalTrace) runs on the job runner and its heatmaps
// (hidden / MLP / attention) fill in row by row.
// "Dataset average": traces averaged over a fact set (ROME's Figure 2, see
// LocateDatasetView).
// "Knowledge neurons": integrated-gradient attribution to MLP neurons (Dai et
// al. 2022, see LocateNeuronsView).
// Clicking a heatmap column or a layer of the average plot chooses the layer
// the Edit tab will change.
// With a session: finished traces and dataset runs are saved in it (traces
// through traceRecorded, which MainWindow connects to
// SessionController::recordTrace; dataset runs directly), and when another
// session becomes current its latest saved trace and dataset run are shown
// again, as saved (no recomputation); a "Saved" list in each view
// (SavedRunsCombo) names the others. The run: LocateTab.cpp; the saved
// traces: LocateTabSaved.cpp.
#include <QElapsedTimer>
#include <QVector>
#include <QWidget>
#include <functional>
#include <memory>
#include <vector>

#include "widgets/TraceHeatmapData.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QTimer;

namespace kme {
class Model;
struct TraceParams;
struct TraceResult;
}  // namespace kme
namespace kme::widgets {
class TraceHeatmapPanel;
}

namespace kme::app {

class JobControls;
class JobRunner;
class SavedRunsCombo;
class LocateDatasetView;
class LocateNeuronsView;
class SessionController;
enum class JobOutcome;
struct TracePartialSink;

class LocateTab final : public QWidget {
    Q_OBJECT

public:
    // `session` may be nullptr (tests): traces are then neither saved nor restored.
    explicit LocateTab(JobRunner* runner, SessionController* session = nullptr, QWidget* parent = nullptr);
    ~LocateTab() override;

    // The model traces run on (nullptr: nothing loaded). Clears the heatmaps
    // and the chosen edit layer.
    void setModel(std::shared_ptr<kme::Model> model);

    void setPrompt(const QString& prompt);
    QString prompt() const;
    void setSubject(const QString& subject);
    QString subject() const;
    // Why Run cannot start with the current inputs ("" = it can); shown
    // inline in red while typing. Plain string checks, no engine call.
    QString inputError() const;

    int chosenEditLayer() const { return editLayer_; }
    // Where restoring the MLP output at the subject's last token brings the
    // answer back most (ROME's choice of edit layer); -1 without a finished
    // MLP trace.
    int suggestedEditLayer() const;
    bool isTracing() const { return tracing_; }
    int partialUpdates() const { return partialUpdates_; }  // partial results shown during the last trace
    // The last finished trace (nullptr: none yet, or cancelled).
    std::shared_ptr<const kme::TraceResult> lastResult() const { return lastResult_; }
    // Writes the heatmaps as PNG, PDF or SVG (by suffix).
    bool exportHeatmaps(const QString& path, QString* error = nullptr);

    QLineEdit* promptEdit() const { return prompt_; }
    QLineEdit* subjectEdit() const { return subject_; }
    QLineEdit* answerEdit() const { return answer_; }
    QLineEdit* noiseEdit() const { return noise_; }
    QSpinBox* samplesSpin() const { return samples_; }
    QSpinBox* windowSpin() const { return window_; }
    QSpinBox* seedSpin() const { return seed_; }
    QCheckBox* kindCheck(const QString& kind) const;  // "hidden" | "mlp" | "attn"
    QPushButton* runButton() const;
    QPushButton* cancelButton() const;
    JobControls* jobControls() const { return controls_; }
    QPushButton* exportButton() const { return export_; }
    QLabel* messageLabel() const { return message_; }   // subject preview or the inline error
    QLabel* statusLabel() const { return status_; }
    QLabel* editLayerLabel() const { return editLayerLabel_; }
    // The session's saved single-prompt traces, newest first ("prompt — subject — 14:05").
    QComboBox* savedTracesCombo() const;
    // The saved trace on screen (0: a live trace, or none).
    qint64 shownSavedTrace() const { return shownSavedTrace_; }
    kme::widgets::TraceHeatmapPanel* panel() const { return panel_; }
    // "This prompt" (index 0) and "Dataset average" (index 1).
    QTabWidget* viewTabs() const { return views_; }
    LocateDatasetView* datasetView() const { return dataset_; }
    // "Knowledge neurons" (index 2): integrated-gradient attribution to MLP neurons (LocateNeuronsView).
    LocateNeuronsView* neuronsView() const { return neurons_; }
    void showDatasetView(bool dataset);

public Q_SLOTS:
    // Starts a trace; false when the inputs are wrong, nothing is loaded or a job runs.
    bool runTrace();
    void cancelTrace();
    // What clicking a heatmap column does: stores the layer, marks it, emits editLayerChosen.
    void chooseEditLayer(int layer);
    void exportWithDialog();
    // Shows the session's latest saved single-prompt trace and dataset run,
    // or clears the views when it has none (on sessionChanged). Saved JSON
    // that does not read, or does not fit the loaded model, is skipped with a
    // message in the status label.
    void showSaved();
    // Shows one saved trace / dataset run of the session by its id; false,
    // with the reason in the status label, when it cannot be shown.
    bool showSavedTrace(qint64 id);
    bool showSavedDatasetRun(qint64 id);

Q_SIGNALS:
    void traceFinished(bool ok);
    // During a trace, after each finished token row arrived on the GUI thread.
    void traceRowsUpdated(int rowsDone, int rowsTotal);
    void editLayerChosen(int layer);
    // A single-prompt trace finished: its request and result as JSON
    // (engine/trace/TraceJson.h: traceParamsToJson plus "type": "prompt" /
    // traceResultToJson), e.g. for the session to keep. Connect it directly
    // (MainWindow: to SessionController::recordTrace): the autosave session
    // a save may create must arrive while the tab knows it is saving.
    void traceRecorded(const QString& requestJson, const QString& resultJson);

private:
    struct SavedEntry;
    void buildUi();
    void updateInputs();
    void updateStatus();
    void showPartial(int runId, const QVector<kme::widgets::TraceHeatmapData>& maps, int done, int total);
    void showFinal(const std::shared_ptr<kme::TraceResult>& result);
    void onTraceFinished(JobOutcome outcome, const QString& message);
    QString summary(const kme::TraceResult& r) const;  // answer, samples, window, noise, suggested layer
    void clearTrace();                                 // empty heatmaps, no result, no status
    // The session's saved traces, newest first (requests only); [] without a session.
    std::vector<SavedEntry> savedEntries(QString* error = nullptr) const;
    // Fills both "Saved" combo boxes; the dataset view's shows `datasetShown`.
    void refreshSaved(const std::vector<SavedEntry>& entries, qint64 datasetShown);
    // Shows a saved record of either kind; false with *error.
    bool showRecord(qint64 id, bool dataset, QString* error);
    // The newest record of the kind that shows; the others skipped are named in the status.
    void showLatest(const std::vector<SavedEntry>& entries, bool dataset);
    // Runs `save`, which writes one record of the kind into the session,
    // with saving_ set; refreshes the lists. Returns the new record's id (0: none).
    qint64 saveGuarded(bool dataset, const std::function<void()>& save);
    void saveDatasetRun(const QString& requestJson, const QString& resultJson);

    JobRunner* runner_ = nullptr;
    SessionController* session_ = nullptr;
    std::shared_ptr<kme::Model> model_;
    std::shared_ptr<TracePartialSink> sink_;  // lets the worker post rows while this tab lives
    std::shared_ptr<const kme::TraceResult> lastResult_;
    std::shared_ptr<const kme::TraceParams> runningParams_;  // the request of the running trace
    QTabWidget* views_ = nullptr;
    LocateDatasetView* dataset_ = nullptr;
    LocateNeuronsView* neurons_ = nullptr;
    QLineEdit* prompt_ = nullptr;
    QLineEdit* subject_ = nullptr;
    QLineEdit* answer_ = nullptr;
    QLineEdit* noise_ = nullptr;
    QSpinBox* samples_ = nullptr;
    QSpinBox* window_ = nullptr;
    QSpinBox* seed_ = nullptr;
    QCheckBox* hidden_ = nullptr;
    QCheckBox* mlp_ = nullptr;
    QCheckBox* attn_ = nullptr;
    JobControls* controls_ = nullptr;  // Run, Cancel, progress, the status, the saved traces, Export
    QPushButton* export_ = nullptr;
    QLabel* message_ = nullptr;
    QLabel* status_ = nullptr;         // controls_'s status line
    QLabel* editLayerLabel_ = nullptr;
    SavedRunsCombo* saved_ = nullptr;
    kme::widgets::TraceHeatmapPanel* panel_ = nullptr;
    QTimer* clock_ = nullptr;   // refreshes the seconds while a trace runs
    QElapsedTimer elapsed_;
    bool tracing_ = false;
    int runId_ = 0;             // partial rows of an older run are ignored
    int rowsDone_ = 0, rowsTotal_ = 0;
    int partialUpdates_ = 0;
    int editLayer_ = -1;
    QString subjectShown_;      // the subject of the heatmaps on screen
    qint64 shownSavedTrace_ = 0;  // the saved trace on screen (0: none)
    // True while this tab saves into the session: the autosave session that
    // saving may create fires sessionChanged, which must not replace the
    // views the user is looking at.
    bool saving_ = false;
};

}  // namespace kme::app
