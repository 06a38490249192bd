// kme: the command line. Everything lives in kme_cli (runCli).
#include <iostream>

#include "app/cli/Cli.h"

int main(int argc, char** argv) {
    std::vector<std::string> args(argv, argv + argc);
    return kme::cli::runCli(args, std::cout, std::cerr);
}
