// kme session list | show | replay | export DB [--out DIR]
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/core/OutputFile.h"
#include "engine/eval/EvalJson.h"
#include "engine/model/Model.h"
#include "engine/session/Replay.h"
#include "engine/session/SessionJson.h"
#include "engine/session/SessionMerge.h"
#include "engine/session/SessionStore.h"

namespace fs = std::filesystem;

namespace kme::cli {
namespace {

using json = nlohmann::json;

std::string shortHash(const std::string& h) { return h.size() > 12 ? h.substr(0, 12) + "…" : h; }

SessionStore openReadOnly(const std::string& path) {
    SessionOpenOptions o;
    o.readOnly = true;
    return SessionStore(path, o);
}

// A member of a JSON object, null when absent (or not an object).
const json& memberOf(const json& o, const char* key) {
    static const json none;
    const auto it = o.is_object() ? o.find(key) : o.end();
    return it != o.end() ? *it : none;
}

// A string member of a JSON object, "" when absent or not a string.
std::string textOf(const json& o, const char* key) {
    const json& v = memberOf(o, key);
    return v.is_string() ? v.get<std::string>() : std::string();
}

// "  trace 3 (created): dataset facts.json, 60 records" for a dataset trace
// ("type": "dataset"); single-prompt traces ("type": "prompt", or none in
// older sessions) name their prompt and subject.
std::string traceLine(const json& t) {
    std::ostringstream s;
    s << "  trace " << memberOf(t, "id") << " (" << textOf(t, "created") << ")";
    const json& r = memberOf(t, "request");
    if (textOf(r, "type") == "dataset") {
        const json& limit = memberOf(r, "limit");
        const int n = limit.is_number_integer() ? limit.get<int>() : 0;
        s << ": dataset " << textOf(r, "facts") << ", "
          << (n > 0 ? std::to_string(n) + (n == 1 ? " record" : " records") : std::string("all records"));
    } else {
        if (r.is_object() && r.contains("prompt")) s << " prompt " << r["prompt"].dump();
        if (r.is_object() && r.contains("subject")) s << ", subject " << r["subject"].dump();
    }
    return s.str() + "\n";
}

// "42.0%" of a summary's statistic; a score falls back to its token
// accuracy (zsRE runs), "-" where neither was measured.
std::string percentOf(const MetricSummary& summary, const std::string& group) {
    for (const std::string& name : {group + "_score", group + "_accuracy"}) {
        const MetricStat* st = summary.find(name);
        if (!st || st->count == 0) continue;
        std::ostringstream o;
        o << std::fixed << std::setprecision(1) << st->mean * 100 << "%";
        return o.str();
    }
    return "-";
}

// "  metric run 1 (created): ROME on facts.json, 10 records — efficacy
// 90.0%, paraphrase 70.0%, neighbourhood 85.0%". A row that is not an
// evaluation run (damaged, or another tool's) says why instead.
std::string metricRunLine(const json& m) {
    std::ostringstream s;
    s << "  metric run " << memberOf(m, "id") << " (" << textOf(m, "created") << "): ";
    std::string dataset = textOf(m, "dataset");
    EvalRunSummary r;
    try {
        const json& results = memberOf(m, "results");
        r = results.is_string() ? evalRunSummaryFromJson(results.get<std::string>()) : evalRunSummaryFromJson(results);
    } catch (const std::exception& e) {
        s << textOf(m, "method") << " on " << dataset << " \u2014 unreadable: " << e.what() << "\n";
        return s.str();
    }
    std::string method = editMethodName(r.method);
    for (char& c : method) c = char(std::toupper(static_cast<unsigned char>(c)));
    if (dataset.empty()) dataset = r.dataset;
    s << method << " on " << dataset << ", " << r.recordCount << (r.recordCount == 1 ? " record" : " records");
    const json& applied = memberOf(memberOf(m, "params"), "edits_applied");
    if (applied.is_boolean() && applied.get<bool>()) s << ", on edited weights";
    if (r.cancelled) s << " (cancelled)";
    s << " \u2014 efficacy " << percentOf(r.edited, "efficacy") << ", paraphrase " << percentOf(r.edited, "paraphrase")
      << ", neighbourhood " << percentOf(r.edited, "neighborhood") << "\n";
    return s.str();
}

// The human-readable listing of a session JSON (list / show / export).
std::string describe(const json& j, bool detailed) {
    std::ostringstream s;
    const json& session = j["session"];
    s << j["file"].get<std::string>() << ": session '" << session["name"].get<std::string>() << "', created "
      << session["created"].get<std::string>() << " (KME Studio " << session["app_version"].get<std::string>()
      << ", schema v" << j["schema_version"].get<int>() << ")\n";
    if (detailed && !session["notes"].get<std::string>().empty())
        s << "  notes: " << session["notes"].get<std::string>() << "\n";
    if (j["model"].is_null()) {
        s << "model: none recorded\n";
    } else {
        s << "model: " << j["model"]["path"].get<std::string>() << " (weights "
          << shortHash(j["model"]["weights_hash"].get<std::string>()) << ")\n";
        if (detailed && !j["model"]["relative_path"].get<std::string>().empty())
            s << "  relative to the session file: " << j["model"]["relative_path"].get<std::string>() << "\n";
    }
    s << "edits: " << j["edits"].size() << "\n";
    for (const auto& e : j["edits"]) {
        s << "  " << std::setw(3) << e["order"].get<int>() << "  " << (e["enabled"].get<bool>() ? "[on] " : "[off]")
          << "  " << std::left << std::setw(6) << e["method"].get<std::string>() << std::right << "  "
          << json(e["name"]).dump() << "  -> " << shortHash(e["weights_hash_after"].get<std::string>());
        if (e["what_if"].get<bool>()) s << "  (what-if)";
        s << "\n";
        if (detailed) {
            s << "       id " << e["id"] << ", created " << e["created"].get<std::string>() << ", computed on "
              << shortHash(e["computed_on_hash"].get<std::string>()) << ", " << e.value("payload_kind", "weights")
              << " payload " << e["delta_bytes"] << " bytes\n";
            if (e.contains("family") || e.contains("payload"))
                s << "       " << e.value("family", "") << (e.contains("payload") ? ": " + e["payload"].get<std::string>() : "")
                  << "\n";
            s << "       request " << e["request"].dump() << "\n";
        }
    }
    for (const auto& n : j["what_if"]) s << "  note: " << n["message"].get<std::string>() << "\n";
    const json& c = j["counts"];
    s << "traces: " << c["traces"] << ", previews: " << c["previews"] << ", metric runs: " << c["metric_runs"] << "\n";
    if (detailed) {
        for (const auto& t : j["traces"]) s << traceLine(t);
        if (j.contains("previews"))
            for (const auto& p : j["previews"]) {
                s << "  preview " << p["id"] << " (" << p["kind"].get<std::string>() << ", edit "
                  << (p["edit_id"].is_null() ? std::string("none") : p["edit_id"].dump()) << ") " << p["prompt"].dump()
                  << ": " << p["before_text"].dump() << " -> " << p["after_text"].dump() << "\n";
            }
        if (j.contains("metric_runs"))
            for (const auto& m : j["metric_runs"]) s << metricRunLine(m);
    }
    return s.str();
}

// Writes the model as a complete folder at `out`, folder-atomically (a
// temporary sibling swapped into place). `out` must be missing, empty, an
// earlier replay / export --out, or --force given (checked before the work).
void saveModelFolder(const Model& model, const std::string& out, const std::vector<std::string>& commands,
                     bool force) {
    if (isSameOrInside(model.folder(), out))
        fail(ErrorKind::Io, out + ": refusing to overwrite the session's model folder; choose another --out");
    OutputFolder folder(out, commands, force);
    folder.write([&](const std::string& dir) { model.save(dir); });
    folder.commit();
}

struct ReplayOutcome {
    std::shared_ptr<Model> model;
    ResolvedModel resolved;
    ReplayReport report;
};

// Loads the session's model (absolute, else relative path; weights hash
// checked) and replays the enabled edits on it.
ReplayOutcome replay(const SessionStore& store, Context& ctx) {
    ReplayOutcome r;
    std::map<std::string, std::shared_ptr<Model>> loaded;
    r.resolved = store.resolveModelPath([&](const std::string& folder) {
        auto m = Model::load(folder);
        loaded[folder] = m;
        return m->weightsHash();
    });
    r.model = loaded.at(r.resolved.folder);

    const EditApplier applier = makeEditApplier(*r.model);
    // "applying edits i/n" rewrites one line: only on a terminal. Captured
    // or redirected stderr gets no progress, so an error is its one line.
    const bool bar = &ctx.err == &std::cerr && isatty(STDERR_FILENO);
    bool lineOpen = false;
    try {
        r.report = replaySession(store, applier, {}, [&](double done, double total) {
            if (!bar || total <= 0) return true;
            ctx.err << "\rkme: applying edits " << int(done) << "/" << int(total) << std::flush;
            lineOpen = done < total;
            if (!lineOpen) ctx.err << "\n";
            return true;
        });
    } catch (...) {
        if (lineOpen) ctx.err << "\n";  // end the progress line before the error is printed
        throw;
    }
    return r;
}

json replayJson(const ReplayOutcome& r) {
    json steps = json::array();
    for (const auto& s : r.report.steps)
        steps.push_back({{"id", s.editId},
                         {"order", s.position},
                         {"name", s.name},
                         {"method", s.method},
                         {"enabled", s.enabled},
                         {"applied", s.applied},
                         {"what_if", s.whatIf}});
    json whatIf = json::array();
    for (const auto& n : r.report.whatIf)
        whatIf.push_back({{"edit_id", n.editId},
                          {"order", n.position},
                          {"disabled_before", n.disabledBefore},
                          {"message", n.message}});
    return {{"model_folder", r.resolved.folder},
            {"model_via", r.resolved.viaRelativePath ? "relative" : "absolute"},
            {"model_note", r.resolved.note},
            {"base_hash", r.report.baseHash},
            {"final_hash", r.report.finalHash},
            {"expected_hash", r.report.expectedHash},
            {"verified", r.report.verified},
            {"applied", r.report.applied},
            {"steps", steps},
            {"what_if", whatIf},
            {"summary", r.report.summary}};
}

// kme session merge OUT IN1 ... INn (engine/session/SessionMerge.h).
int runMerge(const Args& args, Context& ctx) {
    const auto& pos = args.positional();
    if (args.has("--out") || args.has("--force")) throw UsageError("session merge: --out and --force apply to replay and export only");
    if (pos.size() < 2) throw UsageError("session merge: missing the output session file OUT");
    if (pos.size() < 3) throw UsageError("session merge: missing the shard session files (OUT IN1 ... INn)");
    const std::string out = pos[1];
    const std::vector<std::string> inputs(pos.begin() + 2, pos.end());
    const SessionMergeReport report = mergeSessionShards(out, inputs);
    json runs = json::array();
    std::ostringstream s;
    s << (report.created ? "wrote " : "added to ") << out << ": " << report.runs.size() << " merged run"
      << (report.runs.size() == 1 ? "" : "s") << " from " << inputs.size() << " shard file"
      << (inputs.size() == 1 ? "" : "s") << "\n";
    for (const auto& r : report.runs) {
        runs.push_back({{"kind", r.kind}, {"description", r.description}, {"id", r.id}, {"shards", r.shards},
                        {"records", r.records}});
        s << "  " << r.kind << " " << r.id << ": " << r.description << ", " << r.records << " records from "
          << r.shards << " shards\n";
    }
    emit(args, ctx, {{"out", out}, {"created", report.created}, {"inputs", inputs}, {"runs", runs}}, s.str());
    return 0;
}

int runSession(const Args& args, Context& ctx) {
    const auto& pos = args.positional();
    if (pos.empty()) throw UsageError("session: missing subcommand (list, show, replay, export or merge) and DB");
    const std::string sub = pos[0];
    if (sub == "merge") return runMerge(args, ctx);
    if (sub != "list" && sub != "show" && sub != "replay" && sub != "export")
        throw UsageError("session: unknown subcommand '" + sub + "' (list, show, replay, export or merge)");
    if (pos.size() < 2) throw UsageError("session " + sub + ": missing the session file DB");
    if (pos.size() > 2) throw UsageError("session " + sub + ": unexpected argument '" + pos[2] + "'");
    const std::string db = pos[1];
    const bool wantsOut = args.has("--out");
    if (wantsOut && (sub == "list" || sub == "show"))
        throw UsageError("session " + sub + ": --out applies to replay and export only");
    const std::string out = args.get("--out");
    if (wantsOut && out.empty()) throw UsageError("session " + sub + ": --out needs a folder");
    const bool force = args.has("--force");
    if (force && !wantsOut) throw UsageError("session " + sub + ": --force goes with --out");
    // Both write the same replayed model: either may replace the other's folder.
    const std::vector<std::string> outCommands = {"session " + sub, sub == "replay" ? "session export" : "session replay"};
    if (wantsOut) checkOutputFolder(out, outCommands, force);

    const SessionStore store = openReadOnly(db);

    if (sub == "list" || sub == "show") {
        const json j = sessionToJson(store, sub == "list" ? SessionJsonDetail::List : SessionJsonDetail::Show);
        emit(args, ctx, j, describe(j, sub == "show"));
        return 0;
    }

    if (sub == "replay") {
        json j = sessionToJson(store, SessionJsonDetail::List);
        const ReplayOutcome r = replay(store, ctx);
        if (wantsOut) saveModelFolder(*r.model, out, outCommands, force);
        j["replay"] = replayJson(r);
        j["model"]["resolved_path"] = r.resolved.folder;
        if (wantsOut) j["out"] = fs::absolute(out).lexically_normal().string();
        std::ostringstream s;
        s << describe(j, false) << "replayed on the " << r.resolved.note << "\nreplay: " << r.report.summary << "\n";
        for (const auto& n : r.report.whatIf) s << "  what-if: " << n.message << "\n";
        if (wantsOut) s << "wrote the replayed model to " << out << "\n";
        emit(args, ctx, j, s.str());
        return 0;
    }

    // export: the JSON of everything but blobs; with --out also the replayed
    // model. Without --json the JSON goes to stdout (it is the export).
    json j = sessionToJson(store, SessionJsonDetail::Export);
    if (wantsOut) {
        const ReplayOutcome r = replay(store, ctx);
        saveModelFolder(*r.model, out, outCommands, force);
        j["replay"] = replayJson(r);
        j["model"]["resolved_path"] = r.resolved.folder;
        j["out"] = fs::absolute(out).lexically_normal().string();
    }
    if (!args.has("--json")) {
        ctx.out << j.dump(2) << "\n";
        return 0;
    }
    std::ostringstream s;
    s << "exported " << db << ": " << j["edits"].size() << " edit(s), " << j["traces"].size() << " trace(s), "
      << j["counts"]["previews"] << " preview(s), " << j["counts"]["metric_runs"] << " metric run(s)\n";
    if (wantsOut) s << "wrote the replayed model to " << out << "\n";
    emit(args, ctx, j, s.str());
    return 0;
}

}  // namespace

void addSessionCommands(std::vector<Command>& commands) {
    commands.push_back(
        {"session",
         "list|show|replay|export DB [--out DIR] | merge OUT IN1 ... INn",
         "a session file: list its edits, show everything, replay the enabled edits (verified weights hash), "
         "export as JSON (stdout unless --json); merge the session files of a sharded run (eval / trace-dataset "
         "--shard K/N) into OUT",
         {{"--out", true, "replay / export: write the replayed model as a model folder DIR (new, empty, or an earlier replay / export --out)"},
          {"--force", false, "with --out: replace an existing folder DIR and everything in it"}},
         runSession,
         "merge OUT IN1 ... INn: every run sharded with --shard K/N whose shards are among IN1 ... INn becomes one\n"
         "metric run (kme eval) or dataset trace (kme trace-dataset) in OUT, equal to what the unsharded run records:\n"
         "means and 95% intervals are recomputed from the per-record results. Refused, naming the files: shards of\n"
         "different runs (model state, parameters, N), a missing or duplicated shard, a file with no finished shard\n"
         "(a killed shard records nothing). OUT missing: a copy of IN1 (model, edits, other runs) with the merged\n"
         "runs instead of its shards. OUT existing (e.g. the session the shards were copied from): the merged runs\n"
         "are added; it must hold the same model and edits.\n"
         "  for k in 0 1 2 3; do kme eval --dataset F --method rome --shard $k/4 --session shard-$k.kmes & done; wait\n"
         "  kme session merge run.kmes shard-*.kmes"});
}

}  // namespace kme::cli
