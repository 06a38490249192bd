// ScoreBarChart: what it is given is what it draws — one QCPBars per series
// with the values (NaN as no bar) and error bars, the baseline in grey and
// coloured series distinct, groups as tick labels; empty data hides the legend.
#include <QtTest>

#include <cmath>

#include "widgets/QCustomPlotInclude.h"
#include "widgets/ScoreBarChart.h"

using kme::widgets::ScoreBarChart;
using kme::widgets::ScoreSeries;

class TestScoreBarChart final : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void drawsWhatItIsGiven() {
        ScoreBarChart chart;
        QPalette light = chart.palette();  // explicit: platforms differ in their default
        light.setColor(QPalette::Base, Qt::white);
        light.setColor(QPalette::Text, Qt::black);
        chart.setPalette(light);
        chart.resize(600, 400);
        chart.show();
        QVERIFY(QTest::qWaitForWindowExposed(&chart));
        const double nan = std::nan("");
        chart.setData({QStringLiteral("efficacy"), QStringLiteral("paraphrase"), QStringLiteral("neighbour-\nhood")},
                      {{QStringLiteral("unedited"), {1.5, 2.0, 87.6}, {}, true},
                       {QStringLiteral("ROME"), {94.0, 82.0, nan}, {3.1, 5.0, 9.0}, false},
                       {QStringLiteral("FT-L"), {74.0}, {2.0}, false}});  // short: padded
        QCustomPlot* plot = chart.plot();
        QList<QCPBars*> bars;
        QList<QCPErrorBars*> errors;
        for (int i = 0; i < plot->plottableCount(); ++i) {
            if (auto* b = qobject_cast<QCPBars*>(plot->plottable(i))) bars << b;
            if (auto* e = qobject_cast<QCPErrorBars*>(plot->plottable(i))) errors << e;
        }
        QCOMPARE(bars.size(), 3);
        QCOMPARE(errors.size(), 3);
        QCOMPARE(bars[1]->name(), QStringLiteral("ROME"));
        QCOMPARE(bars[1]->data()->size(), 3);
        QCOMPARE(bars[1]->data()->at(0)->value, 94.0);
        QCOMPARE(bars[1]->data()->at(1)->value, 82.0);
        QCOMPARE(bars[1]->data()->at(2)->value, 0.0);  // not measured: no bar
        QCOMPARE(errors[1]->data()->at(0).errorPlus, 3.1);
        QCOMPARE(errors[1]->data()->at(2).errorPlus, 0.0);  // no interval without a value
        QCOMPARE(bars[2]->data()->size(), 3);
        QCOMPARE(bars[2]->data()->at(1)->value, 0.0);
        QCOMPARE(chart.series()[2].values.size(), 3);
        // Colours: grey baseline (no saturation), the two runs in different hues.
        QCOMPARE(chart.seriesColour(0).hslSaturation(), 0);
        QVERIFY(chart.seriesColour(1).hslHue() != chart.seriesColour(2).hslHue());
        QCOMPARE(bars[1]->brush().color(), chart.seriesColour(1));
        auto* ticker = dynamic_cast<QCPAxisTickerText*>(plot->xAxis->ticker().data());
        QVERIFY(ticker);
        QCOMPARE(ticker->ticks().value(3.0), QStringLiteral("neighbour-\nhood"));
        QVERIFY(plot->legend->visible());
        QCOMPARE(plot->legend->itemCount(), 3);  // error bars stay out of the legend

        // A dark palette recolours the bars (rebuilt: the old pointers are gone).
        const QColor lightRome = bars[1]->brush().color();
        QPalette dark = chart.palette();
        dark.setColor(QPalette::Base, QColor(30, 30, 30));
        dark.setColor(QPalette::Text, QColor(230, 230, 230));
        chart.setPalette(dark);
        QList<QCPBars*> after;
        for (int i = 0; i < plot->plottableCount(); ++i)
            if (auto* b = qobject_cast<QCPBars*>(plot->plottable(i))) after << b;
        QCOMPARE(after[1]->brush().color(), chart.seriesColour(1));
        QVERIFY(after[1]->brush().color().lightness() > lightRome.lightness());  // lighter bars on a dark base

        chart.clear();
        QCOMPARE(plot->plottableCount(), 0);
        QVERIFY(!plot->legend->visible());
    }
};

QTEST_MAIN(TestScoreBarChart)
#include "test_scorebarchart.moc"
