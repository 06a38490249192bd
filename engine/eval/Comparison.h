#pragma once
// The Compare view's numbers, Qt-free (issue 16, items 3-4): which prompts a
// comparison of two model states shows, and each state's answer to each of
// them. The Compare tab and `kme compare` both use this file, so the window
// and the command line compute the same numbers.
//
// Rows are prompts: the edit prompts of the edits in which the two states
// differ (most recent first), their paraphrases and neighbours when a fact
// file has a record with the same template and subject, then the user's own
// prompts. For each state: the greedy continuation, p(target_new),
// p(target_true) (teacher-forced, all tokens) and the 20 most likely next
// tokens.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/edit/EditRequest.h"
#include "engine/eval/Dataset.h"

namespace kme {

class Model;

// What the rows hold (kept as the Compare tab always had them).
inline constexpr int kCompareContinuationTokens = 6;  // greedy tokens per prompt and state
inline constexpr int kCompareTopStored = 20;          // next tokens kept per side
inline constexpr int kCompareMaxSourceEdits = 3;      // edits whose prompts are shown
inline constexpr int kCompareMaxRequestsPerEdit = 3;
inline constexpr int kCompareMaxParaphrases = 3;
inline constexpr int kCompareMaxNeighbours = 5;

// One state's answer to one prompt.
struct CompareSide {
    std::string continuation;                          // greedy, kCompareContinuationTokens tokens (valid UTF-8)
    double pNew = 0;                                   // p(target_new), 0..1; NaN without a target
    double pTrue = 0;                                  // p(target_true), 0..1; NaN without a target
    std::vector<std::pair<std::string, double>> top;   // top-20 next tokens, most likely first
    std::string error;                                 // why this prompt could not be run ("" = fine)
};

struct CompareRow {
    std::string prompt;
    std::string kind;        // "edit" | "paraphrase" | "neighbour" | "yours"
    std::string targetNew;   // " Paris"
    std::string targetTrue;  // " Rome" ("" unknown)
    std::string note;        // a neighbour's own answer, ...
    CompareSide before, after;  // state A, state B
};

// An edit whose prompts a comparison shows.
struct ComparePromptSource {
    int64_t editId = 0;
    std::vector<EditRequest> requests;
};

// The rows (sides empty): sources' requests (at most 3 each), the first
// request's paraphrases (3) and neighbours (5) from the first fact-file
// record with its template and subject, then `userPrompts` (targets of the
// first source). Duplicate and empty prompts are dropped.
std::vector<CompareRow> buildCompareRows(const std::vector<ComparePromptSource>& sources,
                                         const std::vector<std::string>& userPrompts,
                                         const std::vector<Dataset>& factSets);

// The fact files a comparison reads when none are named: the model's
// project (MODEL/../facts.json) and the demo project's facts.json, those that
// exist, as clean absolute paths.
std::vector<std::string> defaultCompareFactFiles(const std::string& modelFolder);
// Loads fact files for the rows. `strict`: an unreadable file is an error
// naming it (a file the user named); otherwise it is skipped (it then gives
// no paraphrases or neighbours; the rows still run).
std::vector<Dataset> loadCompareFactSets(const std::vector<std::string>& files, bool strict);

// The model's answer to `row` as it stands. A prompt that cannot run (too
// long for the context, ...) gives a side with `error`; a cancel propagates.
CompareSide answerCompareRow(const Model& model, const CompareRow& row);

// p(token) on a side from its stored top tokens; 0 below the last of them.
double sideProbabilityOf(const CompareSide& side, const std::string& token);
// A probability moved enough to be marked: |a - b| > max(0.01, 10% of the larger).
bool compareProbabilityChanged(double a, double b);
// The most likely next token changed, or its probability did.
bool compareTopChanged(const CompareSide& a, const CompareSide& b);

// A side as JSON: {continuation, p_new, p_true (null without a target),
// top: [[token, p], ...], error?}.
nlohmann::json compareSideJson(const CompareSide& side);
// A row as JSON: {prompt, kind, target_new, target_true, note?, a, b,
// changed: {continuation, p_new, p_true, top}} -- the cells the tab marks.
nlohmann::json compareRowJson(const CompareRow& row);

}  // namespace kme
