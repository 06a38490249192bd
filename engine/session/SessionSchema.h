#pragma once
// The session file's schema: its version, the application id that marks a
// file as a KME session, and the migration steps that bring a file of any
// older version (0 = a new, empty file) up to kSchemaVersion.
#include <cstdint>
#include <vector>

namespace kme {

// PRAGMA user_version of a session written by this build. A file with a
// larger version was written by a newer KME Studio and is refused.
inline constexpr int kSchemaVersion = 2;

// PRAGMA application_id of a session file: "KMES" in ASCII. A file with
// another non-zero application id belongs to another program.
inline constexpr int32_t kSessionApplicationId = 0x4B4D4553;

struct MigrationStep {
    int toVersion;            // user_version after this step
    const char* description;  // "initial schema"
    const char* sql;          // statements run inside the migration transaction
};

// Steps in increasing toVersion, the last one reaching kSchemaVersion. A
// schema change appends a step (never edits a shipped one) and bumps
// kSchemaVersion.
const std::vector<MigrationStep>& migrationSteps();

// The tables a file at kSchemaVersion holds (checked on every open).
const std::vector<const char*>& schemaTables();

}  // namespace kme
