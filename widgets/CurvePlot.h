#pragma once
// Lines of scores against a count (the Evaluate tab's retention curve:
// efficacy on edits 1..k against k; its scalability curve: efficacy against
// the batch size): one colour per series (a method), solid or dashed lines
// (efficacy / neighbourhood), a point marker at every measured x, the legend
// in a row under the plot. Exports PNG / PDF / SVG (widgets/PlotExport.h).
//
// Plain data in, nothing else: the widget never calls the engine.
#include <QString>
#include <QVector>
#include <vector>

#include "widgets/PlotWidget.h"

class QCPTextElement;

namespace kme::widgets {

struct CurveLine {
    QString name;       // legend text ("ROME efficacy")
    QVector<double> x;  // ascending
    QVector<double> y;  // percent; NaN = not measured (a gap)
    int colour = 0;     // index into the hue table (the method's place in the run): same colour in every plot
    bool dashed = false;  // dashed lines stay out of the legend (the solid line of the same colour names it)
};

class CurvePlot final : public PlotWidget {
    Q_OBJECT

public:
    explicit CurvePlot(QWidget* parent = nullptr);

    // `logX`: a logarithmic x axis (batch sizes 1, 10, 50, 100).
    void setData(const QString& title, const QString& xLabel, std::vector<CurveLine> lines, bool logX);
    void clear() { setData(title_, xLabel_, {}, logX_); }
    const std::vector<CurveLine>& lines() const { return lines_; }
    QString title() const { return title_; }
    bool isEmpty() const { return lines_.empty(); }
    // The colour of hue index i (as ScoreBarChart::seriesColour for a coloured series).
    QColor colour(int i) const;

    // Writes PNG, PDF or SVG, chosen by the suffix, atomically; size empty:
    // the widget's size when shown, else 900 x 520.
    bool exportTo(const QString& path, QString* error = nullptr, const QSize& size = {});

protected:
    void applyPalette() override;

private:
    void rebuild();

    QString title_, xLabel_;
    std::vector<CurveLine> lines_;
    bool logX_ = false;
    QCPTextElement* titleElement_ = nullptr;
};

}  // namespace kme::widgets
