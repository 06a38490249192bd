#pragma once
// `kme trace-dataset --png`: the Locate tab's dataset-average plot drawn
// offscreen into a PNG, so the command line's picture is the one the GUI shows.
#include <string>

namespace kme {
struct TraceDatasetResult;
}

namespace kme::render {

constexpr int kTraceDatasetPngWidth = 1500;   // pixels; three plots side by side
constexpr int kTraceDatasetPngHeight = 640;   // pixels

// Writes the plot of `result` (every traced kind) as a PNG of
// kTraceDatasetPngWidth x kTraceDatasetPngHeight pixels, atomically. `source`
// names the fact set in the title ("" = none). Needs a QApplication: creates
// an offscreen one when none exists (see ensureRenderApplication). Call it
// from the main thread. Returns false and sets *error on failure (nothing
// traced, unwritable path).
bool renderTraceDatasetPng(const kme::TraceDatasetResult& result, const std::string& source, const std::string& path,
                           std::string* error);

}  // namespace kme::render
