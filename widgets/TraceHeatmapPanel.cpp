#include "widgets/TraceHeatmapPanel.h"

#include "widgets/QCustomPlotInclude.h"

#include <QHBoxLayout>
#include <QImage>
#include <QLabel>
#include <QVBoxLayout>
#include <algorithm>

#include "widgets/PlotExport.h"
#include "widgets/TokenText.h"
#include "widgets/TraceHeatmap.h"

namespace kme::widgets {

namespace {

constexpr int kMapGap = 8;      // pixels between maps in an export

QString formatP(double p) { return QString::number(p, 'f', p >= 0.01 || p <= 0 ? 3 : 4); }

}  // namespace

TraceHeatmapPanel::TraceHeatmapPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    header_ = new QLabel(this);
    header_->setObjectName(QStringLiteral("traceHeader"));
    header_->setTextFormat(Qt::PlainText);  // tokens may contain '<'
    header_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QFont bold = header_->font();
    bold.setBold(true);
    header_->setFont(bold);
    header_->setVisible(false);
    layout->addWidget(header_);
    placeholder_ = new QLabel(tr("No trace yet."), this);
    placeholder_->setObjectName(QStringLiteral("tracePlaceholder"));
    placeholder_->setAlignment(Qt::AlignCenter);
    placeholder_->setWordWrap(true);
    placeholder_->setForegroundRole(QPalette::PlaceholderText);
    layout->addWidget(placeholder_, 1);
    row_ = new QHBoxLayout;
    row_->setSpacing(4);
    layout->addLayout(row_, 1);
}

TraceHeatmapPanel::~TraceHeatmapPanel() = default;

void TraceHeatmapPanel::setData(const QVector<TraceHeatmapData>& maps) {
    count_ = maps.size();
    while (maps_.size() < count_) {
        auto* map = new TraceHeatmap(this);
        map->setObjectName(QStringLiteral("traceHeatmap%1").arg(maps_.size()));
        connect(map, &TraceHeatmap::layerClicked, this, [this](int layer) {
            setMarkedLayer(layer);
            Q_EMIT layerClicked(layer);
        });
        row_->addWidget(map, 1);
        maps_ << map;
    }
    for (int i = 0; i < maps_.size(); ++i) {
        if (i < count_) {
            maps_[i]->setData(maps[i]);
            maps_[i]->setMarkedLayer(markedLayer_);
        } else {
            maps_[i]->clear();
        }
        maps_[i]->setVisible(i < count_);
    }
    if (count_ == 0) {
        headerText_.clear();
        markedLayer_ = -1;
    } else {
        const TraceHeatmapData& d = maps.first();
        headerText_ = tr("Answer “%1”:  p(clean) = %2,  p(corrupted) = %3")
                          .arg(visibleToken(d.answer), formatP(d.highScore), formatP(d.lowScore));
    }
    header_->setText(headerText_);
    header_->setVisible(count_ > 0);
    placeholder_->setVisible(count_ == 0);
}

void TraceHeatmapPanel::clear() { setData({}); }

TraceHeatmap* TraceHeatmapPanel::map(int index) const {
    return index >= 0 && index < count_ ? maps_[index] : nullptr;
}

TraceHeatmap* TraceHeatmapPanel::mapForKind(const QString& kind) const {
    for (int i = 0; i < count_; ++i)
        if (maps_[i]->data().kind == kind) return maps_[i];
    return nullptr;
}

QString TraceHeatmapPanel::headerText() const { return headerText_; }

void TraceHeatmapPanel::setPlaceholderText(const QString& text) { placeholder_->setText(text); }

void TraceHeatmapPanel::setMarkedLayer(int layer) {
    markedLayer_ = layer;
    for (int i = 0; i < count_; ++i) maps_[i]->setMarkedLayer(layer);
}

int TraceHeatmapPanel::headerHeight(const QFont& font) const { return QFontMetrics(font).height() * 2; }

void TraceHeatmapPanel::paintExport(QCPPainter& painter, const QRect& rect) {
    const QColor base = palette().color(QPalette::Base);
    painter.fillRect(rect, base);
    QFont bold = font();
    bold.setBold(true);
    const int top = headerHeight(bold);
    painter.save();
    painter.setFont(bold);
    painter.setPen(palette().color(QPalette::Text));
    painter.drawText(rect.adjusted(kMapGap, 0, -kMapGap, 0).intersected(QRect(rect.x(), rect.y(), rect.width(), top)),
                     Qt::AlignLeft | Qt::AlignVCenter, count_ > 0 ? headerText_ : placeholder_->text());
    painter.restore();
    if (count_ == 0) return;
    const int width = (rect.width() - (count_ - 1) * kMapGap) / count_;
    const int height = rect.height() - top;
    for (int i = 0; i < count_; ++i) {
        painter.save();
        painter.translate(rect.x() + i * (width + kMapGap), rect.y() + top);
        maps_[i]->plot()->toPainter(&painter, width, height);
        painter.restore();
        // toPainter laid the plot out at the export size: lay it out again for the screen.
        maps_[i]->requestReplot();
    }
}

QImage TraceHeatmapPanel::toImage(const QSize& size, double scale) {
    return renderPlotImage(size, scale, palette().color(QPalette::Base),
                           [this](QCPPainter& painter, const QRect& rect) { paintExport(painter, rect); });
}

bool TraceHeatmapPanel::exportTo(const QString& path, QString* error, const QSize& requested) {
    QSize size = requested;
    if (size.isEmpty()) size = isVisible() && !this->size().isEmpty() ? this->size()
                                                                        : QSize(kDefaultExportWidth, kDefaultExportHeight);
    return exportPlotFile(path, size, headerText_, palette().color(QPalette::Base),
                          [this](QCPPainter& painter, const QRect& rect) { paintExport(painter, rect); },
                          tr("the heatmaps"), error);
}

}  // namespace kme::widgets
