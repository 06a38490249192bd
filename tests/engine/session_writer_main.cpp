// The child process of test_session's kill test:
//   session_writer FILE FIRST_INDEX
// saves records into FILE forever (edits with 16..208 KiB deltas, every
// third save a trace) and prints "E|T <id> <index>" on stdout after each
// commit returned, until it is killed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/session/SessionStore.h"
#include "test_session_support.h"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: session_writer FILE FIRST_INDEX\n");
        return 2;
    }
    try {
        kme::SessionStore store(argv[1]);
        for (int i = std::atoi(argv[2]);; ++i) {
            char line[64];
            if (i % 3 == 2) {
                const int64_t id = store.addTrace(kme::testing::sampleTrace(i));
                std::snprintf(line, sizeof line, "T %lld %d\n", static_cast<long long>(id), i);
            } else {
                const int64_t id = store.addEdit(kme::testing::writerEdit(i));
                std::snprintf(line, sizeof line, "E %lld %d\n", static_cast<long long>(id), i);
            }
            // Unbuffered: the parent sees each report as soon as it is made.
            if (::write(1, line, std::strlen(line)) < 0) return 3;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "session_writer: %s\n", e.what());
        return 1;
    }
}
