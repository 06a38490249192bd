#include "engine/core/Paths.h"

#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;

namespace kme {

std::string demoProjectFolder() {
    if (const char* env = std::getenv("KME_DEMO_DIR"); env && *env) return env;
#ifdef KME_SOURCE_DIR
    const fs::path p = fs::path(KME_SOURCE_DIR) / "projects" / "demo";
    if (fs::is_directory(p)) return p.string();
#endif
    return {};
}

std::string demoModelFolder() {
    const std::string project = demoProjectFolder();
    if (project.empty()) return {};
    const fs::path p = fs::path(project) / "model";
    return fs::exists(p / "config.json") ? p.string() : std::string();
}

std::string cacheFolder() {
    if (const char* env = std::getenv("KME_CACHE_DIR"); env && *env) return env;
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return (fs::path(xdg) / "kme-studio").string();
    if (const char* home = std::getenv("HOME"); home && *home) return (fs::path(home) / ".cache" / "kme-studio").string();
    return (fs::temp_directory_path() / "kme-studio-cache").string();
}

}  // namespace kme
