#pragma once
#include <string>

namespace kme {
// The demo project folder (projects/demo): $KME_DEMO_DIR when set, else the
// source tree the binaries were built from. Empty when none exists.
std::string demoProjectFolder();
// The demo model folder (<demo project>/model), or empty.
std::string demoModelFolder();
// Cache folder for statistics and context templates: $KME_CACHE_DIR, else
// $XDG_CACHE_HOME/kme-studio, else ~/.cache/kme-studio.
std::string cacheFolder();
}  // namespace kme
