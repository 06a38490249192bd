// ProbabilityBars: plain data in -> the right bars, labels and values out.
#include <QtTest>

#include <QTemporaryDir>
#include <cmath>
#include <limits>

#include "widgets/ProbabilityBars.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/TokenText.h"

using kme::widgets::ProbabilityBars;

namespace {

QCPBars* series(const ProbabilityBars& b, int i) { return qobject_cast<QCPBars*>(b.plot()->plottable(i)); }

int visibleTextItems(const ProbabilityBars& b) {
    int n = 0;
    for (int i = 0; i < b.plot()->itemCount(); ++i)
        if (auto* t = qobject_cast<QCPItemText*>(b.plot()->item(i)); t && t->visible()) ++n;
    return n;
}

QStringList tickLabels(const ProbabilityBars& b) {
    auto ticker = b.plot()->yAxis->ticker().dynamicCast<QCPAxisTickerText>();
    QStringList out;
    if (ticker)
        for (const QString& s : ticker->ticks()) out << s;  // QMap: ordered by key = row, top to bottom
    return out;
}

}  // namespace

class TestProbabilityBars final : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void emptyIsFine() {
        ProbabilityBars b;
        QCOMPARE(b.barCount(), 0);
        QCOMPARE(series(b, 0)->data()->size(), 0);
        QCOMPARE(visibleTextItems(b), 1);  // only the placeholder
        b.setData({}, {});
        b.setData({QStringLiteral("a")}, {});  // no probabilities: nothing to draw
        QCOMPARE(b.barCount(), 0);
        b.clear();
        QVERIFY(tickLabels(b).isEmpty());
    }

    void barsLabelsValues() {
        ProbabilityBars b;
        b.resize(500, 300);
        b.setData({QStringLiteral(" Paris"), QStringLiteral("London"), QStringLiteral(" the")}, {0.5, 0.2, 0.0042});
        QCOMPARE(b.barCount(), 3);
        QCPBars* bars = series(b, 0);
        QCOMPARE(bars->data()->size(), 3);
        // Row 1 (top) holds the most likely token.
        QCOMPARE(bars->data()->at(0)->key, 1.0);
        QCOMPARE(bars->data()->at(0)->value, 0.5);
        QCOMPARE(bars->data()->at(2)->value, 0.0042);
        QCOMPARE(b.axisLabels(), (QStringList{QStringLiteral("␣Paris"), QStringLiteral("London"), QStringLiteral("␣the")}));
        QCOMPARE(tickLabels(b), b.axisLabels());
        QCOMPARE(b.valueLabels(), (QStringList{"0.500", "0.200", "0.0042"}));
        QCOMPARE(visibleTextItems(b), 3);  // value labels; the placeholder is hidden
        QVERIFY(b.plot()->yAxis->rangeReversed());
        QCOMPARE(b.plot()->xAxis->range().upper, 1.0);
        QVERIFY(!b.plot()->legend->visible());
    }

    void extraEntriesIgnored() {
        ProbabilityBars b;
        b.setData({QStringLiteral("a"), QStringLiteral("b"), QStringLiteral("c")}, {0.3, 0.2});
        QCOMPARE(b.barCount(), 2);
        b.setData({QStringLiteral("a")}, {0.3, 0.2});
        QCOMPARE(b.barCount(), 1);
    }

    void comparisonSeries() {
        ProbabilityBars b;
        b.setSeriesNames(QStringLiteral("before"), QStringLiteral("after"));
        b.setData({QStringLiteral(" Paris"), QStringLiteral(" Rome")}, {0.6, 0.1}, {0.05, 0.7});
        QCOMPARE(series(b, 0)->data()->size(), 2);
        QCOMPARE(series(b, 1)->data()->size(), 2);
        QVERIFY(series(b, 1)->visible());
        QCOMPARE(b.comparisonValues(), (QVector<double>{0.05, 0.7}));
        QVERIFY(b.plot()->legend->visible());
        QCOMPARE(b.plot()->legend->itemCount(), 2);
        QCOMPARE(visibleTextItems(b), 4);
        // Back to one series: the comparison disappears.
        b.setData({QStringLiteral(" Paris")}, {0.6});
        QVERIFY(!series(b, 1)->visible());
        QVERIFY(!b.plot()->legend->visible());
        QCOMPARE(visibleTextItems(b), 1);
    }

    void badValuesAreClamped() {
        ProbabilityBars b;
        b.setData({QStringLiteral("x"), QStringLiteral("y"), QStringLiteral("z")},
                  {std::numeric_limits<double>::quiet_NaN(), -0.5, 1.5});
        QCOMPARE(b.values(), (QVector<double>{0.0, 0.0, 1.0}));
    }

    void autoScale() {
        ProbabilityBars b;
        b.setScale(ProbabilityBars::Scale::Auto);
        b.setData({QStringLiteral("x"), QStringLiteral("y")}, {0.02, 0.01});
        QVERIFY(std::abs(b.plot()->xAxis->range().upper - 0.021) < 1e-12);
        b.setScale(ProbabilityBars::Scale::Unit);
        QCOMPARE(b.plot()->xAxis->range().upper, 1.0);
    }

    void exportsPng() {
        QTemporaryDir dir;
        ProbabilityBars b;
        b.setTitle(QStringLiteral("Next token"));
        b.setData({QStringLiteral(" Paris"), QStringLiteral(" Rome")}, {0.6, 0.1});
        const QString path = dir.filePath(QStringLiteral("bars.png"));
        QVERIFY(b.savePng(path, 400, 300));
        QImage image(path);
        QCOMPARE(image.size(), QSize(400, 300));
    }

    void visibleToken_data() {
        QTest::addColumn<QString>("token");
        QTest::addColumn<QString>("shown");
        QTest::newRow("leading space") << " Paris" << "␣Paris";
        QTest::newRow("plain") << "Paris" << "Paris";
        QTest::newRow("inner space kept") << "New York" << "New York";
        QTest::newRow("two leading") << "  x" << "␣␣x";
        QTest::newRow("trailing") << "x " << "x␣";
        QTest::newRow("only space") << " " << "␣";
        QTest::newRow("newline") << "\n" << "↵";
        QTest::newRow("tab") << "\t" << "⇥";
        QTest::newRow("control") << QString(QChar(0x01)) << "\\x01";
        QTest::newRow("replacement char") << QString(QChar(0xFFFD)) << QString(QChar(0xFFFD));
    }
    void visibleToken() {
        QFETCH(QString, token);
        QFETCH(QString, shown);
        QCOMPARE(kme::widgets::visibleToken(token), shown);
    }

    void formatProbability_data() {
        QTest::addColumn<double>("p");
        QTest::addColumn<QString>("text");
        QTest::newRow("big") << 0.4213 << "0.421";
        QTest::newRow("one") << 1.0 << "1.000";
        QTest::newRow("small") << 0.00421 << "0.0042";
        QTest::newRow("tiny") << 0.00001 << "<0.0001";
        QTest::newRow("zero") << 0.0 << "0";
    }
    void formatProbability() {
        QFETCH(double, p);
        QFETCH(QString, text);
        QCOMPARE(ProbabilityBars::formatProbability(p), text);
    }
};

QTEST_MAIN(TestProbabilityBars)
#include "test_probabilitybars.moc"
