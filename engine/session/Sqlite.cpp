#include "engine/session/Sqlite.h"

#include <sqlite3.h>

#include "engine/core/Error.h"

namespace kme::sqlite {

std::string describeResult(int rc, int busyTimeoutMs) {
    switch (rc & 0xff) {
        case SQLITE_FULL: return "the disk is full or the session file reached its size limit";
        case SQLITE_READONLY: return "the session file is read-only";
        case SQLITE_NOTADB: return "it is not an SQLite database (not a KME session file)";
        case SQLITE_CORRUPT: return "the file is damaged or truncated";
        case SQLITE_BUSY:
            return "another program is using the session file (gave up after " + std::to_string(busyTimeoutMs) + " ms)";
        case SQLITE_LOCKED: return "the session is locked by another statement of this program";
        case SQLITE_CANTOPEN: return "the file cannot be opened (missing, or its folder is not writable)";
        case SQLITE_IOERR: return "an I/O error occurred while reading or writing the file";
        case SQLITE_NOMEM: return "out of memory";
        case SQLITE_TOOBIG: return "a value is too large to store (SQLite's limit is 1 GB per value)";
        case SQLITE_CONSTRAINT: return "a consistency rule of the session was violated";
        case SQLITE_PERM:
        case SQLITE_AUTH: return "permission denied";
        default: return sqlite3_errstr(rc);
    }
}

// ---------------------------------------------------------------- Query

Query::Query(Connection& connection, sqlite3_stmt* stmt, bool* busy, const char* doing)
    : connection_(&connection), stmt_(stmt), busy_(busy), doing_(doing) {
    if (busy_) *busy_ = true;
}

Query::Query(Query&& other) noexcept
    : connection_(other.connection_), stmt_(other.stmt_), busy_(other.busy_), doing_(other.doing_) {
    other.stmt_ = nullptr;
    other.busy_ = nullptr;
}

Query::~Query() {
    if (!stmt_) return;
    if (!busy_) {
        sqlite3_finalize(stmt_);
        return;
    }
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *busy_ = false;
}

Query& Query::bind(int index, int64_t value) {
    const int rc = sqlite3_bind_int64(stmt_, index, value);
    if (rc != SQLITE_OK) connection_->fail(rc, doing_);
    return *this;
}

Query& Query::bind(int index, const std::string& text) {
    // SQLITE_TRANSIENT: SQLite copies, so temporaries may be bound.
    const int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    if (rc != SQLITE_OK) connection_->fail(rc, doing_);
    return *this;
}

Query& Query::bind(int index, const std::optional<int64_t>& value) {
    const int rc = value ? sqlite3_bind_int64(stmt_, index, *value) : sqlite3_bind_null(stmt_, index);
    if (rc != SQLITE_OK) connection_->fail(rc, doing_);
    return *this;
}

Query& Query::bindBlob(int index, std::string_view bytes) {
    // The caller keeps `bytes` alive until the statement has run (deltas can
    // be large: no copy). An empty blob is stored as a zero-length blob, not NULL.
    const int rc = bytes.empty() ? sqlite3_bind_zeroblob(stmt_, index, 0)
                                 : sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_STATIC);
    if (rc != SQLITE_OK) connection_->fail(rc, doing_);
    return *this;
}

bool Query::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    connection_->fail(rc, doing_);
}

void Query::run() {
    while (step()) {
    }
}

int64_t Query::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Query::text(int column) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    const int n = sqlite3_column_bytes(stmt_, column);
    return p ? std::string(p, size_t(n)) : std::string();
}

std::string Query::blob(int column) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
    const int n = sqlite3_column_bytes(stmt_, column);
    return p ? std::string(p, size_t(n)) : std::string();
}

std::optional<int64_t> Query::optInt64(int column) const {
    if (isNull(column)) return std::nullopt;
    return int64(column);
}

bool Query::isNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

// ---------------------------------------------------------------- Connection

Connection::Connection(const std::string& path, bool readOnly, bool create, int busyTimeoutMs)
    : path_(path), busyTimeoutMs_(busyTimeoutMs) {
    // NOMUTEX: multi-thread mode. A connection is used by one thread at a
    // time (the store's documented contract), so SQLite's per-connection
    // mutex is not needed.
    int flags = SQLITE_OPEN_NOMUTEX;
    flags |= readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0));
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        const std::string detail = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close(db_);
        db_ = nullptr;
        kme::fail(ErrorKind::Database, path_ + ": cannot open the session: " + describeResult(rc, busyTimeoutMs_) +
                                           " (sqlite: " + detail + ")");
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, busyTimeoutMs);
}

Connection::~Connection() {
    for (auto& [sql, cached] : cache_) sqlite3_finalize(cached.stmt);
    // The last connection to close checkpoints the WAL into the main file.
    if (db_) sqlite3_close(db_);
}

void Connection::fail(int rc, const char* doing) const {
    std::string detail = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    kme::fail(ErrorKind::Database,
              path_ + ": cannot " + doing + ": " + describeResult(rc, busyTimeoutMs_) + " (sqlite: " + detail + ")");
}

Query Connection::query(const char* sql, const char* doing) {
    auto it = cache_.find(sql);
    if (it != cache_.end() && it->second.busy) {
        // The cached statement is in use further up the stack: a one-off.
        sqlite3_stmt* stmt = nullptr;
        const int rc = sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr);
        if (rc != SQLITE_OK) fail(rc, doing);
        return Query(*this, stmt, nullptr, doing);
    }
    if (it == cache_.end()) {
        sqlite3_stmt* stmt = nullptr;
        const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
        if (rc != SQLITE_OK) fail(rc, doing);
        it = cache_.emplace(sql, Cached{stmt, false}).first;
    }
    return Query(*this, it->second.stmt, &it->second.busy, doing);
}

void Connection::exec(const std::string& sql, const char* doing) {
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) fail(rc, doing);
}

int64_t Connection::scalar(const char* sql, const char* doing) {
    Query q = query(sql, doing);
    return q.step() ? q.int64(0) : 0;
}

std::string Connection::scalarText(const char* sql, const char* doing) {
    Query q = query(sql, doing);
    return q.step() ? q.text(0) : std::string();
}

bool Connection::inTransaction() const { return sqlite3_get_autocommit(db_) == 0; }
int64_t Connection::lastInsertId() const { return sqlite3_last_insert_rowid(db_); }
int Connection::changes() const { return sqlite3_changes(db_); }

// ---------------------------------------------------------------- WriteTransaction

WriteTransaction::WriteTransaction(Connection& connection, const char* doing) : connection_(connection), doing_(doing) {
    connection_.exec("BEGIN IMMEDIATE", doing_);
    open_ = true;
}

WriteTransaction::~WriteTransaction() {
    // SQLite itself may already have rolled back (after SQLITE_FULL,
    // SQLITE_IOERR, ...): only roll back a transaction that is still open.
    if (open_ && connection_.inTransaction()) sqlite3_exec(connection_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void WriteTransaction::commit() {
    connection_.exec("COMMIT", doing_);
    open_ = false;
}

}  // namespace kme::sqlite
