#pragma once
// A comparison as session previews (one per prompt, kind "compare:<row kind>",
// each side's numbers as JSON) and back: the Compare tab saves every
// comparison and shows the last one again when a session opens. Qt-free apart
// from QString labels.
#include <QString>
#include <QStringList>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/eval/Comparison.h"
#include "engine/session/SessionStore.h"

namespace kme::app {

// The two states a comparison ran on.
struct ComparedStates {
    QString labelA, labelB;          // "original", "only #1 (…)", ...
    int positionA = 0, positionB = -1;  // history points (WeightState::position; kNoPosition for a set)
    std::vector<int64_t> idsA, idsB;    // their edits, history order
    std::string hashA, hashB;           // the state hashes they were built with ("" unknown: older sessions)
};

struct SavedComparison {
    std::vector<kme::CompareRow> rows;
    ComparedStates states;
    QStringList userPrompts;  // the rows of kind "yours"
    QString created;          // when it was saved
};

inline constexpr const char* kComparePreviewPrefix = "compare:";

// The previews of one comparison; `comparisonId` ties them together and
// `editId` is the edit the comparison is about (the most recent one the two
// states differ in).
std::vector<kme::PreviewRecord> comparisonPreviews(const std::vector<kme::CompareRow>& rows,
                                                   const ComparedStates& states, std::optional<int64_t> editId,
                                                   const std::string& comparisonId);
// One saved comparison as a list names it.
struct SavedComparisonEntry {
    std::string id;            // the comparison id its previews share
    int64_t firstPreview = 0;  // the id of its first preview record
    std::string created;       // when it was saved
    QString labelA, labelB;    // the two states
    int prompts = 0;
};
// The comparisons among `previews`, oldest first; unreadable records are skipped.
std::vector<SavedComparisonEntry> savedComparisons(const std::vector<kme::PreviewRecord>& previews);
// The comparison `comparisonId` among `previews` (rows empty when there is
// none); unreadable records are skipped.
SavedComparison savedComparison(const std::vector<kme::PreviewRecord>& previews, const std::string& comparisonId);
// The last comparison among `previews` (rows empty when there is none).
SavedComparison lastSavedComparison(const std::vector<kme::PreviewRecord>& previews);

}  // namespace kme::app
