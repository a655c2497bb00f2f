// The embedded default datastore: one SQLite file in WAL mode with synchronous=FULL, so every
// acknowledged write survives kill -9 and power loss. Schema changes are versioned migrations
// recorded in PRAGMA user_version.
#ifndef WARD_STORE_SQLITE_STORE_H_
#define WARD_STORE_SQLITE_STORE_H_

#include <memory>
#include <string>

#include "store/datastore.h"

namespace ward::store {

// Opens (creating with mode 0600 if needed) and migrates the database at `path`.
Result<std::unique_ptr<DataStore>> OpenSqliteStore(const std::string& path);

// The schema version this build migrates to.
int SqliteSchemaVersion();

}  // namespace ward::store

#endif  // WARD_STORE_SQLITE_STORE_H_
