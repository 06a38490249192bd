#include "engine/session/SessionFile.h"

#include <map>
#include <mutex>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <map>
#include <set>
#include <sqlite3.h>
#include <vector>

#include "engine/core/Error.h"
#include "engine/session/SessionSchema.h"

namespace fs = std::filesystem;

namespace kme {

namespace {

uint32_t bigEndian32(const unsigned char* p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Reads the 100-byte SQLite header ourselves before SQLite sees the file, so
// that a foreign or truncated file is refused with a precise message and is
// never written to. An empty file is a valid empty database (version 0).
void checkFileHeader(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return;
    if (fs::is_directory(path, ec)) fail(ErrorKind::Database, path + ": is a folder, not a session file");
    const uintmax_t size = fs::file_size(path, ec);
    if (ec) fail(ErrorKind::Io, path + ": cannot read the session file (" + ec.message() + ")");
    if (size == 0) return;
    unsigned char header[100] = {};
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(ErrorKind::Io, path + ": cannot read the session file");
    f.read(reinterpret_cast<char*>(header), sizeof header);
    static const char kMagic[16] = "SQLite format 3";  // 15 characters and a NUL
    const size_t got = size_t(f.gcount());
    const size_t cmp = std::min<size_t>(got, 16);
    if (std::memcmp(header, kMagic, cmp) != 0)
        fail(ErrorKind::Database, path + ": not a KME session file (it is not an SQLite database)");
    if (size < 100)
        fail(ErrorKind::Database, path + ": the session file is truncated (" + std::to_string(size) +
                                      " bytes, shorter than SQLite's 100-byte header)");
    uint32_t pageSize = (uint32_t(header[16]) << 8) | header[17];
    if (pageSize == 1) pageSize = 65536;
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) != 0)
        fail(ErrorKind::Database, path + ": the session file is damaged (invalid page size in its header)");

    // With a non-empty write-ahead log (or a hot rollback journal) beside it,
    // the main file may lag behind or be mid-update (an interrupted
    // checkpoint or transaction): SQLite recovers from the log, so leave the
    // size checks to it.
    for (const char* suffix : {"-wal", "-journal"}) {
        const uintmax_t sideSize = fs::file_size(path + suffix, ec);
        if (!ec && sideSize > 0) return;
    }
    if (size % pageSize != 0)
        fail(ErrorKind::Database, path + ": the session file is truncated (" + std::to_string(size) +
                                      " bytes is not a whole number of " + std::to_string(pageSize) + "-byte pages)");
    const uint32_t changeCounter = bigEndian32(header + 24);
    const uint32_t pages = bigEndian32(header + 28);
    const uint32_t validFor = bigEndian32(header + 92);
    if (pages != 0 && validFor == changeCounter && uintmax_t(pages) * pageSize > size)
        fail(ErrorKind::Database, path + ": the session file is truncated (its header says " + std::to_string(pages) +
                                      " pages = " + std::to_string(uintmax_t(pages) * pageSize) +
                                      " bytes, the file has " + std::to_string(size) + ")");
}

std::string hexId(int64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%08llX", static_cast<unsigned long long>(uint32_t(v)));
    return buf;
}

// Refuses files that are not (or not yet readable as) sessions of this build.
void checkIdentity(sqlite::Connection& db, int64_t version, int64_t appId) {
    const std::string& path = db.path();
    if (appId != 0 && appId != kSessionApplicationId)
        fail(ErrorKind::Database,
             path + ": not a KME session file (an SQLite database of another program, application id " + hexId(appId) +
                 ")");
    if (version > kSchemaVersion)
        fail(ErrorKind::Database, path + ": written by a newer KME Studio (session schema version " +
                                      std::to_string(version) + "; this build reads versions up to " +
                                      std::to_string(kSchemaVersion) +
                                      "). Open it with a newer KME Studio; the file was not changed");
    if (version < 0) fail(ErrorKind::Database, path + ": the session file is damaged (negative schema version)");
    if (version == 0 && appId == 0) {
        const int64_t tables =
            db.scalar("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'", "read the session schema");
        if (tables > 0)
            fail(
                ErrorKind::Database,
                path + ": not a KME session file (an SQLite database with other tables and no session schema version)");
    }
}

// A session file is untrusted input: SQLite must never run code stored in
// it. Triggers and views are switched off for the connection (a trigger in
// the file never fires, a view is never expanded) and schema-defined SQL may
// call only innocuous functions (trusted_schema=OFF). checkSchema() then
// refuses any object this build did not create.
void distrustSchema(sqlite::Connection& db) {
    int result = -1;
    for (int option : {SQLITE_DBCONFIG_ENABLE_TRIGGER, SQLITE_DBCONFIG_ENABLE_VIEW}) {
        const int rc = sqlite3_db_config(db.handle(), option, 0, &result);
        if (rc != SQLITE_OK || result != 0) db.fail(rc == SQLITE_OK ? SQLITE_ERROR : rc, "open the session safely");
    }
    sqlite3_db_config(db.handle(), SQLITE_DBCONFIG_DEFENSIVE, 1, &result);
    sqlite3_db_config(db.handle(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, &result);
    db.exec("PRAGMA trusted_schema = OFF", "open the session safely");
}

// The shape of one table as SQLite reports it: its columns (name, type,
// NOT NULL, default, primary-key index, hidden), its indexes and foreign keys.
struct TableShape {
    std::vector<std::string> columns;
    std::set<std::string> indexes;
    std::vector<std::string> foreignKeys;
    bool operator==(const TableShape& o) const {
        return columns == o.columns && indexes == o.indexes && foreignKeys == o.foreignKeys;
    }
};

struct SchemaShape {
    std::map<std::string, std::string> objects;  // name -> type ("table", "index", "trigger", "view")
    std::map<std::string, TableShape> tables;
};

std::string quoted(const std::string& s) { return "\"" + s + "\""; }  // an SQL identifier (names are checked first)

SchemaShape readShape(sqlite::Connection& db) {
    SchemaShape shape;
    {
        auto q = db.query("SELECT type, name FROM sqlite_master", "read the session schema");
        while (q.step()) shape.objects[q.text(1)] = q.text(0);
    }
    for (const auto& [name, type] : shape.objects) {
        if (type != "table" || name.find('"') != std::string::npos) continue;
        TableShape t;
        {
            // table_xinfo: cid, name, type, notnull, dflt_value, pk, hidden
            sqlite::Query q = db.query(("PRAGMA table_xinfo(" + quoted(name) + ")").c_str(), "read the session schema");
            while (q.step())
                t.columns.push_back(q.text(1) + " " + q.text(2) + " " + q.text(3) + " " + q.text(4) + " " + q.text(5) +
                                    " " + q.text(6));
        }
        {
            // index_list: seq, name, unique, origin, partial
            sqlite::Query q = db.query(("PRAGMA index_list(" + quoted(name) + ")").c_str(), "read the session schema");
            while (q.step()) t.indexes.insert(q.text(1) + " " + q.text(2) + " " + q.text(3) + " " + q.text(4));
        }
        {
            // foreign_key_list: id, seq, table, from, to, on_update, on_delete, match
            sqlite::Query q =
                db.query(("PRAGMA foreign_key_list(" + quoted(name) + ")").c_str(), "read the session schema");
            while (q.step())
                t.foreignKeys.push_back(q.text(2) + " " + q.text(3) + " " + q.text(4) + " " + q.text(5) + " " +
                                        q.text(6));
        }
        shape.tables[name] = std::move(t);
    }
    return shape;
}

// The schema of `version` (kSchemaVersion, or an older one read as it is
// by a read-only open), built once from the migration steps in an
// in-memory database.
const SchemaShape& expectedShape(int64_t version) {
    static std::mutex mutex;
    static std::map<int64_t, SchemaShape> shapes;
    std::lock_guard<std::mutex> lock(mutex);
    auto it = shapes.find(version);
    if (it != shapes.end()) return it->second;
    sqlite::Connection mem(":memory:", false, true, 0);
    for (const MigrationStep& step : migrationSteps())
        if (step.toVersion <= version) mem.exec(step.sql, "build the reference schema");
    return shapes.emplace(version, readShape(mem)).first->second;
}

// A schema object's name for a message: quoted, at most 60 bytes, control
// bytes as \xNN. (This file is also built without engine/core.)
std::string quoteForMessage(const std::string& s) {
    std::string out = "'";
    for (size_t i = 0; i < s.size() && i < 60; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else {
            out += char(c);
        }
    }
    return out + (s.size() > 60 ? "\u2026'" : "'");
}

// SQLite's own bookkeeping tables (AUTOINCREMENT's counters, ANALYZE's statistics).
bool sqliteInternal(const std::string& name, const std::string& type) {
    return type == "table" && (name == "sqlite_sequence" || name.rfind("sqlite_stat", 0) == 0);
}

// Refuses a file at kSchemaVersion whose schema is not exactly this build's:
// a trigger, view, table or index it did not create, or one of its tables
// with other columns, indexes or foreign keys. Runs before anything is
// written to the file.
void checkSchema(sqlite::Connection& db, int64_t version = kSchemaVersion) {
    const std::string& path = db.path();
    const SchemaShape& want = expectedShape(version);
    const SchemaShape have = readShape(db);
    for (const auto& [name, type] : have.objects) {
        if (sqliteInternal(name, type)) continue;
        const auto it = want.objects.find(name);
        if (it != want.objects.end() && it->second == type) continue;
        const std::string what = type == "trigger" || type == "view" ? "a " + type
                                 : type == "index"                  ? "an index"
                                 : type == "table"                  ? "a table"
                                                                    : "an object of type " + quoteForMessage(type);
        const std::string why = type == "trigger" || type == "view"
                                    ? "refused: a session file must not run code"
                                    : "refused: a session file holds only KME Studio's own tables";
        fail(ErrorKind::Database, path + ": the session file contains " + what + " " + quoteForMessage(name) +
                                      " that KME Studio did not create (" + why + ")");
    }
    for (const auto& [name, shape] : want.tables) {
        const auto it = have.tables.find(name);
        if (it == have.tables.end())
            fail(ErrorKind::Database, path + ": the session file is damaged (table '" + name + "' is missing)");
        if (!(it->second == shape))
            fail(ErrorKind::Database, path + ": the session file's table '" + name +
                                          "' is not the one KME Studio creates (other columns, indexes or keys; "
                                          "refused: not a session of this build)");
    }
}

// Creates or upgrades the schema in one transaction: a crash leaves the file
// as it was before (an empty file stays empty).
void migrate(sqlite::Connection& db, const fs::path& absPath, const SessionOpenOptions& options) {
    sqlite::WriteTransaction t(db, "upgrade the session schema");
    // Read again inside the write lock: another process may have
    // created or upgraded the file since we looked.
    const int64_t version = db.scalar("PRAGMA user_version", "read the session schema version");
    const int64_t appId = db.scalar("PRAGMA application_id", "read the session header");
    checkIdentity(db, version, appId);
    for (const MigrationStep& step : migrationSteps()) {
        if (step.toVersion <= version) continue;
        db.exec(step.sql, "upgrade the session schema");
        db.exec("PRAGMA user_version = " + std::to_string(step.toVersion), "upgrade the session schema");
    }
    if (appId == 0)
        db.exec("PRAGMA application_id = " + std::to_string(kSessionApplicationId), "mark the file as a session");
    if (db.scalar("SELECT count(*) FROM session", "read the session") == 0) {
        const std::string name = options.sessionName.empty() ? absPath.stem().string() : options.sessionName;
        db.query("INSERT INTO session (id, name, created, notes, app_version) VALUES (1, ?, ?, '', ?)",
                 "create the session")
            .bind(1, name)
            .bind(2, isoTimeNow())
            .bind(3, options.appVersion.empty() ? std::string(kmeVersion()) : options.appVersion)
            .run();
    }
    checkSchema(db);  // nothing foreign in the file: else roll back, the file stays as it was
    t.commit();
}

}  // namespace

std::unique_ptr<sqlite::Connection> openSessionFile(const std::string& path, const SessionOpenOptions& options,
                                                    int& schemaVersion) {
    std::error_code ec;
    const bool exists = fs::exists(path, ec);
    if (!exists && (options.readOnly || !options.create)) fail(ErrorKind::Io, path + ": no such session file");
    checkFileHeader(path);

    auto connection =
        std::make_unique<sqlite::Connection>(path, options.readOnly, options.create, options.busyTimeoutMs);
    sqlite::Connection& db = *connection;
    distrustSchema(db);
    db.exec("PRAGMA foreign_keys = ON", "open the session");
    int64_t version = db.scalar("PRAGMA user_version", "read the session schema version");
    const int64_t appId = db.scalar("PRAGMA application_id", "read the session header");
    checkIdentity(db, version, appId);
    // Before anything is written (WAL switch, migration): a file that claims
    // our version must hold exactly our schema.
    const bool checked = version >= kSchemaVersion;
    if (checked) checkSchema(db);

    if (options.readOnly) {
        if (version == 0)
            fail(ErrorKind::Database, path +
                                          ": not a KME session yet (the file is empty, nothing was ever saved in "
                                          "it; a read-only open does not create one)");
        // An older version is read as it is (SessionStore maps its columns);
        // it is upgraded the first time it is opened for writing.
    } else {
        // WAL: readers never block the writer and see consistent snapshots;
        // FULL: a commit that returned survives a power cut.
        const std::string mode = db.scalarText("PRAGMA journal_mode = WAL", "switch the session to WAL mode");
        if (mode != "wal")
            fail(ErrorKind::Database, path + ": cannot switch the session to WAL mode (journal mode stays '" + mode +
                                          "'; is the file on a network drive?)");
        db.exec("PRAGMA synchronous = FULL", "open the session");
        if (version < kSchemaVersion) migrate(db, fs::absolute(path).lexically_normal(), options);
        version = db.scalar("PRAGMA user_version", "read the session schema version");
        if (options.maxPageCount > 0)
            db.exec("PRAGMA max_page_count = " + std::to_string(options.maxPageCount), "set the size limit");
    }
    schemaVersion = int(version);

    // After a migration: the schema is exactly this build's (a read-only
    // open of an older file: exactly that version's).
    if (!checked) checkSchema(db, version);
    return connection;
}

}  // namespace kme
