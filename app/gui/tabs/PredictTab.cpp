#include "app/gui/tabs/PredictTab.h"

#include <QCheckBox>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <cstdio>
#include <string>
#include <vector>

#include "app/gui/JobRunner.h"
#include "engine/model/Model.h"
#include "widgets/ProbabilityBars.h"
#include "widgets/TokenText.h"

namespace kme::app {

namespace {

// Settings keys (typed and declared where used, STYLE.md 10).
const char* const kTopKKey = "predict/topK";
const char* const kMaxNewKey = "predict/maxNewTokens";
const char* const kFitAxisKey = "predict/fitAxis";

// What a predict job hands back; filled on the worker, read on the GUI thread.
struct Prediction {
    std::vector<std::string> promptTokens;  // display text of each prompt token
    std::vector<kme::TokenProb> top;        // most likely first
};

struct Generation {
    std::string text;          // continuation only
    int newTokens = 0;         // tokens generated (including a final end-of-text)
    bool stoppedAtEos = false; // the model chose <|endoftext|>
};

// A token's text for a label: its UTF-8 text, or, when it holds part of a
// multi-byte character (tokenDisplay shows U+FFFD), its bytes written out
// ("\xE2\x80"), so that different byte tokens stay distinguishable.
std::string tokenLabel(const kme::Tokenizer& tokenizer, int id) {
    const std::string shown = tokenizer.tokenDisplay(id);
    if (shown.find("\xEF\xBF\xBD") == std::string::npos) return shown;
    std::string out;
    for (const unsigned char c : tokenizer.tokenBytes(id)) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02X", c);
            out += hex;
        }
    }
    return out;
}

QString elideLeft(const QString& s, int maxChars) {
    return s.size() <= maxChars ? s : QChar(0x2026) + s.right(maxChars - 1);
}

}  // namespace

PredictTab::PredictTab(JobRunner* runner, QWidget* parent) : QWidget(parent), runner_(runner) {
    auto* layout = new QVBoxLayout(this);

    auto* promptRow = new QHBoxLayout;
    prompt_ = new QLineEdit(this);
    prompt_->setObjectName(QStringLiteral("promptEdit"));
    prompt_->setPlaceholderText(tr("Type the start of a sentence, e.g. “The Colosseum is located in the city of”"));
    prompt_->setClearButtonEnabled(true);
    predict_ = new QPushButton(tr("Predict"), this);
    predict_->setObjectName(QStringLiteral("predictButton"));
    predict_->setToolTip(tr("Show the most likely next tokens (Enter or Ctrl+Return)"));
    predict_->setDefault(true);
    auto* promptLabel = new QLabel(tr("&Prompt:"), this);
    promptLabel->setBuddy(prompt_);
    promptRow->addWidget(promptLabel);
    promptRow->addWidget(prompt_, 1);
    promptRow->addWidget(predict_);
    layout->addLayout(promptRow);

    QSettings settings;
    auto* optionsRow = new QHBoxLayout;
    topK_ = new QSpinBox(this);
    topK_->setRange(1, 50);
    topK_->setValue(settings.value(kTopKKey, 10).toInt());
    topK_->setToolTip(tr("How many of the most likely next tokens to show"));
    maxNew_ = new QSpinBox(this);
    maxNew_->setRange(1, 512);
    maxNew_->setValue(settings.value(kMaxNewKey, 20).toInt());
    maxNew_->setToolTip(tr("How many tokens Generate appends at most"));
    fitAxis_ = new QCheckBox(tr("&Fit axis"), this);
    fitAxis_->setToolTip(tr("On: the probability axis ends at the largest bar, so small probabilities become "
                            "visible. Off: it always runs from 0 to 1, so charts compare across prompts."));
    fitAxis_->setChecked(settings.value(kFitAxisKey, false).toBool());
    generate_ = new QPushButton(tr("Generate"), this);
    generate_->setObjectName(QStringLiteral("generateButton"));
    generate_->setToolTip(tr("Continue the prompt, always taking the most likely token (Ctrl+Shift+Return)"));
    auto* topKLabel = new QLabel(tr("Top-&k:"), this);
    topKLabel->setBuddy(topK_);
    auto* maxNewLabel = new QLabel(tr("&Max new tokens:"), this);
    maxNewLabel->setBuddy(maxNew_);
    optionsRow->addWidget(topKLabel);
    optionsRow->addWidget(topK_);
    optionsRow->addWidget(fitAxis_);
    optionsRow->addSpacing(16);
    optionsRow->addWidget(maxNewLabel);
    optionsRow->addWidget(maxNew_);
    optionsRow->addWidget(generate_);
    optionsRow->addStretch(1);
    layout->addLayout(optionsRow);

    tokens_ = new QLabel(this);
    tokens_->setObjectName(QStringLiteral("promptTokens"));
    tokens_->setTextFormat(Qt::PlainText);  // tokens may contain '<'
    tokens_->setWordWrap(true);
    tokens_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    tokens_->setToolTip(tr("How the tokenizer split the prompt; ␣ marks a space that belongs to a token"));
    layout->addWidget(tokens_);

    bars_ = new kme::widgets::ProbabilityBars(this);
    bars_->setObjectName(QStringLiteral("predictBars"));
    auto applyScale = [this] {
        bars_->setScale(fitAxis_->isChecked() ? kme::widgets::ProbabilityBars::Scale::Auto
                                              : kme::widgets::ProbabilityBars::Scale::Unit);
    };
    applyScale();
    connect(fitAxis_, &QCheckBox::toggled, this, applyScale);
    layout->addWidget(bars_, 3);

    auto* outputBox = new QGroupBox(tr("Generated continuation (greedy: always the most likely token)"), this);
    auto* outputLayout = new QVBoxLayout(outputBox);
    output_ = new QTextBrowser(outputBox);
    output_->setObjectName(QStringLiteral("generatedText"));
    output_->setPlaceholderText(tr("Press Generate to let the model continue the prompt."));
    output_->setMinimumHeight(70);
    outputLayout->addWidget(output_);
    layout->addWidget(outputBox, 1);

    connect(prompt_, &QLineEdit::returnPressed, this, &PredictTab::predict);
    connect(predict_, &QPushButton::clicked, this, &PredictTab::predict);
    connect(generate_, &QPushButton::clicked, this, &PredictTab::generate);
    connect(prompt_, &QLineEdit::textChanged, this, &PredictTab::updateEnabled);
    connect(runner_, &JobRunner::busyChanged, this, &PredictTab::updateEnabled);
    setModel(nullptr);
}

PredictTab::~PredictTab() { saveSettings(); }

void PredictTab::saveSettings() const {
    QSettings settings;
    settings.setValue(kTopKKey, topK_->value());
    settings.setValue(kMaxNewKey, maxNew_->value());
    settings.setValue(kFitAxisKey, fitAxis_->isChecked());
}

void PredictTab::setModel(std::shared_ptr<kme::Model> model) {
    model_ = std::move(model);
    bars_->clear();
    bars_->setTitle({});
    bars_->setPlaceholderText(model_ ? tr("Type a prompt and press Predict to see the most likely next tokens.")
                                     : tr("Open a model folder (File ▸ Open model folder…, Ctrl+O) to start."));
    tokens_->clear();
    output_->clear();
    continuation_.clear();
    updateEnabled();
}

void PredictTab::setPrompt(const QString& prompt) { prompt_->setText(prompt); }
QString PredictTab::prompt() const { return prompt_->text(); }
QString PredictTab::promptTokensText() const { return tokens_->text(); }

void PredictTab::updateEnabled() {
    const bool ready = model_ && !runner_->isBusy() && !prompt_->text().isEmpty();
    predict_->setEnabled(ready);
    generate_->setEnabled(ready);
}

bool PredictTab::predict() {
    if (!model_ || prompt_->text().isEmpty() || runner_->isBusy()) return false;
    saveSettings();
    auto model = model_;
    auto result = std::make_shared<Prediction>();
    const std::string text = prompt_->text().toStdString();
    const QString shownPrompt = prompt_->text();
    const int k = topK_->value();
    return runner_->start(
        tr("Predicting the next token"),
        [model, result, text, k](const kme::ProgressFn&) {
            const std::vector<int> ids = model->encodePrompt(text);
            for (int id : ids) result->promptTokens.push_back(tokenLabel(model->tokenizer(), id));
            result->top = model->topNext(ids, k);
            for (auto& t : result->top) t.token = tokenLabel(model->tokenizer(), t.id);
        },
        [this, result, shownPrompt] {
            QStringList tokens;
            QVector<double> probs;
            for (const auto& t : result->top) {
                tokens << QString::fromStdString(t.token);
                probs << t.prob;
            }
            QStringList shown;
            for (const auto& t : result->promptTokens) shown << kme::widgets::visibleToken(QString::fromStdString(t));
            tokens_->setText(tr("Prompt tokens (%1):  %2").arg(shown.size()).arg(shown.join(QStringLiteral("  │  "))));
            bars_->setTitle(tr("Most likely next tokens after “%1”").arg(elideLeft(shownPrompt, 60)));
            bars_->setData(tokens, probs);
        },
        [this](JobOutcome outcome, const QString&) { Q_EMIT predictionFinished(outcome == JobOutcome::Succeeded); });
}

bool PredictTab::generate() {
    if (!model_ || prompt_->text().isEmpty() || runner_->isBusy()) return false;
    saveSettings();
    auto model = model_;
    auto result = std::make_shared<Generation>();
    const std::string text = prompt_->text().toStdString();
    const QString shownPrompt = prompt_->text();
    kme::GenerateParams params;
    params.maxNewTokens = maxNew_->value();
    params.topK = 1;  // greedy: the same answer every time, the one Predict shows first
    return runner_->start(
        tr("Generating text"),
        [model, result, text, params](const kme::ProgressFn&) {
            const kme::GenerateResult g = model->generate(model->encodePrompt(text), params);
            result->text = g.text;
            result->newTokens = static_cast<int>(g.ids.size());
            const auto eos = model->tokenizer().eosId();
            result->stoppedAtEos = eos && !g.ids.empty() && g.ids.back() == *eos;
        },
        [this, result, shownPrompt] {
            continuation_ = QString::fromStdString(result->text);
            // pre-wrap keeps the model's spaces and newlines as generated.
            auto html = [](const QString& s) { return s.toHtmlEscaped(); };
            QString note = result->newTokens == 1 ? tr("1 new token") : tr("%1 new tokens").arg(result->newTokens);
            if (result->stoppedAtEos) note += tr("; the model ended the text (&lt;|endoftext|&gt;)");
            output_->setHtml(QStringLiteral("<p style=\"white-space: pre-wrap\">%1<b>%2</b></p><p><small>%3</small></p>")
                                 .arg(html(shownPrompt), html(continuation_), note));
        },
        [this](JobOutcome outcome, const QString&) { Q_EMIT generationFinished(outcome == JobOutcome::Succeeded); });
}

}  // namespace kme::app
