// Table sizes the DBA sets (poolgov.max_roles, poolgov.max_databases) and
// the poolgov.capacity view: for every fixed-size table in pg_poolgov's
// shared memory, how full it is, what it has dropped, what an entry costs.
#pragma once

namespace poolgov::pg {

extern int max_roles;      // poolgov.max_roles (restart)
extern int max_databases;  // poolgov.max_databases (restart)

void capacity_define_gucs();

}  // namespace poolgov::pg
