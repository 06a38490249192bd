#include "app/cli/Args.h"

#include <cerrno>
#include <cstdlib>

namespace kme::cli {

Args::Args(const std::vector<std::string>& argv, size_t first, const std::vector<OptionSpec>& specs) {
    for (size_t i = first; i < argv.size(); ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            help_ = true;
            continue;
        }
        if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
            std::string value;
            bool inlineValue = false;
            if (const auto eq = a.find('='); eq != std::string::npos) {
                value = a.substr(eq + 1);
                a = a.substr(0, eq);
                inlineValue = true;
            }
            const OptionSpec* spec = nullptr;
            for (const auto& s : specs)
                if (s.name == a) spec = &s;
            if (!spec) throw UsageError("unknown option " + a);
            if (spec->takesValue) {
                if (!inlineValue) {
                    if (i + 1 >= argv.size()) throw UsageError("option " + a + " needs a value");
                    value = argv[++i];
                }
            } else if (inlineValue) {
                throw UsageError("option " + a + " takes no value");
            }
            values_[a] = value;
        } else {
            positional_.push_back(a);
        }
    }
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
}

std::string Args::require(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) throw UsageError("missing required option " + name);
    return it->second;
}

int Args::getInt(const std::string& name, int fallback, int min, int max) const {
    if (!has(name)) return fallback;
    const std::string v = get(name);
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0 || x < min || x > max)
        throw UsageError(name + " expects an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                         "], got '" + v + "'");
    return static_cast<int>(x);
}

double Args::getDouble(const std::string& name, double fallback) const {
    if (!has(name)) return fallback;
    const std::string v = get(name);
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0') throw UsageError(name + " expects a number, got '" + v + "'");
    return x;
}

uint64_t Args::getSeed(const std::string& name, uint64_t fallback) const {
    if (!has(name)) return fallback;
    const std::string v = get(name);
    char* end = nullptr;
    errno = 0;
    const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0)
        throw UsageError(name + " expects a non-negative integer, got '" + v + "'");
    return x;
}

}  // namespace kme::cli
