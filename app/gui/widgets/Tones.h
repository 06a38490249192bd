#pragma once
// The window's two message tones, derived from the palette so they read on
// light and dark themes alike: an error (red) and a success (green). One
// place, so every tab's "⚠ …" line has the same red.
#include <QColor>
#include <QPalette>
#include <QString>

namespace kme::app {

inline bool isDarkPalette(const QPalette& pal) { return pal.color(QPalette::Base).lightnessF() < 0.5; }

// The red of error lines and invalid fields.
inline QColor errorColor(const QPalette& pal) {
    return isDarkPalette(pal) ? QColor(0xff, 0x8a, 0x80) : QColor(0xc6, 0x28, 0x28);
}

// The green of a good outcome (a trained editor that fits, ...).
inline QColor goodColor(const QPalette& pal) {
    return isDarkPalette(pal) ? QColor(0x7f, 0xd1, 0x7f) : QColor(0x1b, 0x7f, 0x2a);
}

// Rich text for a label: "⚠ text" in the error colour (text is escaped).
inline QString errorHtml(const QPalette& pal, const QString& text) {
    return QStringLiteral("<span style=\"color:%1\">⚠ %2</span>").arg(errorColor(pal).name(), text.toHtmlEscaped());
}

// A message line's text: the error form, or the plain text escaped ("" stays "").
inline QString messageHtml(const QPalette& pal, const QString& text, bool error) {
    if (text.isEmpty()) return {};
    return error ? errorHtml(pal, text) : text.toHtmlEscaped();
}

}  // namespace kme::app
