// poolgov.breakers: the login breaker's table, one row per (role name,
// client address) that is counting failures or open. Masked like the other
// views: a reader without pg_read_all_stats and without the privileges of the
// row's role sees role and client_addr as NULL (the role name may be one a
// client invented, or a password typed into the user-name field).
#include "postgres.hpp"

#include "views/activity.hpp"
#include "privileges.hpp"
#include "breaker_state.hpp"
#include "locks.hpp"
#include "guard.hpp"
#include "views/row_builder.hpp"
#include "shmem.hpp"

extern "C" {
#include "utils/acl.h"
}

using namespace poolgov;
using namespace poolgov::pg;

POOLGOV_SQL_FUNCTION(poolgov_breakers)
{
    require_shmem();
    SharedState *st = shm.state;
    auto *copy = static_cast<BreakerTable *>(palloc(sizeof(BreakerTable)));
    copy->used = 0;
    if (atomic::load(st->breaker_entries) > 0) {
        lock_acquire(st->breaker_lock, LW_SHARED);
        memcpy(copy, shm.breaker, sizeof(BreakerTable));
        lock_release(st->breaker_lock);
    }
    BreakerPolicy policy = breaker_policy();
    TimestampTz now = GetCurrentTimestamp();
    RowBuilder row(fcinfo);
    for (int i = 0; policy.limit > 0 && copy->used > 0 && i < kBreakerEntries; ++i) {
        const BreakerEntry &e = copy->entries[i];
        if (e.key_hash == 0 || breaker_expired(e, now, policy))
            continue;  // the governor's sweep removes it shortly
        bool visible = can_see_details_of(get_role_oid(e.role, true));
        if (visible)
            row.name(e.role).inet(strcmp(e.addr, kBreakerLocalAddr) == 0 ? nullptr : e.addr);
        else
            row.null().null();
        int64_t until = breaker_open_until(e, policy);
        row.int4(e.failures)
            .timestamptz(e.window_start)
            .timestamptz(until != 0 ? e.opened_at : 0)
            .timestamptz(until);
        row.emit();
    }
    return (Datum)0;
}
