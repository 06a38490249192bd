// kme edit: ROME / MEMIT / FT-L on a model, probabilities before and after,
// optionally the edited model written as a complete model folder.
#include <cmath>
#include <fstream>
#include <iomanip>
#include <optional>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "app/cli/CliEditSetup.h"
#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/core/OutputFile.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/EditWorkflow.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/eval/Dataset.h"
#include "engine/model/Model.h"
#include "engine/session/SessionEdits.h"
#include "engine/session/SessionStore.h"

namespace kme::cli {
namespace {

using json = nlohmann::json;

json toJson(const RequestScore& p) {
    return {{"p_new", p.pNew}, {"p_true", p.pTrue ? json(*p.pTrue) : json(nullptr)}};
}

int runEdit(const Args& args, Context& ctx) {
    const MethodInfo& info = methodArg(args);
    const std::optional<EditMethod> method = info.method;
    const bool single = args.has("--prompt") || args.has("--subject") || args.has("--target");
    if (single && args.has("--requests")) throw UsageError("give either --prompt/--subject/--target or --requests, not both");
    if (!single && !args.has("--requests"))
        throw UsageError("missing the edit: --prompt T --subject S --target T, or --requests F");
    // Every output path is checked before the work (a retry must not repeat an edit).
    const std::string outDir = args.get("--out");
    if (args.has("--out") && outDir.empty()) throw UsageError("--out needs a folder");
    if (args.has("--force") && !args.has("--out")) throw UsageError("--force goes with --out");
    if (args.has("--out") && info.payload != PayloadKind::Weights)
        throw UsageError(std::string("--out writes model weights, and a ") + info.displayName + " edit is " +
                         (info.payload == PayloadKind::Adapter ? "an adapter beside them" : "a context before the prompt") +
                         ": keep it in a session (--session DB)");
    const EditOverrides overrides = editOverridesFromArgs(args, info);  // usage errors before any work
    if (args.has("--out")) checkOutputFolder(outDir, {"edit"}, args.has("--force"));
    if (args.has("--session")) checkOutputFile(args.get("--session"), "session file");

    std::vector<EditRequest> given;
    if (single) {
        EditRequest r;
        r.prompt = args.require("--prompt");
        r.subject = args.require("--subject");
        r.targetNew = args.require("--target");
        r.targetTrue = args.get("--target-true");
        given = {normalizedRequest(r)};
    } else {
        given = loadEditRequests(args.get("--requests"));
        if (args.has("--target-true")) throw UsageError("--target-true goes with --prompt; --requests files carry target_true");
    }

    auto model = loadModelArg(args, ctx);
    if (args.has("--out") && isSameOrInside(model->folder(), outDir))
        fail(ErrorKind::Io, outDir + ": refusing to overwrite the source model folder; choose another --out");
    // Defaults (the model table, then kme_edit_defaults.json in the model
    // folder), then the flags: the set-up every front end shares.
    EditParams params = setUpEdit(*model, *method, overrides).params;
    params.requests = given;
    for (const auto& r : params.requests) validateRequest(*model, r);

    // One stack for the session's earlier edits and this one.
    EditStack stack(*model);
    std::optional<SessionStore> session;
    std::string replaySummary;
    if (args.has("--session")) {
        session.emplace(args.get("--session"));
        attachModel(*session, *model, model->weightsHash());
        const ReplayReport replayed = bringToSessionState(*session, stack);
        if (replayed.applied > 0) replaySummary = replayed.summary;
        if (args.has("--out") && model->hasResidentState())
            fail(ErrorKind::Input, session->path() + " has adapter or context edits enabled, which --out cannot write "
                                   "as weights: disable them, or leave out --out");
    }
    const std::string weightsBefore = model->weightsHash();
    const std::string firstPrompt = params.requests.front().filledPrompt();
    const TokenProb answerBefore = model->topNext(model->encodePrompt(firstPrompt), 1).front();

    // Progress on stderr (a real process only, not an in-process run): a bar
    // on a terminal, else one whole line per request / stage.
    const bool toStderr = &ctx.err == &std::cerr;
    const bool bar = toStderr && isatty(STDERR_FILENO);
    std::string lastText;
    int lastPercent = -1;
    bool barShown = false;
    const auto stageText = [&](const EditStage& st) -> std::string {
        switch (st.kind) {
            case EditStage::Kind::Statistics: return "key statistics";
            case EditStage::Kind::Request:
                return "request " + std::to_string(st.index) + "/" + std::to_string(st.count) + " " +
                       quoteForMessage(params.requests.at(st.index - 1).subject, 40);
            case EditStage::Kind::Writing: return "writing the layers";
            case EditStage::Kind::FineTune: {
                // Lines every tenth of the steps at most.
                const size_t every = bar ? 1 : std::max<size_t>(1, (st.count + 9) / 10);
                return "fine-tuning " + std::to_string(params.requests.size()) + " request" +
                       (params.requests.size() == 1 ? "" : "s") + ": step " +
                       std::to_string(st.index / every * every) + "/" + std::to_string(st.count);
            }
        }
        return {};
    };
    const ProgressFn onProgress = [&](double done, double total) {
        if (!toStderr) return true;
        const EditStage st = editStage(params, done, total);
        const std::string text = stageText(st);
        const int percent = int(100 * st.fraction);
        if (bar) {
            if (text == lastText && percent == lastPercent) return true;
            const int filled = percent * 24 / 100;
            ctx.err << "\r[" << std::string(size_t(filled), '#') << std::string(size_t(24 - filled), '-') << "] "
                    << std::setw(3) << percent << "% " << text << "\x1b[K" << std::flush;
            barShown = true;
        } else if (text != lastText) {
            ctx.err << "kme edit: " << text << "\n" << std::flush;
        }
        lastText = text;
        lastPercent = percent;
        return true;
    };
    // Scores before, compute, apply, scores after (engine/edit/EditWorkflow.h).
    EditOutcome outcome;
    try {
        outcome = computeScoredEdit(*model, params, &stack, onProgress);
    } catch (...) {
        if (barShown) ctx.err << "\n";  // the error goes on a line of its own
        throw;
    }
    if (barShown) ctx.err << "\n";
    for (const auto& st : outcome.result.stats)
        if (!st.cacheNote.empty()) ctx.err << "kme: " << st.cacheNote << "\n";
    applyScoredEdit(stack, outcome);
    const EditResult& result = outcome.result;
    const std::vector<RequestScore>& before = outcome.before;
    const std::vector<RequestScore>& after = outcome.after;
    const std::string& hashBefore = outcome.stateHashBefore;
    const std::string& hashAfter = outcome.stateHashAfter;
    if (args.has("--out")) {  // folder-atomic: DIR is untouched unless all of it was written
        OutputFolder out(outDir, {"edit"}, args.has("--force"));
        out.write([&](const std::string& dir) { model->save(dir); });
        out.commit();
    }
    int64_t editId = 0;
    if (session) {
        editId = session->addEdit(makeEditRecord(result, params.requests, hashBefore, hashAfter));
        PreviewRecord preview;
        preview.editId = editId;
        preview.kind = "probability";
        const TokenProb answerAfter = model->topNext(model->encodePrompt(firstPrompt), 1).front();
        preview.prompt = firstPrompt;
        preview.beforeText = answerBefore.token;
        preview.afterText = answerAfter.token;
        json pb = toJson(before.front()), pa = toJson(after.front());
        pb["top1"] = answerBefore.prob;
        pa["top1"] = answerAfter.prob;
        preview.beforeProbsJson = pb.dump();
        preview.afterProbsJson = pa.dump();
        session->addPreview(preview);
    }

    json changed = json::array();
    for (const auto& part : result.delta.parts)
        changed.push_back({{"tensor", part.tensor},
                           {"rank", part.rank()},
                           {"norm", part.norm()},
                           {"kind", part.kind == TensorDelta::Kind::LowRank ? "low_rank" : "dense"}});
    json stats = json::array();
    for (const auto& s : result.stats)
        stats.push_back({{"layer", s.layer},
                         {"samples", s.samples},
                         {"tokens", s.tokens},
                         {"seconds", s.seconds},
                         {"compute_seconds", s.computeSeconds},
                         {"cached", s.fromCache},
                         {"corpus_sha256", s.corpusHash}});
    json requests = json::array();
    for (size_t i = 0; i < params.requests.size(); ++i) {
        const auto& r = params.requests[i];
        const auto& rep = result.requests.at(i);
        requests.push_back({{"prompt", r.prompt},
                            {"subject", r.subject},
                            {"target_new", r.targetNew},
                            {"target_true", r.targetTrue.empty() ? json(nullptr) : json(r.targetTrue)},
                            {"before", toJson(before[i])},
                            {"after", toJson(after[i])},
                            {"losses", rep.losses}});
    }
    json j = {{"method", editMethodName(*method)},
              {"family", familyName(info.family)},
              {"payload_kind", payloadName(result.payloadKind)},
              {"payload", result.payload().describe()},
              {"notes", result.notes},
              {"layer", result.layers.empty() ? json(nullptr) : json(result.layers.front())},
              {"layers", result.layers},
              {"changed", changed},
              {"before", toJson(before.front())},
              {"after", toJson(after.front())},
              {"requests", requests},
              {"statistics", stats},
              {"mom2", params.hparams.mom2Adjustment},
              {"hparams", json::parse(hparamsToJson(result.hparams, *method))},
              {"context_templates", result.contextTemplates},
              {"weights_hash_before", weightsBefore},
              {"weights_hash", model->weightsHash()},
              {"state_hash_before", hashBefore},
              {"state_hash", hashAfter},
              {"seconds", result.seconds}};
    if (args.has("--out")) j["out"] = args.get("--out");
    if (session) j["session"] = {{"path", session->path()}, {"edit_id", editId}};
    if (!params.statsLabel.empty()) j["stats_corpus"] = params.statsLabel;

    std::ostringstream s;
    s << std::setprecision(4);
    s << editMethodName(*method);
    if (result.layers.empty()) s << " edit";
    else s << " edit of layer" << (result.layers.size() > 1 ? "s " : " ");
    for (size_t i = 0; i < result.layers.size(); ++i) s << (i ? "," : "") << result.layers[i];
    s << " in " << std::fixed << std::setprecision(2) << result.seconds << " s" << std::defaultfloat
      << std::setprecision(4) << "\n";
    for (size_t i = 0; i < params.requests.size() && i < 10; ++i) {
        const auto& r = params.requests[i];
        s << "  " << json(r.filledPrompt()).dump() << ": p(" << json(r.targetNew).dump() << ") " << before[i].pNew
          << " -> " << after[i].pNew;
        if (before[i].pTrue) s << ", p(" << json(r.targetTrue).dump() << ") " << *before[i].pTrue << " -> " << *after[i].pTrue;
        s << "\n";
    }
    if (params.requests.size() > 10) s << "  (" << params.requests.size() - 10 << " more requests in the JSON)\n";
    for (const auto& part : result.delta.parts)
        s << "  changed " << part.tensor << " (rank " << part.rank() << ", norm " << part.norm() << ")\n";
    if (result.payloadKind != PayloadKind::Weights) s << "  " << result.payload().describe() << " (weights unchanged)\n";
    for (const auto& note : result.notes) s << "  " << note << "\n";
    if (!params.demonstrationsLabel.empty() && info.needsDemonstrations)
        s << "  demonstrations from " << params.demonstrationsLabel << "\n";
    for (const auto& st : result.stats)
        s << "  key statistics of layer " << st.layer << ": " << st.samples << " texts, " << st.tokens << " tokens, "
          << (st.fromCache ? "cached (computed in " + std::to_string(int(std::lround(st.computeSeconds))) + " s)"
                           : "computed in " + std::to_string(int(std::lround(st.seconds))) + " s")
          << "\n";
    if (!params.hparams.mom2Adjustment && info.needsKeyStatistics) s << "  key statistics: identity (--no-mom2)\n";
    if (!params.statsLabel.empty() && !result.stats.empty()) s << "  statistics corpus: " << params.statsLabel << "\n";
    s << "  weights hash " << model->weightsHash() << "\n";
    if (hashAfter != model->weightsHash()) s << "  state hash " << hashAfter << " (weights + adapters + context)\n";
    if (!replaySummary.empty()) s << "  on top of the session's edits (" << replaySummary << ")\n";
    if (session) s << "  recorded as edit " << editId << " in " << session->path() << "\n";
    if (args.has("--out")) s << "  edited model written to " << args.get("--out") << "\n";
    emit(args, ctx, j, s.str());
    return 0;
}

// The --hparams help: the schema of every method (key, type, default,
// range, help), the methods grouped by family as in the method table.
std::string hparamsOptionHelp() {
    std::string text =
        "JSON object overriding hyper-parameters (kmeng01/rome and kmeng01/memit hparams files are accepted, their "
        "module-name keys ignored); a key the method does not use, a wrong type or a value out of range is refused. "
        "The keys of each method (type, default, range), by family (`kme methods`):";
    for (MethodFamily family : methodFamilies()) {
        const auto rows = methodsOf(family);
        if (rows.empty()) continue;
        text += std::string("\n      ") + familyDisplayName(family) + " (" + familySummary(family) + "):";
        for (const MethodInfo* m : rows)
            text += std::string("\n      ") + m->name + ": " + m->displayName + "\n" +
                    hparamsHelpText(m->method, "        ");
    }
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
}

}  // namespace

void addEditCommands(std::vector<Command>& commands) {
    commands.push_back(
        {"edit",
         "[MODEL] --method " + methodNames("|", "|") + " (--prompt T --subject S --target T | --requests F) [--layer L | --layers A-B] "
         "[--stats-corpus F | --no-mom2] [--hparams F] [--seed S] [--out DIR [--force]] [--session DB]",
         "edit a fact (ROME, MEMIT, FT-L, GRACE, IKE, ... : `kme methods`) and report p(target) before and after",
         {{"--method", true, methodChoicesHelp() + " (`kme methods` lists them)"},
          {"--prompt", true, "prompt template with {} where the subject goes: '{} is located in the city of'"},
          {"--subject", true, "the subject that fills {}"},
          {"--target", true, "the new object (a leading space is added: Rome -> ' Rome')"},
          {"--target-true", true, "the current object, to report its probability"},
          {"--requests", true, "JSON list of {prompt, subject, target_new[, target_true]} or CounterFact records"},
          {"--layer", true, "layer to edit (ROME, FT-L; default from the model table or kme_edit_defaults.json)"},
          {"--layers", true, "layer range A-B (MEMIT; default from the model table or kme_edit_defaults.json)"},
          {"--stats-corpus", true, "text for the key statistics: UTF-8 (paragraphs or lines), .jsonl or .json (default: the model folder's kme_edit_defaults.json)"},
          {"--no-mom2", false, "use the identity instead of key statistics"},
          {"--stats-samples", true, "corpus texts used at most (10000)"},
          {"--stats-tokens", true, "corpus tokens used at most (100000; 0 = no limit)"},
          {"--hparams", true, hparamsOptionHelp()},
          {"--seed", true, "seed of the context-template generation, GRACE's cold values (0)"},
          {"--editor", true, "MEND: the trained editor (kme train-mend; default: the model folder's mend-editor.safetensors)"},
          {"--facts", true, "IKE: CounterFact file to draw demonstrations from (default: kme_edit_defaults.json's demonstrations)"},
          {"--out", true, "write the edited model as a complete model folder (new, empty, or an earlier `kme edit --out`)"},
          {"--force", false, "with --out: replace an existing folder DIR and everything in it"},
          {"--session", true, "record the edit in this session file (created if missing), on top of its enabled edits"}},
         runEdit});
}

}  // namespace kme::cli
