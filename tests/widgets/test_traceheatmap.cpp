// TraceHeatmap / TraceHeatmapPanel: plain data in -> the right cells, labels,
// colours, clicks and exported files out.
#include <QtTest>

#include <QFile>
#include <QImage>
#include <QSvgRenderer>
#include <QTemporaryDir>
#include <cmath>
#include <limits>

#include "widgets/QCustomPlotInclude.h"
#include "widgets/TraceHeatmap.h"
#include "widgets/TraceHeatmapPanel.h"

using kme::widgets::TraceHeatmap;
using kme::widgets::TraceHeatmapData;
using kme::widgets::TraceHeatmapPanel;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// 4 tokens ("The Eiffel Tower is"), subject = tokens 1..2, 3 layers; the
// last row not computed yet.
TraceHeatmapData sample(const QString& kind = QStringLiteral("mlp")) {
    TraceHeatmapData d;
    d.tokens = {QStringLiteral("The"), QStringLiteral(" Eiffel"), QStringLiteral(" Tower"), QStringLiteral(" is")};
    d.subjectBegin = 1;
    d.subjectEnd = 3;
    d.nLayer = 3;
    d.kind = kind;
    d.lowScore = 0.05;
    d.highScore = 0.8;
    d.answer = QStringLiteral(" Paris");
    d.window = 2;
    d.scores = {{0.05, 0.05, 0.05}, {0.10, 0.20, 0.30}, {0.40, 0.60, 0.70}, {kNaN, kNaN, kNaN}};
    return d;
}

QCPItemText* labelItem(const TraceHeatmap& h, const QString& text) {
    for (int i = 0; i < h.plot()->itemCount(); ++i)
        if (auto* t = qobject_cast<QCPItemText*>(h.plot()->item(i)); t && t->text() == text) return t;
    return nullptr;
}

QCPItemRect* markerItem(const TraceHeatmap& h) {
    for (int i = 0; i < h.plot()->itemCount(); ++i)
        if (auto* r = qobject_cast<QCPItemRect*>(h.plot()->item(i))) return r;
    return nullptr;
}

}  // namespace

class TestTraceHeatmap final : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void emptyIsFine() {
        TraceHeatmap h;
        QVERIFY(h.rowLabels().isEmpty());
        QVERIFY(std::isnan(h.cellValue(0, 0)));
        QVERIFY(h.title().isEmpty());
        QVERIFY(h.toolTipForCell(0, 0).isEmpty());
        h.setMarkedLayer(3);  // no columns: nothing to mark
        QCOMPARE(h.markedLayer(), -1);
        TraceHeatmapPanel p;
        QVERIFY(p.isEmpty());
        QCOMPARE(p.mapCount(), 0);
        QVERIFY(!p.map(0));
    }

    void cellsLabelsTitle() {
        TraceHeatmap h;
        h.setData(sample());
        QCOMPARE(h.colorMap()->data()->keySize(), 3);    // layers
        QCOMPARE(h.colorMap()->data()->valueSize(), 4);  // tokens
        QCOMPARE(h.cellValue(0, 0), 0.05);
        QCOMPARE(h.cellValue(1, 2), 0.30);
        QCOMPARE(h.cellValue(2, 1), 0.60);
        for (int l = 0; l < 3; ++l) QVERIFY(std::isnan(h.cellValue(3, l)));  // blank until computed
        QCOMPARE(h.rowLabels(), (QStringList{"The", "␣Eiffel*", "␣Tower*", "␣is"}));
        QVERIFY(labelItem(h, QStringLiteral("␣Eiffel*"))->font().bold());
        QVERIFY(labelItem(h, QStringLiteral("␣Tower*"))->font().bold());
        QVERIFY(!labelItem(h, QStringLiteral("The"))->font().bold());
        QCOMPARE(labelItem(h, QStringLiteral("␣Tower*"))->color(), TraceHeatmap::kindColor(QStringLiteral("mlp")));
        QCOMPARE(h.title(), QStringLiteral("Restoring MLP output (window 2)"));
        QVERIFY(h.plot()->yAxis->rangeReversed());  // first token at the top
        QCOMPARE(h.plot()->xAxis->label(), QStringLiteral("layer (centre of 2 restored layers)"));
        // Colour range: low score .. max(high score, largest cell).
        QCOMPARE(h.colorRange().first, 0.05);
        QCOMPARE(h.colorRange().second, 0.8);
        TraceHeatmapData above = sample();
        above.scores[2][2] = 0.9;
        h.setData(above);
        QCOMPARE(h.colorRange().second, 0.9);
        QCOMPARE(h.colorMap()->colorScale()->axis()->label(), QStringLiteral("p(answer)"));
        QCOMPARE(TraceHeatmap::kindTitle(QStringLiteral("hidden"), 1), QStringLiteral("Restoring hidden state (one layer)"));
        QCOMPARE(TraceHeatmap::kindTitle(QStringLiteral("attn"), 10),
                 QStringLiteral("Restoring attention output (window 10)"));
    }

    void fillsInWithoutRebuilding() {
        TraceHeatmap h;
        TraceHeatmapData d = sample();
        h.setData(d);
        QCPItemText* before = labelItem(h, QStringLiteral("␣is"));
        d.scores[3] = {0.07, 0.5, 0.8};
        h.setData(d);
        QCOMPARE(labelItem(h, QStringLiteral("␣is")), before);  // same items: only the cells changed
        QCOMPARE(h.cellValue(3, 1), 0.5);
        QCOMPARE(d.doneCells(), d.totalCells());
    }

    void gradientsAsInRome() {
        const QCPRange unit(0, 1);
        const QColor white = QColor(TraceHeatmap::gradientForKind(QStringLiteral("hidden")).color(0, unit));
        QCOMPARE(white, QColor(Qt::white));
        const QColor purple(TraceHeatmap::gradientForKind(QStringLiteral("hidden")).color(1, unit));
        const QColor green(TraceHeatmap::gradientForKind(QStringLiteral("mlp")).color(1, unit));
        const QColor red(TraceHeatmap::gradientForKind(QStringLiteral("attn")).color(1, unit));
        QVERIFY(purple.blue() > purple.green() && purple.red() > purple.green());
        QVERIFY(green.green() > green.red() && green.green() > green.blue());
        QVERIFY(red.red() > red.green() && red.red() > red.blue());
        QCOMPARE(TraceHeatmap::gradientForKind(QStringLiteral("mlp")).nanHandling(), QCPColorGradient::nhTransparent);
    }

    void nanCellsAreBlank() {
        TraceHeatmap h;
        h.resize(500, 400);
        h.show();
        QVERIFY(QTest::qWaitForWindowExposed(&h));
        h.setData(sample());
        h.plot()->replot();
        const QImage image = h.plot()->toPixmap().toImage();
        const QColor strong(image.pixel(h.cellCenter(2, 2)));  // 0.7 of 0.05..0.8: dark green
        const QColor low(image.pixel(h.cellCenter(0, 0)));     // the low score: white
        const QColor blank(image.pixel(h.cellCenter(3, 1)));   // not computed yet
        QVERIFY2(qGray(strong.rgb()) < 140, qPrintable(strong.name()));
        QVERIFY2(strong.green() > strong.red(), qPrintable(strong.name()));
        QCOMPARE(low, QColor(Qt::white));
        // Background (with a faint hatch), never a colour of the gradient's upper part.
        QVERIFY2(qGray(blank.rgb()) > 190, qPrintable(blank.name()));
        QCOMPARE(blank.red(), blank.green());
    }

    void hoverToolTip() {
        TraceHeatmap h;
        h.setData(sample());
        const QString tip = h.toolTipForCell(2, 1);
        QVERIFY2(tip.contains(QStringLiteral("“␣Tower” (subject)")), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("layer 1 (restoring layers 0–1)")), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("p(answer) = 0.6")), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("indirect effect = p − p(corrupted) = +0.55")), qPrintable(tip));
        QVERIFY(h.toolTipForCell(3, 0).contains(QStringLiteral("not computed yet")));
        QVERIFY(h.toolTipForCell(9, 0).isEmpty());
        TraceHeatmap hidden;
        hidden.setData(sample(QStringLiteral("hidden")));
        QVERIFY(!hidden.toolTipForCell(1, 2).contains(QStringLiteral("restoring layers")));
    }

    void clickEmitsLayer() {
        TraceHeatmap h;
        h.resize(500, 400);
        h.show();
        QVERIFY(QTest::qWaitForWindowExposed(&h));
        h.setData(sample());
        h.plot()->replot();
        QSignalSpy clicked(&h, &TraceHeatmap::layerClicked);
        QTest::mouseClick(h.plot(), Qt::LeftButton, {}, h.cellCenter(1, 2));
        QCOMPARE(clicked.size(), 1);
        QCOMPARE(clicked.first().first().toInt(), 2);
        QCOMPARE(h.markedLayer(), 2);
        QVERIFY(markerItem(h)->visible());
        int token = -1, layer = -1;
        QVERIFY(h.cellAt(h.cellCenter(3, 0), &token, &layer));
        QCOMPARE(token, 3);
        QCOMPARE(layer, 0);
        QTest::mouseClick(h.plot(), Qt::LeftButton, {}, QPoint(2, 2));  // outside the map
        QCOMPARE(clicked.size(), 1);
        QTest::mouseClick(h.plot(), Qt::RightButton, {}, h.cellCenter(0, 0));
        QCOMPARE(clicked.size(), 1);
        h.setMarkedLayer(-1);
        QVERIFY(!markerItem(h)->visible());
    }

    void panelShowsKindsAndSharesTheMarker() {
        TraceHeatmapPanel p;
        p.resize(1200, 420);
        p.show();
        QVERIFY(QTest::qWaitForWindowExposed(&p));
        p.setData({sample(QStringLiteral("hidden")), sample(QStringLiteral("mlp")), sample(QStringLiteral("attn"))});
        QCOMPARE(p.mapCount(), 3);
        QVERIFY(p.mapForKind(QStringLiteral("attn")));
        QCOMPARE(p.mapForKind(QStringLiteral("attn"))->title(), QStringLiteral("Restoring attention output (window 2)"));
        QVERIFY2(p.headerText().contains(QStringLiteral("“␣Paris”")), qPrintable(p.headerText()));
        QVERIFY(p.headerText().contains(QStringLiteral("p(clean) = 0.800")));
        QVERIFY(p.headerText().contains(QStringLiteral("p(corrupted) = 0.050")));

        QSignalSpy clicked(&p, &TraceHeatmapPanel::layerClicked);
        TraceHeatmap* mlp = p.mapForKind(QStringLiteral("mlp"));
        mlp->plot()->replot();
        QTest::mouseClick(mlp->plot(), Qt::LeftButton, {}, mlp->cellCenter(2, 1));
        QCOMPARE(clicked.size(), 1);
        QCOMPARE(clicked.first().first().toInt(), 1);
        for (int i = 0; i < 3; ++i) QCOMPARE(p.map(i)->markedLayer(), 1);

        // Only the kinds traced are shown.
        p.setData({sample(QStringLiteral("mlp"))});
        QCOMPARE(p.mapCount(), 1);
        QVERIFY(!p.mapForKind(QStringLiteral("hidden")));
        QCOMPARE(p.map(0)->markedLayer(), 1);  // the chosen layer stays
        p.clear();
        QVERIFY(p.isEmpty());
        QCOMPARE(p.markedLayer(), -1);
    }

    void exportPngPdfSvg() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        TraceHeatmapPanel p;
        p.setData({sample(QStringLiteral("hidden")), sample(QStringLiteral("mlp")), sample(QStringLiteral("attn"))});
        QString error;
        const QString png = dir.filePath(QStringLiteral("t.png"));
        QVERIFY2(p.exportTo(png, &error, QSize(900, 360)), qPrintable(error));
        QImage image(png);
        QVERIFY(!image.isNull());
        QCOMPARE(image.size(), QSize(1800, 720));  // drawn at twice the pixels
        // Something is drawn in every map's third: not a blank page.
        for (int i = 0; i < 3; ++i) {
            int dark = 0;
            for (int x = i * 600; x < (i + 1) * 600; x += 3)
                for (int y = 0; y < 720; y += 3) dark += qGray(image.pixel(x, y)) < 128;
            QVERIFY2(dark > 50, qPrintable(QString::number(dark)));
        }
        const QString pdf = dir.filePath(QStringLiteral("t.pdf"));
        QVERIFY2(p.exportTo(pdf, &error), qPrintable(error));
        QFile pdfFile(pdf);
        QVERIFY(pdfFile.open(QIODevice::ReadOnly));
        QVERIFY(pdfFile.read(5) == "%PDF-");
        QVERIFY(pdfFile.size() > 1000);
        const QString svg = dir.filePath(QStringLiteral("t.svg"));
        QVERIFY2(p.exportTo(svg, &error), qPrintable(error));
        QFile svgFile(svg);
        QVERIFY(svgFile.open(QIODevice::ReadOnly));
        const QByteArray svgText = svgFile.readAll();
        QVERIFY(svgText.contains("<svg"));
        QVERIFY(svgText.contains("Eiffel"));  // labels are text, not pixels
        QVERIFY(QSvgRenderer(svg).isValid());
        const QString shots = qEnvironmentVariable("KME_SHOT_DIR");  // to look at them
        if (!shots.isEmpty())
            for (const char* name : {"t.png", "t.pdf", "t.svg"})
                QFile::copy(dir.filePath(QLatin1String(name)), shots + QStringLiteral("/heatmap-") + QLatin1String(name));

        QVERIFY(!p.exportTo(dir.filePath(QStringLiteral("t.bmp")), &error));
        QVERIFY(error.contains(QStringLiteral(".png")));
        QVERIFY(!QFile::exists(dir.filePath(QStringLiteral("t.bmp"))));
        QVERIFY(!p.exportTo(dir.filePath(QStringLiteral("missing/dir/t.png")), &error));
        QVERIFY(!error.isEmpty());
    }

    void darkPalette() {
        QPalette dark;
        dark.setColor(QPalette::Base, QColor(0x1e, 0x1e, 0x1e));
        dark.setColor(QPalette::Text, QColor(0xe8, 0xe8, 0xe8));
        TraceHeatmap h;
        h.setPalette(dark);
        h.setData(sample());
        QCOMPARE(labelItem(h, QStringLiteral("The"))->color(), QColor(0xe8, 0xe8, 0xe8));
        QCOMPARE(h.plot()->xAxis->tickLabelColor(), QColor(0xe8, 0xe8, 0xe8));
        QVERIFY(labelItem(h, QStringLiteral("␣Tower*"))->color().lightnessF() > 0.5);  // readable on dark
    }
};

QTEST_MAIN(TestTraceHeatmap)
#include "test_traceheatmap.moc"
