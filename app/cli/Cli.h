#pragma once
// The `kme` command line (contract: shared/CLI.md). runCli is the whole
// program minus main(), so tests drive it in-process.
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "app/cli/Args.h"

namespace kme {
struct MethodInfo;
}

namespace kme::cli {

struct Context {
    std::ostream& out;  // human summary / JSON with --json -
    std::ostream& err;  // errors and progress
};

struct Command {
    std::string name;      // "predict"
    std::string synopsis;  // "MODEL --prompt T [--top-k 10]"
    std::string summary;   // one line
    std::vector<OptionSpec> options;
    std::function<int(const Args&, Context&)> run;
    std::string details = {};  // further help text for `kme help COMMAND` (schemas, examples); may be empty
};

// Registries of command groups, each in its own file.
void addModelCommands(std::vector<Command>& commands);
void addBenchCommands(std::vector<Command>& commands);
void addTraceCommands(std::vector<Command>& commands);
void addDemoCommands(std::vector<Command>& commands);
void addMendCommands(std::vector<Command>& commands);  // CliMend.cpp
void addTraceDatasetCommands(std::vector<Command>& commands);
void addEditCommands(std::vector<Command>& commands);
void addEvalCommands(std::vector<Command>& commands);
void addSessionCommands(std::vector<Command>& commands);
void addMethodCommands(std::vector<Command>& commands);  // CliMethods.cpp
void addNeuronCommands(std::vector<Command>& commands);  // CliNeurons.cpp
void addCompareCommands(std::vector<Command>& commands);  // CliCompare.cpp

// --method NAME from the method table (default: its first row); a UsageError
// "--method must be rome, memit or ft-l, got 'x'" otherwise (CliMethods.cpp).
const MethodInfo& methodArg(const Args& args);
// The --method choices for help texts: "rome (default) | memit | ft-l".
std::string methodChoicesHelp();

// Returns the exit status: 0 ok, 1 error, 2 usage.
int runCli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err);

}  // namespace kme::cli
