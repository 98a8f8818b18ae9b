// Management functions: reset of counters, of the slow-query log and of the
// login breaker.
#include "postgres.hpp"

#include "privileges.hpp"

extern "C" {
#include <sys/socket.h>

#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inet.h"
}

#include "breaker_state.hpp"
#include "events_log.hpp"
#include "locks.hpp"
#include "guard.hpp"
#include "shmem.hpp"
#include "session/admission.hpp"

#include "poolgov/format.hpp"

#include <initializer_list>

using namespace poolgov;
using namespace poolgov::pg;

// Zeroes every counter: the global ones, the per-role and per-database
// tables, and (lazily, through the epoch) every live backend's own counters.
// Keeps what is not a counter: live connections, budgets, breaker state
// (poolgov.breaker_reset() clears that), events, history, the slow-query log.
POOLGOV_SQL_FUNCTION(poolgov_reset)
{
    require_shmem();
    require_admin("reset pg_poolgov statistics");
    admission_flush_pending();  // counted before the reset, as it happened
    SharedState *st = shm.state;
    TimestampTz now = GetCurrentTimestamp();
    lock_acquire(st->main_lock, LW_EXCLUSIVE);
    atomic::fetch_add(st->stats_epoch, uint64_t{1});
    st->stats_reset = now;
    for (uint64_t *c :
         {&st->accepted, &st->rejected_budget, &st->rejected_reserve, &st->rejected_breaker,
          &st->warned, &st->auth_failures, &st->idle_terminated})
        atomic::store(*c, uint64_t{0});
    *shm.retired = StmtCounters{};
    entry_reset_all(shm.roles);
    entry_reset_all(shm.databases);
    st->roles.evicted = 0;
    st->databases.evicted = 0;
    // Peaks restart from the connections open now: one pass over the slots,
    // each counted into its role's and database's entry (hash lookups), so
    // the cost does not grow with the number of entries times slots.
    uint64_t open = 0;
    for (uint32_t i = 0; i < st->nslots; ++i) {
        const SlotKey &k = shm.slot_keys[i];
        if (!atomic::load(k.in_use))
            continue;
        open++;
        int r = entry_find(shm.roles, k.role_oid);
        if (r >= 0)
            shm.roles.entries[r].peak_connections++;
        int d = entry_find(shm.databases, k.db_oid);
        if (d >= 0)
            shm.databases.entries[d].peak_connections++;
    }
    st->peak_connections = open;
    lock_release(st->main_lock);
    lock_acquire(st->breaker_lock, LW_EXCLUSIVE);
    shm.breaker->untracked = 0;
    shm.breaker->evicted = 0;
    lock_release(st->breaker_lock);
    // Admission: the cumulative counters (running and queued are not).
    AdmissionCounters &adm = *shm.admission.counters;
    lock_acquire(st->admission_lock, LW_EXCLUSIVE);
    for (uint64_t *c : {&adm.admitted, &adm.waited, &adm.timeouts, &adm.overdrafts, &adm.idle_ended,
                        &adm.wait_total_us, &adm.wait_max_us})
        atomic::store(*c, uint64_t{0});
    lock_release(st->admission_lock);
    PG_RETURN_VOID();
}

POOLGOV_SQL_FUNCTION(poolgov_reset_slow_queries)
{
    require_shmem();
    require_admin("reset the pg_poolgov slow-query log");
    lock_acquire(shm.state->slowlog_lock, LW_EXCLUSIVE);
    slowlog_ring().clear();
    lock_release(shm.state->slowlog_lock);
    PG_RETURN_VOID();
}

namespace {

// The breaker's key for a client address: "local" (unix sockets) or one
// IPv4 / IPv6 address written as pg_stat_activity.client_addr shows it.
// Anything else (a network, a host name, garbage) is 22023.
void breaker_addr_key(const char *in, char (&out)[kAddrLen])
{
    if (pg_strcasecmp(in, kBreakerLocalAddr) == 0) {
        copy_text(out, kBreakerLocalAddr);
        return;
    }
    int family = strchr(in, ':') != nullptr ? PGSQL_AF_INET6 : PGSQL_AF_INET;
    int max_bits = family == PGSQL_AF_INET ? 32 : 128;
    unsigned char addr[16];
    char buf[64];
    int bits = pg_inet_net_pton(family, in, addr, -1);
    if (bits != max_bits || pg_inet_net_ntop(family, addr, max_bits, buf, sizeof(buf)) == nullptr)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("invalid client address for poolgov.breaker_reset: \"%s\"", in),
                 errdetail("The address must be one IPv4 or IPv6 address (a /%d network is not "
                           "accepted), or \"local\" for unix-socket clients.",
                           bits >= 0 ? bits : max_bits),
                 errhint("Use the address as poolgov.breakers.client_addr shows it.")));
    char *slash = strchr(buf, '/');
    if (slash != nullptr)
        *slash = '\0';
    copy_text(out, buf);
}

}  // namespace

// Clears the breaker entries (open or counting) of a role and/or a client
// address; NULL matches all. Returns how many entries were removed.
POOLGOV_SQL_FUNCTION(poolgov_breaker_reset)
{
    require_shmem();
    require_admin("reset pg_poolgov login breakers");
    const char *role = PG_ARGISNULL(0) ? nullptr : NameStr(*PG_GETARG_NAME(0));
    char addr[kAddrLen];
    const char *addr_key = nullptr;
    if (!PG_ARGISNULL(1)) {
        breaker_addr_key(text_to_cstring(PG_GETARG_TEXT_PP(1)), addr);
        addr_key = addr;
    }
    SharedState *st = shm.state;
    int open = 0;
    lock_acquire(st->breaker_lock, LW_EXCLUSIVE);
    int cleared =
        breaker_clear(*shm.breaker, role, addr_key, GetCurrentTimestamp(), breaker_policy(), &open);
    atomic::store(st->breaker_entries, shm.breaker->used);
    lock_release(st->breaker_lock);

    const char *who = GetUserNameFromId(GetUserId(), false);
    char detail[kDetailLen];
    format_into(detail, "{} entries cleared ({} open) by {}", cleared, open, who);
    const char *event_addr =
        addr_key != nullptr && strcmp(addr_key, kBreakerLocalAddr) != 0 ? addr_key : nullptr;
    log_event(EventKind::BreakerReset, EventFields{role, nullptr, MyProcPid, event_addr}, detail);
    PG_RETURN_INT32(cleared);
}
