// SQLite for Swift: SQLITE_TRANSIENT is a cast of -1 to a function pointer, which Swift cannot
// import, so binds that need SQLite to copy the value get typed wrappers.
#ifndef TROVE_CSQLITE_SHIM_H
#define TROVE_CSQLITE_SHIM_H

#include <sqlite3.h>

static inline int trove_sqlite3_bind_text(sqlite3_stmt *statement, int index, const char *value, int length) {
    return sqlite3_bind_text(statement, index, value, length, SQLITE_TRANSIENT);
}

static inline int trove_sqlite3_bind_blob(sqlite3_stmt *statement, int index, const void *value, int length) {
    return sqlite3_bind_blob(statement, index, value, length, SQLITE_TRANSIENT);
}

#endif
