#pragma once
// Learns a GPT-2-style byte-level BPE from plain texts (used to build the demo
// model's tokenizer). The files it writes have exactly GPT-2's format, so
// Tokenizer::fromVocabMerges (and any GPT-2 tool) loads them.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/core/Progress.h"

namespace kme {

struct BpeTrainParams {
    int vocabSize = 4096;    // total tokens: 256 byte symbols + learned merges + special tokens
    int minFrequency = 2;    // a pair seen fewer times than this (count of occurrences) is never merged
    std::vector<std::string> specialTokens = {"<|endoftext|>"};  // appended last, in this order
    // Pre-token -> count used instead of the counted one (for pre-tokens that
    // occur in the texts). train-demo gives subject-name words a small count
    // so that names stay split into pieces.
    std::map<std::string, int64_t> countOverrides;
};

// Pre-tokenizes every text with GPT-2's pattern, starts from the 256 byte
// symbols (ids in GPT-2's order) and repeatedly merges the most frequent
// adjacent pair (ties: the lexicographically smallest pair of byte strings)
// until the vocabulary is full or no pair reaches minFrequency; pair counts are
// updated incrementally, only in the words a merge touches.
//
// Writes vocab.json (one line, Python json.dumps style with \uXXXX escapes, as
// GPT-2's encoder.json) and merges.txt ("#version: 0.2" then one "a b" per
// line). Each file is written to a temporary name and renamed, so a failure
// never leaves a half-written file. `progress` gets (merges done, merges
// wanted); returning false throws kme::Cancelled.
//
// Throws ErrorKind::Input for invalid UTF-8 in a text (naming its index), a
// vocabSize below 256 + special tokens, or a special token that is empty, repeated,
// or equal to a byte symbol / learned token; ErrorKind::Io when a file cannot be written.
void trainByteLevelBpe(const std::vector<std::string>& texts, const BpeTrainParams& params,
                       const std::string& vocabJsonOut, const std::string& mergesTxtOut,
                       const ProgressFn& progress = {});

}  // namespace kme
