#include "widgets/ScoreBarChart.h"

#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "widgets/Colours.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/PlotStyle.h"

namespace kme::widgets {

ScoreBarChart::ScoreBarChart(QWidget* parent) : PlotWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("scoreBarChart"));
    layout->addWidget(plot_);
    setUpScoreAxes(plot_, tr("score (%)"), 1);  // the legend in a row under the chart
    applyPalette();
    rebuild();
}

void ScoreBarChart::setData(const QStringList& groups, std::vector<ScoreSeries> series) {
    groups_ = groups;
    series_ = std::move(series);
    const int n = int(groups_.size());
    for (ScoreSeries& s : series_) {
        s.values.resize(n, std::nan(""));
        if (!s.errors.isEmpty()) s.errors.resize(n, 0.0);
    }
    rebuild();
}

QColor ScoreBarChart::seriesColour(int i) const {
    const QPalette pal = palette();
    const QColor base = pal.color(QPalette::Base), text = pal.color(QPalette::Text);
    if (i < 0 || i >= int(series_.size())) return text;
    if (series_[size_t(i)].baseline) return mix(base, text, 0.45);
    int hue = 0;  // the i-th coloured series
    for (int k = 0; k < i; ++k) hue += !series_[size_t(k)].baseline;
    return scoreSeriesColour(hue, base);
}

void ScoreBarChart::applyPalette() {
    applyScorePalette(plot_, palette());
    // Bars take their colours when built.
    if (plot_->plottableCount() > 0) rebuild();
}

void ScoreBarChart::rebuild() {
    plot_->clearPlottables();
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    for (int i = 0; i < groups_.size(); ++i) ticker->addTick(double(i + 1), groups_[i]);
    plot_->xAxis->setTicker(ticker);
    plot_->xAxis->setSubTicks(false);
    plot_->xAxis->setTickLength(0, 4);
    plot_->xAxis->setRange(0.4, std::max<double>(1.6, groups_.size() + 0.6));
    const bool empty = groups_.isEmpty() || series_.empty();
    plot_->legend->setVisible(!empty);
    if (empty) {
        requestReplot();
        return;
    }
    // One group for the plot's life (clearPlottables() takes the bars out of it).
    auto* group = plot_->findChild<QCPBarsGroup*>(QStringLiteral("scoreBarsGroup"));
    if (!group) {
        group = new QCPBarsGroup(plot_);
        group->setObjectName(QStringLiteral("scoreBarsGroup"));
    }
    group->setSpacingType(QCPBarsGroup::stAbsolute);
    group->setSpacing(1);
    const bool dark = palette().color(QPalette::Base).lightnessF() < 0.5;
    const QColor text = palette().color(QPalette::Text);
    const double width = 0.8 / double(series_.size());
    for (size_t i = 0; i < series_.size(); ++i) {
        const ScoreSeries& s = series_[i];
        const QColor colour = seriesColour(int(i));
        auto* bars = new QCPBars(plot_->xAxis, plot_->yAxis);
        bars->setName(s.name);
        bars->setWidth(width);
        bars->setBrush(colour);
        bars->setPen(QPen(colour.darker(dark ? 80 : 120)));
        bars->setBarsGroup(group);
        QVector<double> x, y, err;
        for (int g = 0; g < groups_.size(); ++g) {
            const double v = s.values[g];
            const double e = s.errors.isEmpty() ? 0.0 : s.errors[g];
            x << double(g + 1);
            y << (std::isnan(v) ? 0.0 : v);
            err << (std::isnan(v) || std::isnan(e) ? 0.0 : e);
        }
        bars->setData(x, y, true);
        auto* errors = new QCPErrorBars(plot_->xAxis, plot_->yAxis);
        errors->removeFromLegend();
        errors->setDataPlottable(bars);
        errors->setData(err);
        errors->setPen(QPen(text));
    }
    requestReplot();
}

}  // namespace kme::widgets
