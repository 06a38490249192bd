#pragma once
// The Qt application the command line's offscreen pictures need.
#include <string>

namespace kme::render {

// True when a QApplication exists or was just created. When no Qt
// application exists yet, creates one on the "offscreen" platform (unless
// QT_QPA_PLATFORM says otherwise) and keeps it for the process's life. Call
// it from the main thread. False (and *error set) when another kind of Qt
// application runs.
bool ensureRenderApplication(std::string* error);

}  // namespace kme::render
