#include "app/cli/Cli.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/core/Paths.h"
#include "engine/model/Model.h"

namespace fs = std::filesystem;

namespace kme::cli {

std::vector<OptionSpec> withCommonOptions(std::vector<OptionSpec> options) {
    options.push_back({"--json", true, "write machine-readable output to FILE ('-' = stdout)"});
    options.push_back({"--threads", true, "compute threads (default: all cores)"});
    return options;
}

void initRuntime(const Args& args, Context& ctx) {
    int threads = args.getInt("--threads", 0, 0, 1024);
    // initComputeRuntime caps at the cores too; the command line says so.
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (threads > cores) {
        ctx.err << "kme: --threads " << threads << " capped at " << cores << " (the cores of this machine)\n";
        threads = cores;
    }
    const std::string warning = initComputeRuntime(threads);
    if (!warning.empty()) ctx.err << warning << "\n";
}

std::shared_ptr<Model> loadModelArg(const Args& args, Context& ctx, size_t index) {
    std::string folder;
    if (args.positional().size() > index) {
        folder = args.positional()[index];
    } else {
        folder = demoModelFolder();
        if (folder.empty())
            throw UsageError("no MODEL given and no demo model found (projects/demo/model; set KME_DEMO_DIR)");
    }
    return Model::load(folder);
}

std::vector<int> parseLayerArg(const std::string& flag, const std::string& text) {
    auto number = [&](const std::string& s) {
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 6)
            throw UsageError(flag + " expects a layer number or a range A-B, got '" + text + "'");
        return std::stoi(s);
    };
    const auto dash = text.find('-');
    if (dash == std::string::npos) return {number(text)};
    const int a = number(text.substr(0, dash)), b = number(text.substr(dash + 1));
    if (b < a) throw UsageError(flag + " range " + text + " is empty (A must be <= B)");
    std::vector<int> out;
    for (int l = a; l <= b; ++l) out.push_back(l);
    return out;
}

std::string readTextFile(const std::string& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(ErrorKind::Io, path + ": cannot open the " + what);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void emit(const Args& args, Context& ctx, const nlohmann::json& j, const std::string& summary) {
    const std::string target = args.get("--json");
    if (target == "-") {
        ctx.out << j.dump(2) << "\n";
        return;
    }
    if (!target.empty()) {
        const std::string tmp = target + ".tmp";
        {
            std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
            if (!f) fail(ErrorKind::Io, target + ": cannot write the JSON output");
            f << j.dump(2) << "\n";
            if (!f.flush()) fail(ErrorKind::Io, target + ": cannot write the JSON output");
        }
        std::error_code ec;
        fs::rename(tmp, target, ec);
        if (ec) {
            fs::remove(tmp, ec);
            fail(ErrorKind::Io, target + ": cannot write the JSON output");
        }
    }
    ctx.out << summary;
    if (!summary.empty() && summary.back() != '\n') ctx.out << "\n";
}

std::string withLeadingSpace(const std::string& target) {
    if (target.empty() || target[0] == ' ') return target;
    return " " + target;
}

namespace {
TracePngRenderer& tracePngRendererSlot() {
    static TracePngRenderer renderer;
    return renderer;
}
}  // namespace

void setTracePngRenderer(TracePngRenderer renderer) { tracePngRendererSlot() = std::move(renderer); }
const TracePngRenderer& tracePngRenderer() { return tracePngRendererSlot(); }

namespace {

std::vector<Command> allCommands() {
    std::vector<Command> commands;
    addModelCommands(commands);
    addTraceCommands(commands);
    addTraceDatasetCommands(commands);
    addEditCommands(commands);
    addEvalCommands(commands);
    addSessionCommands(commands);
    addDemoCommands(commands);
    addBenchCommands(commands);
    return commands;
}

void printHelp(std::ostream& out, const std::vector<Command>& commands) {
    out << "kme — KME Studio's command line (knowledge editing of language models)\n\n"
           "usage: kme COMMAND [MODEL] [options]     MODEL defaults to the demo model\n\n";
    for (const auto& c : commands) out << "  kme " << c.name << " " << c.synopsis << "\n      " << c.summary << "\n";
    out << "\nEvery command accepts --json FILE ('-' = stdout) and --threads N. `kme help COMMAND` lists its options.\n";
}

}  // namespace

int runCli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    const auto commands = allCommands();
    Context ctx{out, err};
    if (argv.size() < 2 || argv[1] == "help" || argv[1] == "--help" || argv[1] == "-h") {
        if (argv.size() >= 3)
            for (const auto& c : commands)
                if (c.name == argv[2]) {
                    out << "kme " << c.name << " " << c.synopsis << "\n  " << c.summary << "\n\noptions:\n";
                    for (const auto& o : withCommonOptions(c.options))
                        out << "  " << o.name << (o.takesValue ? " VALUE" : "") << "\n      " << o.help << "\n";
                    return 0;
                }
        printHelp(argv.size() < 2 ? err : out, commands);
        return argv.size() < 2 ? 2 : 0;
    }
    const Command* command = nullptr;
    for (const auto& c : commands)
        if (c.name == argv[1]) command = &c;
    try {
        if (!command) throw UsageError("unknown command '" + argv[1] + "' (see `kme help`)");
        const Args args(argv, 2, withCommonOptions(command->options));
        initRuntime(args, ctx);
        return command->run(args, ctx);
    } catch (const UsageError& e) {
        err << "kme: " << e.what() << "\n";
        return 2;
    } catch (const Cancelled&) {
        err << "kme: cancelled\n";
        return 1;
    } catch (const std::exception& e) {
        err << "kme: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace kme::cli
