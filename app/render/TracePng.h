#pragma once
// `kme trace --png`: the GUI's heatmap panel drawn offscreen into a PNG, so
// the command line's picture is the one the Locate tab shows.
#include <string>

namespace kme {
struct TraceResult;
}

namespace kme::render {

constexpr int kTracePngWidth = 1500;    // pixels; three maps side by side
constexpr int kTracePngHeight = 600;    // pixels, at least: taller for prompts of more than 25 tokens
constexpr int kTracePngRowPitch = 18;   // pixels per token row, at least
constexpr int kTracePngChrome = 150;    // pixels of header, titles and axes above and below the rows

// Writes the heatmaps of `result` (every traced kind) as a PNG of
// kTracePngWidth x max(kTracePngHeight, chrome + rows x pitch) pixels, atomically. Needs a QApplication:
// when no Qt application exists yet, creates one on the "offscreen" platform
// (unless QT_QPA_PLATFORM says otherwise) and keeps it for the process's life.
// Call it from the main thread. Returns false and sets *error on failure.
bool renderTracePng(const kme::TraceResult& result, const std::string& path, std::string* error);

}  // namespace kme::render
