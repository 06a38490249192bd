#include "engine/eval/Shard.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <limits>

namespace kme {

namespace {

// A decimal number of digits only (no sign, no blanks), at most 9 digits.
std::optional<int> digitsOnly(const std::string& s) {
    if (s.empty() || s.size() > 9) return std::nullopt;
    int v = 0;
    for (char c : s) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

}  // namespace

std::optional<ShardSpec> parseShardSpec(const std::string& text, std::string* why) {
    auto no = [&](const std::string& reason) -> std::optional<ShardSpec> {
        if (why) *why = reason;
        return std::nullopt;
    };
    const size_t slash = text.find('/');
    if (slash == std::string::npos || text.find('/', slash + 1) != std::string::npos)
        return no("expected K/N (shard K of N, 0 <= K < N)");
    const auto k = digitsOnly(text.substr(0, slash));
    const auto n = digitsOnly(text.substr(slash + 1));
    if (!k || !n) return no("expected K/N with non-negative integers (shard K of N, 0 <= K < N)");
    if (*n < 1) return no("the shard count N must be at least 1");
    if (*k >= *n) return no("the shard index K must be below N (shards are numbered 0 to N-1)");
    return ShardSpec{*k, *n};
}

std::string shardName(const ShardSpec& s) { return std::to_string(s.index) + "/" + std::to_string(s.count); }

std::vector<size_t> shardPositions(size_t n, size_t unitSize, const ShardSpec& shard) {
    if (unitSize == 0) unitSize = 1;
    std::vector<size_t> out;
    for (size_t i = 0; i < n; ++i)
        if ((i / unitSize) % static_cast<size_t>(shard.count) == static_cast<size_t>(shard.index)) out.push_back(i);
    return out;
}

nlohmann::json shardToJson(const ShardSpec& s) { return {{"index", s.index}, {"count", s.count}}; }

std::optional<ShardSpec> shardFromJson(const nlohmann::json& j) {
    if (!j.is_object()) return std::nullopt;
    const auto k = j.find("index"), n = j.find("count");
    if (k == j.end() || n == j.end() || !k->is_number_integer() || !n->is_number_integer()) return std::nullopt;
    const int64_t kk = k->get<int64_t>(), nn = n->get<int64_t>();
    if (nn < 1 || nn > std::numeric_limits<int>::max() || kk < 0 || kk >= nn) return std::nullopt;
    return ShardSpec{static_cast<int>(kk), static_cast<int>(nn)};
}

}  // namespace kme
