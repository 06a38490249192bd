#pragma once
// Colour arithmetic shared by the plots and tables: they derive their colours
// from the palette (Base = background, Text = foreground), so every view reads
// in light and dark themes alike.
#include <QColor>

namespace kme::widgets {

// a..b: t = 0 gives a, t = 1 gives b.
inline QColor mix(const QColor& a, const QColor& b, double t) {
    return QColor::fromRgbF(float(a.redF() * (1 - t) + b.redF() * t), float(a.greenF() * (1 - t) + b.greenF() * t),
                            float(a.blueF() * (1 - t) + b.blueF() * t));
}

}  // namespace kme::widgets
