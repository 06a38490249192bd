#include "app/gui/tabs/CompareRecords.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "engine/core/SafeInput.h"

namespace kme::app {

namespace {

using json = nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

json sideJson(const kme::CompareSide& s, const kme::CompareRow& row, const QString& label, int position,
              const std::vector<int64_t>& editIds, const std::string& hash, const std::string& comparison) {
    json top = json::array();
    for (const auto& [token, p] : s.top) top.push_back({token, p});  // the stored top-20
    json j = {{"comparison", comparison},
              {"point", label.toStdString()},
              {"position", position},
              {"edit_ids", editIds},
              {"target_new", row.targetNew},
              {"target_true", row.targetTrue},
              {"p_new", std::isnan(s.pNew) ? json(nullptr) : json(s.pNew)},
              {"p_true", std::isnan(s.pTrue) ? json(nullptr) : json(s.pTrue)},
              {"top", top}};
    if (!hash.empty()) j["state_hash"] = hash;
    if (!row.note.empty()) j["note"] = row.note;
    if (!s.error.empty()) j["error"] = s.error;
    return j;
}

kme::CompareSide sideFromJson(const json& j, const std::string& text) {
    kme::CompareSide s;
    s.continuation = text;
    s.pNew = j.value("p_new", json(nullptr)).is_number() ? j["p_new"].get<double>() : kNaN;
    s.pTrue = j.value("p_true", json(nullptr)).is_number() ? j["p_true"].get<double>() : kNaN;
    if (j.contains("top") && j["top"].is_array())
        for (const auto& t : j["top"])
            if (t.is_array() && t.size() == 2 && t[0].is_string() && t[1].is_number())
                s.top.emplace_back(t[0].get<std::string>(), t[1].get<double>());
    s.error = j.value("error", std::string());
    return s;
}

std::vector<int64_t> idsOf(const json& j) {
    std::vector<int64_t> ids;
    if (j.contains("edit_ids") && j["edit_ids"].is_array())
        for (const auto& x : j["edit_ids"])
            if (x.is_number_integer()) ids.push_back(x.get<int64_t>());
    return ids;
}

bool isComparison(const kme::PreviewRecord& p) { return p.kind.rfind(kComparePreviewPrefix, 0) == 0; }

}  // namespace

std::vector<kme::PreviewRecord> comparisonPreviews(const std::vector<kme::CompareRow>& rows,
                                                   const ComparedStates& states, std::optional<int64_t> editId,
                                                   const std::string& comparisonId) {
    std::vector<kme::PreviewRecord> out;
    for (const kme::CompareRow& row : rows) {
        kme::PreviewRecord p;
        p.editId = editId;
        p.prompt = row.prompt;
        p.kind = kComparePreviewPrefix + row.kind;
        p.beforeText = row.before.continuation;
        p.afterText = row.after.continuation;
        p.beforeProbsJson =
            sideJson(row.before, row, states.labelA, states.positionA, states.idsA, states.hashA, comparisonId).dump();
        p.afterProbsJson =
            sideJson(row.after, row, states.labelB, states.positionB, states.idsB, states.hashB, comparisonId).dump();
        out.push_back(std::move(p));
    }
    return out;
}

std::vector<SavedComparisonEntry> savedComparisons(const std::vector<kme::PreviewRecord>& previews) {
    std::vector<SavedComparisonEntry> out;
    for (const auto& p : previews) {
        if (!isComparison(p)) continue;
        try {
            const json jb = kme::parseJson(p.beforeProbsJson, "a comparison record");
            const json ja = kme::parseJson(p.afterProbsJson, "a comparison record");
            if (!jb.is_object() || !ja.is_object()) continue;
            const std::string id = ja.value("comparison", std::string());
            if (id.empty()) continue;
            auto it = std::find_if(out.begin(), out.end(), [&id](const SavedComparisonEntry& e) { return e.id == id; });
            if (it == out.end()) {
                SavedComparisonEntry e;
                e.id = id;
                e.firstPreview = p.id;
                e.created = p.created;
                e.labelA = QString::fromStdString(jb.value("point", std::string()));
                e.labelB = QString::fromStdString(ja.value("point", std::string()));
                out.push_back(std::move(e));
                it = out.end() - 1;
            }
            ++it->prompts;
        } catch (const std::exception&) {
            continue;  // a damaged record: the others still count
        }
    }
    return out;
}

SavedComparison lastSavedComparison(const std::vector<kme::PreviewRecord>& previews) {
    // The last comparison saved: previews sharing its "comparison" id.
    std::string last;
    for (auto it = previews.rbegin(); it != previews.rend() && last.empty(); ++it)
        if (isComparison(*it)) {
            try {
                last = kme::parseJson(it->afterProbsJson, "a comparison record").value("comparison", std::string());
            } catch (const std::exception&) {
            }
        }
    return savedComparison(previews, last);
}

SavedComparison savedComparison(const std::vector<kme::PreviewRecord>& previews, const std::string& last) {
    SavedComparison saved;
    if (last.empty()) return saved;
    for (const auto& p : previews) {
        if (!isComparison(p)) continue;
        json jb, ja;
        try {
            jb = kme::parseJson(p.beforeProbsJson, "a comparison record");
            ja = kme::parseJson(p.afterProbsJson, "a comparison record");
            if (!jb.is_object() || !ja.is_object() || ja.value("comparison", std::string()) != last) continue;
            kme::CompareRow row;
            row.prompt = p.prompt;
            row.kind = p.kind.substr(std::string(kComparePreviewPrefix).size());
            row.targetNew = ja.value("target_new", std::string());
            row.targetTrue = ja.value("target_true", std::string());
            row.note = ja.value("note", std::string());
            row.before = sideFromJson(jb, p.beforeText);
            row.after = sideFromJson(ja, p.afterText);
            ComparedStates& s = saved.states;
            s.labelA = QString::fromStdString(jb.value("point", std::string()));
            s.labelB = QString::fromStdString(ja.value("point", std::string()));
            s.positionA = jb.value("position", 0);
            s.positionB = ja.value("position", -1);
            s.idsA = idsOf(jb);
            s.idsB = idsOf(ja);
            s.hashA = jb.value("state_hash", std::string());
            s.hashB = ja.value("state_hash", std::string());
            if (row.kind == "yours") saved.userPrompts << QString::fromStdString(row.prompt);
            saved.created = QString::fromStdString(p.created);
            saved.rows.push_back(std::move(row));
        } catch (const std::exception&) {
            continue;  // a damaged record: the others still show
        }
    }
    return saved;
}

}  // namespace kme::app
