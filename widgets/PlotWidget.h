#pragma once
// Base of the widgets that hold one QCustomPlot: replots only when on screen
// (a plot not shown has no paint buffer; Qt warns), catches up when shown,
// and re-applies colours when the palette, font or style changes.
#include <QWidget>

class QCustomPlot;

namespace kme::widgets {

class PlotWidget : public QWidget {
public:
    explicit PlotWidget(QWidget* parent = nullptr) : QWidget(parent) {}

    QCustomPlot* plot() const { return plot_; }
    // Replots soon when on screen; otherwise once shown.
    void requestReplot();

protected:
    // Colours from the palette (called on palette, font and style changes).
    virtual void applyPalette() = 0;
    void changeEvent(QEvent* event) override;
    void showEvent(QShowEvent* event) override;

    QCustomPlot* plot_ = nullptr;  // set by the derived widget's constructor

private:
    bool stale_ = true;  // changed while not on screen: replot when shown
};

}  // namespace kme::widgets
