#pragma once
// Opening a session file (private to engine/session): refuse what is not a
// session of this build before SQLite may write to it, switch to WAL, and
// create / migrate the schema inside one transaction.
#include <memory>
#include <string>

#include "engine/session/SessionStore.h"
#include "engine/session/Sqlite.h"

namespace kme {

// Opens `path` per `options` and returns the connection, foreign keys on,
// at kSchemaVersion (`schemaVersion` receives it). Throws kme::Error
// (Database / Io) naming the file: not SQLite, truncated, damaged, another
// program's database, a newer schema, or (read-only) a file that would need
// creating or migrating. A refused file is left exactly as it was.
std::unique_ptr<sqlite::Connection> openSessionFile(const std::string& path, const SessionOpenOptions& options,
                                                    int& schemaVersion);

}  // namespace kme
