#include "engine/eval/Comparison.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/edit/EditMethod.h"
#include "engine/model/Model.h"
#include "engine/tokenizer/ByteLevel.h"

namespace kme {

namespace {

using json = nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const FactRecord* findFact(const std::vector<Dataset>& factSets, const EditRequest& r) {
    for (const auto& d : factSets)
        for (const auto& rec : d.records)
            if (rec.prompt == r.prompt && rec.subject == r.subject) return &rec;
    return nullptr;
}

json probabilityJson(double p) { return std::isnan(p) ? json(nullptr) : json(p); }

}  // namespace

std::vector<CompareRow> buildCompareRows(const std::vector<ComparePromptSource>& sources,
                                         const std::vector<std::string>& userPrompts,
                                         const std::vector<Dataset>& factSets) {
    std::vector<CompareRow> rows;
    std::set<std::string> seen;
    auto add = [&](CompareRow row) {
        if (row.prompt.empty() || !seen.insert(row.prompt).second) return;
        rows.push_back(std::move(row));
    };
    for (const auto& src : sources) {
        for (size_t i = 0; i < src.requests.size() && int(i) < kCompareMaxRequestsPerEdit; ++i) {
            const EditRequest& r = src.requests[i];
            add({r.filledPrompt(), "edit", r.targetNew, r.targetTrue, {}, {}, {}});
        }
        if (src.requests.empty()) continue;
        const EditRequest& r = src.requests.front();
        if (const FactRecord* fact = findFact(factSets, r)) {
            for (size_t i = 0; i < fact->paraphrasePrompts.size() && int(i) < kCompareMaxParaphrases; ++i)
                add({fact->paraphrasePrompts[i], "paraphrase", r.targetNew, r.targetTrue, {}, {}, {}});
            for (size_t i = 0; i < fact->neighborhoodPrompts.size() && int(i) < kCompareMaxNeighbours; ++i) {
                std::string note;
                if (i < fact->neighborhoodAnswers.size()) note = "its own answer: " + fact->neighborhoodAnswers[i];
                add({fact->neighborhoodPrompts[i], "neighbour", r.targetNew, r.targetTrue, note, {}, {}});
            }
        }
    }
    const EditRequest focus =
        sources.empty() || sources.front().requests.empty() ? EditRequest{} : sources.front().requests.front();
    for (const std::string& p : userPrompts) add({p, "yours", focus.targetNew, focus.targetTrue, {}, {}, {}});
    return rows;
}

std::vector<std::string> defaultCompareFactFiles(const std::string& modelFolder) {
    namespace fs = std::filesystem;
    std::vector<std::string> files;
    std::vector<fs::path> candidates;
    if (!modelFolder.empty()) candidates.push_back(fs::path(modelFolder) / ".." / "facts.json");
    const std::string demo = demoProjectFolder();
    if (!demo.empty()) candidates.push_back(fs::path(demo) / "facts.json");
    for (const fs::path& c : candidates) {
        std::error_code ec;
        const fs::path clean = fs::absolute(c, ec).lexically_normal();
        if (ec || !fs::is_regular_file(clean, ec)) continue;
        if (std::find(files.begin(), files.end(), clean.string()) == files.end()) files.push_back(clean.string());
    }
    return files;
}

std::vector<Dataset> loadCompareFactSets(const std::vector<std::string>& files, bool strict) {
    std::vector<Dataset> sets;
    for (const std::string& f : files) {
        try {
            sets.push_back(loadDataset(f));
        } catch (const Error& e) {
            if (strict || e.kind() == ErrorKind::Cancelled) throw;
        }
    }
    return sets;
}

CompareSide answerCompareRow(const Model& model, const CompareRow& row) {
    CompareSide s;
    s.pNew = s.pTrue = kNaN;
    try {
        const std::vector<int> ids = model.encodePrompt(row.prompt);
        GenerateParams g;
        g.maxNewTokens = kCompareContinuationTokens;
        g.topK = 1;
        // Half a character at the end (or a byte-level token of none) shows as U+FFFD, as tokens do.
        s.continuation = utf8::sanitize(model.generate(ids, g).text);
        for (const auto& t : model.topNext(ids, kCompareTopStored)) s.top.emplace_back(t.token, t.prob);
        if (!row.targetNew.empty()) s.pNew = targetProbability(model, row.prompt, row.targetNew);
        if (!row.targetTrue.empty()) s.pTrue = targetProbability(model, row.prompt, row.targetTrue);
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::Cancelled) throw;
        s = CompareSide{};
        s.pNew = s.pTrue = kNaN;
        s.error = e.what();  // e.g. a prompt longer than the context: this row only
    }
    return s;
}

double sideProbabilityOf(const CompareSide& side, const std::string& token) {
    for (const auto& [t, p] : side.top)
        if (t == token) return p;
    return 0.0;
}

bool compareProbabilityChanged(double a, double b) {
    if (std::isnan(a) || std::isnan(b)) return false;
    return std::abs(a - b) > std::max(0.01, 0.1 * std::max(a, b));
}

bool compareTopChanged(const CompareSide& a, const CompareSide& b) {
    if (a.top.empty() || b.top.empty()) return false;
    if (a.top.front().first != b.top.front().first) return true;
    return compareProbabilityChanged(a.top.front().second, b.top.front().second);
}

json compareSideJson(const CompareSide& s) {
    json top = json::array();
    for (const auto& [token, p] : s.top) top.push_back({token, p});
    json j = {{"continuation", s.continuation},
              {"p_new", probabilityJson(s.pNew)},
              {"p_true", probabilityJson(s.pTrue)},
              {"top", top}};
    if (!s.error.empty()) j["error"] = s.error;
    return j;
}

json compareRowJson(const CompareRow& row) {
    json j = {{"prompt", row.prompt},
              {"kind", row.kind},
              {"target_new", row.targetNew},
              {"target_true", row.targetTrue},
              {"a", compareSideJson(row.before)},
              {"b", compareSideJson(row.after)},
              {"changed",
               {{"continuation", row.before.continuation != row.after.continuation},
                {"p_new", compareProbabilityChanged(row.before.pNew, row.after.pNew)},
                {"p_true", compareProbabilityChanged(row.before.pTrue, row.after.pTrue)},
                {"top", compareTopChanged(row.before, row.after)}}}};
    if (!row.note.empty()) j["note"] = row.note;
    return j;
}

}  // namespace kme
