#include "widgets/PlotStyle.h"

#include <QPalette>

#include "widgets/Colours.h"
#include "widgets/QCustomPlotInclude.h"

namespace kme::widgets {

namespace {
const int kHues[] = {210, 28, 130, 280, 0, 50, 180, 320};
}

void colourAxis(QCPAxis* a, const QColor& base, const QColor& text) {
    const QColor axis = mix(base, text, 0.6);
    a->setBasePen(QPen(axis));
    a->setTickPen(QPen(axis));
    a->setSubTickPen(QPen(axis));
    a->setTickLabelColor(text);
    a->setLabelColor(text);
}

void colourAxis(QCPAxis* a, const QColor& base, const QColor& text, const QFont& font) {
    colourAxis(a, base, text);
    a->setTickLabelFont(font);
    a->setLabelFont(font);
}

void dotGrid(QCPAxis* a, const QColor& base, const QColor& text) {
    a->grid()->setPen(QPen(mix(base, text, 0.15), 1, Qt::DotLine));
}

void setUpScoreAxes(QCustomPlot* plot, const QString& yLabel, int legendRow) {
    plot->yAxis->setRange(0, 105);
    plot->yAxis->setLabel(yLabel);
    auto* row = new QCPLayoutGrid;
    plot->plotLayout()->addElement(legendRow, 0, row);
    row->setMargins(QMargins(0, 0, 0, 4));
    row->addElement(0, 0, plot->legend);
    plot->legend->setFillOrder(QCPLegend::foColumnsFirst);
    plot->plotLayout()->setRowStretchFactor(legendRow, 0.001);
}

void applyScorePalette(QCustomPlot* plot, const QPalette& pal) {
    const QColor base = pal.color(QPalette::Base), text = pal.color(QPalette::Text);
    plot->setBackground(QBrush(base));
    for (QCPAxis* a : {plot->xAxis, plot->yAxis}) {
        colourAxis(a, base, text);
        dotGrid(a, base, text);
    }
    plot->legend->setBrush(QBrush(base));
    plot->legend->setTextColor(text);
    plot->legend->setBorderPen(QPen(mix(base, text, 0.4)));
}

QColor scoreSeriesColour(int i, const QColor& base) {
    return QColor::fromHsl(kHues[((i % 8) + 8) % 8], 170, base.lightnessF() < 0.5 ? 150 : 110);
}

}  // namespace kme::widgets
