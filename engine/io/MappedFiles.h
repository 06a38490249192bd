#pragma once
// Memory-mapped checkpoint files and the one failure mmap cannot report as an
// error code: another process truncating or rewriting a mapped file makes a
// later read fault with SIGBUS. The registry below remembers which file every
// mapping belongs to, so that a fault handler installed by a program can end
// it with one line naming that file (exit status 1) instead of a crash.
#include <cstddef>
#include <string>

namespace kme {

// Called by the safetensors reader around mmap / munmap.
void registerMappedFile(const void* base, size_t size, const std::string& path);
void unregisterMappedFile(const void* base);

// The registered file containing `address`, or "" (for tests and the handler).
std::string mappedFileAt(const void* address);

// Installs a SIGBUS handler: a fault inside a registered mapping prints
// "PROGRAM: PATH changed or was truncated while it was open (...)" to stderr
// and exits with status 1; any other SIGBUS keeps its default action.
void installMappedFileFaultHandler(const char* program);

}  // namespace kme
