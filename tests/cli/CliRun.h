#pragma once
// Runs `kme ARGS...` in-process (kme::cli::runCli) and captures its streams:
// the fast way for CLI tests; tests/KmeProcess.h runs the real executable.
#include <sstream>
#include <string>
#include <vector>

#include "app/cli/Cli.h"
#include "tests/KmeProcess.h"

namespace kme::testing {

inline Run runKme(std::vector<std::string> args) {
    args.insert(args.begin(), "kme");
    std::ostringstream out, err;
    const int rc = kme::cli::runCli(args, out, err);
    return {rc, out.str(), err.str()};
}

// runKme with "--threads 1" appended: the run on one thread.
inline Run runKmeOneThread(std::vector<std::string> args) {
    args.push_back("--threads");
    args.push_back("1");
    return runKme(std::move(args));
}

}  // namespace kme::testing
