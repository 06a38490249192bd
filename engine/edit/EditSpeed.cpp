// The switches of engine/edit/EditSpeed.h, the per-thread edit profile, and
// how the v* / z optimisation groups its rows (ValueOptimization.cpp).
#include "engine/edit/EditSpeed.h"

#include <algorithm>
#include <limits>
#include <mutex>

#include "engine/edit/EditInternal.h"

namespace kme {

namespace {
std::mutex speedMutex;
EditSpeed speedNow;
}  // namespace

EditSpeed editSpeed() {
    std::lock_guard<std::mutex> lock(speedMutex);
    return speedNow;
}

void setEditSpeed(const EditSpeed& speed) {
    std::lock_guard<std::mutex> lock(speedMutex);
    speedNow = speed;
}

namespace {
thread_local EditProfile profileNow;
}  // namespace

EditProfile lastEditProfile() { return profileNow; }
void resetEditProfile() { profileNow = EditProfile{}; }
EditProfile& editProfile() { return profileNow; }

const char* valuePathName(ValuePath path) {
    switch (path) {
        case ValuePath::Full: return "full";
        case ValuePath::LayerPrefix: return "layer-prefix";
        case ValuePath::PositionPrefix: return "position-prefix";
    }
    return "?";
}

}  // namespace kme

namespace kme::edit {

// Rows of similar length run together: one padded batch of every row wastes
// the columns by which rows are shorter than the longest (MEMIT's ten
// requests: 40% of the columns at GPT-2 small's prompts), one forward per
// row wastes the fixed cost of a call. A group is a run of rows sorted by
// width; the partition minimises padded columns + a fixed cost per group,
// both in token-blocks (a dynamic programme over the sorted widths). The
// fixed cost (about half a millisecond of dispatch per block and pass) in
// tokens: what a token's forward and backward multiply-adds take at
// ~100 GFLOP/s. Depends on the shape only, never on the machine.
std::vector<std::vector<size_t>> groupRowsByWidth(const std::vector<int64_t>& width, int64_t tokenMacs, int costTokens,
                                                  bool group) {
    std::vector<size_t> order(width.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    if (!group || width.size() < 2) return {order};
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return width[a] < width[b]; });
    const double perGroup =
        costTokens > 0 ? double(costTokens) : std::max(1.0, 1.25e7 / double(std::max<int64_t>(tokenMacs, 1)));
    const size_t n = order.size();
    std::vector<double> best(n + 1, 0.0);
    std::vector<size_t> cut(n + 1, 0);  // the group ending at i starts at cut[i]
    for (size_t i = 1; i <= n; ++i) {
        best[i] = std::numeric_limits<double>::max();
        for (size_t j = 0; j < i; ++j) {  // rows j..i-1 padded to the widest, width[order[i-1]]
            const double c = best[j] + perGroup + double(i - j) * double(width[order[i - 1]]);
            if (c < best[i]) {
                best[i] = c;
                cut[i] = j;
            }
        }
    }
    std::vector<std::vector<size_t>> groups;
    for (size_t i = n; i > 0; i = cut[i]) {
        groups.emplace_back(order.begin() + int64_t(cut[i]), order.begin() + int64_t(i));
        std::sort(groups.back().begin(), groups.back().end());  // within a group, the batch's order
    }
    std::reverse(groups.begin(), groups.end());
    return groups;
}

}  // namespace kme::edit
