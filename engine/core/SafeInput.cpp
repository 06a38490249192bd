#include "engine/core/SafeInput.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace kme {

namespace {

// Why a file of mode `mode` is not a regular file, or "" when it is one.
std::string modeReason(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory, not a file";
    if (S_ISFIFO(mode)) return "a FIFO, not a regular file";
    if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device, not a regular file";
    if (S_ISSOCK(mode)) return "a socket, not a regular file";
    if (!S_ISREG(mode)) return "not a regular file";
    return {};
}

// Why stat(path) failed with `err`, in words.
std::string statFailureReason(const std::string& path, int err) {
    if (err == ENOENT) {
        struct stat lst {};
        if (::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) return "a symlink to a missing file";
        return "no such file";
    }
    if (err == ELOOP) return "a symlink loop";
    if (err == ENOTDIR) return "a folder on its path is not a folder";
    return std::strerror(err);
}

// Why `path` is not a readable regular file, or "" when it is one.
std::string notRegularReason(const std::string& path, uint64_t* size) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return statFailureReason(path, errno);
    const std::string reason = modeReason(st.st_mode);
    if (reason.empty() && size) *size = uint64_t(st.st_size);
    return reason;
}

std::string sizeText(uint64_t bytes) {
    char buf[64];
    if (bytes >= (1ull << 20))
        std::snprintf(buf, sizeof buf, "%.0f MiB", double(bytes) / double(1ull << 20));
    else
        std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
    return buf;
}

std::string numberText(const nlohmann::json& v) {
    std::ostringstream s;
    if (v.is_number_integer())
        s << (v.is_number_unsigned() ? std::to_string(v.get<uint64_t>()) : std::to_string(v.get<int64_t>()));
    else
        s << v.get<double>();
    return s.str();
}

// A short description of a value for "got ..." (never the whole value).
std::string gotText(const nlohmann::json& v) {
    if (v.is_number()) return numberText(v);
    if (v.is_string()) return "the string " + quoteForMessage(v.get_ref<const std::string&>(), 40);
    if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
    return jsonTypeName(v);
}

const nlohmann::json& field(const nlohmann::json& value, const std::string& where, const std::string& key,
                            ErrorKind kind) {
    if (!value.is_object()) fail(kind, where + ": expected a JSON object, got " + jsonTypeName(value));
    const auto it = value.find(key);
    if (it == value.end()) fail(kind, where + ": missing key '" + key + "'");
    return *it;
}

}  // namespace

void requireRegularFile(const std::string& path, const std::string& what) {
    const std::string reason = notRegularReason(path, nullptr);
    if (!reason.empty()) fail(ErrorKind::Io, path + ": cannot read the " + what + " (" + reason + ")");
}

std::string notRegularFileReason(const std::string& path) { return notRegularReason(path, nullptr); }

std::string readRegularFile(const std::string& path, const std::string& what, uint64_t maxBytes) {
    // Check the path first (a clear reason for a FIFO, device, folder, loop),
    // then open without blocking and check again what was opened: a FIFO
    // swapped in between must not block, a device must not be read.
    uint64_t size = 0;
    std::string reason = notRegularReason(path, &size);
    if (!reason.empty()) fail(ErrorKind::Io, path + ": cannot read the " + what + " (" + reason + ")");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        const int err = errno;
        fail(ErrorKind::Io, path + ": cannot open the " + what + " (" + statFailureReason(path, err) + ")");
    }
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail(ErrorKind::Io, path + ": cannot read the " + what + " (" + std::strerror(errno) + ")");
    reason = modeReason(st.st_mode);
    if (!reason.empty()) fail(ErrorKind::Io, path + ": cannot read the " + what + " (" + reason + ")");
    size = uint64_t(st.st_size);
    if (size > maxBytes)
        fail(ErrorKind::Io, path + ": the " + what + " is " + sizeText(size) + ", more than the " +
                                sizeText(maxBytes) + " such a file can be");
    std::string text(size_t(size), '\0');
    size_t got = 0;
    while (got < text.size()) {  // at most the size seen: a file growing meanwhile is cut, not unbounded
        const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(ErrorKind::Io, path + ": cannot read the " + what + " (" + std::strerror(errno) + ")");
        if (n == 0) break;
        got += size_t(n);
    }
    text.resize(got);
    return text;
}

int jsonNestingDepth(const std::string& text, int limit) {
    int depth = 0, deepest = 0;
    bool inString = false, escaped = false;
    for (const char c : text) {
        if (inString) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') inString = false;
            continue;
        }
        if (c == '"') inString = true;
        else if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > limit) return deepest;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

nlohmann::json parseJson(const std::string& text, const std::string& where, int maxDepth) {
    if (jsonNestingDepth(text, maxDepth) > maxDepth)
        fail(ErrorKind::Format, where + ": JSON nested more than " + std::to_string(maxDepth) +
                                    " levels deep (refused: no real file nests that deep)");
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        fail(ErrorKind::Format, where + ": not valid JSON (syntax error at byte " + std::to_string(e.byte) + ")");
    } catch (const std::exception&) {
        fail(ErrorKind::Format, where + ": not valid JSON");
    }
}

nlohmann::json readJsonFile(const std::string& path, const std::string& what, uint64_t maxBytes, int maxDepth) {
    return parseJson(readRegularFile(path, what, maxBytes), path, maxDepth);
}

std::string quoteForMessage(const std::string& s, size_t maxChars) {
    size_t n = std::min(s.size(), maxChars);
    // Do not cut a UTF-8 sequence: back up over continuation bytes.
    if (n < s.size())
        while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    std::string out = "'";
    for (size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else {
            out += char(c);
        }
    }
    out += "'";
    if (n < s.size()) out += "… (" + std::to_string(s.size()) + " bytes)";
    return out;
}

std::string jsonExcerpt(const nlohmann::json& j, size_t maxChars) {
    std::string text;
    try {
        text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const std::exception&) {
        return jsonTypeName(j);
    }
    return quoteForMessage(text, maxChars);
}

std::string jsonTypeName(const nlohmann::json& j) {
    switch (j.type()) {
        case nlohmann::json::value_t::null: return "null";
        case nlohmann::json::value_t::object: return "an object";
        case nlohmann::json::value_t::array: return "an array";
        case nlohmann::json::value_t::string: return "a string";
        case nlohmann::json::value_t::boolean: return "a boolean";
        case nlohmann::json::value_t::number_integer:
        case nlohmann::json::value_t::number_unsigned: return "an integer";
        case nlohmann::json::value_t::number_float: return "a number";
        case nlohmann::json::value_t::binary: return "binary data";
        default: return "an unknown value";
    }
}

int64_t jsonInt(const nlohmann::json& value, const std::string& where, const std::string& key, int64_t min,
                int64_t max, ErrorKind kind) {
    const nlohmann::json& v = field(value, where, key, kind);
    const std::string expected =
        "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + gotText(v);
    if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (u > uint64_t(std::numeric_limits<int64_t>::max()) || int64_t(u) > max || int64_t(u) < min)
            fail(kind, where + ": " + key + " must be " + expected);
        return int64_t(u);
    }
    if (v.is_number_integer()) {
        const int64_t i = v.get<int64_t>();
        if (i < min || i > max) fail(kind, where + ": " + key + " must be " + expected);
        return i;
    }
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::isfinite(d) && d == std::floor(d) && d >= double(min) && d <= double(max)) return int64_t(d);
    }
    fail(kind, where + ": " + key + " must be " + expected);
}

double jsonNumber(const nlohmann::json& value, const std::string& where, const std::string& key, double min,
                  double max, ErrorKind kind) {
    const nlohmann::json& v = field(value, where, key, kind);
    std::ostringstream range;
    range << "a number in [" << min << ", " << max << "], got " << gotText(v);
    if (!v.is_number()) fail(kind, where + ": " + key + " must be " + range.str());
    const double d = v.get<double>();
    if (!std::isfinite(d) || d < min || d > max) fail(kind, where + ": " + key + " must be " + range.str());
    return d;
}

std::string jsonString(const nlohmann::json& value, const std::string& where, const std::string& key,
                       size_t maxBytes, ErrorKind kind) {
    const nlohmann::json& v = field(value, where, key, kind);
    if (!v.is_string()) fail(kind, where + ": " + key + " must be a string, got " + gotText(v));
    const auto& s = v.get_ref<const std::string&>();
    if (s.size() > maxBytes)
        fail(kind, where + ": " + key + " is " + std::to_string(s.size()) + " bytes long (at most " +
                       std::to_string(maxBytes) + ")");
    return s;
}

bool jsonBool(const nlohmann::json& value, const std::string& where, const std::string& key, ErrorKind kind) {
    const nlohmann::json& v = field(value, where, key, kind);
    if (!v.is_boolean()) fail(kind, where + ": " + key + " must be true or false, got " + gotText(v));
    return v.get<bool>();
}

}  // namespace kme
