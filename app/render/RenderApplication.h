#pragma once
// The Qt application the command line's offscreen pictures need.
#include <string>

class QImage;

namespace kme::render {

// True when a QApplication exists or was just created. When no Qt
// application exists yet, creates one on the "offscreen" platform (unless
// QT_QPA_PLATFORM says otherwise) and keeps it for the process's life. Call
// it from the main thread. False (and *error set) when another kind of Qt
// application runs.
bool ensureRenderApplication(std::string* error);

// What every `--png` does first: checks the output path (before Qt starts, so
// no Qt warning comes before the real error), then ensureRenderApplication.
bool prepareRenderTo(const std::string& path, std::string* error);

// Encodes `image` as PNG in memory and writes it as every kme output is (a
// unique temporary renamed into place; a device or FIFO written directly).
bool writePngFile(const QImage& image, const std::string& path, std::string* error);

}  // namespace kme::render
