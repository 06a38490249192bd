#pragma once
// Helpers shared by the session tests (test_session*.cpp): deterministic
// records and raw SQLite access that bypasses the store.
#include <sqlite3.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "engine/session/SessionStore.h"

namespace kme::testing {

// `size` bytes determined by `seed`, all 256 byte values (zeros included).
inline std::string patternBytes(uint64_t seed, size_t size) {
    std::string s(size, '\0');
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < size; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s[i] = char(x & 0xff);
    }
    return s;
}

inline EditRecord sampleEdit(int i, size_t deltaSize = 1000) {
    EditRecord e;
    e.name = "edit " + std::to_string(i);
    e.method = i % 2 ? "memit" : "rome";
    e.requestJson = R"({"prompt":"{} is located in","subject":"S)" + std::to_string(i) + R"(","target_new":" Rome"})";
    e.hparamsJson = R"({"layer":)" + std::to_string(i % 6) + "}";
    e.delta = patternBytes(uint64_t(i), deltaSize);
    e.computedOnHash = "before-" + std::to_string(i);
    e.weightsHashAfter = "after-" + std::to_string(i);
    return e;
}

// The edits of the kill test's writer: 16..208 KiB deltas, so that a commit
// spans many pages and a kill often lands in the middle of one.
inline EditRecord writerEdit(int i) { return sampleEdit(i, 16384 + size_t(i % 13) * 16384); }

inline TraceRecord sampleTrace(int i) {
    TraceRecord t;
    t.requestJson = R"({"prompt":"The Eiffel Tower is in","subject":"The Eiffel Tower","i":)" + std::to_string(i) + "}";
    t.resultJson = R"({"scores":{"hidden":[[0.1,0.2],[0.3,)" + std::to_string(i) + "]]}}";
    return t;
}

inline std::string readFileBytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

inline void writeFileBytes(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << bytes;
}

// A raw connection for setting up hostile files and inspecting ones the
// store wrote.
class RawDb {
public:
    explicit RawDb(const std::string& path, int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) {
        if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK)
            throw std::runtime_error("raw open failed: " + path);
    }
    ~RawDb() { sqlite3_close(db_); }
    RawDb(const RawDb&) = delete;
    RawDb& operator=(const RawDb&) = delete;
    void exec(const std::string& sql) {
        char* msg = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
            const std::string m = msg ? msg : "?";
            sqlite3_free(msg);
            throw std::runtime_error("raw exec failed: " + sql + ": " + m);
        }
    }
    std::string text(const std::string& sql) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
            throw std::runtime_error("raw prepare failed: " + sql + ": " + sqlite3_errmsg(db_));
        std::string out;
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return out;
    }
    int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }

private:
    sqlite3* db_ = nullptr;
};

}  // namespace kme::testing
