#include "engine/session/SessionMerge.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include <unistd.h>

#include "engine/core/Error.h"
#include "engine/eval/EvalMerge.h"
#include "engine/eval/Shard.h"
#include "engine/session/SessionJson.h"
#include "engine/session/SessionStore.h"
#include "engine/trace/TraceJson.h"

namespace fs = std::filesystem;

namespace kme {

namespace {

using json = nlohmann::json;

// One shard row of an input.
struct ShardRow {
    size_t input = 0;    // index into the inputs
    bool isTrace = false;
    int64_t id = 0;      // its row id in the input
    ShardSpec shard;
    json run;            // the run's parameters ("run")
    json params;         // metric run: params; trace: request
    std::string results; // metric run: results JSON; trace: result JSON
    std::string method, dataset;  // metric run columns
};

struct Group {
    bool isTrace = false;
    json run;
    std::string description;
    std::vector<const ShardRow*> rows;
};

const json& memberOr(const json& j, const char* key) {
    static const json none;
    const auto it = j.is_object() ? j.find(key) : j.end();
    return it != j.end() ? *it : none;
}

std::string describeRun(const ShardRow& r) {
    if (r.isTrace) {
        const json& facts = memberOr(r.params, "facts");
        return "dataset trace of " + (facts.is_string() ? facts.get<std::string>() : std::string("?"));
    }
    return r.method + " on " + r.dataset;
}

// Dotted paths where two run descriptions differ: "hparams.layers ([1] vs [0])".
void differences(const json& a, const json& b, const std::string& prefix, std::vector<std::string>& out) {
    if (a.is_object() && b.is_object()) {
        std::set<std::string> keys;
        for (const auto& it : a.items()) keys.insert(it.key());
        for (const auto& it : b.items()) keys.insert(it.key());
        for (const auto& k : keys)
            differences(memberOr(a, k.c_str()), memberOr(b, k.c_str()), prefix.empty() ? k : prefix + "." + k, out);
        return;
    }
    if (a == b) return;
    auto shortDump = [](const json& v) {
        std::string s = v.is_null() ? "none" : v.dump();
        return s.size() > 40 ? s.substr(0, 37) + "..." : s;
    };
    out.push_back(prefix + " (" + shortDump(a) + " vs " + shortDump(b) + ")");
}

// What the merge compares of the edits: everything that makes the state.
std::vector<std::string> editsSignature(const SessionStore& s) {
    std::vector<std::string> out;
    for (const auto& e : s.listEdits(false))
        out.push_back(json{e.method, e.requestJson, e.hparamsJson, e.payloadKind, e.enabled, e.computedOnHash,
                           e.weightsHashAfter, e.deltaBytes}
                          .dump());
    return out;
}

std::string joined(const std::vector<std::string>& v, const std::string& sep) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
    return s;
}

SessionStore openInput(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) fail(ErrorKind::Io, path + ": no such session file (a shard that never finished?)");
    SessionOpenOptions o;
    o.readOnly = true;
    return SessionStore(path, o);
}

void writeMerged(SessionStore& store, const std::vector<Group>& groups, const std::vector<std::string>& inputs,
                 SessionMergeReport& report) {
    for (const Group& g : groups) {
        std::vector<const ShardRow*> rows = g.rows;
        std::sort(rows.begin(), rows.end(), [](auto* a, auto* b) { return a->shard.index < b->shard.index; });
        std::vector<std::string> names;
        for (const ShardRow* r : rows)
            names.push_back(inputs[r->input] + " (" + (r->isTrace ? "trace " : "metric run ") + std::to_string(r->id) +
                            ", shard " + shardName(r->shard) + ")");
        MergedRun m;
        m.kind = g.isTrace ? "dataset trace" : "metric run";
        m.description = g.description;
        m.shards = static_cast<int>(rows.size());
        json params = rows[0]->params;
        params.erase("shard");
        params["merged_shards"] = m.shards;
        if (!g.isTrace) {
            std::vector<json> results;
            for (const ShardRow* r : rows) results.push_back(parseJsonColumn(r->results, names[results.size()]));
            const json merged = mergeEvalShardResults(results, names);
            m.records = merged.at("n_records").get<int>();
            MetricRunRecord rec;
            rec.method = rows[0]->method;
            rec.dataset = rows[0]->dataset;
            rec.paramsJson = params.dump();
            rec.resultsJson = merged.dump();
            m.id = store.addMetricRun(rec);
        } else {
            std::vector<TraceDatasetResult> shards;
            for (const ShardRow* r : rows) {
                const json j = parseJsonColumn(r->results, names[shards.size()]);
                if (!j.is_object() || !j.contains("per_record"))
                    fail(ErrorKind::Input, names[shards.size()] + ": the dataset trace holds no per-record results");
                try {
                    shards.push_back(traceDatasetResultFromJson(j));
                } catch (const Error& e) {
                    fail(ErrorKind::Input, names[shards.size()] + ": " + e.what());
                }
            }
            const TraceDatasetResult merged = mergeTraceDatasetShards(shards, names);
            m.records = merged.considered;
            TraceRecord rec;
            rec.requestJson = params.dump();
            rec.resultJson = traceDatasetResultToJson(merged).dump();
            m.id = store.addTrace(rec);
        }
        report.runs.push_back(m);
    }
}

}  // namespace

SessionMergeReport mergeSessionShards(const std::string& out, const std::vector<std::string>& inputs) {
    if (inputs.empty()) fail(ErrorKind::Input, "no shard session files to merge");
    std::error_code ec;
    // The same file twice is a duplicated shard, not two.
    for (size_t i = 0; i < inputs.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (fs::exists(inputs[i], ec) && fs::exists(inputs[j], ec) && fs::equivalent(inputs[i], inputs[j], ec))
                fail(ErrorKind::Input, inputs[i] + ": given twice (as " + inputs[j] + " too)");
    const bool outExists = fs::exists(out, ec);
    if (outExists)
        for (const auto& in : inputs)
            if (fs::exists(in, ec) && fs::equivalent(out, in, ec))
                fail(ErrorKind::Input, out + ": the output is one of the inputs; name a new file or the session the shards came from");

    // Read everything first: nothing is written before every check passed.
    std::vector<SessionStore> stores;
    for (const auto& in : inputs) stores.push_back(openInput(in));
    const auto model0 = stores[0].model();
    if (!model0) fail(ErrorKind::Input, inputs[0] + ": records no model");
    const std::vector<std::string> edits0 = editsSignature(stores[0]);
    std::vector<ShardRow> rows;
    std::vector<std::string> problems;
    for (size_t i = 0; i < stores.size(); ++i) {
        const SessionStore& s = stores[i];
        const auto model = s.model();
        if (!model || model->weightsHash != model0->weightsHash)
            fail(ErrorKind::Input, inputs[i] + ": recorded on another model (weights " +
                                       (model ? model->weightsHash.substr(0, 12) : std::string("none")) + ") than " +
                                       inputs[0] + " (" + model0->weightsHash.substr(0, 12) + ")");
        if (editsSignature(s) != edits0) fail(ErrorKind::Input, inputs[i] + ": holds other edits than " + inputs[0]);
        size_t found = 0;
        for (const auto& m : s.listMetricRuns()) {
            const json params = parseJsonColumn(m.paramsJson, inputs[i] + ": metric run " + std::to_string(m.id));
            if (!params.is_object() || !params.contains("shard")) continue;
            const auto shard = shardFromJson(params.at("shard"));
            if (!shard || !memberOr(params, "run").is_object())
                fail(ErrorKind::Input, inputs[i] + ": metric run " + std::to_string(m.id) + " has a damaged shard id or run description");
            rows.push_back({i, false, m.id, *shard, params.at("run"), params, m.resultsJson, m.method, m.dataset});
            ++found;
        }
        for (const auto& t : s.listTraces(true)) {
            const json request = parseJsonColumn(t.requestJson, inputs[i] + ": trace " + std::to_string(t.id));
            if (!request.is_object() || !request.contains("shard")) continue;
            const auto shard = shardFromJson(request.at("shard"));
            if (!shard || !memberOr(request, "run").is_object())
                fail(ErrorKind::Input, inputs[i] + ": trace " + std::to_string(t.id) + " has a damaged shard id or run description");
            rows.push_back({i, true, t.id, *shard, request.at("run"), request, t.resultJson, "", ""});
            ++found;
        }
        if (found == 0) problems.push_back(inputs[i] + " holds no finished shard (killed before it finished?)");
    }

    // Group the rows by run; each run needs shards 0..N-1 exactly once.
    std::vector<Group> groups;
    for (const ShardRow& r : rows) {
        auto g = std::find_if(groups.begin(), groups.end(),
                              [&](const Group& x) { return x.isTrace == r.isTrace && x.run == r.run; });
        if (g == groups.end()) {
            groups.push_back({r.isTrace, r.run, describeRun(r), {}});
            g = groups.end() - 1;
        }
        g->rows.push_back(&r);
    }
    bool incomplete = false;
    for (const Group& g : groups) {
        const int N = g.rows.front()->shard.count;
        std::map<int, std::vector<std::string>> where;
        for (const ShardRow* r : g.rows) where[r->shard.index].push_back(inputs[r->input]);
        std::vector<std::string> missing, twice;
        for (int k = 0; k < N; ++k) {
            const auto it = where.find(k);
            if (it == where.end()) missing.push_back(std::to_string(k));
            else if (it->second.size() > 1) twice.push_back(std::to_string(k) + " (" + joined(it->second, ", ") + ")");
        }
        const std::string what = (g.isTrace ? "the " : "the metric run ") + g.description + " (" + std::to_string(N) +
                                 " shards)";
        if (!missing.empty()) problems.push_back(what + ": shard" + (missing.size() > 1 ? "s " : " ") +
                                                 joined(missing, ", ") + " of " + std::to_string(N) + " missing");
        if (!twice.empty()) problems.push_back(what + ": shard" + (twice.size() > 1 ? "s " : " ") + joined(twice, "; ") +
                                               " given more than once");
        incomplete = incomplete || !missing.empty() || !twice.empty();
    }
    // Incomplete runs of one kind are often shards of runs that differ: say how.
    if (incomplete)
        for (size_t a = 0; a < groups.size(); ++a)
            for (size_t b = a + 1; b < groups.size(); ++b) {
                if (groups[a].isTrace != groups[b].isTrace) continue;
                std::vector<std::string> diff;
                differences(groups[a].run, groups[b].run, "", diff);
                if (diff.size() > 4) diff.resize(4);
                problems.push_back("shards of different runs: " + inputs[groups[a].rows.front()->input] + " and " +
                                   inputs[groups[b].rows.front()->input] + " differ in " + joined(diff, ", "));
            }
    if (!problems.empty()) fail(ErrorKind::Input, "cannot merge: " + joined(problems, "; "));

    SessionMergeReport report;
    if (outExists) {
        SessionStore target(out);
        const auto model = target.model();
        if (model && model->weightsHash != model0->weightsHash)
            fail(ErrorKind::Input, out + ": records another model (weights " + model->weightsHash.substr(0, 12) +
                                       ") than the shards (" + model0->weightsHash.substr(0, 12) + ")");
        if (editsSignature(target) != edits0)
            fail(ErrorKind::Input, out + ": holds other edits than the shards; merge into a new file instead");
        if (!model) target.setModel(model0->absolutePath, model0->configJson, model0->weightsHash);
        writeMerged(target, groups, inputs, report);
        return report;
    }
    // A new OUT: IN1 without its shard rows, built beside OUT and renamed into place.
    const fs::path folder = fs::path(out).parent_path();
    if (!folder.empty() && !fs::is_directory(folder, ec))
        fail(ErrorKind::Io, out + ": the folder " + folder.string() + " does not exist");
    const std::string tmp = out + ".kme-tmp-" + std::to_string(::getpid());
    auto removeTmp = [&] {
        for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(tmp + suffix, ec);
    };
    removeTmp();
    try {
        stores[0].copyTo(tmp);
        {
            SessionStore target(tmp);
            target.setInfo(fs::path(out).stem().string(), target.info().notes);  // not IN1's name
            for (const ShardRow& r : rows) {
                if (r.input != 0) continue;
                if (r.isTrace) target.deleteTrace(r.id);
                else target.deleteMetricRun(r.id);
            }
            writeMerged(target, groups, inputs, report);
        }
        fs::rename(tmp, out);
    } catch (...) {
        removeTmp();
        throw;
    }
    removeTmp();
    report.created = true;
    return report;
}

}  // namespace kme
