#pragma once
// Second moments C = E[k k^T] of a layer's MLP key (the input of the down
// projection) over a text corpus: ROME's "mom2" (kmeng01/rome
// rome/layer_stats.py, uncentred, divided by the token count). Streamed in
// chunks with progress and cancel, accumulated in float64, cached on disk
// under cacheFolder()/stats by (weights identity, layer, corpus hash, sample
// and token limits) and in memory, so each is computed once. Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/Progress.h"

namespace kme {

class Model;

struct StatsParams {
    std::vector<std::string> texts;  // the corpus; each text is one sample (ROME: one Wikipedia article)
    std::string corpusLabel;         // where the texts came from (messages only)
    int maxSamples = 10000;          // texts used at most, in corpus order (ROME: 100000 on a GPU)
    int64_t maxTokens = 100000;      // tokens used at most (0 = no limit): the CPU budget
    int maxTextTokens = 0;           // tokens kept per text (0 = the model's context, as ROME)
    int batchTokens = 0;             // padded tokens per forward chunk (0 = 3 x context, as ROME)
    // Weights identity for the cache key; "" = the model's current weights
    // hash. Sequential edits pass the unedited model's hash so statistics are
    // computed once (ROME, too, keeps the unedited model's statistics).
    std::string modelKey;
    bool useCache = true;            // false: always compute (and do not write the cache)
};

struct StatsInfo {
    int layer = 0;
    int64_t samples = 0;      // texts used
    int64_t tokens = 0;       // key vectors accumulated
    double seconds = 0;       // time to compute (or to load, when cached); layers computed in one
                              // shared pass (MEMIT) each get an equal share of the pass
    double computeSeconds = 0;  // time the computation took when it was made (same sharing)
    bool fromCache = false;   // loaded from disk or memory instead of computed
    std::string cacheFile;    // "" when not cached on disk
    std::string corpusHash;   // sha256 of the corpus texts
    // Set when a cache file for these statistics was damaged (bad header,
    // wrong shape, NaN, ...): "the statistics cache FILE was discarded (why);
    // ... recomputed". The file is removed and replaced by the recomputed one.
    std::string cacheNote;
};

// Makes sure C of `layer` is available (computing and caching it when
// needed) and describes it. Throws ErrorKind::Input for an empty corpus or a
// bad layer, kme::Cancelled when `progress` returns false.
StatsInfo ensureKeyStatistics(Model& model, int layer, const StatsParams& params, const ProgressFn& progress = {});

// Reads a corpus file: .jsonl (one JSON string or {"text": ...} per line),
// .json (a list of strings or {"text": ...}), anything else UTF-8 text: one
// sample per paragraph (blank-line separated), or per line when the file has
// no blank lines. Errors name the file and line.
std::vector<std::string> loadTextCorpus(const std::string& path);
// sha256 over the texts (length-prefixed), the corpus part of the cache key.
std::string corpusHash(const std::vector<std::string>& texts);

// Number of statistics actually computed (not loaded) in this process.
int64_t keyStatisticsComputeCount();
// Drops the in-memory cache (the disk cache stays).
void clearKeyStatisticsMemoryCache();

}  // namespace kme
