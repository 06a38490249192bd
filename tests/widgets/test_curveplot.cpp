// CurvePlot beside ScoreBarChart: the look the two score plots share -- the
// title row above (CurvePlot), the legend in a row under the plot, the y axis
// 0..105 %, the axes and legend in the palette's colours, and the hue of the
// k-th coloured series, the same in both plots -- and what CurvePlot draws:
// a graph per line, dashed lines out of the legend, a logarithmic x axis on
// request.
#include <QtTest>

#include <cmath>

#include "widgets/Colours.h"
#include "widgets/CurvePlot.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/ScoreBarChart.h"

using kme::widgets::CurveLine;
using kme::widgets::CurvePlot;
using kme::widgets::mix;
using kme::widgets::ScoreBarChart;
using kme::widgets::ScoreSeries;

namespace {

QPalette paletteOf(const QPalette& from, const QColor& base, const QColor& text) {
    QPalette p = from;
    p.setColor(QPalette::Base, base);
    p.setColor(QPalette::Text, text);
    return p;
}

// The axes, grid and legend of a score plot on `base` / `text`.
void checkColours(QCustomPlot* plot, const QColor& base, const QColor& text) {
    for (QCPAxis* a : {plot->xAxis, plot->yAxis}) {
        QCOMPARE(a->basePen().color(), mix(base, text, 0.6));
        QCOMPARE(a->tickPen().color(), mix(base, text, 0.6));
        QCOMPARE(a->subTickPen().color(), mix(base, text, 0.6));
        QCOMPARE(a->tickLabelColor(), text);
        QCOMPARE(a->labelColor(), text);
        QCOMPARE(a->grid()->pen().color(), mix(base, text, 0.15));
        QCOMPARE(a->grid()->pen().style(), Qt::DotLine);
    }
    QCOMPARE(plot->legend->brush().color(), base);
    QCOMPARE(plot->legend->textColor(), text);
    QCOMPARE(plot->legend->borderPen().color(), mix(base, text, 0.4));
}

// The legend sits alone in a grid in layout row `row`, which barely stretches.
void checkLegendRow(QCustomPlot* plot, int row) {
    QCPLayoutGrid* layout = plot->plotLayout();
    QCOMPARE(layout->rowCount(), row + 1);
    auto* grid = qobject_cast<QCPLayoutGrid*>(layout->element(row, 0));
    QVERIFY(grid);
    QCOMPARE(grid->element(0, 0), static_cast<QCPLayoutElement*>(plot->legend));
    QCOMPARE(grid->margins(), QMargins(0, 0, 0, 4));
    QCOMPARE(layout->rowStretchFactors().at(row), 0.001);
    QCOMPARE(plot->legend->fillOrder(), QCPLayoutGrid::foColumnsFirst);
    QCOMPARE(plot->yAxis->range().lower, 0.0);
    QCOMPARE(plot->yAxis->range().upper, 105.0);
    QCOMPARE(plot->yAxis->label(), QStringLiteral("score (%)"));
}

}  // namespace

class TestCurvePlot final : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void sharesTheScorePlotsLook() {
        CurvePlot curves;
        ScoreBarChart bars;
        const QColor white(Qt::white), black(Qt::black);
        curves.setPalette(paletteOf(curves.palette(), white, black));
        bars.setPalette(paletteOf(bars.palette(), white, black));
        QCustomPlot* plot = curves.plot();
        checkLegendRow(plot, 2);
        checkLegendRow(bars.plot(), 1);
        QCOMPARE(plot->legend->wrap(), 4);
        auto* title = qobject_cast<QCPTextElement*>(plot->plotLayout()->element(0, 0));
        QVERIFY(title);
        QVERIFY(title->font().bold());
        QCOMPARE(plot->plotLayout()->rowStretchFactors().at(0), 0.001);
        checkColours(plot, white, black);
        checkColours(bars.plot(), white, black);
        QCOMPARE(title->textColor(), black);

        // The hue table, by hand: hues 210, 28, 130, 280, 0, 50, 180, 320,
        // saturation 170, lightness 110 on a light base, 150 on a dark one.
        const int hues[] = {210, 28, 130, 280, 0, 50, 180, 320};
        for (int i = 0; i < 10; ++i) QCOMPARE(curves.colour(i), QColor::fromHsl(hues[i % 8], 170, 110));
        QCOMPARE(curves.colour(-1), QColor::fromHsl(320, 170, 110));
        // The k-th coloured series has one colour in both plots (a baseline is grey and not counted).
        bars.setData({QStringLiteral("efficacy")}, {{QStringLiteral("unedited"), {1.0}, {}, true},
                                                    {QStringLiteral("ROME"), {90.0}, {}, false},
                                                    {QStringLiteral("MEMIT"), {80.0}, {}, false}});
        QCOMPARE(bars.seriesColour(1), curves.colour(0));
        QCOMPARE(bars.seriesColour(2), curves.colour(1));
        QCOMPARE(bars.seriesColour(0), mix(white, black, 0.45));

        const QColor darkBase(30, 30, 30), darkText(230, 230, 230);
        curves.setPalette(paletteOf(curves.palette(), darkBase, darkText));
        bars.setPalette(paletteOf(bars.palette(), darkBase, darkText));
        checkColours(plot, darkBase, darkText);
        checkColours(bars.plot(), darkBase, darkText);
        QCOMPARE(title->textColor(), darkText);
        QCOMPARE(curves.colour(3), QColor::fromHsl(280, 170, 150));
        QCOMPARE(bars.seriesColour(2), curves.colour(1));
    }

    void drawsItsLines() {
        CurvePlot curves;
        QCustomPlot* plot = curves.plot();
        QVERIFY(!plot->legend->visible());
        curves.setData(QStringLiteral("Scale"), QStringLiteral("batch size"),
                       {{QStringLiteral("ROME efficacy"), {1, 10, 100}, {90, 80, 70}, 0, false},
                        {QStringLiteral("ROME neighbourhood"), {1, 10, 100}, {95, 94, std::nan("")}, 0, true},
                        {QStringLiteral("FT-L efficacy"), {1, 10}, {60, 50}, 1, false}},
                       true);
        QCOMPARE(plot->graphCount(), 3);
        QCOMPARE(plot->graph(1)->pen().style(), Qt::DashLine);
        QCOMPARE(plot->graph(0)->pen().color(), curves.colour(0));
        QCOMPARE(plot->graph(2)->pen().color(), curves.colour(1));
        QVERIFY(plot->legend->visible());
        QCOMPARE(plot->legend->itemCount(), 2);  // the dashed line stays out
        QCOMPARE(plot->xAxis->scaleType(), QCPAxis::stLogarithmic);
        QVERIFY(dynamic_cast<QCPAxisTickerLog*>(plot->xAxis->ticker().data()));
        QCOMPARE(plot->xAxis->range().lower, 1 / 1.5);  // max(0.5, 1 / 1.5)
        QCOMPARE(plot->xAxis->range().upper, 150.0);  // 100 x 1.5
        auto* title = qobject_cast<QCPTextElement*>(plot->plotLayout()->element(0, 0));
        QCOMPARE(title->text(), QStringLiteral("Scale"));
        QCOMPARE(plot->xAxis->label(), QStringLiteral("batch size"));
        curves.clear();
        QCOMPARE(plot->graphCount(), 0);
        QVERIFY(!plot->legend->visible());
        QCOMPARE(curves.title(), QStringLiteral("Scale"));
    }
};

QTEST_MAIN(TestCurvePlot)
#include "test_curveplot.moc"
