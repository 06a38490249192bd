#include "widgets/CurvePlot.h"

#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "widgets/PlotExport.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/PlotStyle.h"

namespace kme::widgets {

CurvePlot::CurvePlot(QWidget* parent) : PlotWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("curvePlot"));
    layout->addWidget(plot_);
    // The title in a row above the plot, the legend in one under it.
    plot_->plotLayout()->insertRow(0);
    titleElement_ = new QCPTextElement(plot_, QString(), QFont(font().family(), font().pointSize(), QFont::Bold));
    plot_->plotLayout()->addElement(0, 0, titleElement_);
    plot_->plotLayout()->setRowStretchFactor(0, 0.001);
    setUpScoreAxes(plot_, tr("score (%)"), 2);
    plot_->legend->setWrap(4);
    applyPalette();
    rebuild();
}

void CurvePlot::setData(const QString& title, const QString& xLabel, std::vector<CurveLine> lines, bool logX) {
    title_ = title;
    xLabel_ = xLabel;
    lines_ = std::move(lines);
    logX_ = logX;
    rebuild();
}

QColor CurvePlot::colour(int i) const { return scoreSeriesColour(i, palette().color(QPalette::Base)); }

void CurvePlot::applyPalette() {
    applyScorePalette(plot_, palette());
    titleElement_->setTextColor(palette().color(QPalette::Text));
    if (plot_->graphCount() > 0) rebuild();
}

void CurvePlot::rebuild() {
    plot_->clearGraphs();
    titleElement_->setText(title_);
    plot_->xAxis->setLabel(xLabel_);
    if (logX_) {
        plot_->xAxis->setScaleType(QCPAxis::stLogarithmic);
        plot_->xAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
    } else {
        plot_->xAxis->setScaleType(QCPAxis::stLinear);
        plot_->xAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());
    }
    double lo = 1, hi = 1;
    bool any = false;
    for (const CurveLine& line : lines_) {
        auto* g = plot_->addGraph();
        g->setName(line.name);
        QPen pen(colour(line.colour), 2);
        if (line.dashed) pen.setStyle(Qt::DashLine);
        g->setPen(pen);
        g->setScatterStyle(QCPScatterStyle(line.dashed ? QCPScatterStyle::ssSquare : QCPScatterStyle::ssCircle, 6));
        g->setData(line.x, line.y);
        if (line.dashed) g->removeFromLegend();  // one legend entry per colour; the title says what dashes are
        for (double x : line.x) {
            lo = any ? std::min(lo, x) : x;
            hi = any ? std::max(hi, x) : x;
            any = true;
        }
    }
    plot_->legend->setVisible(!lines_.empty());
    if (logX_) plot_->xAxis->setRange(std::max(0.5, lo / 1.5), std::max(hi * 1.5, 2.0));
    else plot_->xAxis->setRange(lo - 0.5, std::max(hi + 0.5, lo + 1.0));
    requestReplot();
}

bool CurvePlot::exportTo(const QString& path, QString* error, const QSize& requested) {
    if (lines_.empty()) {
        if (error) *error = tr("%1: nothing to export yet").arg(path);
        return false;
    }
    QSize size = requested;
    if (size.isEmpty()) size = isVisible() && !this->size().isEmpty() ? this->size() : QSize(900, 520);
    const QColor background = palette().color(QPalette::Base);
    return exportPlotFile(
        path, size, title_, background,
        [this, background](QCPPainter& painter, const QRect& rect) {
            painter.fillRect(rect, background);
            plot_->toPainter(&painter, rect.width(), rect.height());
            requestReplot();
        },
        tr("the plot"), error);
}

}  // namespace kme::widgets
