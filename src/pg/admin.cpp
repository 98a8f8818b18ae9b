// Management functions: reset of counters and of the slow-query log.
#include "postgres.hpp"

#include "admin.hpp"

extern "C" {
#include "utils/acl.h"
}

#include "guard.hpp"
#include "shmem.hpp"

#include <initializer_list>

namespace poolgov::pg {

void require_admin(const char *action)
{
    if (superuser())
        return;
    Oid admin = get_role_oid("poolgov_admin", true);
    if (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin))
        return;
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied to %s", action),
                    errhint("Only superusers and members of poolgov_admin may %s.", action)));
}

}  // namespace poolgov::pg

using namespace poolgov;
using namespace poolgov::pg;

// Zeroes every counter: the global ones, the per-role and per-database
// tables, and (lazily, through the epoch) every live backend's own counters.
// Keeps what is not a counter: live connections, budgets, breaker state,
// events, history, the slow-query log.
POOLGOV_SQL_FUNCTION(poolgov_reset)
{
    require_shmem();
    require_admin("reset pg_poolgov statistics");
    SharedState *st = shm.state;
    TimestampTz now = GetCurrentTimestamp();
    LWLockAcquire(st->main_lock, LW_EXCLUSIVE);
    atomic::fetch_add(st->stats_epoch, uint64_t{1});
    st->stats_reset = now;
    for (uint64_t *c : {&st->accepted, &st->rejected_budget, &st->rejected_reserve,
                        &st->rejected_breaker, &st->warned, &st->auth_failures})
        atomic::store(*c, uint64_t{0});
    *shm.retired = StmtCounters{};
    entry_reset_all(shm.roles);
    entry_reset_all(shm.databases);
    st->peak_connections = static_cast<uint64_t>(count_connections({}));
    for (uint32_t i = 0; i < st->roles.capacity; ++i) {
        CounterEntry &e = shm.roles.entries[i];
        if (e.oid != 0)
            e.peak_connections = static_cast<uint64_t>(count_connections({e.oid, 0, false}));
    }
    for (uint32_t i = 0; i < st->databases.capacity; ++i) {
        CounterEntry &e = shm.databases.entries[i];
        if (e.oid != 0)
            e.peak_connections = static_cast<uint64_t>(count_connections({0, e.oid, false}));
    }
    LWLockRelease(st->main_lock);
    PG_RETURN_VOID();
}

POOLGOV_SQL_FUNCTION(poolgov_reset_slow_queries)
{
    require_shmem();
    require_admin("reset the pg_poolgov slow-query log");
    LWLockAcquire(shm.state->slowlog_lock, LW_EXCLUSIVE);
    slowlog_ring().clear();
    LWLockRelease(shm.state->slowlog_lock);
    PG_RETURN_VOID();
}
