#pragma once
// A thin RAII layer over the sqlite3 C API, private to engine/session (only
// its .cpp files include this header). Every failure becomes a kme::Error of
// kind Database whose message names the file, says what was being done and
// translates SQLite's result code into words a user can act on.
//
// Threading: one Connection per thread. A Connection (and the statements it
// caches) must be used by one thread at a time; open a second Connection on
// the same file for another thread or process.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace kme::sqlite {

class Connection;

// A prepared statement borrowed from the connection's cache. Resets itself
// and clears its bindings when it goes out of scope, so a cached statement
// never keeps a read transaction open. Asking for the same SQL while a Query
// of it is still alive gives a fresh statement (finalized afterwards), so
// nested queries cannot reset each other.
class Query {
public:
    // `busy`: the cache entry's in-use flag (cleared on destruction), or
    // nullptr for a one-off statement this Query finalizes.
    Query(Connection& connection, sqlite3_stmt* stmt, bool* busy, const char* doing);
    ~Query();
    Query(Query&& other) noexcept;
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;
    Query& operator=(Query&&) = delete;

    // Parameters are 1-based, as in sqlite3_bind_*.
    Query& bind(int index, int64_t value);
    Query& bind(int index, const std::string& text);
    Query& bind(int index, const std::optional<int64_t>& value);  // nullopt -> NULL
    Query& bindBlob(int index, std::string_view bytes);

    // Steps once: true when a row is ready, false when done.
    bool step();
    // Steps to completion (INSERT / UPDATE / DELETE).
    void run();

    // Columns are 0-based, as in sqlite3_column_*.
    int64_t int64(int column) const;
    std::string text(int column) const;  // NULL -> ""
    std::string blob(int column) const;  // NULL -> ""
    std::optional<int64_t> optInt64(int column) const;
    bool isNull(int column) const;

private:
    Connection* connection_;
    sqlite3_stmt* stmt_;
    bool* busy_;         // cache entry's in-use flag; nullptr: a one-off statement
    const char* doing_;  // "save the edit", for error messages
};

class Connection {
public:
    // Opens `path` with SQLITE_OPEN_READONLY, or READWRITE (+ CREATE when
    // `create`). `displayPath` is the name used in messages.
    Connection(const std::string& path, bool readOnly, bool create, int busyTimeoutMs);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // A cached prepared statement for `sql` (prepared on first use).
    Query query(const char* sql, const char* doing);
    // Runs one or more statements without results (schema, PRAGMA, BEGIN).
    void exec(const std::string& sql, const char* doing);
    // Runs a statement returning one integer (PRAGMA user_version, count(*)).
    int64_t scalar(const char* sql, const char* doing);
    std::string scalarText(const char* sql, const char* doing);

    bool inTransaction() const;
    int64_t lastInsertId() const;
    int changes() const;
    const std::string& path() const { return path_; }
    sqlite3* handle() const { return db_; }

    // Throws the Database error for result code `rc` of the last call.
    [[noreturn]] void fail(int rc, const char* doing) const;

private:
    sqlite3* db_ = nullptr;
    std::string path_;
    int busyTimeoutMs_ = 0;
    struct Cached {
        sqlite3_stmt* stmt = nullptr;
        bool busy = false;  // a Query of it is alive
    };
    std::map<std::string, Cached> cache_;  // SQL text -> prepared statement
};

// Words for a result code: "the disk is full or ...". Used in messages.
std::string describeResult(int rc, int busyTimeoutMs);

// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed without commit().
// IMMEDIATE takes the write lock up front, so a writer waits (busy timeout)
// instead of failing half-way when another connection writes.
class WriteTransaction {
public:
    WriteTransaction(Connection& connection, const char* doing);
    ~WriteTransaction();
    WriteTransaction(const WriteTransaction&) = delete;
    WriteTransaction& operator=(const WriteTransaction&) = delete;
    void commit();

private:
    Connection& connection_;
    const char* doing_;
    bool open_ = false;
};

}  // namespace kme::sqlite
