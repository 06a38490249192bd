// kme: the command line. Everything lives in kme_cli (runCli); a GUI build
// adds kme_render, which draws `kme trace --png` and `kme trace-dataset --png`
// with the GUI's widgets.
#include <cstdio>
#include <iostream>

#include "app/cli/Cli.h"
#include "engine/io/MappedFiles.h"
#ifdef KME_WITH_RENDER
#include "app/cli/CliSupport.h"
#include "app/render/TraceDatasetPng.h"
#include "app/render/TracePng.h"
#endif

int main(int argc, char** argv) {
    // A checkpoint truncated by another process while mapped: one line, exit 1.
    kme::installMappedFileFaultHandler("kme");
#ifdef KME_WITH_RENDER
    kme::cli::setTracePngRenderer(kme::render::renderTracePng);
    kme::cli::setTraceDatasetPngRenderer(kme::render::renderTraceDatasetPng);
#endif
    std::vector<std::string> args(argv, argv + argc);
    const int rc = kme::cli::runCli(args, std::cout, std::cerr);
    // What runCli wrote may still sit in stdio's buffer (help text, a summary):
    // a failed write to standard output is an error, not exit 0.
    if (rc == 0 && (!std::cout.flush() || std::fflush(stdout) != 0 || std::ferror(stdout))) {
        std::cerr << "kme: cannot write to standard output\n";
        return 1;
    }
    return rc;
}
