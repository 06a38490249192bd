#pragma once
// A QCustomPlot that waits for a real size: a layout may size a plot on a
// page that was never shown to nothing (0 pixels high); QCustomPlot would then
// replot into an empty paint buffer, and Qt warns for each layer.
#include <QResizeEvent>

#include "widgets/QCustomPlotInclude.h"

namespace kme::widgets {

class SizedPlot : public QCustomPlot {
public:
    using QCustomPlot::QCustomPlot;

protected:
    void resizeEvent(QResizeEvent* event) override {
        if (event->size().isEmpty()) QWidget::resizeEvent(event);
        else QCustomPlot::resizeEvent(event);
    }
};

}  // namespace kme::widgets
