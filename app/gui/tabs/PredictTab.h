#pragma once
// The "Predict" tab: what the model expects next. A prompt goes in; out come
// the top-k next tokens with their probabilities (a bar chart) and a greedy
// continuation. The simplest way to see what a model "knows" before locating
// or editing a fact.
#include <QWidget>
#include <memory>

class QCheckBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTextBrowser;

namespace kme {
class Model;
}
namespace kme::widgets {
class ProbabilityBars;
}

namespace kme::app {

class JobRunner;

class PredictTab final : public QWidget {
    Q_OBJECT

public:
    explicit PredictTab(JobRunner* runner, QWidget* parent = nullptr);
    ~PredictTab() override;

    // The model the buttons run on (nullptr: nothing loaded). Clears results.
    void setModel(std::shared_ptr<kme::Model> model);

    void setPrompt(const QString& prompt);
    QString prompt() const;

    QLineEdit* promptEdit() const { return prompt_; }
    QPushButton* predictButton() const { return predict_; }
    QPushButton* generateButton() const { return generate_; }
    QSpinBox* topKSpin() const { return topK_; }
    QSpinBox* maxNewTokensSpin() const { return maxNew_; }
    QCheckBox* fitAxisCheck() const { return fitAxis_; }
    kme::widgets::ProbabilityBars* bars() const { return bars_; }
    QString continuation() const { return continuation_; }
    QString promptTokensText() const;

public Q_SLOTS:
    // Start a job; false when nothing is loaded, the prompt is empty or a job runs.
    bool predict();
    bool generate();

Q_SIGNALS:
    void predictionFinished(bool ok);
    void generationFinished(bool ok);

private:
    void updateEnabled();
    void saveSettings() const;

    JobRunner* runner_ = nullptr;
    std::shared_ptr<kme::Model> model_;
    QLineEdit* prompt_ = nullptr;
    QPushButton* predict_ = nullptr;
    QPushButton* generate_ = nullptr;
    QSpinBox* topK_ = nullptr;
    QSpinBox* maxNew_ = nullptr;
    QCheckBox* fitAxis_ = nullptr;
    QLabel* tokens_ = nullptr;
    kme::widgets::ProbabilityBars* bars_ = nullptr;
    QTextBrowser* output_ = nullptr;
    QString continuation_;  // last generated text (continuation only)
};

}  // namespace kme::app
