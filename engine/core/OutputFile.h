#pragma once
// Writing outputs without destroying anything a user owns. Every file and
// folder that kme writes on a user's behalf (--json, --csv, --png,
// --noise-out, --out folders, model folders, caches) goes through here.
//
// Files: a regular target (or a new one) is written to a unique temporary
// name in the same folder (NAME.kme-tmp-XXXXXX, created exclusively, so no
// existing file is ever clobbered), fsync'ed and renamed over the target; the
// temporary is removed on every error path (disk full included). A symlink is
// followed: the file it points to is replaced and the link stays. A target
// that is not a regular file (a device such as /dev/null or /dev/full, a
// FIFO, /dev/stdout) is written directly and never replaced.
//
// Folders: OutputFolder writes everything into a temporary sibling
// (DIR.kme-tmp-XXXXXX) and swaps it into place at commit(); on any error
// before that the temporary is removed and DIR is untouched. An existing
// non-empty DIR is refused unless it is an earlier output of the same command
// (marked by .kme-output.json, holding nothing else) or `force` is set.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/core/Error.h"

namespace kme {

// The marker file of a folder output: {"command": ..., "files": [...]}.
constexpr const char* kOutputMarkerFile = ".kme-output.json";

// Checks before the work that `path` can receive the output `what` ("JSON
// output", "CSV output", "PNG"): the parent folder exists and is writable,
// the target (symlinks followed) is not a folder and, when it exists, is
// writable. Throws ErrorKind::Io "PATH: cannot write the WHAT: REASON".
void checkOutputFile(const std::string& path, const std::string& what);

// Writes `bytes` to `path` as described above. Throws ErrorKind::Io
// "PATH: cannot write the WHAT: REASON" (nothing is left behind).
void writeFileAtomically(const std::string& path, std::string_view bytes, const std::string& what);
// The same for bytes given as pieces written back to back.
void writeFileAtomically(const std::string& path, const std::vector<std::pair<const void*, size_t>>& pieces,
                         const std::string& what);

// Checks before the work that the folder `dir` may receive an output of
// `command` ("edit", "train-demo", "session replay"): its parent exists and
// is writable; `dir` is missing, an empty folder, an earlier output of one of
// `commands` holding only what it wrote, or `force` is set. An empty
// `commands` list accepts only a missing or empty folder. Throws
// ErrorKind::Io naming `dir` and saying what to do.
void checkOutputFolder(const std::string& dir, const std::vector<std::string>& commands, bool force);

class OutputFolder {
public:
    // checkOutputFolder(dir, commands, force), then creates the temporary
    // sibling. commands.front() is the command written into the marker; with
    // no commands no marker is written.
    OutputFolder(const std::string& dir, std::vector<std::string> commands, bool force);
    ~OutputFolder();  // removes the temporary folder unless committed
    OutputFolder(const OutputFolder&) = delete;
    OutputFolder& operator=(const OutputFolder&) = delete;

    // The temporary folder to write into.
    const std::string& path() const { return temp_; }
    // The folder the output ends up in (symlinks resolved).
    const std::string& target() const { return target_; }
    // Runs write(path()); a kme::Error it throws names the folder given
    // instead of the temporary one (Cancelled passes through as it is).
    template <class Write>
    void write(Write&& write) {
        try {
            write(temp_);
        } catch (const Cancelled&) {
            throw;
        } catch (const Error& e) {
            throw Error(e.kind(), renamed(e.what()));
        }
    }
    // `message` with the temporary folder's name replaced by the given one.
    std::string renamed(const std::string& message) const;
    // Writes the marker, fsyncs the files, and swaps the temporary folder into
    // place (the previous folder, if any, is removed only then). Throws
    // ErrorKind::Io; the temporary is then removed and `dir` left as it was.
    void commit();

private:
    std::string given_, target_, temp_;
    std::vector<std::string> commands_;
    bool force_ = false;
    bool committed_ = false;
};

// True when a and b name the same existing file or folder, or a is inside b.
bool isSameOrInside(const std::string& a, const std::string& b);

}  // namespace kme
