// Catalog lookups that are safe before a database is selected: in the login
// hook (ClientAuthentication_hook) and in the governor while it is connected
// to the shared catalogs only.
//
// get_database_oid() always opens pg_database's name index; when the shared
// relcache init file (global/pg_internal.init) is missing -- after initdb,
// after a restart, after REINDEX or VACUUM FULL of a shared catalog -- that
// reads pg_class and fails with "cannot read pg_class without having selected
// a database". postinit.c GetDatabaseTuple() therefore uses the index only
// once criticalSharedRelcachesBuilt is true; so do we.
#pragma once

#include "postgres.hpp"

namespace poolgov::pg {

// OID of database `name`, or InvalidOid. Needs an open transaction. When
// found and allows_connections is not null, stores pg_database.datallowconn.
Oid database_oid_safe(const char *name, bool *allows_connections = nullptr);

}  // namespace poolgov::pg
