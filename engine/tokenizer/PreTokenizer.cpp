#include "engine/tokenizer/PreTokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>

#include "engine/core/Error.h"
#include "engine/tokenizer/ByteLevel.h"

namespace kme {
namespace {

// The compiled pattern: a pcre2_code is read-only after compilation and may be
// shared by threads; each call brings its own match data.
class CompiledPattern {
public:
    CompiledPattern() {
        int errorCode = 0;
        PCRE2_SIZE errorOffset = 0;
        code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kGpt2SplitPattern), PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP, &errorCode, &errorOffset, nullptr);
        if (!code_) {
            PCRE2_UCHAR buffer[256];
            pcre2_get_error_message(errorCode, buffer, sizeof buffer);
            fail(ErrorKind::Internal, std::string("cannot compile the GPT-2 split pattern: ") +
                                          reinterpret_cast<const char*>(buffer));
        }
        // JIT is an optimisation only: without it (unsupported CPU) the
        // interpreter gives the same matches.
        pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
    }
    ~CompiledPattern() { pcre2_code_free(code_); }
    CompiledPattern(const CompiledPattern&) = delete;
    CompiledPattern& operator=(const CompiledPattern&) = delete;

    const pcre2_code* code() const { return code_; }

private:
    pcre2_code* code_ = nullptr;
};

const CompiledPattern& pattern() {
    static const CompiledPattern p;
    return p;
}

struct MatchDataDeleter {
    void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};

}  // namespace

std::vector<ByteRange> gpt2PreTokenize(const std::string& text) {
    const size_t bad = utf8::findInvalid(text);
    if (bad != std::string::npos)
        fail(ErrorKind::Input, "text is not valid UTF-8 at byte " + std::to_string(bad));

    std::vector<ByteRange> pieces;
    if (text.empty()) return pieces;
    const pcre2_code* code = pattern().code();
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(pcre2_match_data_create_from_pattern(code, nullptr));
    if (!match) fail(ErrorKind::Internal, "out of memory for PCRE2 match data");

    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t offset = 0;
    while (offset < text.size()) {
        // The text was validated above; skipping PCRE2's own check keeps the
        // loop linear (it would otherwise re-check the rest on every call).
        const int rc = pcre2_match(code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR buffer[256];
            pcre2_get_error_message(rc, buffer, sizeof buffer);
            fail(ErrorKind::Internal, std::string("PCRE2 match failed: ") + reinterpret_cast<const char*>(buffer));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.get());
        if (ov[1] <= ov[0]) fail(ErrorKind::Internal, "the GPT-2 split pattern matched an empty piece");
        pieces.push_back({ov[0], ov[1]});
        offset = ov[1];
    }
    return pieces;
}

}  // namespace kme
