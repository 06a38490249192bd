#pragma once
// A tiny CounterFact-style fact file for a tiny random model (TinyModelFolder.h):
// ROME's dataset averages trace only the facts whose clean top-1 is their true
// target, and a random model knows no facts. So each record's target_true is
// set to what this model predicts, for as many records as can be, and a few
// records keep a target the model does not predict (looked at, not traced).
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "engine/core/Error.h"
#include "engine/model/Model.h"

namespace kme::testing {

struct TinyFactFile {
    int records = 0;  // records written
    int known = 0;    // records whose target_true is the model's top-1 (traced)
};

// Writes up to `wanted` known facts and `unknown` unknown ones to `path`, known first.
inline TinyFactFile writeTinyFactFile(const Model& model, const std::string& path, int wanted = 6, int unknown = 2) {
    const std::vector<std::string> templates = {"{} is located in the city of", "The capital of {} is",
                                                "{} plays the", "The mother tongue of {} is", "{} was born in"};
    const std::vector<std::string> subjects = {"Paris",  "the Eiffel Tower", "Danube", "Rome",  "violin",
                                               "Berlin", "Miles Davis",      "Tokyo",  "a cat", "Mount Fuji"};
    nlohmann::json records = nlohmann::json::array();
    TinyFactFile out;
    std::vector<nlohmann::json> misses;
    for (const auto& t : templates)
        for (const auto& s : subjects) {
            if (out.known >= wanted && static_cast<int>(misses.size()) >= unknown) break;
            std::string prompt = t;
            prompt.replace(prompt.find("{}"), 2, s);
            const int top = model.topNext(model.encodePrompt(prompt), 1).front().id;
            const std::string text = model.tokenText(top);
            // The engine gives targets a leading space (ROME): known only if
            // that spelling starts with the predicted token.
            const std::string spaced = text.empty() || text[0] == ' ' ? text : " " + text;
            const auto ids = model.tokenizer().encode(spaced);
            nlohmann::json r = {{"case_id", static_cast<int>(records.size() + misses.size())},
                                {"requested_rewrite",
                                 {{"prompt", t},
                                  {"subject", s},
                                  {"target_new", {{"str", "Zzyzx"}}},
                                  {"target_true", {{"str", text}}}}}};
            if (!ids.empty() && ids.front() == top && !text.empty()) {
                if (out.known >= wanted) continue;
                records.push_back(r);
                ++out.known;
            } else if (static_cast<int>(misses.size()) < unknown && model.tokenizer().encode(" Zzyzx").front() != top) {
                r["requested_rewrite"]["target_true"]["str"] = "Zzyzx";  // never the top-1 of these prompts
                misses.push_back(r);
            }
        }
    for (auto& r : misses) records.push_back(r);
    out.records = static_cast<int>(records.size());
    std::ofstream f(path);
    f << records.dump(2);
    if (!f.flush()) fail(ErrorKind::Io, path + ": cannot write the tiny fact file");
    return out;
}

}  // namespace kme::testing
