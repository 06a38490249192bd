#include "widgets/NeuronAttributionPlot.h"

#include <QLabel>
#include <QMouseEvent>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "widgets/Colours.h"
#include "widgets/PlotExport.h"
#include "widgets/PlotStyle.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/SizedPlot.h"

namespace kme::widgets {

namespace {

constexpr int kMaxCellLabels = 400;  // neuron numbers are written into the cells up to this many cells

QString fmt(double v) { return std::abs(v) >= 0.001 || v == 0 ? QString::number(v, 'f', 4) : QString::number(v, 'g', 3); }

QColor positiveColour(bool dark) { return dark ? QColor(0xff, 0x6e, 0x5a) : QColor(0xc6, 0x28, 0x28); }
QColor negativeColour(bool dark) { return dark ? QColor(0x64, 0xb5, 0xf6) : QColor(0x15, 0x65, 0xc0); }

}  // namespace

NeuronAttributionPlot::NeuronAttributionPlot(QWidget* parent) : PlotWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    placeholder_ = new QLabel(tr("No attribution yet."), this);
    placeholder_->setObjectName(QStringLiteral("neuronPlotPlaceholder"));
    placeholder_->setAlignment(Qt::AlignCenter);
    placeholder_->setWordWrap(true);
    placeholder_->setForegroundRole(QPalette::PlaceholderText);
    layout->addWidget(placeholder_, 1);
    plot_ = new SizedPlot(this);
    plot_->setObjectName(QStringLiteral("neuronAttributionPlot"));
    plot_->setMouseTracking(true);
    plot_->setAutoAddPlottableToLegend(false);
    layout->addWidget(plot_, 1);
    connect(plot_, &QCustomPlot::mouseMove, this, &NeuronAttributionPlot::onMouseMove);
    rebuild();
}

void NeuronAttributionPlot::setData(const NeuronPlotData& data) {
    data_ = data;
    rebuild();
    requestReplot();
}

void NeuronAttributionPlot::setPlaceholderText(const QString& text) { placeholder_->setText(text); }
QString NeuronAttributionPlot::placeholderText() const { return placeholder_->text(); }
QString NeuronAttributionPlot::title() const { return data_.title; }

void NeuronAttributionPlot::applyPalette() { rebuild(); }

void NeuronAttributionPlot::rebuild() {
    placeholder_->setVisible(data_.isEmpty());
    plot_->setVisible(!data_.isEmpty());
    plot_->clearItems();
    plot_->clearPlottables();
    plot_->plotLayout()->clear();  // deletes the axis rects and text elements
    title_ = subtitle_ = nullptr;
    stripRect_ = sumRect_ = nullptr;
    map_ = nullptr;
    bars_ = nullptr;
    expected_ = nullptr;
    outlined_ = 0;
    const QPalette pal = palette();
    const QColor base = pal.color(QPalette::Base), text = pal.color(QPalette::Text);
    const bool dark = base.lightnessF() < 0.5;
    plot_->setBackground(QBrush(base));
    if (data_.isEmpty()) return;
    const int L = data_.nLayer, K = data_.topK;

    QFont bold = font();
    bold.setBold(true);
    title_ = new QCPTextElement(plot_, data_.title, bold);
    title_->setTextColor(text);
    subtitle_ = new QCPTextElement(plot_, data_.subtitle, font());
    subtitle_->setTextColor(mix(base, text, 0.8));
    plot_->plotLayout()->addElement(0, 0, title_);
    plot_->plotLayout()->addElement(1, 0, subtitle_);
    auto* row = new QCPLayoutGrid;
    plot_->plotLayout()->addElement(2, 0, row);
    plot_->plotLayout()->setRowStretchFactor(0, 0.001);
    plot_->plotLayout()->setRowStretchFactor(1, 0.001);
    stripRect_ = new QCPAxisRect(plot_);
    sumRect_ = new QCPAxisRect(plot_);
    row->addElement(0, 0, stripRect_);
    row->addElement(0, 1, sumRect_);
    row->setColumnStretchFactor(0, 3);
    row->setColumnStretchFactor(1, 1);
    auto* margins = new QCPMarginGroup(plot_);
    stripRect_->setMarginGroup(QCP::msTop | QCP::msBottom, margins);
    sumRect_->setMarginGroup(QCP::msTop | QCP::msBottom, margins);

    for (QCPAxisRect* r : {stripRect_, sumRect_}) {
        r->setBackground(QBrush(base));
        for (QCPAxis* a : r->axes()) {
            colourAxis(a, base, text, font());
            dotGrid(a, base, text);
            a->grid()->setZeroLinePen(QPen(mix(base, text, 0.4), 1));
        }
        QSharedPointer<QCPAxisTickerFixed> layers(new QCPAxisTickerFixed);
        layers->setTickStep(L > 24 ? 4 : L > 12 ? 2 : 1);
        layers->setScaleStrategy(QCPAxisTickerFixed::ssNone);
        r->axis(QCPAxis::atLeft)->setTicker(layers);
        r->axis(QCPAxis::atLeft)->setRange(-0.5, L - 0.5);
        r->axis(QCPAxis::atLeft)->setLabel(r == stripRect_ ? tr("layer") : QString());
    }

    // The strip: x = rank 1..K, y = layer.
    QCPAxis* rank = stripRect_->axis(QCPAxis::atBottom);
    rank->setLabel(tr("neurons of the layer, strongest first (cells: neuron number)"));
    rank->setRange(0.5, K + 0.5);
    QSharedPointer<QCPAxisTickerFixed> ranks(new QCPAxisTickerFixed);
    ranks->setTickStep(K > 30 ? 5 : 1);
    ranks->setScaleStrategy(QCPAxisTickerFixed::ssNone);
    rank->setTicker(ranks);
    stripRect_->axis(QCPAxis::atLeft)->grid()->setVisible(false);
    rank->grid()->setVisible(false);
    map_ = new QCPColorMap(rank, stripRect_->axis(QCPAxis::atLeft));
    map_->data()->setSize(K, L);
    map_->data()->setRange(QCPRange(1, K), QCPRange(0, L - 1));
    double largest = 0;
    for (int l = 0; l < L; ++l)
        for (int k = 0; k < K; ++k) {
            const double v = l < data_.scores.size() && k < data_.scores[l].size() ? data_.scores[l][k] : 0.0;
            largest = std::max(largest, std::abs(v));
            map_->data()->setCell(k, l, v);
        }
    if (largest <= 0) largest = 1;
    QCPColorGradient gradient;
    gradient.setColorStopAt(0, negativeColour(dark));
    gradient.setColorStopAt(0.5, base);
    gradient.setColorStopAt(1, positiveColour(dark));
    map_->setGradient(gradient);
    map_->setDataRange(QCPRange(-largest, largest));
    map_->setInterpolate(false);
    const bool labels = L * K <= kMaxCellLabels;
    QFont small = font();
    small.setPointSizeF(std::max(6.0, font().pointSizeF() * 0.8));
    for (int l = 0; l < L && l < data_.indices.size(); ++l)
        for (int k = 0; k < K && k < data_.indices[l].size(); ++k) {
            const int index = data_.indices[l][k];
            if (index < 0) continue;
            const double strength = std::abs(data_.scores[l][k]) / largest;
            if (labels) {
                auto* t = new QCPItemText(plot_);
                t->setClipToAxisRect(true);
                t->setClipAxisRect(stripRect_);
                t->position->setAxes(rank, stripRect_->axis(QCPAxis::atLeft));
                t->position->setCoords(k + 1, l);
                t->setText(QString::number(index));
                t->setFont(small);
                t->setColor(strength > 0.55 ? (dark ? QColor(Qt::black) : QColor(Qt::white)) : text);
            }
            if (data_.selected.contains({l, index})) {
                auto* box = new QCPItemRect(plot_);
                box->setClipAxisRect(stripRect_);
                box->topLeft->setAxes(rank, stripRect_->axis(QCPAxis::atLeft));
                box->bottomRight->setAxes(rank, stripRect_->axis(QCPAxis::atLeft));
                box->topLeft->setCoords(k + 0.5, l + 0.5);
                box->bottomRight->setCoords(k + 1.5, l - 0.5);
                box->setPen(QPen(text, 2.2));
                box->setBrush(Qt::NoBrush);
                ++outlined_;
            }
        }

    // The sums: horizontal bars (key = layer on the left axis).
    QCPAxis* value = sumRect_->axis(QCPAxis::atBottom);
    value->setLabel(tr("Σ score per layer (◆ p(a) − p(0))"));
    bars_ = new QCPBars(sumRect_->axis(QCPAxis::atLeft), value);
    bars_->setWidth(0.7);
    QColor barFill = positiveColour(dark);
    barFill.setAlphaF(0.55);
    bars_->setBrush(barFill);
    bars_->setPen(QPen(positiveColour(dark), 1));
    expected_ = new QCPGraph(sumRect_->axis(QCPAxis::atLeft), value);
    expected_->setLineStyle(QCPGraph::lsNone);
    expected_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, text, text, 8));
    double lo = 0, hi = 0;
    for (int l = 0; l < L; ++l) {
        const double s = l < data_.layerSums.size() ? data_.layerSums[l] : 0.0;
        const double e = l < data_.expectedSums.size() ? data_.expectedSums[l] : std::nan("");
        bars_->addData(l, s);
        lo = std::min(lo, s);
        hi = std::max(hi, s);
        if (!std::isnan(e)) {
            expected_->addData(l, e);
            lo = std::min(lo, e);
            hi = std::max(hi, e);
        }
    }
    const double pad = 0.08 * std::max(1e-12, hi - lo);
    value->setRange(lo - (lo < 0 ? pad : 0), hi + pad);
}

QString NeuronAttributionPlot::cellToolTip(int layer, int rank) const {
    if (layer < 0 || layer >= data_.nLayer || rank < 0 || rank >= data_.topK || layer >= data_.indices.size() ||
        rank >= data_.indices[layer].size() || data_.indices[layer][rank] < 0)
        return {};
    const int index = data_.indices[layer][rank];
    QString s = tr("layer %1, neuron %2\nscore %3 (rank %4 in the layer)")
                    .arg(layer)
                    .arg(index)
                    .arg(fmt(data_.scores[layer][rank]))
                    .arg(rank + 1);
    if (data_.selected.contains({layer, index})) s += tr("\nselected knowledge neuron");
    return s;
}

QString NeuronAttributionPlot::layerToolTip(int layer) const {
    if (layer < 0 || layer >= data_.nLayer || layer >= data_.layerSums.size()) return {};
    const double sum = data_.layerSums[layer];
    if (layer >= data_.expectedSums.size()) return tr("layer %1: Σ score %2").arg(layer).arg(fmt(sum));
    const double e = data_.expectedSums[layer];
    return tr("layer %1\nΣ score %2\np(a) − p(0) %3\ngap %4").arg(layer).arg(fmt(sum)).arg(fmt(e)).arg(fmt(sum - e));
}

void NeuronAttributionPlot::onMouseMove(QMouseEvent* event) {
    if (data_.isEmpty()) return;
    const QPoint pos = event->pos();
    QString tip;
    if (stripRect_->rect().contains(pos)) {
        const int k = int(std::lround(stripRect_->axis(QCPAxis::atBottom)->pixelToCoord(pos.x()))) - 1;
        const int l = int(std::lround(stripRect_->axis(QCPAxis::atLeft)->pixelToCoord(pos.y())));
        tip = cellToolTip(l, k);
    } else if (sumRect_->rect().contains(pos)) {
        tip = layerToolTip(int(std::lround(sumRect_->axis(QCPAxis::atLeft)->pixelToCoord(pos.y()))));
    }
    if (tip.isEmpty()) QToolTip::hideText();
    else QToolTip::showText(event->globalPosition().toPoint(), tip, plot_);
}

QImage NeuronAttributionPlot::toImage(const QSize& size, double scale) {
    PlotPaintFn paint;
    if (!data_.isEmpty())
        paint = [this](QCPPainter& painter, const QRect& rect) {
            plot_->toPainter(&painter, rect.width(), rect.height());
            requestReplot();
        };
    return renderPlotImage(size, scale, palette().color(QPalette::Base), paint);
}

bool NeuronAttributionPlot::exportTo(const QString& path, QString* error, const QSize& requested) {
    if (data_.isEmpty()) {
        if (error) *error = tr("%1: nothing to export yet").arg(path);
        return false;
    }
    QSize size = requested;
    if (size.isEmpty()) size = isVisible() && !this->size().isEmpty() ? this->size() : QSize(1200, 560);
    const QColor background = palette().color(QPalette::Base);
    return exportPlotFile(
        path, size, data_.title, background,
        [this, background](QCPPainter& painter, const QRect& rect) {
            painter.fillRect(rect, background);
            plot_->toPainter(&painter, rect.width(), rect.height());
            requestReplot();
        },
        tr("the attribution plot"), error);
}

}  // namespace kme::widgets
