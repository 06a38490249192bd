#include "widgets/ProbabilityBars.h"

#include "widgets/PlotStyle.h"
#include "widgets/QCustomPlotInclude.h"

#include <QEvent>
#include <QMouseEvent>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "widgets/TokenText.h"
#include "widgets/Colours.h"

namespace kme::widgets {

namespace {

// Room right of the axis rect for the printed value of a bar that reaches the
// end of the axis: labels are drawn outside the axis rect rather than clipped.
constexpr int kValueLabelMargin = 64;
constexpr double kBarWidth = 0.7;         // in rows (a row is 1.0)
constexpr double kCompareOffset = 0.2;    // rows between a main bar and its comparison bar
constexpr int kMinRows = 6;               // the row pitch of a chart with fewer bars

double sanitize(double p) { return std::isfinite(p) ? std::clamp(p, 0.0, 1.0) : 0.0; }

}  // namespace

ProbabilityBars::ProbabilityBars(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("probabilityPlot"));
    plot_->setAntialiasedElements(QCP::aeAll);
    plot_->setMouseTracking(true);
    layout->addWidget(plot_);

    // Horizontal bars: the key axis is the y axis (one row per token), the
    // value axis is x. Rows count from the top, so the y axis is reversed.
    bars_ = new QCPBars(plot_->yAxis, plot_->xAxis);
    compareBars_ = new QCPBars(plot_->yAxis, plot_->xAxis);
    compareBars_->setVisible(false);
    compareBars_->removeFromLegend();
    ticker_ = QSharedPointer<QCPAxisTickerText>::create();
    plot_->yAxis->setTicker(ticker_);
    plot_->yAxis->setRangeReversed(true);
    plot_->yAxis->setTickLength(0, 0);
    plot_->yAxis->setSubTicks(false);
    plot_->yAxis->grid()->setVisible(false);
    plot_->xAxis->setLabel(tr("probability of the next token"));
    plot_->axisRect()->setAutoMargins(QCP::msLeft | QCP::msBottom | QCP::msTop);
    plot_->axisRect()->setMargins(QMargins(0, 0, kValueLabelMargin, 0));
    plot_->legend->setVisible(false);
    plot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);

    placeholder_ = new QCPItemText(plot_);
    placeholder_->position->setType(QCPItemPosition::ptAxisRectRatio);
    placeholder_->position->setCoords(0.5, 0.5);
    placeholder_->setPositionAlignment(Qt::AlignCenter);
    placeholder_->setText(tr("No data yet."));

    connect(plot_, &QCustomPlot::mouseMove, this, &ProbabilityBars::showToolTip);
    applyPalette();
    rebuild();
}

ProbabilityBars::~ProbabilityBars() = default;

void ProbabilityBars::setData(const QStringList& tokens, const QVector<double>& probs,
                              const QVector<double>& comparison) {
    const int n = std::min<int>(tokens.size(), probs.size());
    tokens_ = tokens.mid(0, n);
    probs_.clear();
    comparison_.clear();
    for (int i = 0; i < n; ++i) probs_.push_back(sanitize(probs[i]));
    if (comparison.size() >= n && n > 0)
        for (int i = 0; i < n; ++i) comparison_.push_back(sanitize(comparison[i]));
    rebuild();
}

void ProbabilityBars::clear() { setData({}, {}); }

void ProbabilityBars::setSeriesNames(const QString& main, const QString& comparison) {
    mainName_ = main;
    compareName_ = comparison;
    rebuild();
}

void ProbabilityBars::setScale(Scale scale) {
    scale_ = scale;
    rebuild();
}

void ProbabilityBars::setTitle(const QString& title) {
    if (title.isEmpty()) {
        if (title_) {
            plot_->plotLayout()->remove(title_);  // deletes the element
            plot_->plotLayout()->simplify();
            title_ = nullptr;
        }
    } else {
        if (!title_) {
            plot_->plotLayout()->insertRow(0);
            title_ = new QCPTextElement(plot_, title);
            plot_->plotLayout()->addElement(0, 0, title_);
        }
        title_->setText(title);
    }
    applyPalette();
    plot_->replot();
}

void ProbabilityBars::setPlaceholderText(const QString& text) {
    placeholder_->setText(text);
    plot_->replot();
}

bool ProbabilityBars::savePng(const QString& path, int width, int height, double scale) {
    return plot_->savePng(path, width, height, scale);
}

QStringList ProbabilityBars::axisLabels() const {
    QStringList out;
    for (const QString& t : tokens_) out << visibleTokenElided(t);
    return out;
}

QStringList ProbabilityBars::valueLabels() const {
    QStringList out;
    for (int i = 0; i < probs_.size(); ++i) out << formatProbability(probs_[i]);
    return out;
}

QString ProbabilityBars::formatProbability(double p) {
    if (p <= 0) return QStringLiteral("0");
    if (p < 1e-4) return QStringLiteral("<0.0001");
    if (p >= 0.01) return QString::number(p, 'f', 3);
    return QString::number(p, 'f', 4);  // 0.0042: two significant digits for small values
}

double ProbabilityBars::upperBound() const {
    if (scale_ == Scale::Unit) return 1.0;
    double m = 0;
    for (double p : probs_) m = std::max(m, p);
    for (double p : comparison_) m = std::max(m, p);
    return m > 0 ? std::min(1.0, m * 1.05) : 1.0;
}

void ProbabilityBars::rebuild() {
    for (QCPItemText* label : labels_) plot_->removeItem(label);
    labels_.clear();

    const int n = tokens_.size();
    const bool compare = !comparison_.isEmpty();
    const double offset = compare ? kCompareOffset : 0.0;
    QVector<double> keys, mainKeys, compareKeys, tickKeys;
    QVector<QString> tickLabels;
    for (int i = 0; i < n; ++i) {
        const double key = i + 1;
        tickKeys << key;
        tickLabels << visibleTokenElided(tokens_[i]);
        mainKeys << key - offset / 2;
        compareKeys << key + offset;
    }
    ticker_->setTicks(tickKeys, tickLabels);
    bars_->setWidth(compare ? kBarWidth - 0.2 : kBarWidth);
    bars_->setData(mainKeys, probs_, true);
    bars_->setName(mainName_);
    compareBars_->setVisible(compare);
    compareBars_->setWidth(0.25);
    compareBars_->setData(compare ? compareKeys : QVector<double>{}, comparison_, true);
    compareBars_->setName(compareName_);

    auto addLabel = [&](double value, double key, bool small) {
        auto* label = new QCPItemText(plot_);
        label->setClipToAxisRect(false);
        label->position->setAxes(plot_->xAxis, plot_->yAxis);
        label->position->setType(QCPItemPosition::ptPlotCoords);
        label->position->setCoords(value, key);
        label->setPositionAlignment(Qt::AlignLeft | Qt::AlignVCenter);
        label->setPadding(QMargins(4, 0, 0, 0));
        label->setText(formatProbability(value));
        if (small) {
            QFont f = font();
            f.setPointSizeF(f.pointSizeF() * 0.85);
            label->setFont(f);
        }
        labels_ << label;
    };
    for (int i = 0; i < n; ++i) addLabel(probs_[i], mainKeys[i], false);
    if (compare)
        for (int i = 0; i < n; ++i) addLabel(comparison_[i], compareKeys[i], true);

    plot_->legend->setVisible(compare);
    if (compare) {
        plot_->legend->clearItems();
        bars_->addToLegend();
        compareBars_->addToLegend();
    }
    placeholder_->setVisible(n == 0);
    plot_->yAxis->setTicks(n > 0);
    // At least kMinRows rows of space: three bars stay bars, not slabs.
    plot_->yAxis->setRange(0.4, std::max(kMinRows, n) + 0.6);
    plot_->xAxis->setRange(0.0, upperBound());
    applyPalette();
    plot_->replot();
    updateGeometry();
}

void ProbabilityBars::applyPalette() {
    // Everything derives from the palette so the chart reads in light and dark themes.
    const QPalette pal = palette();
    const QColor base = pal.color(QPalette::Base);
    const QColor text = pal.color(QPalette::Text);
    const QColor axis = mix(base, text, 0.6);
    const bool dark = base.lightnessF() < 0.5;

    plot_->setBackground(QBrush(base));
    for (QCPAxis* a : {plot_->xAxis, plot_->yAxis}) {
        colourAxis(a, base, text, font());
        dotGrid(a, base, text);
        a->grid()->setZeroLinePen(Qt::NoPen);
    }
    const QColor mainColor = pal.color(QPalette::Highlight);
    bars_->setBrush(mainColor);
    bars_->setPen(QPen(mainColor.darker(dark ? 80 : 120)));
    // A warm hue that contrasts with the (usually blue) highlight in both themes.
    const QColor other = QColor::fromHsl(28, 200, dark ? 150 : 120);
    compareBars_->setBrush(other);
    compareBars_->setPen(QPen(other.darker(dark ? 80 : 120)));
    for (QCPItemText* label : labels_) label->setColor(text);
    placeholder_->setColor(mix(base, text, 0.65));
    placeholder_->setFont(font());
    if (title_) {
        title_->setTextColor(text);
        QFont f = font();
        f.setBold(true);
        title_->setFont(f);
    }
    plot_->legend->setBrush(QBrush(base));
    plot_->legend->setBorderPen(QPen(axis));
    plot_->legend->setTextColor(text);
    plot_->legend->setFont(font());
}

void ProbabilityBars::changeEvent(QEvent* event) {
    QWidget::changeEvent(event);
    if (event->type() == QEvent::PaletteChange || event->type() == QEvent::FontChange ||
        event->type() == QEvent::StyleChange) {
        applyPalette();
        plot_->replot();
    }
}

void ProbabilityBars::showToolTip(QMouseEvent* event) {
    // Full token text (labels may be shortened) and exact probabilities.
    const double key = plot_->yAxis->pixelToCoord(event->position().y());
    const int row = static_cast<int>(std::lround(key)) - 1;
    if (row < 0 || row >= tokens_.size() || !plot_->axisRect()->rect().contains(event->pos())) {
        QToolTip::hideText();
        return;
    }
    QString tip = tr("%1\np = %2").arg(visibleToken(tokens_[row])).arg(probs_[row], 0, 'g', 6);
    if (!comparison_.isEmpty())
        tip += tr("\n%1: p = %2").arg(compareName_).arg(comparison_[row], 0, 'g', 6);
    QToolTip::showText(event->globalPosition().toPoint(), tip, plot_);
}

QSize ProbabilityBars::sizeHint() const {
    const int rows = std::max<int>(5, tokens_.size());
    return {480, 60 + rows * (fontMetrics().height() + 10)};
}

QSize ProbabilityBars::minimumSizeHint() const { return {240, 160}; }

}  // namespace kme::widgets
