// TraceDatasetPlot: plain data (ROME Figure 2 averages) in -> the right
// graphs, values, bands, legends, colours, hover texts, clicks and files out.
#include <QtTest>

#include <QFile>
#include <QImage>
#include <QSvgRenderer>
#include <QTemporaryDir>
#include <cmath>
#include <limits>

#include "widgets/QCustomPlotInclude.h"
#include "widgets/TraceDatasetPlot.h"

using kme::widgets::TraceDatasetCurves;
using kme::widgets::TraceDatasetPlot;
using kme::widgets::TraceDatasetPlotData;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const QStringList kBuckets = {"first subject token",    "middle subject tokens", "last subject token",
                              "first subsequent token", "further tokens",        "last token"};
constexpr int kLayers = 4;

// mean[b][l] = (kindIndex + 1) * 0.1 + b * 0.05 + l * 0.01, except: the MLP's
// last subject token peaks at layer 2 (0.6); "further tokens" has no facts.
TraceDatasetCurves curves(const QString& kind, int kindIndex) {
    TraceDatasetCurves c;
    c.kind = kind;
    for (int b = 0; b < kBuckets.size(); ++b) {
        QVector<double> mean, ci;
        QVector<int> count;
        for (int l = 0; l < kLayers; ++l) {
            const bool none = b == 4;
            mean << (none ? kNaN : (kindIndex + 1) * 0.1 + b * 0.05 + l * 0.01);
            ci << (none ? kNaN : 0.02 + 0.005 * l);
            count << (none ? 0 : 30 + l);
        }
        c.mean << mean;
        c.ci95 << ci;
        c.count << count;
    }
    if (kind == QLatin1String("mlp")) {
        c.mean[2][2] = 0.6;
        c.ci95[2][2] = 0.05;
    }
    return c;
}

TraceDatasetPlotData sample() {
    TraceDatasetPlotData d;
    d.buckets = kBuckets;
    d.nLayer = kLayers;
    d.window = 2;
    d.samples = 10;
    d.kinds = {curves(QStringLiteral("hidden"), 0), curves(QStringLiteral("mlp"), 1), curves(QStringLiteral("attn"), 2)};
    d.considered = 40;
    d.traced = 37;
    d.limit = 40;
    d.meanHigh = 0.9;
    d.meanLow = 0.1;
    d.source = QStringLiteral("facts.json");
    return d;
}

double valueAt(const QCPGraph* g, int layer) { return (g->data()->constBegin() + layer)->value; }

QCPItemRect* markerOf(const TraceDatasetPlot& p, int kindIndex) {
    for (int i = 0; i < p.plot()->itemCount(); ++i)
        if (auto* r = qobject_cast<QCPItemRect*>(p.plot()->item(i)); r && r->clipAxisRect() == p.axisRect(kindIndex))
            return r;
    return nullptr;
}

int darkPixels(const QImage& image, const QRect& area) {
    int n = 0;
    for (int y = area.top(); y <= area.bottom(); y += 2)
        for (int x = area.left(); x <= area.right(); x += 2) n += qGray(image.pixel(x, y)) < 160;
    return n;
}

}  // namespace

class TestTraceDatasetPlot final : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void emptyIsFine() {
        TraceDatasetPlot p;
        QVERIFY(p.isEmpty());
        QCOMPARE(p.kindCount(), 0);
        QCOMPARE(p.plot()->graphCount(), 0);
        QVERIFY(!p.meanGraph(0, 0));
        QVERIFY(p.toolTipAt(0, 0).isEmpty());
        p.setMarkedLayer(2);  // no layers: nothing to mark
        QCOMPARE(p.markedLayer(), -1);
        QString error;
        QTemporaryDir dir;
        QVERIFY(!p.exportTo(dir.filePath(QStringLiteral("e.png")), &error));
        QVERIFY(!error.isEmpty());
        QVERIFY(!QFile::exists(dir.filePath(QStringLiteral("e.png"))));
        p.setPlaceholderText(QStringLiteral("Nothing yet"));
        QCOMPARE(p.placeholderText(), QStringLiteral("Nothing yet"));
    }

    void graphsFollowTheData() {
        TraceDatasetPlot p;
        const TraceDatasetPlotData d = sample();
        p.setData(d);
        QCOMPARE(p.kindCount(), 3);
        // Per kind and bucket: a mean line and the two edges of its band.
        QCOMPARE(p.plot()->graphCount(), 3 * kBuckets.size() * 3);
        for (int k = 0; k < 3; ++k)
            for (int b = 0; b < kBuckets.size(); ++b) {
                QCPGraph* mean = p.meanGraph(k, b);
                QCPGraph* lower = p.bandLowerGraph(k, b);
                QCPGraph* upper = p.bandUpperGraph(k, b);
                QVERIFY(mean && lower && upper);
                QCOMPARE(mean->keyAxis(), p.axisRect(k)->axis(QCPAxis::atBottom));
                QCOMPARE(mean->data()->size(), kLayers);
                QCOMPARE(upper->channelFillGraph(), lower);  // the band: filled between its edges
                QVERIFY(upper->brush().style() != Qt::NoBrush && upper->brush().color().alpha() > 0);
                QCOMPARE(upper->pen().style(), Qt::NoPen);
                for (int l = 0; l < kLayers; ++l) {
                    QCOMPARE((mean->data()->constBegin() + l)->key, double(l));
                    const double m = d.kinds[k].mean[b][l], ci = d.kinds[k].ci95[b][l];
                    if (b == 4) {  // no facts: a gap, not a zero
                        QVERIFY(std::isnan(valueAt(mean, l)));
                        continue;
                    }
                    QCOMPARE(valueAt(mean, l), m);
                    QCOMPARE(valueAt(lower, l), m - ci);
                    QCOMPARE(valueAt(upper, l), m + ci);
                }
            }
        QCOMPARE(valueAt(p.meanGraph(1, 2), 2), 0.6);
        // The empty bucket is hidden but stays in the legend, saying so.
        QVERIFY(!p.meanGraph(0, 4)->visible());
        QVERIFY(p.meanGraph(0, 2)->visible());
        const QStringList legend = p.legendTexts(1);
        QCOMPARE(legend.size(), kBuckets.size());
        QCOMPARE(legend[2], QStringLiteral("last subject token"));
        QCOMPARE(legend[4], QStringLiteral("further tokens (none)"));
        // Titles and axes.
        QCOMPARE(p.plotTitle(0), QStringLiteral("Restoring hidden state (one layer)"));
        QCOMPARE(p.plotTitle(1), QStringLiteral("Restoring MLP output (window 2)"));
        QCOMPARE(p.plotTitle(2), QStringLiteral("Restoring attention output (window 2)"));
        QCOMPARE(p.axisRect(0)->axis(QCPAxis::atBottom)->label(), QStringLiteral("layer"));
        QCOMPARE(p.axisRect(1)->axis(QCPAxis::atBottom)->label(), QStringLiteral("layer (centre of 2 restored layers)"));
        QCOMPARE(p.axisRect(1)->axis(QCPAxis::atLeft)->label(), QStringLiteral("average indirect effect"));
        QVERIFY2(p.title().contains(QStringLiteral("37 facts of facts.json")), qPrintable(p.title()));
        QVERIFY2(p.subtitle().contains(QStringLiteral("p(clean) 0.900, p(corrupted) 0.100")), qPrintable(p.subtitle()));
        QVERIFY2(p.subtitle().contains(QStringLiteral("peaks at layer 2")), qPrintable(p.subtitle()));
        // Every band fits on its plot's value axis.
        const QCPRange y = p.axisRect(1)->axis(QCPAxis::atLeft)->range();
        QVERIFY(y.lower <= 0 && y.upper >= 0.65);
        QCOMPARE(d.suggestedEditLayer(), 2);
    }

    void growingAveragesKeepTheGraphs() {
        TraceDatasetPlot p;
        TraceDatasetPlotData d = sample();
        d.complete = false;
        d.considered = 10;
        p.setData(d);
        QVERIFY2(p.title().contains(QStringLiteral("so far: 10 of 40")), qPrintable(p.title()));
        QCPGraph* before = p.meanGraph(2, 5);
        d.kinds[2].mean[5][1] = 0.42;
        d.complete = true;
        p.setData(d);
        QCOMPARE(p.meanGraph(2, 5), before);  // same graphs: only values changed
        QCOMPARE(valueAt(p.meanGraph(2, 5), 1), 0.42);
        // Other kinds: rebuilt to the new shape.
        d.kinds.removeFirst();
        p.setData(d);
        QCOMPARE(p.kindCount(), 2);
        QCOMPARE(p.plot()->graphCount(), 2 * kBuckets.size() * 3);
        QCOMPARE(p.plotTitle(0), QStringLiteral("Restoring MLP output (window 2)"));
        p.clear();
        QVERIFY(p.isEmpty());
        QCOMPARE(p.plot()->graphCount(), 0);
    }

    void coloursPerKind() {
        const QColor hidden = TraceDatasetPlot::bucketColor(QStringLiteral("hidden"), 2, false);
        const QColor mlp = TraceDatasetPlot::bucketColor(QStringLiteral("mlp"), 2, false);
        const QColor attn = TraceDatasetPlot::bucketColor(QStringLiteral("attn"), 2, false);
        QVERIFY2(hidden.blue() > hidden.green() && hidden.red() > hidden.green(), qPrintable(hidden.name()));
        QVERIFY2(mlp.green() > mlp.red() && mlp.green() > mlp.blue(), qPrintable(mlp.name()));
        QVERIFY2(attn.red() > attn.green() && attn.red() > attn.blue(), qPrintable(attn.name()));
        for (const char* kind : {"hidden", "mlp", "attn"}) {
            const QString k = QLatin1String(kind);
            // The last subject token stands out: darkest on light, lightest on dark.
            for (int b : {0, 1, 3, 4, 5}) {
                QVERIFY(TraceDatasetPlot::bucketColor(k, 2, false).lightnessF() <
                        TraceDatasetPlot::bucketColor(k, b, false).lightnessF());
                QVERIFY(TraceDatasetPlot::bucketColor(k, 2, true).lightnessF() >
                        TraceDatasetPlot::bucketColor(k, b, true).lightnessF());
            }
            QVERIFY(TraceDatasetPlot::bucketColor(k, 2, true).lightnessF() > 0.7);
        }
        // Line styles tell the buckets apart without colour, too.
        QSet<int> looks;
        for (int b = 0; b < 6; ++b)
            looks << int(TraceDatasetPlot::bucketPenStyle(b)) * 10 + int(TraceDatasetPlot::bucketPenWidth(b));
        QCOMPARE(looks.size(), 6);
    }

    void bandIsDrawn() {
        TraceDatasetPlot p;
        p.resize(1200, 520);
        p.show();
        QVERIFY(QTest::qWaitForWindowExposed(&p));
        TraceDatasetPlotData d = sample();
        // One wide band alone in the MLP plot, so its inside is unambiguous.
        for (int b = 0; b < kBuckets.size(); ++b)
            for (int l = 0; l < kLayers; ++l) {
                d.kinds[1].mean[b][l] = b == 2 ? 0.5 : 0.0;
                d.kinds[1].ci95[b][l] = b == 2 ? 0.2 : 0.0;  // band 0.3 .. 0.7
            }
        p.setData(d);
        p.plot()->replot();
        const QImage image = p.plot()->toPixmap().toImage();
        QCPAxisRect* rect = p.axisRect(1);
        const int x = qRound(rect->axis(QCPAxis::atBottom)->coordToPixel(1.5));  // between two points
        const QColor inside(image.pixel(x, qRound(rect->axis(QCPAxis::atLeft)->coordToPixel(0.62))));
        const QColor outside(image.pixel(x, qRound(rect->axis(QCPAxis::atLeft)->coordToPixel(0.73))));
        QCOMPARE(outside, QColor(Qt::white));
        QVERIFY2(inside != QColor(Qt::white) && inside.green() > inside.red(), qPrintable(inside.name()));
        // The line itself: the dark green of the last subject token.
        const QColor line(image.pixel(x, qRound(rect->axis(QCPAxis::atLeft)->coordToPixel(0.5))));
        QVERIFY2(qGray(line.rgb()) < 120 && line.green() > line.red(), qPrintable(line.name()));
    }

    void hoverToolTip() {
        TraceDatasetPlot p;
        p.setData(sample());
        const QString tip = p.toolTipAt(1, 2, 2);
        QVERIFY2(tip.startsWith(QStringLiteral("Restoring MLP output (window 2)")), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("layer 2 (restoring layers 1–2)")), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("▸ last subject token: 0.6000 (0.5500 – 0.6500, n = 32)")), qPrintable(tip));
        // Exact values of the other buckets too: 0.2 + 0.05 * 5 + 0.02 = 0.47 at the last token.
        QVERIFY2(tip.contains(QStringLiteral("   last token: 0.4700 (0.4400 – 0.5000, n = 32)")), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("further tokens: no tokens")), qPrintable(tip));
        QVERIFY(!p.toolTipAt(0, 1).contains(QStringLiteral("restoring layers")));  // hidden: one layer
        QVERIFY(p.toolTipAt(1, kLayers).isEmpty());
        QVERIFY(p.toolTipAt(3, 0).isEmpty());
    }

    void clickMarksTheLayerEverywhere() {
        TraceDatasetPlot p;
        p.resize(1200, 520);
        p.show();
        QVERIFY(QTest::qWaitForWindowExposed(&p));
        p.setData(sample());
        p.plot()->replot();
        QSignalSpy clicked(&p, &TraceDatasetPlot::layerClicked);
        const QPoint at = p.pointCenter(1, 2, 2);
        QVERIFY(at.x() > 0);
        int kind = -1, layer = -1;
        QVERIFY(p.layerAt(at, &kind, &layer));
        QCOMPARE(kind, 1);
        QCOMPARE(layer, 2);
        QTest::mouseClick(p.plot(), Qt::LeftButton, {}, at);
        QCOMPARE(clicked.size(), 1);
        QCOMPARE(clicked.first().first().toInt(), 2);
        QCOMPARE(p.markedLayer(), 2);
        QVERIFY2(p.subtitle().contains(QStringLiteral("grey column: edit layer 2")), qPrintable(p.subtitle()));
        for (int k = 0; k < 3; ++k) {
            QVERIFY(markerOf(p, k));
            QVERIFY(markerOf(p, k)->visible());
            QCOMPARE(markerOf(p, k)->topLeft->coords().x(), 1.5);
            QCOMPARE(markerOf(p, k)->bottomRight->coords().x(), 2.5);
        }
        // The marked column is visibly shaded (top of the hidden plot, above every line).
        p.plot()->replot();
        QImage image = p.plot()->toPixmap().toImage();
        QCPAxisRect* rect = p.axisRect(0);
        const int y = rect->top() + 3;
        const QColor shaded(image.pixel(qRound(rect->axis(QCPAxis::atBottom)->coordToPixel(2.2)), y));
        const QColor plain(image.pixel(qRound(rect->axis(QCPAxis::atBottom)->coordToPixel(0.8)), y));
        QCOMPARE(plain, QColor(Qt::white));
        QVERIFY2(shaded != QColor(Qt::white), qPrintable(shaded.name()));
        QTest::mouseClick(p.plot(), Qt::LeftButton, {}, QPoint(2, 2));  // outside every plot
        QCOMPARE(clicked.size(), 1);
        QTest::mouseClick(p.plot(), Qt::RightButton, {}, at);
        QCOMPARE(clicked.size(), 1);
        p.setMarkedLayer(-1);
        for (int k = 0; k < 3; ++k) QVERIFY(!markerOf(p, k)->visible());
        QVERIFY(!p.subtitle().contains(QStringLiteral("grey column")));
        p.setMarkedLayer(kLayers);  // out of range: none
        QCOMPARE(p.markedLayer(), -1);
    }

    void exportPngPdfSvg() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        TraceDatasetPlot p;
        p.setData(sample());
        p.setMarkedLayer(2);
        QString error;
        const QString png = dir.filePath(QStringLiteral("d.png"));
        QVERIFY2(p.exportTo(png, &error, QSize(1200, 500)), qPrintable(error));
        const QImage image(png);
        QCOMPARE(image.size(), QSize(2400, 1000));  // drawn at twice the pixels
        for (int i = 0; i < 3; ++i)  // every plot's third has lines, labels and a legend
            QVERIFY(darkPixels(image, QRect(i * 800, 0, 800, 1000)) > 300);
        const QString pdf = dir.filePath(QStringLiteral("d.pdf"));
        QVERIFY2(p.exportTo(pdf, &error), qPrintable(error));
        QFile pdfFile(pdf);
        QVERIFY(pdfFile.open(QIODevice::ReadOnly));
        QVERIFY(pdfFile.read(5) == "%PDF-");
        const QString svg = dir.filePath(QStringLiteral("d.svg"));
        QVERIFY2(p.exportTo(svg, &error), qPrintable(error));
        QFile svgFile(svg);
        QVERIFY(svgFile.open(QIODevice::ReadOnly));
        QVERIFY(svgFile.readAll().contains("last subject token"));  // legend as text
        QVERIFY(QSvgRenderer(svg).isValid());
        const QString shots = qEnvironmentVariable("KME_SHOT_DIR");  // to look at it
        if (!shots.isEmpty()) {
            QFile::remove(shots + QStringLiteral("/dataset-plot.png"));
            QFile::copy(png, shots + QStringLiteral("/dataset-plot.png"));
        }
        QVERIFY(!p.exportTo(dir.filePath(QStringLiteral("d.bmp")), &error));
        QVERIFY(!p.exportTo(dir.filePath(QStringLiteral("no/dir/d.png")), &error));
        QVERIFY(!error.isEmpty());
    }

    void darkPalette() {
        QPalette dark;
        dark.setColor(QPalette::Base, QColor(0x1e, 0x1e, 0x1e));
        dark.setColor(QPalette::Text, QColor(0xe8, 0xe8, 0xe8));
        TraceDatasetPlot p;
        p.setPalette(dark);
        p.setData(sample());
        QCOMPARE(p.axisRect(0)->axis(QCPAxis::atBottom)->tickLabelColor(), QColor(0xe8, 0xe8, 0xe8));
        QCOMPARE(p.axisRect(0)->backgroundBrush().color(), QColor(0x1e, 0x1e, 0x1e));
        // Lines readable on dark: the key bucket's line is light.
        QVERIFY(p.meanGraph(1, 2)->pen().color().lightnessF() > 0.7);
        const QImage image = p.toImage(QSize(1200, 500));
        QCOMPARE(QColor(image.pixel(2, 2)), QColor(0x1e, 0x1e, 0x1e));
        const QString shots = qEnvironmentVariable("KME_SHOT_DIR");
        if (!shots.isEmpty()) image.save(shots + QStringLiteral("/dataset-plot-dark.png"));
    }

    void singleLayerModel() {
        // One layer: points, not lines, so something is still visible.
        TraceDatasetPlotData d = sample();
        d.nLayer = 1;
        for (auto& k : d.kinds)
            for (int b = 0; b < kBuckets.size(); ++b) {
                k.mean[b].resize(1);
                k.ci95[b].resize(1);
                k.count[b].resize(1);
            }
        TraceDatasetPlot p;
        p.setData(d);
        QCOMPARE(p.meanGraph(0, 2)->data()->size(), 1);
        QVERIFY(p.meanGraph(0, 2)->scatterStyle().shape() != QCPScatterStyle::ssNone);
    }
};

QTEST_MAIN(TestTraceDatasetPlot)
#include "test_tracedatasetplot.moc"
