#include "widgets/TraceHeatmap.h"

#include "widgets/PlotStyle.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/SizedPlot.h"

#include <QEvent>
#include <QMouseEvent>
#include <QResizeEvent>
#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <limits>

#include "widgets/TokenText.h"
#include "widgets/Colours.h"

namespace kme::widgets {

namespace {

constexpr int kLabelGap = 6;        // pixels between a row label and the map
constexpr int kMaxLabelChars = 18;  // longer tokens are elided (the tooltip has them whole)

// matplotlib's sequential colour maps (ColorBrewer), which ROME's figures use,
// with the first stop replaced by pure white.
const char* const kPurples[] = {"#ffffff", "#efedf5", "#dadaeb", "#bcbddc", "#9e9ac8",
                                "#807dba", "#6a51a3", "#54278f", "#3f007d"};
const char* const kGreens[] = {"#ffffff", "#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476",
                               "#41ab5d", "#238b45", "#006d2c", "#00441b"};
const char* const kReds[] = {"#ffffff", "#fee0d2", "#fcbba1", "#fc9272", "#fb6a4a",
                             "#ef3b2c", "#cb181d", "#a50f15", "#67000d"};

const char* const* stopsForKind(const QString& kind) {
    if (kind == QLatin1String("mlp")) return kGreens;
    if (kind == QLatin1String("attn")) return kReds;
    return kPurples;
}

// The rows and columns of a colour map of n cells: centres at 0..n-1. A
// single cell needs a range of width 1 (QCPColorMap extends by half a cell
// only when there are two or more).
QCPRange cellRange(int n) { return n > 1 ? QCPRange(0, n - 1) : QCPRange(-0.5, 0.5); }

QString rowLabel(const TraceHeatmapData& d, int t) {
    const QString text = visibleTokenElided(d.tokens[t], kMaxLabelChars);
    return d.inSubject(t) ? text + QLatin1Char('*') : text;
}

}  // namespace

TraceHeatmap::TraceHeatmap(QWidget* parent) : PlotWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    plot_ = new SizedPlot(this);
    plot_->setObjectName(QStringLiteral("traceHeatmapPlot"));
    plot_->setMouseTracking(true);
    layout->addWidget(plot_);

    // Layers along x (the key axis), tokens along y, first token at the top.
    map_ = new QCPColorMap(plot_->xAxis, plot_->yAxis);
    map_->setInterpolate(false);
    map_->setTightBoundary(false);
    plot_->yAxis->setRangeReversed(true);
    plot_->yAxis->setTickLabels(false);  // drawn as items: subject rows are bold
    plot_->yAxis->setTicks(false);
    plot_->yAxis->grid()->setVisible(false);
    plot_->xAxis->grid()->setVisible(false);
    auto ticker = QSharedPointer<QCPAxisTickerFixed>::create();
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);  // 1, 2, 5, 10 ... as layers get many
    plot_->xAxis->setTicker(ticker);
    plot_->xAxis->setSubTicks(false);

    // Layout: the title across the whole width (row 0), below it the map and
    // its colour bar side by side (row 1, a grid of their own).
    QCPAxisRect* rect = plot_->axisRect();
    plot_->plotLayout()->take(rect);
    title_ = new QCPTextElement(plot_, QString());
    plot_->plotLayout()->addElement(0, 0, title_);
    auto* body = new QCPLayoutGrid;
    plot_->plotLayout()->addElement(1, 0, body);
    body->addElement(0, 0, rect);
    scale_ = new QCPColorScale(plot_);
    scale_->setType(QCPAxis::atRight);
    scale_->setBarWidth(12);
    scale_->axis()->setLabel(tr("p(answer)"));
    body->addElement(0, 1, scale_);
    map_->setColorScale(scale_);
    auto* group = new QCPMarginGroup(plot_);
    plot_->axisRect()->setMarginGroup(QCP::msTop | QCP::msBottom, group);
    scale_->setMarginGroup(QCP::msTop | QCP::msBottom, group);
    // The left margin holds the token labels; its width is set in rebuildStructure().
    plot_->axisRect()->setAutoMargins(QCP::msRight | QCP::msTop | QCP::msBottom);

    marker_ = new QCPItemRect(plot_);
    marker_->setClipToAxisRect(false);
    marker_->setBrush(Qt::NoBrush);
    marker_->setVisible(false);
    for (QCPItemPosition* p : {marker_->topLeft, marker_->bottomRight}) p->setAxes(plot_->xAxis, plot_->yAxis);

    placeholder_ = new QCPItemText(plot_);
    placeholder_->position->setType(QCPItemPosition::ptAxisRectRatio);
    placeholder_->position->setCoords(0.5, 0.5);
    placeholder_->setPositionAlignment(Qt::AlignCenter);
    placeholder_->setText(tr("No trace yet."));

    connect(plot_, &QCustomPlot::mouseMove, this, &TraceHeatmap::onMouseMove);
    connect(plot_, &QCustomPlot::mousePress, this, &TraceHeatmap::onMousePress);
    rebuildStructure();
}

TraceHeatmap::~TraceHeatmap() = default;

QString TraceHeatmap::kindTitle(const QString& kind, int window) {
    if (kind == QLatin1String("hidden")) return tr("Restoring hidden state (one layer)");
    const QString what = kind == QLatin1String("mlp")    ? tr("MLP output")
                         : kind == QLatin1String("attn") ? tr("attention output")
                                                         : kind;
    return window > 0 ? tr("Restoring %1 (window %2)").arg(what).arg(window) : tr("Restoring %1").arg(what);
}

QCPColorGradient TraceHeatmap::gradientForKind(const QString& kind) {
    QCPColorGradient g;
    g.clearColorStops();
    const char* const* stops = stopsForKind(kind);
    for (int i = 0; i < 9; ++i) g.setColorStopAt(i / 8.0, QColor(QLatin1String(stops[i])));
    g.setColorInterpolation(QCPColorGradient::ciRGB);
    g.setLevelCount(256);
    // Not computed yet: let the axis rect's background show through.
    g.setNanHandling(QCPColorGradient::nhTransparent);
    return g;
}

QColor TraceHeatmap::kindColor(const QString& kind) { return QColor(QLatin1String(stopsForKind(kind)[7])); }

void TraceHeatmap::setData(const TraceHeatmapData& data) {
    const bool sameShape = data.tokens == data_.tokens && data.subjectBegin == data_.subjectBegin &&
                           data.subjectEnd == data_.subjectEnd && data.nLayer == data_.nLayer &&
                           data.kind == data_.kind && data.window == data_.window && labels_.size() == data.tokens.size();
    data_ = data;
    if (!sameShape) rebuildStructure();
    updateCells();
    requestReplot();
}

void TraceHeatmap::clear() {
    setData({});
    setMarkedLayer(-1);
}

void TraceHeatmap::rebuildStructure() {
    for (QCPItemText* label : labels_) plot_->removeItem(label);
    labels_.clear();
    const int T = data_.tokens.size();
    const int L = std::max(0, data_.nLayer);
    const bool empty = data_.isEmpty();
    map_->data()->setSize(empty ? 0 : L, empty ? 0 : T);
    if (!empty) map_->data()->setRange(cellRange(L), cellRange(T));
    map_->setGradient(gradientForKind(data_.kind));

    for (int t = 0; t < T && !empty; ++t) {
        auto* label = new QCPItemText(plot_);
        label->setClipToAxisRect(false);
        label->position->setAxisRect(plot_->axisRect());
        label->position->setAxes(plot_->xAxis, plot_->yAxis);
        label->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
        label->position->setTypeY(QCPItemPosition::ptPlotCoords);
        label->position->setCoords(0, t);
        label->setPositionAlignment(Qt::AlignRight | Qt::AlignVCenter);
        label->setPadding(QMargins(0, 0, kLabelGap, 0));
        label->setText(rowLabel(data_, t));
        labels_ << label;
    }
    plot_->xAxis->setRange(-0.5, std::max(1, L) - 0.5);
    plot_->yAxis->setRange(-0.5, std::max(1, T) - 0.5);
    plot_->xAxis->setTicks(!empty);
    plot_->xAxis->setTickLabels(!empty);
    const bool windowed = data_.kind != QLatin1String("hidden") && data_.window > 1;
    plot_->xAxis->setLabel(empty      ? QString()
                           : windowed ? tr("layer (centre of %1 restored layers)").arg(data_.window)
                                      : tr("layer"));
    placeholder_->setVisible(empty);
    applyPalette();  // sets the label fonts, then the left margin from their widths
    updateMarker();
    updateGeometry();
}

void TraceHeatmap::updateCells() {
    const int T = data_.tokens.size();
    const int L = data_.nLayer;
    double maxCell = -std::numeric_limits<double>::infinity();
    if (!data_.isEmpty()) {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        for (int t = 0; t < T; ++t)
            for (int l = 0; l < L; ++l) {
                const double v = t < data_.scores.size() && l < data_.scores[t].size() ? data_.scores[t][l] : nan;
                if (!std::isnan(v)) maxCell = std::max(maxCell, v);
                map_->data()->setCell(l, t, v);
            }
    }
    // ROME: the colour scale starts at the corrupted run's score. It ends at
    // the clean score, or higher when a restored cell beats it.
    const double lower = data_.lowScore;
    double upper = std::max(data_.highScore, maxCell);
    if (!(upper > lower + 1e-9)) upper = lower + 1e-6;
    map_->setDataRange(QCPRange(lower, upper));
    title_->setText(data_.isEmpty() ? QString() : kindTitle(data_.kind, data_.window));
}

void TraceHeatmap::setMarkedLayer(int layer) {
    markedLayer_ = layer >= 0 && layer < data_.nLayer ? layer : -1;
    updateMarker();
    requestReplot();
}

void TraceHeatmap::updateMarker() {
    if (markedLayer_ >= data_.nLayer) markedLayer_ = -1;
    const bool on = markedLayer_ >= 0 && !data_.isEmpty();
    marker_->setVisible(on);
    if (!on) return;
    // An outline around the whole column (not clipped, so the outer edges show).
    marker_->topLeft->setCoords(markedLayer_ - 0.5, -0.5);
    marker_->bottomRight->setCoords(markedLayer_ + 0.5, data_.tokens.size() - 0.5);
}

void TraceHeatmap::applyPalette() {
    const QPalette pal = palette();
    const QColor base = pal.color(QPalette::Base);
    const QColor text = pal.color(QPalette::Text);
    const bool dark = base.lightnessF() < 0.5;

    plot_->setBackground(QBrush(base));
    // Cells not computed yet show a faint hatch: "still to come", not "low".
    plot_->axisRect()->setBackground(QBrush(mix(base, text, 0.18), Qt::BDiagPattern));
    for (QCPAxis* a : {plot_->xAxis, plot_->yAxis, scale_->axis()}) {
        colourAxis(a, base, text, font());
    }
    QFont titleFont = font();
    titleFont.setBold(true);
    title_->setFont(titleFont);
    title_->setTextColor(text);
    placeholder_->setColor(mix(base, text, 0.65));
    placeholder_->setFont(font());

    // Subject rows: bold, in the map's own colour (lightened on dark backgrounds).
    const QColor accent = dark ? kindColor(data_.kind).lighter(250) : kindColor(data_.kind);
    QFont bold = font();
    bold.setBold(true);
    int widest = 0;
    for (int t = 0; t < labels_.size(); ++t) {
        const bool subject = data_.inSubject(t);
        labels_[t]->setFont(subject ? bold : font());
        labels_[t]->setColor(subject ? accent : text);
        widest = std::max(widest, QFontMetrics(labels_[t]->font()).horizontalAdvance(labels_[t]->text()));
    }
    plot_->axisRect()->setMargins(QMargins(widest + kLabelGap + 8, 0, 0, 0));
    marker_->setPen(QPen(text, 2.5));
}

double TraceHeatmap::cellValue(int token, int layer) const {
    if (data_.isEmpty() || token < 0 || token >= data_.tokens.size() || layer < 0 || layer >= data_.nLayer)
        return std::numeric_limits<double>::quiet_NaN();
    return map_->data()->cell(layer, token);
}

QStringList TraceHeatmap::rowLabels() const {
    QStringList out;
    for (const QCPItemText* label : labels_) out << label->text();
    return out;
}

QString TraceHeatmap::title() const { return title_->text(); }

std::pair<double, double> TraceHeatmap::colorRange() const {
    return {map_->dataRange().lower, map_->dataRange().upper};
}

QString TraceHeatmap::toolTipForCell(int token, int layer) const {
    if (data_.isEmpty() || token < 0 || token >= data_.tokens.size() || layer < 0 || layer >= data_.nLayer)
        return {};
    QString tip = tr("token %1: “%2”%3").arg(token).arg(visibleToken(data_.tokens[token]),
                                                      data_.inSubject(token) ? tr(" (subject)") : QString());
    const bool windowed = data_.kind != QLatin1String("hidden") && data_.window > 1;
    if (windowed) {
        // The restored layers of a window cell, as in the engine's
        // traceWindowLayers (CLI.md): range(max(0, L - W//2), min(n, L + ceil(W/2))).
        const int first = std::max(0, layer - data_.window / 2);
        const int last = std::min(data_.nLayer, layer + (data_.window + 1) / 2) - 1;
        tip += tr("\nlayer %1 (restoring layers %2–%3)").arg(layer).arg(first).arg(last);
    } else {
        tip += tr("\nlayer %1").arg(layer);
    }
    const double p = cellValue(token, layer);
    if (std::isnan(p)) return tip + tr("\nnot computed yet");
    const double effect = p - data_.lowScore;
    tip += tr("\np(answer) = %1").arg(p, 0, 'g', 6);
    tip += tr("\nindirect effect = p − p(corrupted) = %1%2")
               .arg(effect >= 0 ? QStringLiteral("+") : QString())
               .arg(effect, 0, 'g', 4);
    return tip;
}

QPoint TraceHeatmap::cellCenter(int token, int layer) const {
    if (data_.isEmpty() || token < 0 || token >= data_.tokens.size() || layer < 0 || layer >= data_.nLayer)
        return {-1, -1};
    return QPoint(qRound(plot_->xAxis->coordToPixel(layer)), qRound(plot_->yAxis->coordToPixel(token)));
}

bool TraceHeatmap::cellAt(const QPoint& pos, int* token, int* layer) const {
    if (data_.isEmpty() || !plot_->axisRect()->rect().contains(pos)) return false;
    const int l = static_cast<int>(std::lround(plot_->xAxis->pixelToCoord(pos.x())));
    const int t = static_cast<int>(std::lround(plot_->yAxis->pixelToCoord(pos.y())));
    if (l < 0 || l >= data_.nLayer || t < 0 || t >= data_.tokens.size()) return false;
    if (token) *token = t;
    if (layer) *layer = l;
    return true;
}

void TraceHeatmap::onMouseMove(QMouseEvent* event) {
    int t = 0, l = 0;
    if (!cellAt(event->pos(), &t, &l)) {
        QToolTip::hideText();
        return;
    }
    QToolTip::showText(event->globalPosition().toPoint(), toolTipForCell(t, l), plot_);
}

void TraceHeatmap::onMousePress(QMouseEvent* event) {
    int l = 0;
    if (event->button() != Qt::LeftButton || !cellAt(event->pos(), nullptr, &l)) return;
    setMarkedLayer(l);
    Q_EMIT layerClicked(l);
}

QSize TraceHeatmap::sizeHint() const {
    const int rows = std::max<int>(6, data_.tokens.size());
    return {520, 90 + rows * (fontMetrics().height() + 4)};
}

QSize TraceHeatmap::minimumSizeHint() const { return {260, 200}; }

}  // namespace kme::widgets
