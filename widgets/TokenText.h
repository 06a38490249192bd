#pragma once
// How a token is shown to a person. Byte-level BPE tokens often start with a
// space (" Paris"), end with a newline, or hold half a UTF-8 character; shown
// raw, a leading space is invisible and "Paris" and " Paris" look the same,
// although they are different tokens with different probabilities.
#include <QString>

namespace kme::widgets {

// " Paris" -> "␣Paris", "\n" -> "↵", "\t" -> "⇥", other control characters as
// "\xNN". Inner spaces stay spaces unless the whole token is blank.
QString visibleToken(const QString& token);

// visibleToken() shortened to at most `maxChars` characters with "…".
QString visibleTokenElided(const QString& token, int maxChars = 24);

}  // namespace kme::widgets
