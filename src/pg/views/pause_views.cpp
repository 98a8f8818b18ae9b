// poolgov.pause(), poolgov.resume() and poolgov.pauses (policy:
// poolgov/pause.hpp; the gate: session/admission.cpp, session/pause.cpp).
//
// pause() writes the scope into the pause table under the admission lock,
// holds the transactions of the scope queued already, and then drains: it
// returns when no session of the scope (other than superusers', its own,
// and those a pause holds) runs a transaction, or when `wait` has passed,
// with the sessions that still do. A cancel of pause() ends the wait, not
// the pause.
#include "postgres.hpp"

extern "C" {
#include "catalog/pg_database.h"  // get_database_oid (19+)
#include "commands/dbcommands.h"  // get_database_oid (15-18)
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
#include "pgstat.h"
}

#include "backend_states.hpp"
#include "compat.hpp"
#include "events_log.hpp"
#include "guard.hpp"
#include "interval.hpp"
#include "privileges.hpp"
#include "session/connection.hpp"
#include "session/pause.hpp"
#include "locks.hpp"
#include "shmem.hpp"
#include "views/row_builder.hpp"

#include "poolgov/format.hpp"

#include <fmt/format.h>

#include <algorithm>

using namespace poolgov;
using namespace poolgov::pg;

namespace {

constexpr long kDrainPollMs = 5;

uint32 pause_wait_event = 0;  // "PoolgovPause" on 17+, once registered

// The scope's oids from the arguments (NULL: every database / role).
void scope_args(FunctionCallInfo fcinfo, Oid *db, Oid *role)
{
    *db = PG_ARGISNULL(0) ? InvalidOid : get_database_oid(NameStr(*PG_GETARG_NAME(0)), false);
    *role = PG_ARGISNULL(1) ? InvalidOid : get_role_oid(NameStr(*PG_GETARG_NAME(1)), false);
}

// One session of the scope that runs a transaction.
struct Busy {
    int index;
    int pid;
    Oid role_oid;
    char role[kNameLen];
    char db[kNameLen];
};

// The sessions of the scope (db, role) that run a transaction now, left out
// this one, superusers' and those a pause holds.
int busy_sessions(Oid db, Oid role, Busy *out, const BackendIndex &index)
{
    PauseScope scope{};
    scope.in_force = 1;
    scope.db_oid = db;
    scope.role_oid = role;
    scope.by_pid = MyProcPid;
    int n = 0;
    SharedState *st = shm.state;
    const MemberPool &pool = st->budget.members;
    lock_acquire(st->main_lock, LW_SHARED);
    for (uint32_t i = 0; i < st->nslots; ++i) {
        if (!atomic::load(shm.slot_keys[i].in_use))
            continue;
        const ConnSlot &s = shm.slots[i];
        if (s.superuser)
            continue;
        bool match = pause_matches(scope, s.db_oid, s.pid, [&](uint32_t r) {
            bool found = false;
            for_each_member(s, pool, [&](uint32_t m) { found = found || m == r; });
            return found;
        });
        if (!match)
            continue;
        Busy &b = out[n++];
        b.index = static_cast<int>(i);
        b.pid = s.pid;
        b.role_oid = s.role_oid;
        strlcpy(b.role, s.role_name, sizeof(b.role));
        strlcpy(b.db, s.db_name, sizeof(b.db));
    }
    lock_release(st->main_lock);
    lock_acquire(st->admission_lock, LW_SHARED);
    int kept = 0;
    for (int j = 0; j < n; ++j)
        if (!admission_paused(shm.admission.entries[out[j].index]))
            out[kept++] = out[j];
    lock_release(st->admission_lock);
    n = kept;
    kept = 0;
    for (int j = 0; j < n; ++j) {
        const PgBackendStatus *be = index.find(out[j].pid);
        if (be != nullptr && be->st_xact_start_timestamp != 0)
            out[kept++] = out[j];
    }
    return kept;
}

void log_pause(const char *what, const char *scope_text, const char *detail, const char *db_name,
               const char *role_name)
{
    log_event(EventKind::Pause, EventFields{role_name, db_name, MyProcPid, nullptr}, detail);
    ereport(LOG, (errcode(ERRCODE_SUCCESSFUL_COMPLETION),
                  errmsg("pg_poolgov: %s %s", what, scope_text), errdetail("%s.", detail)));
}

}  // namespace

// Pauses the scope and drains it; returns the sessions that still run a
// transaction when it returns.
POOLGOV_SQL_FUNCTION(poolgov_pause)
{
    require_shmem();
    require_admin("pause sessions");
    if (PG_ARGISNULL(2))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("wait must not be null"),
                        errhint("Pass how long to wait for the running transactions, e.g. "
                                "'30 s', or '0' not to wait.")));
    int64_t wait_ms = interval_ms(PG_GETARG_INTERVAL_P(2));
    if (wait_ms < 0)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("wait must not be negative"),
                 errdetail("It is %lld ms.", static_cast<long long>(wait_ms))));
    wait_ms = std::min<int64_t>(wait_ms, INT_MAX);  // about 24 days: no deadline overflow
    Oid db = InvalidOid, role = InvalidOid;
    scope_args(fcinfo, &db, &role);
    const char *db_name = OidIsValid(db) ? NameStr(*PG_GETARG_NAME(0)) : "";
    const char *role_name = OidIsValid(role) ? NameStr(*PG_GETARG_NAME(1)) : "";
    const char *by_name = GetUserNameFromId(GetUserId(), false);

    TimestampTz now = GetCurrentTimestamp();
    bool added = false;
    int held = 0;
    PauseTable &t = shm.state->pauses;
    lock_acquire(shm.state->admission_lock, LW_EXCLUSIVE);
    int k = pause_add(t, db, role, GetUserId(), MyProcPid, now, &added);
    if (k >= 0 && added) {
        PauseScope &s = t.scopes[k];
        strlcpy(s.db_name, db_name, sizeof(s.db_name));
        strlcpy(s.role_name, role_name, sizeof(s.role_name));
        strlcpy(s.by_name, by_name, sizeof(s.by_name));
        held = hold_queued(k);
    }
    PauseScope copy{};
    if (k >= 0)
        copy = t.scopes[k];
    lock_release(shm.state->admission_lock);
    if (k < 0)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("too many pauses: %d scopes are paused already", kMaxPauses),
                        errhint("Resume one with poolgov.resume(), or pause a wider scope "
                                "(see poolgov.pauses).")));
    char scope[kDetailLen], detail[kDetailLen];
    describe_pause_scope(copy, scope);
    if (added)
        format_into(detail, "{} paused by role \"{}\"; {} queued transactions held", scope, by_name,
                    held);
    else
        format_into(detail, "{} paused again by role \"{}\": poolgov.pause_timeout counts anew",
                    scope, by_name);
    log_pause(added ? "paused" : "renewed the pause of", scope, detail, db_name, role_name);

    // The drain. Each poll reads a fresh pgstat snapshot in its own context.
    MemoryContext poll = AllocSetContextCreate(CurrentMemoryContext, "pg_poolgov pause drain",
                                               ALLOCSET_DEFAULT_SIZES);
    MemoryContext outer = MemoryContextSwitchTo(poll);
    auto *busy =
        static_cast<Busy *>(MemoryContextAlloc(outer, sizeof(Busy) * (shm.state->nslots + 1)));
    TimestampTz deadline = TimestampTzPlusMilliseconds(now, wait_ms);
    int n = 0;
    for (;;) {
        MemoryContextReset(poll);
        pgstat_clear_snapshot();
        BackendIndex index;
        index.build();
        n = busy_sessions(db, role, busy, index);
        if (n == 0 || GetCurrentTimestamp() >= deadline)
            break;
        long left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                        std::max<long>(1, std::min(left, kDrainPollMs)),
                        compat::named_wait_event("PoolgovPause", &pause_wait_event));
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
    // The rows, from the last snapshot (still in `poll`).
    BackendIndex index;
    index.build();
    MemoryContextSwitchTo(outer);
    RowBuilder row(fcinfo);
    for (int j = 0; j < n; ++j) {
        const PgBackendStatus *be = index.find(busy[j].pid);
        bool visible = can_see_details_of(busy[j].role_oid);
        row.int4(busy[j].pid).name(busy[j].role).name(busy[j].db);
        if (be == nullptr) {
            row.null().null().null().null();
        } else {
            row.text(state_name(be))
                .timestamptz(be->st_xact_start_timestamp)
                .timestamptz(be->st_state_start_timestamp);
            if (visible)
                row.text(pgstat_clip_activity(be->st_activity_raw));
            else
                row.text("<insufficient privilege>");
        }
        row.emit();
    }
    MemoryContextDelete(poll);
    return (Datum)0;
}

// Lifts the pause of exactly this scope; false (and a NOTICE) if there is
// none.
POOLGOV_SQL_FUNCTION(poolgov_resume)
{
    require_shmem();
    require_admin("resume sessions");
    Oid db = InvalidOid, role = InvalidOid;
    scope_args(fcinfo, &db, &role);
    const char *by_name = GetUserNameFromId(GetUserId(), false);
    lock_acquire(shm.state->admission_lock, LW_SHARED);
    int k = pause_find(shm.state->pauses, db, role);
    lock_release(shm.state->admission_lock);
    char why[kDetailLen];
    format_into(why, "poolgov.resume() by role \"{}\"", by_name);
    if (k < 0 || !lift_pause(k, db, role, why)) {
        ereport(NOTICE,
                (errcode(ERRCODE_WARNING), errmsg("nothing to resume: this scope is not paused"),
                 errhint("poolgov.pauses lists the paused scopes; resume() lifts the "
                         "pause of exactly the scope pause() was given.")));
        PG_RETURN_BOOL(false);
    }
    ereport(LOG, (errcode(ERRCODE_SUCCESSFUL_COMPLETION), errmsg("pg_poolgov: %s", why),
                  errdetail("Database %s, role %s.", OidIsValid(db) ? "given" : "any",
                            OidIsValid(role) ? "given" : "any")));
    PG_RETURN_BOOL(true);
}

// poolgov.pauses: one row per paused scope.
POOLGOV_SQL_FUNCTION(poolgov_pauses)
{
    require_shmem();
    PauseScope scopes[kMaxPauses];
    int waiting[kMaxPauses];
    int n = 0;
    int timeout_ms = atomic::load(shm.state->pauses.timeout_ms);
    lock_acquire(shm.state->admission_lock, LW_SHARED);
    for (int k = 0; k < kMaxPauses; ++k) {
        const PauseScope &s = shm.state->pauses.scopes[k];
        if (s.in_force == 0)
            continue;
        scopes[n] = s;
        waiting[n++] = admission_held(shm.admission, k);
    }
    lock_release(shm.state->admission_lock);
    RowBuilder row(fcinfo);
    for (int i = 0; i < n; ++i) {
        const PauseScope &s = scopes[i];
        char scope[kDetailLen];
        describe_pause_scope(s, scope);
        row.name(s.db_oid != 0 ? s.db_name : nullptr)
            .name(s.role_oid != 0 ? s.role_name : nullptr)
            .text(scope)
            .timestamptz(s.since_us)
            .name(s.by_name)
            .int4(s.by_pid)
            .timestamptz(s.renewed_us)
            .timestamptz(TimestampTzPlusMilliseconds(s.renewed_us, timeout_ms))
            .int4(waiting[i]);
        row.emit();
    }
    return (Datum)0;
}
