#pragma once
// The Locate tab's "Knowledge neurons" view (Dai et al., ACL 2022; engine:
// kme::knowledgeNeurons): prompt, answer and paraphrases go in; integrated-
// gradient attribution of the answer to every MLP neuron runs on the job
// runner with progress and cancel; a heat strip (layers x each layer's
// strongest neurons) with the per-layer completeness bars, and a table of the
// top neurons (layer, neuron, score, prompts it is coarse in, selected) come
// out. The plot exports as PNG, PDF or SVG.
#include <QElapsedTimer>
#include <QWidget>
#include <memory>

class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QTimer;

namespace kme {
class Model;
struct NeuronResult;
}  // namespace kme
namespace kme::widgets {
class NeuronAttributionPlot;
struct NeuronPlotData;
}  // namespace kme::widgets

namespace kme::app {

class JobControls;
class JobRunner;
enum class JobOutcome;

class LocateNeuronsView final : public QWidget {
    Q_OBJECT

public:
    explicit LocateNeuronsView(JobRunner* runner, QWidget* parent = nullptr);
    ~LocateNeuronsView() override;

    // The model runs use (nullptr: nothing loaded). Clears the result.
    void setModel(std::shared_ptr<kme::Model> model);
    // Why Run cannot start ("" = it can): plain checks, no engine call.
    QString inputError() const;
    bool isRunning() const { return running_; }
    std::shared_ptr<const kme::NeuronResult> lastResult() const { return lastResult_; }
    // Writes the plot as PNG, PDF or SVG (by suffix).
    bool exportPlot(const QString& path, QString* error = nullptr);

    // The plot's data for a result: per layer its `topK` strongest neurons.
    static kme::widgets::NeuronPlotData plotData(const kme::NeuronResult& result, int topK);

    QLineEdit* promptEdit() const { return prompt_; }
    QLineEdit* answerEdit() const { return answer_; }
    QPlainTextEdit* paraphrasesEdit() const { return paraphrases_; }
    QSpinBox* stepsSpin() const { return steps_; }
    QDoubleSpinBox* thresholdSpin() const { return threshold_; }
    QDoubleSpinBox* shareSpin() const { return share_; }  // its minimum (-0.05) = adaptive (KN-D)
    QPushButton* runButton() const;
    QPushButton* cancelButton() const;
    JobControls* jobControls() const { return controls_; }
    QPushButton* exportButton() const { return export_; }
    QLabel* messageLabel() const { return message_; }
    QLabel* statusLabel() const { return status_; }
    QTableWidget* table() const { return table_; }
    kme::widgets::NeuronAttributionPlot* plot() const { return plot_; }

public Q_SLOTS:
    bool runAttribution();
    void cancelAttribution();
    void exportWithDialog();

Q_SIGNALS:
    void attributionFinished(bool ok);

private:
    void buildUi();
    void updateInputs();
    void updateStatus();
    void showResult(const std::shared_ptr<kme::NeuronResult>& result);
    void onFinished(JobOutcome outcome, const QString& message);
    void fillTable(const kme::NeuronResult& r);

    JobRunner* runner_ = nullptr;
    std::shared_ptr<kme::Model> model_;
    std::shared_ptr<const kme::NeuronResult> lastResult_;
    QLineEdit* prompt_ = nullptr;
    QLineEdit* answer_ = nullptr;
    QPlainTextEdit* paraphrases_ = nullptr;
    QSpinBox* steps_ = nullptr;
    QDoubleSpinBox* threshold_ = nullptr;
    QDoubleSpinBox* share_ = nullptr;
    JobControls* controls_ = nullptr;  // Run, Cancel, progress, the status, Export
    QPushButton* export_ = nullptr;
    QLabel* message_ = nullptr;
    QLabel* status_ = nullptr;         // controls_'s status line
    QTableWidget* table_ = nullptr;
    kme::widgets::NeuronAttributionPlot* plot_ = nullptr;
    QTimer* clock_ = nullptr;
    QElapsedTimer elapsed_;
    bool running_ = false;
    double done_ = 0, total_ = 0;  // layers x prompts, from the job's progress
};

}  // namespace kme::app
