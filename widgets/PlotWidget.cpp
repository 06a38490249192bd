#include "widgets/PlotWidget.h"

#include "widgets/QCustomPlotInclude.h"

#include <QEvent>
#include <QTimer>

namespace kme::widgets {

void PlotWidget::requestReplot() {
    if (plot_ && plot_->isVisible() && !plot_->size().isEmpty()) {
        plot_->replot(QCustomPlot::rpQueuedReplot);
        stale_ = false;
    } else {
        stale_ = true;
    }
}

void PlotWidget::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    if (stale_) QTimer::singleShot(0, this, [this] { requestReplot(); });
}

void PlotWidget::changeEvent(QEvent* event) {
    QWidget::changeEvent(event);
    if (event->type() == QEvent::PaletteChange || event->type() == QEvent::FontChange ||
        event->type() == QEvent::StyleChange) {
        applyPalette();
        requestReplot();
    }
}

}  // namespace kme::widgets
