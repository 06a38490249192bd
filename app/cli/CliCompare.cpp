// kme compare DB --a STATE --b STATE [--prompts F] [--facts F] [--model DIR]
// Two model states of a session side by side (issue 16, item 3): the same
// rows and numbers as the Compare tab (engine/eval/Comparison.h,
// engine/session/StateComparison.h). The session file is only read.
#include <unistd.h>

#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/Payload.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"
#include "engine/session/ModelState.h"
#include "engine/session/StateComparison.h"
#include "engine/tokenizer/ByteLevel.h"

namespace kme::cli {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxPrompts = 1000;
constexpr size_t kMaxPromptBytes = 4096;

std::string shortHash(const std::string& h) { return h.size() > 12 ? h.substr(0, 12) + "\u2026" : h; }

// --prompts F: one prompt per line (blank lines skipped), or a JSON list of strings.
std::vector<std::string> readPrompts(const std::string& path) {
    const std::string text = readTextFile(path, "prompts file");
    std::vector<std::string> prompts;
    const auto first = text.find_first_not_of(" \t\r\n");
    auto check = [&](const std::string& p, const std::string& where) {
        if (p.size() > kMaxPromptBytes)
            fail(ErrorKind::Input, path + ": " + where + " is " + std::to_string(p.size()) + " bytes long (at most " +
                                       std::to_string(kMaxPromptBytes) + ")");
        if (prompts.size() >= kMaxPrompts)
            fail(ErrorKind::Input, path + ": more than " + std::to_string(kMaxPrompts) + " prompts");
        if (utf8::findInvalid(p) != std::string::npos)
            fail(ErrorKind::Input, path + ": " + where + " is not UTF-8 text");
        prompts.push_back(p);
    };
    if (first != std::string::npos && text[first] == '[') {
        const json j = parseJson(text, path);
        for (size_t i = 0; i < j.size(); ++i) {
            if (!j[i].is_string()) fail(ErrorKind::Input, path + ": entry " + std::to_string(i) + " is not a string");
            const std::string p = j[i].get<std::string>();
            if (p.find_first_not_of(" \t\r\n") == std::string::npos)
                fail(ErrorKind::Input, path + ": entry " + std::to_string(i) + " is an empty prompt");
            check(p, "entry " + std::to_string(i));
        }
    } else {
        std::istringstream in(text);
        std::string line;
        for (int n = 1; std::getline(in, line); ++n) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.find_first_not_of(" \t") == std::string::npos) continue;
            check(line, "line " + std::to_string(n));
        }
    }
    if (prompts.empty()) fail(ErrorKind::Input, path + ": no prompts in it (one per line, or a JSON list of strings)");
    return prompts;
}

StateSpec stateArg(const Args& args, const std::string& flag) {
    if (!args.has(flag)) throw UsageError("missing " + flag + " STATE (original, now, after:K or edit ids like 1,3)");
    try {
        return parseStateSpec(args.get(flag), flag);
    } catch (const Error& e) {
        throw UsageError(e.what());
    }
}

json stateJson(const StateSpec& spec, const ModelState& s, const std::string& hash, const std::vector<EditRecord>& edits) {
    json notes = json::array();
    for (const auto& n : s.whatIf) notes.push_back(n.message);
    std::string names;
    for (int64_t id : s.editIds)
        for (const auto& e : edits)
            if (e.id == id) names += (names.empty() ? "" : "; ") + e.name;
    return {{"spec", spec.text},
            {"label", s.label},
            {"edit_ids", s.editIds},
            {"positions", s.positions},
            {"names", names.empty() ? std::string("no edit") : names},
            {"state_hash", hash},
            {"expected_hash", s.expectedHash.empty() ? json(nullptr) : json(s.expectedHash)},
            {"verified", !s.expectedHash.empty() && s.expectedHash == hash},
            {"what_if", notes}};
}

std::string prob(const json& p) {
    if (!p.is_number()) return "-";
    std::ostringstream o;
    o << std::setprecision(4) << std::fixed << p.get<double>();
    return o.str();
}

std::string topToken(const json& side) {
    if (side.contains("error")) return "(" + side["error"].get<std::string>() + ")";
    const json& top = side["top"];
    if (top.empty()) return "-";
    return json(top[0][0]).dump() + " " + prob(top[0][1]);
}

std::string summaryOf(const json& j) {
    std::ostringstream s;
    for (const char* side : {"a", "b"}) {
        const json& st = j[side];
        s << (side[0] == 'a' ? "A" : "B") << ": " << st["label"].get<std::string>() << " (" << st["edit_ids"].size()
          << (st["edit_ids"].size() == 1 ? " edit" : " edits") << ": " << st["names"].get<std::string>()
          << "), state hash "
          << shortHash(st["state_hash"].get<std::string>());
        if (st["verified"].get<bool>()) s << " (as recorded)";
        else if (!st["what_if"].empty()) s << " (a what-if: never recorded)";
        s << "\n";
    }
    s << j["rows"].size() << " prompts; p(new) and the most likely next token, A -> B:\n";
    for (const auto& r : j["rows"]) {
        s << "  [" << r["kind"].get<std::string>() << "] " << json(r["prompt"]).dump() << "\n      p(new) "
          << prob(r["a"]["p_new"]) << " -> " << prob(r["b"]["p_new"]) << ", p(true) " << prob(r["a"]["p_true"])
          << " -> " << prob(r["b"]["p_true"]) << ", next " << topToken(r["a"]) << " -> " << topToken(r["b"]) << "\n";
    }
    return s.str();
}

int runCompare(const Args& args, Context& ctx) {
    if (args.positional().empty()) throw UsageError("missing the session file DB (kme compare DB --a STATE --b STATE)");
    if (args.positional().size() > 1)
        throw UsageError("unexpected argument " + quoteForMessage(args.positional()[1]) + " (one session file DB only)");
    const StateSpec specA = stateArg(args, "--a"), specB = stateArg(args, "--b");
    std::vector<std::string> userPrompts;
    if (args.has("--prompts")) {
        if (args.get("--prompts").empty()) throw UsageError("--prompts needs a file");
        userPrompts = readPrompts(args.get("--prompts"));
    }
    if (args.has("--facts") && args.get("--facts").empty()) throw UsageError("--facts needs a file");

    const std::string path = args.positional()[0];
    SessionOpenOptions o;
    o.readOnly = true;  // never created, migrated or written
    const SessionStore store(path, o);
    if (!store.model()) fail(ErrorKind::Input, path + ": the session records no model (it has no edits to compare)");
    const std::vector<EditRecord> edits = store.listEdits(false);
    const std::string baseHash = store.model()->weightsHash;
    const ModelState a = resolveState(specA, edits, baseHash, "--a");
    const ModelState b = resolveState(specB, edits, baseHash, "--b");

    // The model: --model DIR, else the session's folder (absolute, then relative to the file).
    std::shared_ptr<Model> model;
    std::string modelHash;
    if (args.has("--model")) {
        if (args.get("--model").empty()) throw UsageError("--model needs a model folder");
        model = Model::load(args.get("--model"));
        modelHash = model->weightsHash();
    } else {
        std::map<std::string, std::pair<std::shared_ptr<Model>, std::string>> loaded;
        const ResolvedModel resolved = store.resolveModelPath([&](const std::string& folder) {
            auto m = Model::load(folder);
            const std::string h = m->weightsHash();
            loaded[folder] = {m, h};
            return h;
        });
        std::tie(model, modelHash) = loaded.at(resolved.folder);
    }

    // The session's own state first (its replay verified): the "live" state
    // the comparison returns to, as the window's does.
    EditStack stack(*model);
    const SessionModelState live = applySessionState(store, *model, modelHash, stack);

    // The payloads of every edit either state holds, read once.
    std::map<int64_t, std::shared_ptr<const EditPayload>> payloads;
    auto toBuild = [&](const ModelState& s) {
        StateToBuild t;
        t.state = s;
        for (int64_t id : s.editIds) {
            auto it = payloads.find(id);
            if (it == payloads.end())
                it = payloads.emplace(id, std::make_shared<const EditPayload>(payloadOfRecord(store.getEdit(id, true))))
                         .first;
            t.payloads.push_back(it->second);
        }
        return t;
    };
    const StateToBuild buildA = toBuild(a), buildB = toBuild(b);
    const StateToBuild current = toBuild(stateAtPosition(-1, edits, baseHash));

    std::vector<std::string> factFiles;
    const bool namedFacts = args.has("--facts");
    if (namedFacts) factFiles.push_back(args.get("--facts"));
    else factFiles = defaultCompareFactFiles(model->folder());
    const std::vector<Dataset> factSets = loadCompareFactSets(factFiles, namedFacts);

    const std::vector<ComparePromptSource> sources = comparePromptSources(a, b, edits);
    std::vector<CompareRow> rows = buildCompareRows(sources, userPrompts, factSets);
    if (rows.empty())
        fail(ErrorKind::Input, path + ": nothing to compare: the session's edits have no prompts; give --prompts F");

    const bool bar = &ctx.err == &std::cerr && isatty(STDERR_FILENO);
    const StateComparisonResult result = compareStates(stack, buildA, buildB, current, rows, [&](double done, double total) {
        if (bar) ctx.err << "\rcompare: " << int(done) << "/" << int(total) << " prompts" << std::flush;
        return true;
    });
    if (bar) ctx.err << "\n";

    json j;
    j["session"] = {{"path", path}, {"state_hash", live.weightsHash}, {"edits_applied", live.applied}};
    j["model"] = {{"path", model->folder()}, {"weights_hash", modelHash}};
    j["a"] = stateJson(specA, a, result.hashA, edits);
    j["b"] = stateJson(specB, b, result.hashB, edits);
    json src = json::array();
    for (const auto& s : sources) src.push_back(s.editId);
    j["prompt_sources"] = src;
    j["fact_files"] = factFiles;
    json list = json::array();
    for (const CompareRow& r : rows) list.push_back(compareRowJson(r));
    j["rows"] = list;
    emit(args, ctx, j, summaryOf(j));
    return 0;
}

}  // namespace

void addCompareCommands(std::vector<Command>& commands) {
    commands.push_back(
        {"compare",
         "DB --a STATE --b STATE [--prompts F] [--facts F] [--model DIR]",
         "two model states of a session side by side (the Compare tab's rows): a STATE is original, now, after:K "
         "or a comma list of edit ids",
         {{"--a", true, "the first state: original | now | after:K | ID[,ID...] (edit ids: `kme session show DB`)"},
          {"--b", true, "the second state, as --a"},
          {"--prompts", true, "file of your own prompts: one per line, or a JSON list of strings"},
          {"--facts", true,
           "fact file (CounterFact schema) giving paraphrases and neighbours of the edit prompts (default: the "
           "model's project's facts.json and the demo's)"},
          {"--model", true, "model folder (default: the one the session records; its weights hash must match)"}},
         runCompare,
         "A state is a set of the session's edits applied in history order on the original weights:\n"
         "  original      no edit\n"
         "  now           the enabled edits (the session's state)\n"
         "  after:K       the enabled edits at positions 1..K (the Compare tab's \"after #K\")\n"
         "  1,3           exactly edits 1 and 3, enabled in the session or not (a what-if)\n"
         "Building a state never changes the session file. Each state's `state_hash` is printed; `verified` says\n"
         "it is the hash the session recorded for exactly that set of edits.\n"
         "JSON: session {path, state_hash, edits_applied}, model {path, weights_hash}, a and b {spec, label,\n"
         "edit_ids, positions, names, state_hash, expected_hash, verified, what_if}, prompt_sources (edit ids),\n"
         "fact_files, rows: [{prompt, kind (edit | paraphrase | neighbour | yours), target_new, target_true,\n"
         "note?, a and b {continuation, p_new, p_true, top: [[token, p] x 20], error?}, changed {continuation,\n"
         "p_new, p_true, top}}].\n"
         "Example: kme compare my.kmes --a 1 --b 2 --json -   (the ROME edit alone vs the GRACE edit alone)\n"});
}

}  // namespace kme::cli
