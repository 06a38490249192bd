// Splitting added tokens (special tokens like "<s>", "<|begin_of_text|>") out
// of text, as huggingface/tokenizers AddedVocabulary::find_matches does:
// leftmost-longest matches (an Aho-Corasick automaton there), a single_word
// token only between non-word characters, lstrip/rstrip taking the
// whitespace beside the token into the token.
#include <array>

#include "engine/tokenizer/ByteLevel.h"
#include "engine/tokenizer/Pipeline.h"

namespace kme {
namespace {

// The character that ends before `at` / starts at `at`, as UTF-8 ("" at the ends).
std::string charBefore(const std::string& s, size_t at) {
    size_t b = at;
    while (b > 0) {
        --b;
        if ((static_cast<unsigned char>(s[b]) & 0xC0) != 0x80) break;
    }
    return s.substr(b, at - b);
}

std::string charAt(const std::string& s, size_t at) {
    if (at >= s.size()) return {};
    const int n = utf8::sequenceLength(reinterpret_cast<const unsigned char*>(s.data()) + at, s.size() - at);
    return s.substr(at, static_cast<size_t>(n > 0 ? n : 1));
}

// Rust regex's \w and \s are Unicode-aware, as PCRE2's with UCP.
const Regex& wordChar() {
    static const Regex r("^\\w$");
    return r;
}
const Regex& spaceChar() {
    static const Regex r("^\\s$");
    return r;
}

bool isWord(const std::string& ch) { return !ch.empty() && wordChar().search(ch); }
bool isSpace(const std::string& ch) { return !ch.empty() && spaceChar().search(ch); }

}  // namespace

std::vector<AddedSplit> splitAddedTokens(const std::vector<AddedToken>& tokens, const std::vector<int>& which,
                                         const std::string& text, bool normalizedForm) {
    std::vector<AddedSplit> out;
    auto pattern = [&](int t) -> const std::string& {
        return normalizedForm ? tokens[static_cast<size_t>(t)].normalized : tokens[static_cast<size_t>(t)].content;
    };
    std::array<std::vector<int>, 256> byFirst;
    for (int t : which)
        if (!pattern(t).empty()) byFirst[static_cast<unsigned char>(pattern(t)[0])].push_back(t);

    size_t done = 0;  // text before this is in `out`
    size_t i = 0;
    while (i < text.size()) {
        int best = -1;
        size_t bestLen = 0;
        for (int t : byFirst[static_cast<unsigned char>(text[i])]) {
            const std::string& p = pattern(t);
            if (p.size() > bestLen && text.compare(i, p.size(), p) == 0) {
                best = t;
                bestLen = p.size();
            }
        }
        if (best < 0) {
            ++i;
            continue;
        }
        const AddedToken& tok = tokens[static_cast<size_t>(best)];
        size_t start = i, stop = i + bestLen;
        i = stop;  // the automaton resumes after this match, used or not
        if (tok.singleWord && (isWord(charBefore(text, start)) || isWord(charAt(text, stop)))) continue;
        if (tok.lstrip) {
            size_t s = start;
            while (s > done) {
                const std::string ch = charBefore(text, s);
                if (!isSpace(ch)) break;
                s -= ch.size();
            }
            start = s;
        }
        if (tok.rstrip) {
            while (stop < text.size()) {
                const std::string ch = charAt(text, stop);
                if (!isSpace(ch)) break;
                stop += ch.size();
            }
            i = stop;
        }
        if (done < start) out.push_back({done, start, -1});
        out.push_back({start, stop, tok.id});
        done = stop;
    }
    if (done < text.size()) out.push_back({done, text.size(), -1});
    return out;
}

}  // namespace kme
