// Idle reclamation (policy: poolgov/reclaim.hpp).
//
// Request protocol, race-free by construction: the deciding side never ends
// a session itself. It writes a request (rule, idle threshold, the target's
// pid) into the target's connection slot and sends it SIGUSR2, which
// regular backends otherwise ignore (PostgresMain sets SIG_IGN before
// InitPostgres, where our authentication hook installs the handler; only
// walsenders use SIGUSR2, and they never hold a slot). The victim's handler
// takes the request with one atomic exchange and accepts it only if, at
// that instant, its own backend status entry says "idle" (not mid-update),
// it has been idle at least the threshold, and it is blocked reading the
// next command from its client (wait event ClientRead). Then it arms the
// usual die flags; the FATAL is rewritten to say why (termination.hpp) and
// the exit callback counts it, logs it and records the event. A session
// that started a statement, or is between reading a command and reporting
// it active, is not idle at the handler and declines; the decider tries
// again on its next pass. What no server can avoid: bytes a client sent
// that the backend has not read yet when it accepts are lost with the
// session (the client sees the FATAL instead of a result).
//
// Outcome: the victim writes 1 (accepted) or 2 (declined) into the slot, so
// poolgov.terminate_idle() can return what actually happened, and the
// governor does not count a leaving session twice under pressure.
#include "postgres.hpp"

#include "session/idle_reclaim.hpp"

extern "C" {
#include <signal.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"  // get_database_oid (19+)
#include "commands/dbcommands.h"  // get_database_oid (15-18)
#include "pgstat.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/wait_event.h"
}

#include "poolgov/reclaim.hpp"

#include "backend_states.hpp"
#include "privileges.hpp"
#include "session/connection.hpp"
#include "events_log.hpp"
#include "locks.hpp"
#include "guard.hpp"
#include "interval.hpp"
#include "settings.hpp"
#include "session/budgets_sync.hpp"
#include "compat.hpp"
#include "shmem.hpp"

#include "poolgov/atomics.hpp"
#include "session/termination.hpp"

#include "poolgov/format.hpp"

namespace poolgov::pg {

namespace {

constexpr uint32_t kAccepted = 1;
constexpr uint32_t kDeclined = 2;

// What this backend accepted (written by the signal handler, read by the
// FATAL rewrite and the exit callback).
struct Ended {
    volatile sig_atomic_t rule;  // ReclaimRule; 0 = none
    int64_t idle_ms;
    int64_t threshold_ms;
    int pressure_threshold;
};
Ended ended = {0, 0, 0, 0};

void rewrite_reclaim_fatal(ErrorData *edata)
{
    auto rule = static_cast<ReclaimRule>(ended.rule);
    ReclaimText t =
        describe_reclaim(rule, ended.idle_ms, ended.threshold_ms, ended.pressure_threshold);
    edata->sqlerrcode = rule == ReclaimRule::Manual || rule == ReclaimRule::Budget
                            ? ERRCODE_ADMIN_SHUTDOWN
                            : ERRCODE_IDLE_SESSION_TIMEOUT;
    edata->message = pstrdup(t.message);
    edata->detail = pstrdup(t.detail);
    edata->hint = pstrdup(t.hint);
}

// Idle right now, and for how long (ms)? Only plain reads of our own
// status entry; a torn read (we interrupted its update) declines.
bool idle_now(int64_t *idle_ms)
{
    volatile PgBackendStatus *be = MyBEEntry;
    if (be == nullptr || MyProc == nullptr)
        return false;
    int before = be->st_changecount;
    if ((before & 1) != 0)
        return false;
    bool idle = be->st_state == STATE_IDLE &&
                *static_cast<volatile uint32 *>(&MyProc->wait_event_info) == WAIT_EVENT_CLIENT_READ;
    TimestampTz since = be->st_state_start_timestamp;
    if (!idle || be->st_changecount != before || since == 0)
        return false;
    TimestampTz now = GetCurrentTimestamp();
    *idle_ms = now > since ? (now - since) / 1000 : 0;
    return true;
}

void on_reclaim_request(SIGNAL_ARGS)
{
    int save_errno = errno;
    ConnSlot *slot = my_slot;
    if (slot != nullptr) {
        uint64_t req = atomic::exchange_acq_rel(slot->reclaim_request, uint64_t{0});
        if (req != 0 && static_cast<int>(req >> 8) == MyProcPid) {
            int64_t threshold = atomic::load_acquire(slot->reclaim_threshold_ms);
            int64_t idle_ms = 0;
            bool accept =
                ended.rule == 0 && !ProcDiePending && idle_now(&idle_ms) && idle_ms >= threshold;
            if (accept) {
                ended.idle_ms = idle_ms;
                ended.threshold_ms = threshold;
                ended.pressure_threshold = settings::pressure_threshold;
                ended.rule = static_cast<sig_atomic_t>(req & 0xff);
                termination_arm(rewrite_reclaim_fatal);
            }
            atomic::store_release(slot->reclaim_outcome, accept ? kAccepted : kDeclined);
        }
    }
    errno = save_errno;
}

// Counted by the victim as it exits (before its counters retire), logged,
// and recorded as an event.
void count_reclaimed(int, Datum)
{
    if (ended.rule == 0 || my_slot == nullptr)
        return;
    auto rule = static_cast<ReclaimRule>(ended.rule);
    SlotStats &mine = stats_of(my_slot);
    write_begin(mine.cc);
    slot_sync_epoch(mine, atomic::load(shm.state->stats_epoch));
    stmt_record_idle_terminated(mine.stmts);
    write_end(mine.cc);
    atomic::fetch_add(shm.state->idle_terminated, uint64_t{1});
    char detail[kDetailLen];
    format_into(detail, "idle {} ms, over {} ms ({})", ended.idle_ms, ended.threshold_ms,
                reclaim_rule_name(rule));
    log_event(EventKind::TerminateIdle,
              EventFields{my_slot->role_name, my_slot->db_name, MyProcPid, my_slot->client_addr},
              detail);
    ereport(LOG, (errcode(ERRCODE_SUCCESSFUL_COMPLETION),
                  errmsg("pg_poolgov: ended idle session of role \"%s\" in database \"%s\"",
                         my_slot->role_name, my_slot->db_name),
                  errdetail("Idle for %lld ms; the limit was %lld ms (%s).",
                            static_cast<long long>(ended.idle_ms),
                            static_cast<long long>(ended.threshold_ms), reclaim_rule_name(rule))));
    ended.rule = 0;
}

// What poolgov.terminate_idle() waits for shows as this wait event (17+).
uint32 terminate_idle_wait_event = 0;

uint32 terminate_idle_wait()
{
    return compat::named_wait_event("PoolgovTerminateIdle", &terminate_idle_wait_event);
}

// Sleeps ms (interruptibly).
void nap(long ms)
{
    TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
    for (;;) {
        long left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);
        if (left <= 0)
            return;
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left,
                        terminate_idle_wait());
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

// Asks the backend in slot `index` (pid) to end itself if still idle. No
// lock is held; the pid check in the handler makes a reused slot harmless,
// and the PGPROC check keeps the signal from a pid that is no backend.
bool send_request(int index, int pid, ReclaimRule rule, int64_t threshold_ms)
{
    ConnSlot &s = shm.slots[index];
    atomic::store_release(s.reclaim_outcome, 0u);
    atomic::store_release(s.reclaim_threshold_ms, threshold_ms);
    atomic::store_release(
        s.reclaim_request,
        (static_cast<uint64_t>(static_cast<uint32_t>(pid)) << 8) | static_cast<uint64_t>(rule));
    if (BackendPidGetProc(pid) == nullptr || kill(pid, SIGUSR2) != 0) {
        atomic::store_release(s.reclaim_request, uint64_t{0});
        return false;
    }
    return true;
}

// The slots in use (identity only: no statement counters, which are large),
// under the main lock held shared. Closures longer than a slot holds
// continue in the member pool: when any slot has such a chain, the pool is
// copied too (the buffer is allocated before the lock), and closure_of()
// gives each copy its whole closure (no membership is cut off).
struct SlotCopy {
    ConnSlot slot;
    int index;
};

MemberPool pool_copy{};  // chunks: a copy of the shared pool, or unused

int copy_slots(SlotCopy **out)
{
    SharedState *st = shm.state;
    auto *copies = static_cast<SlotCopy *>(palloc(sizeof(SlotCopy) * (st->nslots + 1)));
    uint32_t chunks = st->budget.members.capacity;
    auto *pool = static_cast<MemberChunk *>(
        MemoryContextAllocHuge(CurrentMemoryContext, sizeof(MemberChunk) * (chunks + 1)));
    bool any_chain = false;
    int n = 0;
    lock_acquire(st->main_lock, LW_SHARED);
    for (uint32_t i = 0; i < st->nslots; ++i) {
        if (!atomic::load(shm.slot_keys[i].in_use))
            continue;
        copies[n].slot = shm.slots[i];
        any_chain = any_chain || shm.slots[i].member_chain != 0;
        copies[n++].index = static_cast<int>(i);
    }
    if (any_chain)
        memcpy(pool, st->budget.members.chunks, sizeof(MemberChunk) * chunks);
    lock_release(st->main_lock);
    pool_copy = MemberPool{chunks, 0, 0, 0, pool};
    *out = copies;
    return n;
}

// The whole closure of a copied slot (palloc'd when it has a chain).
const uint32_t *closure_of(const ConnSlot &s, int *n)
{
    if (s.member_chain == 0) {
        *n = s.n_member_of;
        return s.member_of;
    }
    auto *all = static_cast<uint32_t *>(
        palloc(sizeof(uint32_t) * (kMaxMemberOf + pool_copy.capacity * kChunkRoles)));
    *n = slot_closure(s, pool_copy, all);
    return all;
}

bool copy_member_of(const ConnSlot &s, Oid role)
{
    bool found = false;
    for_each_member(s, pool_copy, [&](uint32_t r) { found = found || r == role; });
    return found;
}

uint32_t outcome_of(const SlotCopy &c)
{
    const ConnSlot &s = shm.slots[c.index];
    if (atomic::load_acquire(s.pid) != c.slot.pid)
        return kAccepted;  // gone already (the slot was freed or reused)
    return atomic::load_acquire(s.reclaim_outcome);
}

// Each victim answers from its signal handler at once; wait for the
// answers (bounded), then for the accepted ones to be gone (bounded).
// Returns how many accepted.
int await_outcomes(const SlotCopy *live, const int *asked, int nasked)
{
    int accepted = 0;
    for (int phase = 0; phase < 2; ++phase) {
        TimestampTz deadline =
            TimestampTzPlusMilliseconds(GetCurrentTimestamp(), phase == 0 ? 2000 : 5000);
        for (;;) {
            int pending = 0;
            accepted = 0;
            for (int j = 0; j < nasked; ++j) {
                const SlotCopy &c = live[asked[j]];
                uint32_t o = outcome_of(c);
                accepted += o == kAccepted;
                pending += phase == 0 ? o == 0
                                      : o == kAccepted && BackendPidGetProc(c.slot.pid) != nullptr;
            }
            if (pending == 0 || GetCurrentTimestamp() >= deadline)
                break;
            (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
                            terminate_idle_wait());
            ResetLatch(MyLatch);
            CHECK_FOR_INTERRUPTS();
        }
    }
    return accepted;
}

}  // namespace

void reclaim_backend_start()
{
    static bool started = false;
    if (started)
        return;
    started = true;
    pqsignal(SIGUSR2, on_reclaim_request);
    before_shmem_exit(count_reclaimed, 0);
}

void governor_reclaim_idle()
{
    SlotCopy *live = nullptr;
    int n = copy_slots(&live);
    if (n == 0)
        return;
    BudgetSet *budgets = copy_active_budgets();
    pgstat_clear_snapshot();
    BackendIndex index;
    index.build();
    auto *cands = static_cast<ReclaimCandidate *>(palloc(sizeof(ReclaimCandidate) * n));
    auto *orders = static_cast<ReclaimOrder *>(palloc(sizeof(ReclaimOrder) * n));
    int nc = 0, leaving = 0;
    for (int i = 0; i < n; ++i) {
        const ConnSlot &s = live[i].slot;
        // Asked already and accepted (or still deciding): it is leaving.
        if (s.reclaim_request != 0 || s.reclaim_outcome == kAccepted) {
            leaving++;
            continue;
        }
        const PgBackendStatus *be = index.find(s.pid);
        ReclaimCandidate &c = cands[nc++];
        c.index = i;
        c.idle = be != nullptr && be->st_state == STATE_IDLE;
        c.idle_since_us = be != nullptr ? be->st_state_start_timestamp : 0;
        c.superuser = s.superuser;
        c.priority = s.priority;
        int n_closure = 0;
        const uint32_t *closure = closure_of(s, &n_closure);
        c.priority_class = role_priority_class(*budgets, closure, n_closure, s.db_oid);
        c.role_timeout_ms = role_idle_timeout(*budgets, closure, n_closure, s.db_oid);
    }
    ReclaimSettings settings{};
    settings.global_timeout_ms = settings::idle_timeout;
    settings.pressure_threshold_pct = settings::pressure_threshold;
    settings.pressure_idle_timeout_ms = settings::pressure_idle_timeout;
    settings.usable_connections =
        MaxConnections - compat::reserved_by_postgres() - settings::reserved_connections;
    settings.connections = n - leaving;
    settings.exempt_superusers = settings::exempt_superusers;
    int k = reclaim_plan(cands, nc, settings, GetCurrentTimestamp(), orders);
    for (int i = 0; i < k; ++i) {
        const SlotCopy &c = live[orders[i].index];
        send_request(c.index, c.slot.pid, orders[i].rule, orders[i].threshold_ms);
    }
}

}  // namespace poolgov::pg

using namespace poolgov;
using namespace poolgov::pg;

// Ends the sessions (of `role` and its members, or of everyone) idle longer
// than `older_than`; returns how many accepted (each has exited, or is
// exiting, when it returns). Superuser sessions only when the caller is a
// superuser; never the caller's own session.
POOLGOV_SQL_FUNCTION(poolgov_terminate_idle)
{
    require_shmem();
    require_admin("end idle sessions");
    Oid role = InvalidOid;
    if (!PG_ARGISNULL(0))
        role = get_role_oid(NameStr(*PG_GETARG_NAME(0)), false);
    if (PG_ARGISNULL(1))
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("older_than must not be null"),
                 errhint("Pass how long a session must have been idle, e.g. "
                         "'10 min'.")));
    int64_t threshold = interval_ms(PG_GETARG_INTERVAL_P(1));
    if (threshold <= 0)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("older_than must be positive"),
                 errdetail("It is %lld ms.", static_cast<long long>(threshold)),
                 errhint("Pass how long a session must have been idle, e.g. "
                         "'10 min'.")));
    bool caller_superuser = superuser();

    SlotCopy *live = nullptr;
    int n = copy_slots(&live);
    pgstat_clear_snapshot();
    BackendIndex index;
    index.build();
    TimestampTz now = GetCurrentTimestamp();
    auto *chosen = static_cast<int *>(palloc(sizeof(int) * (n + 1)));
    auto *asked = static_cast<int *>(palloc(sizeof(int) * (n + 1)));
    int nchosen = 0, nasked = 0;
    for (int i = 0; i < n; ++i) {
        const ConnSlot &s = live[i].slot;
        if (s.pid == MyProcPid || (s.superuser && !caller_superuser))
            continue;
        if (OidIsValid(role) && !copy_member_of(s, role))
            continue;
        const PgBackendStatus *be = index.find(s.pid);
        if (be == nullptr || be->st_state != STATE_IDLE ||
            (now - be->st_state_start_timestamp) / 1000 < threshold)
            continue;
        chosen[nchosen++] = i;
    }
    if (settings::debug_reclaim_delay > 0 && nchosen > 0)
        nap(settings::debug_reclaim_delay);
    for (int j = 0; j < nchosen; ++j) {
        const SlotCopy &c = live[chosen[j]];
        if (send_request(c.index, c.slot.pid, ReclaimRule::Manual, threshold))
            asked[nasked++] = chosen[j];
    }
    PG_RETURN_INT32(await_outcomes(live, asked, nasked));
}

// Ends idle sessions counted by the budget of `role` (in `database`, or the
// budget for every database) until the budget is met: the longest idle
// first, never an active session or one in a transaction. Superuser
// sessions only when the caller is a superuser; never the caller's own.
// Returns how many were ended; a NOTICE says how far over it still is.
POOLGOV_SQL_FUNCTION(poolgov_enforce_budget)
{
    require_shmem();
    require_admin("end sessions over a budget");
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("role must not be null"),
                        errhint("Name the role whose budget to enforce.")));
    const char *role_name = NameStr(*PG_GETARG_NAME(0));
    Oid role = get_role_oid(role_name, false);
    Oid db = PG_ARGISNULL(1) ? InvalidOid : get_database_oid(NameStr(*PG_GETARG_NAME(1)), false);
    BudgetSet *budgets = copy_active_budgets();
    int rule = find_rule(*budgets, role, db);
    if (rule < 0)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("role \"%s\" has no budget%s%s%s", role_name,
                               OidIsValid(db) ? " in database \"" : "",
                               OidIsValid(db) ? NameStr(*PG_GETARG_NAME(1)) : "",
                               OidIsValid(db) ? "\"" : ""),
                        errhint("poolgov.budgets lists the budgets; poolgov.set_budget() sets "
                                "one.")));
    int32_t limit = budgets->rules[rule].max_connections;
    if (limit == kUnlimited)
        PG_RETURN_INT32(0);
    bool caller_superuser = superuser();

    SlotCopy *live = nullptr;
    int n = copy_slots(&live);
    pgstat_clear_snapshot();
    BackendIndex index;
    index.build();
    TimestampTz now = GetCurrentTimestamp();
    auto *cands = static_cast<ReclaimCandidate *>(palloc(sizeof(ReclaimCandidate) * (n + 1)));
    auto *orders = static_cast<ReclaimOrder *>(palloc(sizeof(ReclaimOrder) * (n + 1)));
    auto *asked = static_cast<int *>(palloc(sizeof(int) * (n + 1)));
    int counted = 0, nc = 0, nasked = 0;
    for (int i = 0; i < n; ++i) {
        const ConnSlot &s = live[i].slot;
        if ((OidIsValid(db) && s.db_oid != db) || !copy_member_of(s, role))
            continue;
        if (s.reclaim_request != 0 || s.reclaim_outcome == kAccepted)
            continue;  // leaving already
        counted++;
        if (s.pid == MyProcPid || (s.superuser && !caller_superuser))
            continue;
        const PgBackendStatus *be = index.find(s.pid);
        ReclaimCandidate &c = cands[nc++];
        c = ReclaimCandidate{i,
                             be != nullptr && be->st_state == STATE_IDLE,
                             be != nullptr ? be->st_state_start_timestamp : now,
                             s.superuser != 0,
                             s.priority != 0,
                             Priority::Normal,
                             -1};
    }
    int k = budget_plan(cands, nc, counted - limit, now, orders);
    for (int j = 0; j < k; ++j) {
        const SlotCopy &c = live[orders[j].index];
        if (send_request(c.index, c.slot.pid, ReclaimRule::Budget, 0))
            asked[nasked++] = orders[j].index;
    }
    int ended = await_outcomes(live, asked, nasked);
    if (counted - ended > limit)
        ereport(NOTICE, (errcode(ERRCODE_WARNING),
                         errmsg("role \"%s\" is still %d connections over its budget of %d",
                                role_name, counted - ended - limit, limit),
                         errdetail("%d sessions counted, %d ended; the others are active, in a "
                                   "transaction%s.",
                                   counted, ended, caller_superuser ? "" : ", or superusers'"),
                         errhint("Call it again when they are idle, or end them with "
                                 "pg_terminate_backend().")));
    PG_RETURN_INT32(ended);
}
