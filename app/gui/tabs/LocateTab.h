#pragma once
// The "Locate" tab: where does the model store a fact? Two views:
// "This prompt": prompt, subject and trace settings go in; a causal trace
// (ROME's method, kme::causalTrace) runs on the job runner and its heatmaps
// (hidden / MLP / attention) fill in row by row.
// "Dataset average": traces averaged over a fact set (ROME's Figure 2, see
// LocateDatasetView).
// Clicking a heatmap column or a layer of the average plot chooses the layer
// the Edit tab will change.
#include <QElapsedTimer>
#include <QVector>
#include <QWidget>
#include <memory>

#include "widgets/TraceHeatmapData.h"

class QCheckBox;
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

class JobRunner;
class LocateDatasetView;
enum class JobOutcome;
struct TracePartialSink;

class LocateTab final : public QWidget {
    Q_OBJECT

public:
    explicit LocateTab(JobRunner* runner, QWidget* parent = nullptr);
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
    QPushButton* runButton() const { return run_; }
    QPushButton* cancelButton() const { return cancel_; }
    QPushButton* exportButton() const { return export_; }
    QLabel* messageLabel() const { return message_; }   // subject preview or the inline error
    QLabel* statusLabel() const { return status_; }
    QLabel* editLayerLabel() const { return editLayerLabel_; }
    kme::widgets::TraceHeatmapPanel* panel() const { return panel_; }
    // "This prompt" (index 0) and "Dataset average" (index 1).
    QTabWidget* viewTabs() const { return views_; }
    LocateDatasetView* datasetView() const { return dataset_; }
    void showDatasetView(bool dataset);

public Q_SLOTS:
    // Starts a trace; false when the inputs are wrong, nothing is loaded or a job runs.
    bool runTrace();
    void cancelTrace();
    // What clicking a heatmap column does: stores the layer, marks it, emits editLayerChosen.
    void chooseEditLayer(int layer);
    void exportWithDialog();

Q_SIGNALS:
    void traceFinished(bool ok);
    // During a trace, after each finished token row arrived on the GUI thread.
    void traceRowsUpdated(int rowsDone, int rowsTotal);
    void editLayerChosen(int layer);
    // A single-prompt trace finished: its request and result as JSON
    // (engine/trace/TraceJson.h: traceParamsToJson / traceResultToJson), e.g.
    // for the session to keep.
    void traceRecorded(const QString& requestJson, const QString& resultJson);

private:
    void buildUi();
    void updateInputs();
    void updateStatus();
    void showPartial(int runId, const QVector<kme::widgets::TraceHeatmapData>& maps, int done, int total);
    void showFinal(const std::shared_ptr<kme::TraceResult>& result);
    void onTraceFinished(JobOutcome outcome, const QString& message);

    JobRunner* runner_ = nullptr;
    std::shared_ptr<kme::Model> model_;
    std::shared_ptr<TracePartialSink> sink_;  // lets the worker post rows while this tab lives
    std::shared_ptr<const kme::TraceResult> lastResult_;
    std::shared_ptr<const kme::TraceParams> runningParams_;  // the request of the running trace
    QTabWidget* views_ = nullptr;
    LocateDatasetView* dataset_ = nullptr;
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
    QPushButton* run_ = nullptr;
    QPushButton* cancel_ = nullptr;
    QPushButton* export_ = nullptr;
    QLabel* message_ = nullptr;
    QLabel* status_ = nullptr;
    QLabel* editLayerLabel_ = nullptr;
    kme::widgets::TraceHeatmapPanel* panel_ = nullptr;
    QTimer* clock_ = nullptr;   // refreshes the seconds while a trace runs
    QElapsedTimer elapsed_;
    bool tracing_ = false;
    int runId_ = 0;             // partial rows of an older run are ignored
    int rowsDone_ = 0, rowsTotal_ = 0;
    int partialUpdates_ = 0;
    int editLayer_ = -1;
    QString subjectShown_;      // the subject of the heatmaps on screen
};

}  // namespace kme::app
