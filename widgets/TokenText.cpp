#include "widgets/TokenText.h"

namespace kme::widgets {

namespace {
const QChar kOpenBox(0x2423);   // ␣ shows a space that would otherwise vanish
const QChar kReturn(0x21B5);    // ↵
const QChar kTab(0x21E5);       // ⇥
}  // namespace

QString visibleToken(const QString& token) {
    QString out;
    out.reserve(token.size() + 2);
    bool leading = true;  // spaces before the first other character are made visible
    for (const QChar c : token) {
        if (c == QLatin1Char(' ')) {
            out += leading ? kOpenBox : c;
            continue;
        }
        leading = false;
        if (c == QLatin1Char('\n')) out += kReturn;
        else if (c == QLatin1Char('\r')) out += QStringLiteral("\\r");
        else if (c == QLatin1Char('\t')) out += kTab;
        else if (c.unicode() < 0x20 || c.unicode() == 0x7f)
            out += QStringLiteral("\\x%1").arg(c.unicode(), 2, 16, QLatin1Char('0'));
        else out += c;
    }
    // Trailing spaces are as invisible as leading ones.
    for (int i = out.size() - 1; i >= 0 && out[i] == QLatin1Char(' '); --i) out[i] = kOpenBox;
    return out;
}

QString visibleTokenElided(const QString& token, int maxChars) {
    const QString v = visibleToken(token);
    if (maxChars < 2 || v.size() <= maxChars) return v;
    return v.left(maxChars - 1) + QChar(0x2026);
}

}  // namespace kme::widgets
