#pragma once
// Grouped bar chart of scores in percent (the Evaluate tab: efficacy,
// paraphrase, neighbourhood, ... per method run): one group of bars per
// metric, one bar per series, with the 95% interval as an error bar and the
// legend in a row under the plot, so it never hides a bar. A baseline series
// (the unedited model) is drawn in grey, the others in distinct hues.
//
// Plain data in, nothing else: the widget never calls the engine.
#include <QString>
#include <QStringList>
#include <QVector>
#include <vector>

#include "widgets/PlotWidget.h"

namespace kme::widgets {

struct ScoreSeries {
    QString name;            // legend text ("ROME", "unedited")
    QVector<double> values;  // one per group, percent; NaN = not measured (no bar)
    QVector<double> errors;  // 95% half-widths, percent; NaN or 0 = none. May be empty.
    bool baseline = false;   // drawn in grey
};

class ScoreBarChart final : public PlotWidget {
    Q_OBJECT

public:
    explicit ScoreBarChart(QWidget* parent = nullptr);

    // Groups along the x axis ("\n" breaks a label) and the series drawn in
    // each. Series whose value count differs from the groups' are padded
    // with NaN / cut.
    void setData(const QStringList& groups, std::vector<ScoreSeries> series);
    void clear() { setData({}, {}); }
    const QStringList& groups() const { return groups_; }
    const std::vector<ScoreSeries>& series() const { return series_; }
    // The colour series i is drawn in (after palette changes too).
    QColor seriesColour(int i) const;

protected:
    void applyPalette() override;

private:
    void rebuild();

    QStringList groups_;
    std::vector<ScoreSeries> series_;
};

}  // namespace kme::widgets
