#include "app/cli/Cli.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "app/cli/CliEditSetup.h"
#include "app/cli/CliSupport.h"
#include "engine/core/Error.h"
#include "engine/core/OutputFile.h"
#include "engine/core/Paths.h"
#include "engine/core/SafeInput.h"
#include "engine/edit/EditSpeed.h"
#include "engine/model/HalfProduct.h"
#include "engine/model/Model.h"
#include "engine/session/SessionStore.h"

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
    // A benchmarking switch: KME_VALUE_PATH=full | layer-prefix runs the v* / z optimisation the
    // straightforward way (engine/edit/EditSpeed.h; results agree to float tolerance), so a whole
    // `kme eval` can be timed before and after issue 19's fast path in one build.
    if (const char* path = std::getenv("KME_VALUE_PATH"); path && *path) {
        EditSpeed speed = editSpeed();
        const std::string name = path;
        if (name == valuePathName(ValuePath::Full)) speed.valuePath = ValuePath::Full;
        else if (name == valuePathName(ValuePath::LayerPrefix)) speed.valuePath = ValuePath::LayerPrefix;
        else if (name == valuePathName(ValuePath::PositionPrefix)) speed.valuePath = ValuePath::PositionPrefix;
        else throw UsageError("KME_VALUE_PATH must be full, layer-prefix or position-prefix, got " + quoteForMessage(name));
        speed.batchRequests = speed.valuePath == ValuePath::PositionPrefix;
        setEditSpeed(speed);
        ctx.err << "kme: KME_VALUE_PATH=" << name << ": v* / z optimised the " << (speed.batchRequests ? "fast" : "straightforward")
                << " way\n";
    }
    // KME_HALF_PRODUCT=bf16 multiplies BF16 weights as bf16 (engine/model/HalfProduct.h; about 1e-3
    // relative from the default f32, so results depend on it: opt-in).
    if (const char* mode = std::getenv("KME_HALF_PRODUCT"); mode && *mode) {
        const std::string name = mode;
        HalfProduct product = HalfProduct::Float32;
        if (!parseHalfProduct(name, product))
            throw UsageError("KME_HALF_PRODUCT must be f32 or bf16, got " + quoteForMessage(name));
        setHalfProduct(product);
        ctx.err << "kme: KME_HALF_PRODUCT=" << name << ": "
                << (product == HalfProduct::Bf16 ? "BF16 weights multiply as bf16 (activations rounded to bf16)"
                                                 : "half weights converted to float32 for each product (the default)")
                << "\n";
    }
}

std::shared_ptr<Model> loadModelArg(const Args& args, Context& ctx, size_t index) {
    std::string folder;
    if (args.positional().size() > index + 1)
        throw UsageError("unexpected argument " + quoteForMessage(args.positional()[index + 1]) +
                         " (one MODEL folder only; options start with --)");
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
    // Regular files only, of bounded size: a FIFO must not block, /dev/zero must not fill memory.
    return readRegularFile(path, what, 64 << 20);
}

void checkJsonOutput(const Args& args) {
    if (!args.has("--json")) return;
    const std::string target = args.get("--json");
    if (target.empty()) throw UsageError("--json needs a file name ('-' = stdout)");
    if (target != "-") checkOutputFile(target, "JSON output");
}

void emit(const Args& args, Context& ctx, const nlohmann::json& j, const std::string& summary) {
    const std::string target = args.get("--json");
    if (target == "-") {
        ctx.out << j.dump(2) << "\n";
        return;
    }
    if (!target.empty()) writeFileAtomically(target, j.dump(2) + "\n", "JSON output");
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
    addNeuronCommands(commands);
    addEditCommands(commands);
    addMethodCommands(commands);
    addEvalCommands(commands);
    addSessionCommands(commands);
    addCompareCommands(commands);
    addDemoCommands(commands);
    addMendCommands(commands);
    addBenchCommands(commands);
    return commands;
}

void printHelp(std::ostream& out, const std::vector<Command>& commands) {
    out << "kme " << kmeVersion()
        << " — KME Studio's command line (knowledge editing of language models)\n\n"
           "usage: kme COMMAND [MODEL] [options]     MODEL defaults to the demo model\n\n";
    for (const auto& c : commands) out << "  kme " << c.name << " " << c.synopsis << "\n      " << c.summary << "\n";
    out << "\nEvery command accepts --json FILE ('-' = stdout), --threads N and --help.\n"
           "`kme help COMMAND` or `kme COMMAND --help` lists its options; `kme --version` prints the version.\n";
}

void printCommandHelp(std::ostream& out, const Command& c) {
    out << "usage: kme " << c.name << " " << c.synopsis << "\n  " << c.summary << "\n\noptions:\n";
    for (const auto& o : withCommonOptions(c.options))
        out << "  " << o.name << (o.takesValue ? " VALUE" : "") << "\n      " << o.help << "\n";
    out << "  --help, -h\n      print this help and exit\n";
    if (!c.details.empty()) out << "\n" << c.details << (c.details.back() == '\n' ? "" : "\n");
}

const Command* findCommand(const std::vector<Command>& commands, const std::string& name) {
    for (const auto& c : commands)
        if (c.name == name) return &c;
    return nullptr;
}

}  // namespace

int runCli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    const auto commands = allCommands();
    Context ctx{out, err};
    if (argv.size() < 2) {
        printHelp(err, commands);
        return 2;
    }
    if (argv[1] == "--version" || argv[1] == "-V" || argv[1] == "version") {
        out << "kme " << kmeVersion() << "\n";
        return 0;
    }
    if (argv[1] == "help" || argv[1] == "--help" || argv[1] == "-h") {
        if (argv.size() < 3) {
            printHelp(out, commands);
            return 0;
        }
        const Command* c = findCommand(commands, argv[2]);
        if (!c) {
            err << "kme: help: unknown command " << quoteForMessage(argv[2]) << " (see `kme help`)\n";
            return 2;
        }
        printCommandHelp(out, *c);
        return 0;
    }
    const Command* command = findCommand(commands, argv[1]);
    try {
        if (!command) throw UsageError("unknown command " + quoteForMessage(argv[1]) + " (see `kme help`)");
        const Args args(argv, 2, withCommonOptions(command->options));
        if (args.helpRequested()) {
            printCommandHelp(out, *command);
            return 0;
        }
        initRuntime(args, ctx);
        checkJsonOutput(args);  // before any work: a retry must not repeat it
        const int rc = command->run(args, ctx);
        if (!out.flush()) {  // e.g. stdout is /dev/full: the output is lost
            err << "kme: cannot write to standard output\n";
            return 1;
        }
        return rc;
    } catch (const UsageError& e) {
        err << "kme: " << e.what() << "\n";
        return 2;
    } catch (const Cancelled&) {
        err << "kme: cancelled\n";
        return 1;
    } catch (const EditSetupError& e) {
        // The engine names the problem; the command line's remedy is a flag.
        err << "kme: " << e.what() << ": " << editRemedy(e.problem(), e.method()) << "\n";
        return 1;
    } catch (const std::exception& e) {
        err << "kme: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace kme::cli
