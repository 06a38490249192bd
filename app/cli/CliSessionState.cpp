// --session DB: a model brought to a session's state (its enabled edits
// replayed, the weights hash verified), shared by predict, generate, trace
// and eval.
#include <filesystem>
#include <map>
#include <tuple>

#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/edit/WeightDelta.h"
#include "engine/model/Model.h"
#include "engine/session/SessionEdits.h"
#include "engine/session/SessionStore.h"

namespace kme::cli {

namespace {
std::string shortHash(const std::string& h) { return h.size() > 12 ? h.substr(0, 12) + "\u2026" : h; }
}  // namespace

nlohmann::json SessionModelState::toJson() const {
    return {{"path", path}, {"edits_applied", applied}, {"weights_hash", weightsHash}};
}

std::string SessionModelState::summaryLine() const { return "  on the session's weights (" + description + ")\n"; }

std::optional<ShardSpec> shardArg(const Args& args) {
    if (!args.has("--shard")) return std::nullopt;
    std::string why;
    const auto s = parseShardSpec(args.get("--shard"), &why);
    if (!s) throw UsageError("--shard: " + why + ", got '" + args.get("--shard") + "'");
    return s;
}

std::optional<SessionStore> openSessionForRun(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::exists(path, ec)) {
        if (fs::is_directory(path, ec)) fail(ErrorKind::Io, path + ": is a folder, not a session file");
        return SessionStore(path);
    }
    const fs::path folder = fs::path(path).parent_path();
    if (!folder.empty() && !fs::is_directory(folder, ec))
        fail(ErrorKind::Io, path + ": the folder " + folder.string() + " does not exist");
    return std::nullopt;
}

SessionModelState applySessionState(const SessionStore& store, Model& model, const std::string& baseHash,
                                    EditStack& stack) {
    const auto recorded = store.model();
    if (!recorded) fail(ErrorKind::Input, store.path() + ": the session records no model");
    if (recorded->weightsHash != baseHash)
        fail(ErrorKind::Input, store.path() + ": the session was recorded on a model with weights " +
                                   recorded->weightsHash + " (" + recorded->absolutePath + "); " + model.folder() +
                                   " has weights " + baseHash);
    const std::string diff = configJsonDifference(recorded->configJson, model.config().rawJson);
    if (!diff.empty())
        fail(ErrorKind::Input, store.path() + ": the session was recorded on another config.json than " +
                                   model.folder() + "/config.json has (" + diff + ")");
    const ReplayReport report = bringToSessionState(store, stack);
    SessionModelState s;
    s.path = store.path();
    s.applied = report.applied;
    s.total = int(report.steps.size());
    s.weightsHash = report.finalHash.empty() ? baseHash : report.finalHash;
    s.description = std::to_string(s.applied) + " of " + std::to_string(s.total) +
                    (s.total == 1 ? " edit" : " edits") + " applied, hash " + shortHash(s.weightsHash);
    return s;
}

SessionModelState loadModelOrSessionArg(const Args& args, Context& ctx) {
    if (!args.has("--session")) {
        SessionModelState s;
        s.model = loadModelArg(args, ctx);
        return s;
    }
    const std::string path = args.get("--session");
    if (path.empty()) throw UsageError("--session needs a session file");
    SessionOpenOptions o;
    o.readOnly = true;  // never created, migrated or written
    const SessionStore store(path, o);
    std::shared_ptr<Model> model;
    std::string baseHash;
    if (!args.positional().empty()) {
        model = loadModelArg(args, ctx);
        baseHash = model->weightsHash();
    } else {
        // The recorded folder (absolute, else relative to the session file),
        // its weights hash checked.
        std::map<std::string, std::pair<std::shared_ptr<Model>, std::string>> loaded;
        const ResolvedModel resolved = store.resolveModelPath([&](const std::string& folder) {
            auto m = Model::load(folder);
            const std::string h = m->weightsHash();
            loaded[folder] = {m, h};
            return h;
        });
        std::tie(model, baseHash) = loaded.at(resolved.folder);
    }
    EditStack stack(*model);
    SessionModelState s = applySessionState(store, *model, baseHash, stack);
    s.model = model;
    return s;
}

}  // namespace kme::cli
