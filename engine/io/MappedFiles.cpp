#include "engine/io/MappedFiles.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

namespace kme {

namespace {

// A fixed table: the handler must not allocate or lock.
constexpr int kSlots = 256;
constexpr size_t kPathBytes = 1024;

struct Slot {
    std::atomic<const char*> base{nullptr};
    std::atomic<size_t> size{0};
    char path[kPathBytes] = {};
};

Slot g_slots[kSlots];
std::mutex g_writers;  // registration only; the handler reads without it
const char* g_program = "kme";

void writeAll(const char* s) {
    size_t n = std::strlen(s);
    while (n > 0) {
        const ssize_t w = ::write(2, s, n);
        if (w <= 0) return;
        s += w;
        n -= size_t(w);
    }
}

const Slot* slotAt(const void* address) {
    const char* a = static_cast<const char*>(address);
    for (const Slot& s : g_slots) {
        const char* b = s.base.load(std::memory_order_acquire);
        if (b && a >= b && a < b + s.size.load(std::memory_order_acquire)) return &s;
    }
    return nullptr;
}

void onSigbus(int sig, siginfo_t* info, void*) {
    const Slot* s = info ? slotAt(info->si_addr) : nullptr;
    if (!s) {
        ::signal(sig, SIG_DFL);
        ::raise(sig);
        return;
    }
    writeAll(g_program);
    writeAll(": ");
    writeAll(s->path);
    writeAll(" changed or was truncated while it was open (a read of its memory-mapped data failed); "
             "do not rewrite a model's files while it is open\n");
    ::_exit(1);
}

}  // namespace

void registerMappedFile(const void* base, size_t size, const std::string& path) {
    if (!base || size == 0) return;
    std::lock_guard<std::mutex> lock(g_writers);
    for (Slot& s : g_slots) {
        if (s.base.load() != nullptr) continue;
        const size_t n = std::min(path.size(), kPathBytes - 1);
        std::memcpy(s.path, path.data(), n);
        s.path[n] = '\0';
        s.size.store(size, std::memory_order_release);
        s.base.store(static_cast<const char*>(base), std::memory_order_release);
        return;
    }
    // More than kSlots mappings at once: that file's faults keep the default action.
}

void unregisterMappedFile(const void* base) {
    std::lock_guard<std::mutex> lock(g_writers);
    for (Slot& s : g_slots)
        if (s.base.load() == base) {
            s.base.store(nullptr, std::memory_order_release);
            s.size.store(0, std::memory_order_release);
        }
}

std::string mappedFileAt(const void* address) {
    const Slot* s = slotAt(address);
    return s ? std::string(s->path) : std::string();
}

void installMappedFileFaultHandler(const char* program) {
    g_program = program;
    struct sigaction sa {};
    sa.sa_sigaction = onSigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, nullptr);
}

}  // namespace kme
