#include "engine/session/StateComparison.h"

#include <algorithm>

#include "engine/core/Error.h"
#include "engine/edit/EditRequest.h"
#include "engine/edit/Payload.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"

namespace kme {

namespace {

std::vector<EditRequest> requestsOf(const EditRecord& e) {
    try {
        return parseEditRequests(e.requestJson, "edit #" + std::to_string(e.position));
    } catch (const Error&) {
        return {};
    }
}

bool contains(const std::vector<int64_t>& ids, int64_t id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); }

}  // namespace

std::vector<ComparePromptSource> comparePromptSources(const ModelState& a, const ModelState& b,
                                                      const std::vector<EditRecord>& edits) {
    std::vector<ComparePromptSource> sources;
    for (auto it = edits.rbegin(); it != edits.rend() && int(sources.size()) < kCompareMaxSourceEdits; ++it)
        if (contains(a.editIds, it->id) != contains(b.editIds, it->id)) sources.push_back({it->id, requestsOf(*it)});
    if (sources.empty() && !edits.empty()) sources.push_back({edits.back().id, requestsOf(edits.back())});
    return sources;
}

StateComparisonResult compareStates(EditStack& stack, const StateToBuild& a, const StateToBuild& b,
                                    const StateToBuild& current, std::vector<CompareRow>& rows,
                                    const ProgressFn& progress) {
    StateComparisonResult result;
    const std::string hashBefore = stack.model().stateHash();
    const bool same = a.state.editIds == b.state.editIds;
    // End on the current state when one side is it: one rebuild fewer.
    std::vector<std::pair<const StateToBuild*, bool>> order;  // (state, is side b)
    if (same) order = {{&a, false}};
    else if (a.state.editIds == current.state.editIds) order = {{&b, true}, {&a, false}};
    else order = {{&a, false}, {&b, true}};

    const std::vector<int64_t>* onStack = &current.state.editIds;
    auto restore = [&] {
        if (*onStack != current.state.editIds) buildState(stack, current.payloads);
        onStack = &current.state.editIds;
    };
    const double total = double(rows.size() * order.size());
    double done = 0;
    try {
        for (const auto& [side, isB] : order) {
            if (side->state.editIds != *onStack) {
                onStack = nullptr;  // unknown while building (an error leaves the originals)
                static const std::vector<int64_t> kNone;
                try {
                    buildState(stack, side->payloads);
                } catch (...) {
                    onStack = &kNone;
                    throw;
                }
                onStack = &side->state.editIds;
            }
            (isB ? result.hashB : result.hashA) = stack.model().stateHash();
            for (CompareRow& row : rows) {
                if (!reportProgress(progress, done, total)) throw Cancelled();
                (isB ? row.after : row.before) = answerCompareRow(stack.model(), row);
                ++done;
            }
        }
        reportProgress(progress, done, total);
    } catch (...) {
        if (onStack == nullptr || *onStack != current.state.editIds) buildState(stack, current.payloads);
        throw;
    }
    restore();
    if (same) {
        result.hashB = result.hashA;
        for (CompareRow& row : rows) row.after = row.before;
    }
    result.restoredHash = stack.model().stateHash();
    if (result.restoredHash != hashBefore)
        fail(ErrorKind::Internal, "the comparison did not restore the live model: its state hash is " +
                                      result.restoredHash + ", it was " + hashBefore);
    return result;
}

}  // namespace kme
