#include "engine/core/OutputFile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "engine/core/SafeInput.h"

namespace fs = std::filesystem;

namespace kme {
namespace {

std::string errnoText(int e) { return std::strerror(e); }

std::string quoted(const std::string& s) { return quoteForMessage(s, 120); }

[[noreturn]] void failFile(const std::string& path, const std::string& what, const std::string& reason) {
    fail(ErrorKind::Io, path + ": cannot write the " + what + ": " + reason);
}

// Six characters from [a-z0-9], different on every call (mkstemp-style names
// are then created with O_EXCL / mkdir, which never reuse an existing entry).
std::string randomSuffix() {
    static std::atomic<uint64_t> counter{0};
    thread_local std::mt19937_64 rng([] {
        std::random_device rd;
        const uint64_t t = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
        return (uint64_t(rd()) << 32) ^ uint64_t(rd()) ^ t ^ (uint64_t(::getpid()) << 16);
    }());
    uint64_t x = rng() ^ (counter.fetch_add(1) * 0x9E3779B97F4A7C15ull);
    static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string s;
    for (int i = 0; i < 6; ++i) {
        s += digits[x % 36];
        x /= 36;
    }
    return s;
}

// NAME.kme-tmp-XXXXXX beside `real` (the name part shortened so that the
// whole stays within NAME_MAX).
std::string tempSibling(const std::string& real, const char* tag) {
    fs::path p(real);
    std::string base = p.filename().string();
    if (base.size() > 200) base.resize(200);
    const fs::path dir = p.parent_path();
    const std::string name = base + tag + randomSuffix();
    return dir.empty() ? name : (dir / name).string();
}

std::string parentOf(const std::string& path) {
    const std::string parent = fs::path(path).parent_path().string();
    return parent.empty() ? std::string(".") : parent;
}

// /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N: the descriptor N
// itself (so that `>> log` keeps appending), -1 for any other path.
int standardDescriptor(const std::string& path) {
    if (path == "/dev/stdin") return 0;
    if (path == "/dev/stdout") return 1;
    if (path == "/dev/stderr") return 2;
    for (const std::string prefix : {"/dev/fd/", "/proc/self/fd/"}) {
        if (path.compare(0, prefix.size(), prefix) != 0) continue;
        const std::string n = path.substr(prefix.size());
        if (n.empty() || n.size() > 6 || n.find_first_not_of("0123456789") != std::string::npos) return -1;
        return std::stoi(n);
    }
    return -1;
}

// Follows the symlinks of the last component of `path` by hand (the target
// may not exist yet: a dangling link gets its file created where it points).
std::string followLinks(const std::string& path, const std::string& what) {
    std::string p = path;
    for (int i = 0; i < 40; ++i) {
        struct stat st;
        if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
        std::vector<char> buf(PATH_MAX + 1);
        const ssize_t n = ::readlink(p.c_str(), buf.data(), buf.size() - 1);
        if (n <= 0) return p;
        const std::string link(buf.data(), size_t(n));
        p = link[0] == '/' ? link : (fs::path(p).parent_path() / link).string();
    }
    failFile(path, what, "too many levels of symbolic links");
}

void writeAllTo(int fd, const std::vector<std::pair<const void*, size_t>>& pieces, const std::string& path,
                const std::string& what) {
    for (const auto& [data, size] : pieces) {
        const auto* p = static_cast<const uint8_t*>(data);
        size_t n = size;
        while (n > 0) {
            const ssize_t put = ::write(fd, p, std::min<size_t>(n, size_t(1) << 30));
            if (put < 0 && errno == EINTR) continue;
            if (put < 0) failFile(path, what, errnoText(errno));
            if (put == 0) failFile(path, what, "the device accepts no more bytes");
            p += put;
            n -= size_t(put);
        }
    }
}

void fsyncFolder(const std::string& dir) {
    // Some file systems refuse a directory fsync; that costs durability only.
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

// A device, FIFO or socket: written in place, never replaced.
void writeDirect(const std::string& path, const std::string& real, const struct stat& st,
                 const std::vector<std::pair<const void*, size_t>>& pieces, const std::string& what) {
    // A FIFO nobody reads would block for ever: open it non-blocking (ENXIO
    // then), and write blocking once a reader is there.
    const bool fifo = S_ISFIFO(st.st_mode);
    const int fd = ::open(real.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY | (fifo ? O_NONBLOCK : 0));
    if (fd < 0) failFile(path, what, errno == ENXIO && fifo ? "no process reads the FIFO" : errnoText(errno));
    try {
        if (fifo) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        writeAllTo(fd, pieces, path, what);
    } catch (...) {
        ::close(fd);
        throw;
    }
    if (::close(fd) != 0 && errno != EINTR) failFile(path, what, errnoText(errno));
}

}  // namespace

void checkOutputFile(const std::string& path, const std::string& what) {
    if (path.empty()) fail(ErrorKind::Io, "cannot write the " + what + ": the file name is empty");
    if (standardDescriptor(path) >= 0) return;
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) failFile(path, what, "it is a folder; give a file name");
        if (::access(path.c_str(), W_OK) != 0) failFile(path, what, errnoText(errno));
        if (S_ISREG(st.st_mode)) {
            // Replaced by a rename: its folder must take a new file.
            char* real = ::realpath(path.c_str(), nullptr);
            const std::string dir = real ? parentOf(real) : parentOf(path);
            std::free(real);
            if (::access(dir.c_str(), W_OK | X_OK) != 0)
                failFile(path, what, "the folder " + quoted(dir) + " is not writable (" + errnoText(errno) + ")");
        }
        return;
    }
    const int e = errno;
    if (e == ELOOP) failFile(path, what, "too many levels of symbolic links");
    if (e == ENAMETOOLONG) failFile(path, what, "the file name is too long");
    if (e != ENOENT && e != ENOTDIR) failFile(path, what, errnoText(e));
    const std::string real = followLinks(path, what);
    const std::string dir = parentOf(real);
    struct stat ds;
    if (::stat(dir.c_str(), &ds) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) failFile(path, what, "the folder " + quoted(dir) + " does not exist");
        failFile(path, what, "the folder " + quoted(dir) + ": " + errnoText(errno));
    }
    if (!S_ISDIR(ds.st_mode)) failFile(path, what, quoted(dir) + " is not a folder");
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        failFile(path, what, "the folder " + quoted(dir) + " is not writable (" + errnoText(errno) + ")");
}

void writeFileAtomically(const std::string& path, std::string_view bytes, const std::string& what) {
    writeFileAtomically(path, {{bytes.data(), bytes.size()}}, what);
}

void writeFileAtomically(const std::string& path, const std::vector<std::pair<const void*, size_t>>& pieces,
                         const std::string& what) {
    if (path.empty()) fail(ErrorKind::Io, "cannot write the " + what + ": the file name is empty");
    if (const int fd = standardDescriptor(path); fd >= 0) {
        writeAllTo(fd, pieces, path, what);
        return;
    }
    struct stat st;
    const bool exists = ::stat(path.c_str(), &st) == 0;
    if (!exists && errno == ELOOP) failFile(path, what, "too many levels of symbolic links");
    if (exists && S_ISDIR(st.st_mode)) failFile(path, what, "it is a folder; give a file name");
    std::string real;
    if (exists) {
        char* r = ::realpath(path.c_str(), nullptr);
        real = r ? std::string(r) : path;
        std::free(r);
    } else {
        real = followLinks(path, what);
    }
    if (exists && !S_ISREG(st.st_mode)) {
        writeDirect(path, real, st, pieces, what);
        return;
    }
    if (exists && ::access(path.c_str(), W_OK) != 0) failFile(path, what, errnoText(errno));

    // A regular file, or a new one: a unique temporary beside it, renamed over it.
    const mode_t mode = exists ? (st.st_mode & 07777) : 0666;
    std::string tmp;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
        tmp = tempSibling(real, ".kme-tmp-");
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, exists ? 0600 : mode);
        if (fd < 0 && errno != EEXIST) {
            const int e = errno;
            if (e == ENOENT || e == ENOTDIR) failFile(path, what, "the folder " + quoted(parentOf(real)) + " does not exist");
            failFile(path, what, errnoText(e));
        }
    }
    if (fd < 0) failFile(path, what, "cannot create a temporary file beside it");
    try {
        if (exists) ::fchmod(fd, mode);  // keep the replaced file's permissions
        writeAllTo(fd, pieces, path, what);
        if (::fsync(fd) != 0) failFile(path, what, errnoText(errno));
        const int f = fd;
        fd = -1;
        if (::close(f) != 0) failFile(path, what, errnoText(errno));
        if (::rename(tmp.c_str(), real.c_str()) != 0) failFile(path, what, errnoText(errno));
    } catch (...) {
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    fsyncFolder(parentOf(real));
}

// ------------------------------------------------------------------ folders

namespace {

// The absolute, normalised folder name (symlinks of the folder itself
// followed), without a trailing slash.
std::string resolveFolder(const std::string& dir) {
    std::error_code ec;
    fs::path p = fs::absolute(fs::path(dir), ec).lexically_normal();
    if (ec) fail(ErrorKind::Io, dir + ": " + ec.message());
    std::string s = p.string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    struct stat st;
    if (::lstat(s.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
        char* r = ::realpath(s.c_str(), nullptr);
        if (!r) fail(ErrorKind::Io, dir + ": a symbolic link to a missing folder (" + errnoText(errno) + ")");
        s = r;
        std::free(r);
    }
    return s;
}

std::string commandName(const std::string& c) { return "`kme " + c + "`"; }

std::string entryList(const std::vector<std::string>& names) {
    std::string s;
    const size_t shown = std::min<size_t>(names.size(), 3);
    for (size_t i = 0; i < shown; ++i) s += (i ? ", " : "") + quoteForMessage(names[i], 60);
    if (names.size() > shown) s += " and " + std::to_string(names.size() - shown) + " more";
    return s;
}

void fsyncTree(const std::string& dir) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        if (it->is_symlink(ec)) continue;
        if (it->is_directory(ec)) {
            fsyncFolder(it->path().string());
        } else if (it->is_regular_file(ec)) {
            const int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) continue;
            const int rc = ::fsync(fd);
            const int e = errno;
            ::close(fd);
            if (rc != 0 && e != EINVAL) fail(ErrorKind::Io, it->path().string() + ": fsync failed: " + errnoText(e));
        }
    }
    fsyncFolder(dir);
}

}  // namespace

void checkOutputFolder(const std::string& dir, const std::vector<std::string>& commands, bool force) {
    if (dir.empty()) fail(ErrorKind::Io, "the output folder name is empty");
    const std::string target = resolveFolder(dir);
    if (target == "/") fail(ErrorKind::Io, dir + ": cannot write an output folder over the root folder");
    const std::string parent = parentOf(target);
    struct stat ps;
    if (::stat(parent.c_str(), &ps) != 0 || !S_ISDIR(ps.st_mode))
        fail(ErrorKind::Io, dir + ": cannot write the folder: its parent " + quoted(parent) + " does not exist");
    if (::access(parent.c_str(), W_OK | X_OK) != 0)
        fail(ErrorKind::Io, dir + ": cannot write the folder: its parent " + quoted(parent) + " is not writable (" +
                                errnoText(errno) + ")");
    struct stat st;
    if (::stat(target.c_str(), &st) != 0) {
        if (errno == ENOENT) return;
        fail(ErrorKind::Io, dir + ": " + errnoText(errno));
    }
    if (!S_ISDIR(st.st_mode)) fail(ErrorKind::Io, dir + ": exists and is not a folder; choose a folder name");

    std::vector<std::string> entries;
    std::error_code ec;
    for (auto it = fs::directory_iterator(target, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
        entries.push_back(it->path().filename().string());
    if (ec) fail(ErrorKind::Io, dir + ": cannot list the folder (" + ec.message() + ")");
    std::sort(entries.begin(), entries.end());
    if (entries.empty() || force) return;

    const std::string forceHint = commands.empty() ? "" : ", or pass --force to replace it and everything in it";
    const std::string self = commands.empty() ? std::string() : commandName(commands.front());
    const bool marked = std::find(entries.begin(), entries.end(), kOutputMarkerFile) != entries.end();
    if (!marked || commands.empty())
        fail(ErrorKind::Io, dir + ": the folder exists and is not empty (it holds " + entryList(entries) +
                                "): choose a new or empty folder" + forceHint);
    std::string command;
    std::set<std::string> written;
    try {
        const nlohmann::json m = readJsonFile(target + "/" + kOutputMarkerFile, "output marker", 1 << 20, 4);
        command = m.at("command").get<std::string>();
        for (const auto& f : m.at("files")) written.insert(f.get<std::string>());
    } catch (const std::exception&) {
        fail(ErrorKind::Io, dir + ": the folder is not empty and its " + kOutputMarkerFile +
                                " is unreadable: choose a new or empty folder" + forceHint);
    }
    if (std::find(commands.begin(), commands.end(), command) == commands.end())
        fail(ErrorKind::Io, dir + ": the folder holds an output of " + commandName(command) + ", not of " + self +
                                ": choose another folder" + forceHint);
    std::vector<std::string> foreign;
    for (const auto& e : entries)
        if (e != kOutputMarkerFile && !written.count(e)) foreign.push_back(e);
    if (!foreign.empty())
        fail(ErrorKind::Io, dir + ": the folder is an earlier output of " + self + " but also holds files kme did not write (" +
                                entryList(foreign) + "): move them away" + forceHint);
}

OutputFolder::OutputFolder(const std::string& dir, std::vector<std::string> commands, bool force)
    : given_(dir), commands_(std::move(commands)), force_(force) {
    checkOutputFolder(given_, commands_, force_);
    target_ = resolveFolder(given_);
    for (int attempt = 0; attempt < 100 && temp_.empty(); ++attempt) {
        const std::string t = tempSibling(target_, ".kme-tmp-");
        if (::mkdir(t.c_str(), 0777) == 0) {
            temp_ = t;
        } else if (errno != EEXIST) {
            fail(ErrorKind::Io, given_ + ": cannot create a temporary folder beside it (" + errnoText(errno) + ")");
        }
    }
    if (temp_.empty()) fail(ErrorKind::Io, given_ + ": cannot create a temporary folder beside it");
}

std::string OutputFolder::renamed(const std::string& message) const {
    std::string out = message;
    if (temp_.empty()) return out;
    std::string name = given_;
    while (name.size() > 1 && name.back() == '/') name.pop_back();
    for (size_t at = out.find(temp_); at != std::string::npos; at = out.find(temp_, at + name.size()))
        out.replace(at, temp_.size(), name);
    return out;
}

OutputFolder::~OutputFolder() {
    if (committed_ || temp_.empty()) return;
    std::error_code ec;
    fs::remove_all(temp_, ec);
}

void OutputFolder::commit() {
    if (committed_) return;
    // The folder may have changed since the check (another process).
    checkOutputFolder(given_, commands_, force_);
    if (!commands_.empty()) {
        std::vector<std::string> files;
        std::error_code ec;
        for (auto it = fs::directory_iterator(temp_, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
            files.push_back(it->path().filename().string());
        std::sort(files.begin(), files.end());
        const nlohmann::json marker = {{"command", commands_.front()},
                                       {"files", files},
                                       {"note", "written by kme: a later run of the same command may replace this "
                                                "folder; anything else in it makes kme refuse"}};
        writeFileAtomically(temp_ + "/" + kOutputMarkerFile, marker.dump(2) + "\n", "output marker");
    }
    fsyncTree(temp_);

    struct stat st;
    if (::stat(target_.c_str(), &st) != 0) {
        if (::rename(temp_.c_str(), target_.c_str()) != 0)
            fail(ErrorKind::Io, given_ + ": cannot move the finished folder into place (" + errnoText(errno) + ")");
    } else {
        bool swapped = false;
#if defined(SYS_renameat2)
        // Atomic: the new folder and the previous one trade places.
        constexpr unsigned kRenameExchange = 1u << 1;  // RENAME_EXCHANGE
        if (::syscall(SYS_renameat2, AT_FDCWD, temp_.c_str(), AT_FDCWD, target_.c_str(), kRenameExchange) == 0) {
            swapped = true;
        } else if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
            fail(ErrorKind::Io, given_ + ": cannot move the finished folder into place (" + errnoText(errno) + ")");
        }
#endif
        if (swapped) {
            std::error_code ec;
            fs::remove_all(temp_, ec);  // now the previous folder
        } else {
            const std::string old = tempSibling(target_, ".kme-old-");
            if (::rename(target_.c_str(), old.c_str()) != 0)
                fail(ErrorKind::Io, given_ + ": cannot move the previous folder aside (" + errnoText(errno) + ")");
            if (::rename(temp_.c_str(), target_.c_str()) != 0) {
                const int e = errno;
                ::rename(old.c_str(), target_.c_str());
                fail(ErrorKind::Io, given_ + ": cannot move the finished folder into place (" + errnoText(e) + ")");
            }
            std::error_code ec;
            fs::remove_all(old, ec);
        }
    }
    committed_ = true;
    fsyncFolder(parentOf(target_));
}

bool isSameOrInside(const std::string& a, const std::string& b) {
    std::error_code ec;
    const fs::path pa = fs::weakly_canonical(fs::absolute(a, ec), ec);
    if (ec) return false;
    const fs::path pb = fs::weakly_canonical(fs::absolute(b, ec), ec);
    if (ec) return false;
    std::string sa = pa.string(), sb = pb.string();
    while (sa.size() > 1 && sa.back() == '/') sa.pop_back();
    while (sb.size() > 1 && sb.back() == '/') sb.pop_back();
    if (sa == sb) return true;
    if (sb == "/") return true;
    return sa.size() > sb.size() && sa.compare(0, sb.size(), sb) == 0 && sa[sb.size()] == '/';
}

}  // namespace kme
