#pragma once
// What the plots share. Every plot: axes in the palette's colours. The
// score plots (ScoreBarChart, CurvePlot): a 0-105 % y axis, the legend in a
// row of its own under the plot (so it never hides a bar or a line), and the
// hue table that gives a series (a method) the same colour in every plot.
#include <QColor>
#include <QString>

class QCPAxis;
class QCustomPlot;
class QFont;
class QPalette;

namespace kme::widgets {

// An axis on background `base`: its line, ticks and sub-ticks 60 % of the way
// to `text`, its labels in `text` (and in `font`).
void colourAxis(QCPAxis* a, const QColor& base, const QColor& text);
void colourAxis(QCPAxis* a, const QColor& base, const QColor& text, const QFont& font);
// The axis's grid: dotted lines 15 % of the way from `base` to `text`.
void dotGrid(QCPAxis* a, const QColor& base, const QColor& text);

// The y axis from 0 to 105 labelled `yLabel`, and the legend in row
// `legendRow` of the plot layout (the rows above it exist), filled columns first.
void setUpScoreAxes(QCustomPlot* plot, const QString& yLabel, int legendRow);
// Background, axes, grid and legend from the palette (Base, Text).
void applyScorePalette(QCustomPlot* plot, const QPalette& palette);
// The colour of the i-th coloured series on background `base`.
QColor scoreSeriesColour(int i, const QColor& base);

}  // namespace kme::widgets
