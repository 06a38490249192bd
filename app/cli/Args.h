#pragma once
// A small, strict option parser for the `kme` command line: every command
// declares its options; anything else is a usage error (exit status 2).
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kme::cli {

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct OptionSpec {
    std::string name;       // "--top-k"
    bool takesValue = true; // false for switches like --sequential
    std::string help;       // one line for `kme help`
};

class Args {
public:
    // Parses argv[first..] against `specs`. Throws UsageError.
    Args(const std::vector<std::string>& argv, size_t first, const std::vector<OptionSpec>& specs);

    const std::vector<std::string>& positional() const { return positional_; }
    // --help or -h appeared where an option may stand (not as an option's value).
    bool helpRequested() const { return help_; }
    bool has(const std::string& name) const { return values_.count(name) > 0; }
    std::string get(const std::string& name, const std::string& fallback = {}) const;
    std::string require(const std::string& name) const;
    int getInt(const std::string& name, int fallback, int min, int max) const;
    double getDouble(const std::string& name, double fallback) const;
    uint64_t getSeed(const std::string& name, uint64_t fallback) const;

private:
    std::vector<std::string> positional_;
    std::map<std::string, std::string> values_;
    bool help_ = false;
};

}  // namespace kme::cli
