#include "widgets/TraceDatasetPlot.h"

#include "widgets/PlotStyle.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/SizedPlot.h"

#include <QEvent>
#include <QLabel>
#include <QMouseEvent>
#include <QResizeEvent>
#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <limits>

#include "widgets/PlotExport.h"
#include "widgets/TraceHeatmap.h"
#include "widgets/Colours.h"

namespace kme::widgets {

namespace {

constexpr int kMaxScatterLayers = 24; // more layers: lines only (markers would crowd)
constexpr int kBucketStyles = 6;      // styles cycle past six buckets

QString formatP(double p) { return QString::number(p, 'f', p >= 0.01 || p <= 0 ? 3 : 4); }

// Exact enough for a tooltip: 4 significant digits, never exponent notation
// for ordinary probabilities.
QString formatEffect(double v) {
    if (std::isnan(v)) return QStringLiteral("—");
    if (v != 0 && std::abs(v) < 1e-4) return QString::number(v, 'e', 3);
    return QString::number(v, 'f', std::abs(v) >= 0.1 ? 4 : 5);
}

QCPScatterStyle::ScatterShape bucketShape(int bucket) {
    static const QCPScatterStyle::ScatterShape shapes[kBucketStyles] = {
        QCPScatterStyle::ssCircle, QCPScatterStyle::ssTriangle, QCPScatterStyle::ssDisc,
        QCPScatterStyle::ssDiamond, QCPScatterStyle::ssPlus, QCPScatterStyle::ssSquare};
    return shapes[bucket % kBucketStyles];
}

}  // namespace

TraceDatasetPlot::TraceDatasetPlot(QWidget* parent) : PlotWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    placeholder_ = new QLabel(tr("No dataset average yet."), this);
    placeholder_->setObjectName(QStringLiteral("traceDatasetPlaceholder"));
    placeholder_->setAlignment(Qt::AlignCenter);
    placeholder_->setWordWrap(true);
    placeholder_->setForegroundRole(QPalette::PlaceholderText);
    layout->addWidget(placeholder_, 1);
    plot_ = new SizedPlot(this);
    plot_->setObjectName(QStringLiteral("traceDatasetPlot"));
    plot_->setMouseTracking(true);
    plot_->setAutoAddPlottableToLegend(false);
    layout->addWidget(plot_, 1);
    connect(plot_, &QCustomPlot::mouseMove, this, &TraceDatasetPlot::onMouseMove);
    connect(plot_, &QCustomPlot::mousePress, this, &TraceDatasetPlot::onMousePress);
    rebuildStructure();
}

TraceDatasetPlot::~TraceDatasetPlot() {
    // Legend items point at their graphs; QCustomPlot only unhooks the items
    // of its default legend when graphs go, so empty ours first.
    for (Panel& p : panels_) p.legend->clearItems();
}

bool TraceDatasetPlot::isKeyBucket(int bucket) { return bucket == 2 || bucket == 5; }

QColor TraceDatasetPlot::bucketColor(const QString& kind, int bucket, bool dark) {
    // The kind's hue (ROME's purple / green / red); lightness tells the
    // buckets apart: the last subject token strongest, the last token next.
    static const double lightOnLight[kBucketStyles] = {0.62, 0.50, 0.25, 0.50, 0.68, 0.42};
    static const double lightOnDark[kBucketStyles] = {0.52, 0.60, 0.82, 0.60, 0.46, 0.68};
    const QColor base = TraceHeatmap::kindColor(kind);
    const double hue = std::max(0.0, static_cast<double>(base.hslHueF()));
    const double sat = std::clamp(static_cast<double>(base.hslSaturationF()), 0.45, 0.9);
    const int b = bucket % kBucketStyles;
    return QColor::fromHslF(hue, sat, dark ? lightOnDark[b] : lightOnLight[b]);
}

Qt::PenStyle TraceDatasetPlot::bucketPenStyle(int bucket) {
    static const Qt::PenStyle styles[kBucketStyles] = {Qt::DotLine,        Qt::DashDotLine, Qt::SolidLine,
                                                       Qt::DashDotDotLine, Qt::SolidLine,   Qt::DashLine};
    return styles[bucket % kBucketStyles];
}

double TraceDatasetPlot::bucketPenWidth(int bucket) { return isKeyBucket(bucket % kBucketStyles) ? 2.8 : 1.6; }

void TraceDatasetPlot::setData(const TraceDatasetPlotData& data) {
    const bool same = sameShape(data);
    data_ = data;
    if (!same) rebuildStructure();
    updateValues();
    requestReplot();
}

void TraceDatasetPlot::clear() {
    setData({});
    setMarkedLayer(-1);
}

void TraceDatasetPlot::setPlaceholderText(const QString& text) { placeholder_->setText(text); }
QString TraceDatasetPlot::placeholderText() const { return placeholder_->text(); }

bool TraceDatasetPlot::sameShape(const TraceDatasetPlotData& d) const {
    if (d.isEmpty() != data_.isEmpty() || d.buckets != data_.buckets || d.nLayer != data_.nLayer ||
        d.window != data_.window || d.kinds.size() != panels_.size())
        return false;
    for (int i = 0; i < d.kinds.size(); ++i)
        if (d.kinds[i].kind != panels_[i].kind) return false;
    return true;
}

void TraceDatasetPlot::rebuildStructure() {
    for (Panel& p : panels_) p.legend->clearItems();  // before their graphs go (see the destructor)
    plot_->clearGraphs();
    plot_->clearItems();
    plot_->plotLayout()->clear();  // deletes the axis rects, legends and texts
    panels_.clear();
    title_ = subtitle_ = nullptr;
    const bool empty = data_.isEmpty();
    placeholder_->setVisible(empty);
    plot_->setVisible(!empty);
    if (empty) {
        updateGeometry();
        return;
    }

    QCPLayoutGrid* top = plot_->plotLayout();
    title_ = new QCPTextElement(plot_, QString());
    top->addElement(0, 0, title_);
    subtitle_ = new QCPTextElement(plot_, QString());
    top->addElement(1, 0, subtitle_);
    auto* body = new QCPLayoutGrid;
    top->addElement(2, 0, body);
    top->setRowStretchFactors({0.001, 0.001, 1.0});
    top->setMargins(QMargins(4, 2, 4, 6));  // the legends' frames stay inside the picture
    top->setRowSpacing(2);
    body->setColumnSpacing(18);
    body->setRowSpacing(2);
    auto* group = new QCPMarginGroup(plot_);

    const int L = data_.nLayer;
    const int B = data_.buckets.size();
    for (int k = 0; k < data_.kinds.size(); ++k) {
        Panel p;
        p.kind = data_.kinds[k].kind;
        p.title = new QCPTextElement(plot_, TraceHeatmap::kindTitle(p.kind, p.kind == QLatin1String("hidden") ? 1 : data_.window));
        body->addElement(0, k, p.title);
        p.rect = new QCPAxisRect(plot_, true);
        body->addElement(1, k, p.rect);
        // As QCustomPlot's own axis rect: background under the grid, the
        // layer marker and the graphs; axes above them.
        p.rect->setLayer(QStringLiteral("background"));
        for (QCPAxis* a : p.rect->axes()) {
            a->setLayer(QStringLiteral("axes"));
            a->grid()->setLayer(QStringLiteral("grid"));
        }
        p.rect->setMarginGroup(QCP::msTop | QCP::msBottom, group);
        p.legend = new QCPLegend;
        body->addElement(2, k, p.legend);
        p.legend->setLayer(QStringLiteral("legend"));
        p.legend->setFillOrder(QCPLayoutGrid::foRowsFirst);
        p.legend->setWrap((B + 1) / 2);  // two columns
        p.legend->setColumnSpacing(10);
        p.legend->setRowSpacing(0);
        p.legend->setIconSize(34, 12);

        QCPAxis* x = p.rect->axis(QCPAxis::atBottom);
        QCPAxis* y = p.rect->axis(QCPAxis::atLeft);
        auto ticker = QSharedPointer<QCPAxisTickerFixed>::create();
        ticker->setTickStep(1.0);
        ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);  // 1, 2, 5, 10 ... as layers get many
        x->setTicker(ticker);
        x->setSubTicks(false);
        x->setRange(-0.5, std::max(1, L) - 0.5);
        const bool windowed = p.kind != QLatin1String("hidden") && data_.window > 1;
        x->setLabel(windowed ? tr("layer (centre of %1 restored layers)").arg(data_.window) : tr("layer"));
        x->grid()->setVisible(false);
        y->setLabel(tr("average indirect effect"));
        y->setNumberFormat(QStringLiteral("g"));

        // The layer marker first (the "grid" layer lies under the graphs).
        p.marker = new QCPItemRect(plot_);
        p.marker->setLayer(QStringLiteral("grid"));
        p.marker->setClipAxisRect(p.rect);
        p.marker->setClipToAxisRect(true);
        for (QCPItemPosition* pos : {p.marker->topLeft, p.marker->bottomRight}) {
            pos->setAxisRect(p.rect);
            pos->setAxes(x, y);
            pos->setTypeX(QCPItemPosition::ptPlotCoords);
            pos->setTypeY(QCPItemPosition::ptAxisRectRatio);
        }
        p.marker->setVisible(false);

        // Bands under lines: every band first, then every line.
        for (int b = 0; b < B; ++b) {
            QCPGraph* lower = plot_->addGraph(x, y);
            QCPGraph* upper = plot_->addGraph(x, y);
            lower->setName(data_.buckets[b] + tr(" (95% interval, lower edge)"));
            upper->setName(data_.buckets[b] + tr(" (95% interval)"));
            lower->setPen(Qt::NoPen);
            upper->setPen(Qt::NoPen);
            upper->setChannelFillGraph(lower);
            p.lower << lower;
            p.upper << upper;
        }
        for (int b = 0; b < B; ++b) {
            QCPGraph* mean = plot_->addGraph(x, y);
            mean->setName(data_.buckets[b]);
            mean->addToLegend(p.legend);
            p.mean << mean;
        }
        panels_ << p;
    }
    for (int k = 0; k < panels_.size(); ++k) body->setColumnStretchFactor(k, 1.0);
    body->setRowStretchFactors({0.001, 1.0, 0.001});
    applyPalette();
    updateMarker();
    updateGeometry();
}

void TraceDatasetPlot::updateValues() {
    if (data_.isEmpty()) return;
    const int L = data_.nLayer;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    QVector<double> keys(L);
    for (int l = 0; l < L; ++l) keys[l] = l;
    for (int k = 0; k < panels_.size(); ++k) {
        const TraceDatasetCurves& c = data_.kinds[k];
        Panel& p = panels_[k];
        double lo = 0, hi = 0;
        for (int b = 0; b < p.mean.size(); ++b) {
            QVector<double> mean(L, nan), lower(L, nan), upper(L, nan);
            bool any = false;
            for (int l = 0; l < L; ++l) {
                const double m = c.meanAt(b, l);
                if (std::isnan(m) || c.countAt(b, l) <= 0) continue;  // no fact had a token in the bucket
                const double ci = std::isnan(c.ciAt(b, l)) ? 0.0 : c.ciAt(b, l);
                mean[l] = m;
                lower[l] = m - ci;
                upper[l] = m + ci;
                lo = std::min(lo, lower[l]);
                hi = std::max(hi, upper[l]);
                any = true;
            }
            p.mean[b]->setData(keys, mean, true);
            p.lower[b]->setData(keys, lower, true);
            p.upper[b]->setData(keys, upper, true);
            for (QCPGraph* g : {p.mean[b], p.lower[b], p.upper[b]}) g->setVisible(any);
            // A bucket no prompt has (e.g. no tokens after the subject) stays in the legend, saying so.
            p.mean[b]->setName(any ? data_.buckets[b] : tr("%1 (none)").arg(data_.buckets[b]));
        }
        if (!(hi > lo + 1e-12)) hi = lo + 0.01;
        QCPAxis* y = p.rect->axis(QCPAxis::atLeft);
        y->setRange(lo, hi + 0.06 * (hi - lo));
    }

    updateTitles();
}

void TraceDatasetPlot::updateTitles() {
    if (data_.isEmpty() || !title_) return;
    const QString source = data_.source.isEmpty() ? QString() : tr(" of %1").arg(data_.source);
    auto facts = [](int n) { return n == 1 ? tr("1 fact") : tr("%1 facts").arg(n); };
    if (data_.complete)
        title_->setText(tr("Average indirect effect over %1%2").arg(facts(data_.traced), source));
    else
        title_->setText(tr("Average indirect effect so far: %1 of %2 facts%3 looked at")
                            .arg(data_.considered)
                            .arg(data_.limit)
                            .arg(source));
    QString sub = tr("%1 of %2 answered correctly (clean top-1 = the true answer) and traced · "
                     "mean p(clean) %3, p(corrupted) %4")
                      .arg(data_.traced)
                      .arg(facts(data_.considered), formatP(data_.meanHigh), formatP(data_.meanLow));
    if (data_.samples > 0)
        sub += data_.samples == 1 ? tr(" · 1 noise sample per fact") : tr(" · %1 noise samples per fact").arg(data_.samples);
    sub += tr("\nlines: the mean over facts of p(restored) − p(corrupted); shaded bands: 95% intervals");
    const int peak = data_.suggestedEditLayer();
    if (peak >= 0) sub += tr(" · MLP at the last subject token peaks at layer %1").arg(peak);
    if (markedLayer_ >= 0) sub += tr(" · grey column: edit layer %1").arg(markedLayer_);
    subtitle_->setText(sub);
}

void TraceDatasetPlot::setMarkedLayer(int layer) {
    markedLayer_ = layer >= 0 && layer < data_.nLayer ? layer : -1;
    updateMarker();
    updateTitles();
    requestReplot();
}

void TraceDatasetPlot::updateMarker() {
    if (markedLayer_ >= data_.nLayer) markedLayer_ = -1;
    for (Panel& p : panels_) {
        const bool on = markedLayer_ >= 0;
        p.marker->setVisible(on);
        if (!on) continue;
        p.marker->topLeft->setCoords(markedLayer_ - 0.5, 0.0);
        p.marker->bottomRight->setCoords(markedLayer_ + 0.5, 1.0);
    }
}

void TraceDatasetPlot::applyPalette() {
    const QPalette pal = palette();
    const QColor base = pal.color(QPalette::Base);
    const QColor text = pal.color(QPalette::Text);
    const bool dark = base.lightnessF() < 0.5;
    plot_->setBackground(QBrush(base));
    if (!title_) return;
    QFont bold = font();
    bold.setBold(true);
    title_->setFont(bold);
    title_->setTextColor(text);
    subtitle_->setFont(font());
    subtitle_->setTextColor(mix(base, text, 0.8));
    const bool scatter = data_.nLayer <= kMaxScatterLayers;
    for (Panel& p : panels_) {
        const QColor accent = dark ? TraceHeatmap::kindColor(p.kind).lighter(260) : TraceHeatmap::kindColor(p.kind);
        p.title->setFont(bold);
        p.title->setTextColor(accent);
        p.rect->setBackground(QBrush(base));
        for (QCPAxis* a : p.rect->axes()) {
            colourAxis(a, base, text, font());
            dotGrid(a, base, text);
            a->grid()->setZeroLinePen(QPen(mix(base, text, 0.35), 1));
        }
        p.legend->setFont(font());
        p.legend->setTextColor(text);
        p.legend->setBrush(QBrush(base));
        p.legend->setBorderPen(QPen(mix(base, text, 0.25)));
        p.marker->setPen(QPen(mix(base, text, 0.55), 1.0, Qt::DashLine));
        QColor markFill = text;
        markFill.setAlphaF(dark ? 0.16 : 0.08);
        p.marker->setBrush(markFill);
        for (int b = 0; b < p.mean.size(); ++b) {
            const QColor c = bucketColor(p.kind, b, dark);
            QPen pen(c, bucketPenWidth(b), bucketPenStyle(b));
            pen.setCapStyle(Qt::FlatCap);
            p.mean[b]->setPen(pen);
            if (scatter)
                p.mean[b]->setScatterStyle(QCPScatterStyle(bucketShape(b), QPen(c, 1.4), isKeyBucket(b) ? QBrush(c) : QBrush(base),
                                                           isKeyBucket(b) ? 7 : 6));
            else
                p.mean[b]->setScatterStyle(QCPScatterStyle::ssNone);
            QColor fill = c;
            fill.setAlphaF(isKeyBucket(b) ? (dark ? 0.30 : 0.24) : (dark ? 0.14 : 0.10));
            p.upper[b]->setBrush(QBrush(fill));
        }
    }
}

QCPAxisRect* TraceDatasetPlot::axisRect(int kindIndex) const {
    return kindIndex >= 0 && kindIndex < panels_.size() ? panels_[kindIndex].rect : nullptr;
}

QCPGraph* TraceDatasetPlot::meanGraph(int kindIndex, int bucket) const {
    if (kindIndex < 0 || kindIndex >= panels_.size()) return nullptr;
    const auto& v = panels_[kindIndex].mean;
    return bucket >= 0 && bucket < v.size() ? v[bucket] : nullptr;
}

QCPGraph* TraceDatasetPlot::bandLowerGraph(int kindIndex, int bucket) const {
    if (kindIndex < 0 || kindIndex >= panels_.size()) return nullptr;
    const auto& v = panels_[kindIndex].lower;
    return bucket >= 0 && bucket < v.size() ? v[bucket] : nullptr;
}

QCPGraph* TraceDatasetPlot::bandUpperGraph(int kindIndex, int bucket) const {
    if (kindIndex < 0 || kindIndex >= panels_.size()) return nullptr;
    const auto& v = panels_[kindIndex].upper;
    return bucket >= 0 && bucket < v.size() ? v[bucket] : nullptr;
}

QString TraceDatasetPlot::title() const { return title_ ? title_->text() : QString(); }
QString TraceDatasetPlot::subtitle() const { return subtitle_ ? subtitle_->text() : QString(); }

QString TraceDatasetPlot::plotTitle(int kindIndex) const {
    return kindIndex >= 0 && kindIndex < panels_.size() ? panels_[kindIndex].title->text() : QString();
}

QStringList TraceDatasetPlot::legendTexts(int kindIndex) const {
    QStringList out;
    if (kindIndex < 0 || kindIndex >= panels_.size()) return out;
    QCPLegend* legend = panels_[kindIndex].legend;
    for (int i = 0; i < legend->itemCount(); ++i)
        if (auto* item = qobject_cast<QCPPlottableLegendItem*>(legend->item(i))) out << item->plottable()->name();
    return out;
}

QString TraceDatasetPlot::toolTipAt(int kindIndex, int layer, int nearestBucket) const {
    if (kindIndex < 0 || kindIndex >= data_.kinds.size() || layer < 0 || layer >= data_.nLayer) return {};
    const TraceDatasetCurves& c = data_.kinds[kindIndex];
    QString tip = plotTitle(kindIndex);
    const bool windowed = c.kind != QLatin1String("hidden") && data_.window > 1;
    if (windowed) {
        // The restored layers of a window point, as in the engine's traceWindowLayers.
        const int first = std::max(0, layer - data_.window / 2);
        const int last = std::min(data_.nLayer, layer + (data_.window + 1) / 2) - 1;
        tip += tr("\nlayer %1 (restoring layers %2–%3)").arg(layer).arg(first).arg(last);
    } else {
        tip += tr("\nlayer %1").arg(layer);
    }
    tip += tr("\naverage indirect effect (95% interval, facts):");
    for (int b = 0; b < data_.buckets.size(); ++b) {
        const int n = c.countAt(b, layer);
        const QString mark = b == nearestBucket ? QStringLiteral("▸ ") : QStringLiteral("   ");
        if (n <= 0) {
            tip += tr("\n%1%2: no tokens").arg(mark, data_.buckets[b]);
            continue;
        }
        const double m = c.meanAt(b, layer), ci = c.ciAt(b, layer);
        tip += tr("\n%1%2: %3 (%4 – %5, n = %6)")
                   .arg(mark, data_.buckets[b], formatEffect(m), formatEffect(m - ci), formatEffect(m + ci))
                   .arg(n);
    }
    return tip;
}

QPoint TraceDatasetPlot::pointCenter(int kindIndex, int bucket, int layer) const {
    const QCPGraph* g = meanGraph(kindIndex, bucket);
    if (!g || layer < 0 || layer >= data_.nLayer) return {-1, -1};
    const double v = data_.kinds[kindIndex].meanAt(bucket, layer);
    if (std::isnan(v)) return {-1, -1};
    const QCPAxisRect* r = panels_[kindIndex].rect;
    return QPoint(qRound(r->axis(QCPAxis::atBottom)->coordToPixel(layer)),
                  qRound(r->axis(QCPAxis::atLeft)->coordToPixel(v)));
}

bool TraceDatasetPlot::layerAt(const QPoint& pos, int* kindIndex, int* layer) const {
    for (int k = 0; k < panels_.size(); ++k) {
        const QCPAxisRect* r = panels_[k].rect;
        if (!r->rect().contains(pos)) continue;
        const int l = static_cast<int>(std::lround(r->axis(QCPAxis::atBottom)->pixelToCoord(pos.x())));
        if (l < 0 || l >= data_.nLayer) return false;
        if (kindIndex) *kindIndex = k;
        if (layer) *layer = l;
        return true;
    }
    return false;
}

void TraceDatasetPlot::onMouseMove(QMouseEvent* event) {
    int k = 0, l = 0;
    if (!layerAt(event->pos(), &k, &l)) {
        QToolTip::hideText();
        return;
    }
    // The bucket whose point at this layer is nearest the pointer.
    int nearest = -1;
    double best = std::numeric_limits<double>::infinity();
    for (int b = 0; b < panels_[k].mean.size(); ++b) {
        const QPoint c = pointCenter(k, b, l);
        if (c.x() < 0 || !panels_[k].mean[b]->visible()) continue;
        const double d = std::abs(c.y() - event->pos().y());
        if (d < best) best = d, nearest = b;
    }
    QToolTip::showText(event->globalPosition().toPoint(), toolTipAt(k, l, nearest), plot_);
}

void TraceDatasetPlot::onMousePress(QMouseEvent* event) {
    int l = 0;
    if (event->button() != Qt::LeftButton || !layerAt(event->pos(), nullptr, &l)) return;
    setMarkedLayer(l);
    Q_EMIT layerClicked(l);
}

QImage TraceDatasetPlot::toImage(const QSize& size, double scale) {
    return renderPlotImage(size, scale, palette().color(QPalette::Base), data_.isEmpty() ? PlotPaintFn() : paintFn());
}

PlotPaintFn TraceDatasetPlot::paintFn() {
    return [this](QCPPainter& painter, const QRect& rect) {
        painter.fillRect(rect, palette().color(QPalette::Base));
        plot_->toPainter(&painter, rect.width(), rect.height());
        requestReplot();  // toPainter laid the plot out at the export size
    };
}

bool TraceDatasetPlot::exportTo(const QString& path, QString* error, const QSize& requested) {
    if (data_.isEmpty()) {
        if (error) *error = tr("%1: nothing to export yet").arg(path);
        return false;
    }
    QSize size = requested;
    if (size.isEmpty())
        size = isVisible() && !this->size().isEmpty() ? this->size() : QSize(kDefaultExportWidth, kDefaultExportHeight);
    return exportPlotFile(path, size, title(), palette().color(QPalette::Base), paintFn(), tr("the plot"), error);
}

QSize TraceDatasetPlot::sizeHint() const { return {1200, 520}; }
QSize TraceDatasetPlot::minimumSizeHint() const { return {480, 300}; }

}  // namespace kme::widgets
