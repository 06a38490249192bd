#pragma once
// A horizontal bar chart of next-token probabilities: one row per token (the
// most likely at the top), token text on the left axis, the probability
// printed after each bar. An optional second series (e.g. the same tokens
// after an edit) is drawn as a thinner bar under each main bar.
//
// Plain data in, nothing else: the widget never calls the engine.
#include <QStringList>
#include <QVector>
#include <QWidget>

class QCustomPlot;
class QCPBars;
class QCPItemText;
class QCPTextElement;
class QCPAxisTickerText;
class QMouseEvent;

namespace kme::widgets {

class ProbabilityBars final : public QWidget {
    Q_OBJECT

public:
    enum class Scale {
        Unit,  // the probability axis always spans 0..1: bars compare across prompts
        Auto   // the axis ends just past the largest value: small probabilities stay readable
    };

    explicit ProbabilityBars(QWidget* parent = nullptr);
    ~ProbabilityBars() override;

    // tokens[i] has probability probs[i] (0..1), most likely first. When
    // `comparison` is non-empty it holds one probability per token. Extra
    // entries of the longer list are ignored; empty lists clear the chart.
    void setData(const QStringList& tokens, const QVector<double>& probs,
                 const QVector<double>& comparison = {});
    void clear();

    // Legend names, shown only while a comparison series is present.
    void setSeriesNames(const QString& main, const QString& comparison);
    void setScale(Scale scale);
    Scale scale() const { return scale_; }
    // A line above the chart (also in the exported PNG); empty hides it.
    void setTitle(const QString& title);
    // What an empty chart says (e.g. how to fill it).
    void setPlaceholderText(const QString& text);

    // Writes the chart as PNG; width/height 0 = the widget's size, scale > 1
    // for high-resolution output. Returns false when the file cannot be written.
    bool savePng(const QString& path, int width = 0, int height = 0, double scale = 1.0);

    // What is drawn, for tests and accessibility.
    int barCount() const { return tokens_.size(); }
    QStringList axisLabels() const;    // token labels, top to bottom
    QStringList valueLabels() const;   // printed probabilities, top to bottom
    QVector<double> values() const { return probs_; }
    QVector<double> comparisonValues() const { return comparison_; }
    QCustomPlot* plot() const { return plot_; }

    // 0.4213 -> "0.421", 0.00421 -> "0.0042", 0 -> "0", below 1e-4 -> "<0.0001".
    static QString formatProbability(double p);

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void changeEvent(QEvent* event) override;

private:
    void rebuild();
    void applyPalette();
    void showToolTip(QMouseEvent* event);
    double upperBound() const;

    QCustomPlot* plot_ = nullptr;
    QCPBars* bars_ = nullptr;
    QCPBars* compareBars_ = nullptr;
    QCPTextElement* title_ = nullptr;
    QCPItemText* placeholder_ = nullptr;
    QVector<QCPItemText*> labels_;  // value labels, one per drawn bar (main series first)
    QSharedPointer<QCPAxisTickerText> ticker_;
    Scale scale_ = Scale::Unit;
    QStringList tokens_;           // raw token text, most likely first
    QVector<double> probs_;        // probability, 0..1, same length as tokens_
    QVector<double> comparison_;   // probability, 0..1; empty or same length as tokens_
    QString mainName_ = tr("probability");
    QString compareName_ = tr("comparison");
};

}  // namespace kme::widgets
