// Admission control in the backend (policy: poolgov/admission.hpp).
//
// Where a transaction takes its slot: at its first top-level statement that
// runs the executor, before its executor starts, and inside a transaction
// block at the block's first statement of any kind (other than transaction
// control, SET, RESET and SHOW), before it runs. Never at BEGIN itself: an error there (a
// timeout, a cancel) would leave no block behind, and the client's next
// statements would each commit on their own; an error at a statement inside
// the block aborts the block as any error does. A SERIALIZABLE READ ONLY
// DEFERRABLE block takes it only once it has its snapshot, since waiting for
// a safe snapshot means waiting for other serializable transactions, which
// may be queued. Utility commands outside a block (SET, SHOW, VACUUM,
// CHECKPOINT, DDL, COPY, CALL, DO, EXPLAIN) pass without a slot. Statements
// inside functions, procedures and utility commands never wait. Operators'
// rescue statements (rescue_statement()) never wait. Exempt:
// backends without a connection slot (walsenders, workers, the governor,
// autovacuum), parallel workers, and superusers while
// poolgov.exempt_superusers is on.
//
// Where it is given back: at COMMIT, ABORT (also the abort at the error of
// a statement inside a block), PREPARE TRANSACTION, an error that aborts a
// savepoint (the block is left aborted; after ROLLBACK TO SAVEPOINT its next
// statement takes a slot again), and at process exit (the same abort, plus
// a before_shmem_exit backstop). A crash resets shared memory.
//
// The settings that govern the queue are read from shared memory
// (AdmissionSettings), where every reload publishes them: a waiter never
// processes a reload itself, and must agree with the backend that hands it
// a slot. The governor wakes the waiters after a reload.
//
// The wait sleeps on the latch; the releasing backend writes the grant into
// the waiter's entry and sets its latch. Cancel, terminate, statement_timeout
// and postmaster death end the wait as usual: the error aborts the
// transaction and the abort callback leaves the queue, passing on a grant
// that arrived meanwhile. Lock safety: a waiter that holds a lock (taken by
// parse analysis, or an advisory lock kept across transactions) that a slot
// holder waits for, directly or through other lock waiters, is admitted past
// the limit once it has waited deadlock_timeout: PostgreSQL's deadlock
// detector cannot see our queue (lock_graph.cpp).
//
// Pauses (session/pause.cpp): while a scope is paused, a transaction of it
// queues at its first statement held by the pause, with admission control
// on or off (off, only held transactions queue). Only the first statement
// of a transaction is held (xact_gated): a transaction that started before
// the pause runs to its end, and the drain waits for it. A held waiter
// keeps the admission timeout; it is let in at once, past the pause, when
// any backend waits for a lock it holds.
#include "postgres.hpp"

#include "session/admission.hpp"
#include "locks.hpp"
#include "compat.hpp"

extern "C" {
#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/wait_event.h"
}

#include "session/connection.hpp"
#include "events_log.hpp"
#include "settings.hpp"
#include "session/lock_graph.hpp"
#include "session/pause.hpp"
#include "shmem.hpp"

#include "poolgov/atomics.hpp"
#include "session/termination.hpp"
#include "session/xact_events.hpp"

#include "poolgov/format.hpp"
#include <algorithm>

namespace poolgov::pg {

bool admission_rolled_back = false;

namespace {

constexpr int kGrantBatch = 32;
constexpr long kTickMs = 1000;

int my_index = -1;                   // this backend's entry, once it took part
AdmissionEntry *my_entry = nullptr;  // the same, as a pointer
bool &rolled_back_to_savepoint = admission_rolled_back;
bool idle_timeout_registered = false;
// Armed since the last disarm (it may have fired since): a statement asks
// the timeout module only then.
bool idle_timeout_armed = false;
// Has this transaction passed the gate (no pause holds it any more)? A flag
// the one transaction callback clears at every transaction's end
// (xact_events.hpp): one load per statement.
bool xact_gated() { return xact_gate_passed; }

void gate_transaction() { xact_gate_passed = true; }

uint32 admission_wait_event = 0;  // "PoolgovAdmission" on 17+, once registered
TimeoutId idle_timeout_id;

// What budgets say about this connection, recomputed when they change.
struct Profile {
    uint64_t generation;
    uint8_t priority;
    uint8_t n_caps;
    uint32_t cap_role[kMaxAdmissionCaps];
    int32_t cap_limit[kMaxAdmissionCaps];
    // The budget's admission_timeout (the most specific applying rule that
    // sets one, by the core's govern_login); 0: poolgov.admission_timeout.
    int64_t admission_timeout_ms;
    char timeout_budget[kDetailLen];  // which rule, for the message
};
Profile profile = {~uint64_t{0}, 1, 0, {}, {}, 0, {}};

// The statement path's verdict (admission_top_statement_on): with the
// published limits word `fast_word` (max_active > 0, no heavy lane) and
// the profile of generation profile.generation, this backend takes its slot
// by admission_take_plain, writing `fast_bytes`: it is not a superuser (so
// never exempt, whatever exempt_superusers says), and its budgets set no
// max_active cap. 0: no verdict (the limits word is never 0 on that path).
// Set where the profile is refreshed, after the backend registered.
uint64_t fast_word = 0;
uint32_t fast_bytes = 0;

AdmissionSettings &published() { return shm.state->admission_settings; }
int max_active() { return atomic::load(published().max_active); }
int max_heavy() { return atomic::load(published().max_heavy); }
int timeout_ms() { return atomic::load(published().timeout_ms); }

// With max_active_transactions 0 and a heavy lane, only heavy transactions
// take part, and normal slots are unlimited.
AdmissionLimits limits()
{
    int active = max_active();
    return AdmissionLimits{active > 0 ? active : INT_MAX, max_heavy(),
                           static_cast<int64_t>(atomic::load(published().aging_ms)) * 1000,
                           static_cast<int64_t>(atomic::load(published().fairness_bound_ms)) * 1000,
                           atomic::load(published().fairness_factor_pct)};
}

// All that admission_enter_fast reads: the limit. (The statement path;
// the queue's other settings are loaded only when it queues.)
AdmissionLimits fast_limits()
{
    int active = max_active();
    return AdmissionLimits{active > 0 ? active : INT_MAX, 0, 0, 0, 0};
}

__attribute__((always_inline)) inline bool exempt()
{
    // my_slot: set by the authentication hook, so never in a parallel
    // worker (IsParallelWorker() is asserted, not tested).
    Assert(my_slot == nullptr || !IsParallelWorker());
    return my_slot == nullptr ||
           (my_slot->superuser && atomic::load(published().exempt_superusers) != 0);
}

AdmissionEntry &me() { return shm.admission.entries[my_index]; }

uint32_t entry_state(const AdmissionEntry &e) { return atomic::load_acquire(e.state); }

void wake(const int *granted, int n)
{
    for (int i = 0; i < n; ++i) {
        Latch *latch = shm.admission_latches[granted[i]];
        if (latch != nullptr)
            SetLatch(latch);
    }
}

// Runs `step` (which may grant) under the lock, then wakes whoever it
// granted, and keeps granting while a batch fills up.
template <class Step>
void locked_step(Step step)
{
    int granted[kGrantBatch];
    int n = 0;
    lock_acquire(shm.state->admission_lock, LW_EXCLUSIVE);
    n = step(granted);
    lock_release(shm.state->admission_lock);
    wake(granted, n);
    while (n == kGrantBatch) {
        lock_acquire(shm.state->admission_lock, LW_EXCLUSIVE);
        n = admission_grant(shm.admission, limits(), GetCurrentTimestamp(), granted, kGrantBatch);
        lock_release(shm.state->admission_lock);
        wake(granted, n);
    }
}

void leave(int, Datum);

bool admission_on() { return shm.state != nullptr && (max_active() > 0 || max_heavy() > 0); }

void disarm_idle_timeout()
{
    if (!idle_timeout_armed)
        return;
    idle_timeout_armed = false;
    if (get_timeout_active(idle_timeout_id))
        disable_timeout(idle_timeout_id, false);
}

void register_backend()
{
    if (my_index >= 0)
        return;
    my_index = static_cast<int>(my_slot - shm.slots);
    my_entry = &shm.admission.entries[my_index];
    shm.admission_latches[my_index] = MyLatch;
    before_shmem_exit(leave, 0);
}

// Someone waits: hand the slot just freed over.
__attribute__((noinline)) void grant_freed_slot()
{
    locked_step([](int *granted) {
        return admission_grant(shm.admission, limits(), GetCurrentTimestamp(), granted,
                               kGrantBatch);
    });
}

// A slot with a heavy lane or caps, or a place in the queue.
__attribute__((noinline)) void leave_locked()
{
    locked_step([](int *granted) {
        return admission_leave(shm.admission, my_index, limits(), GetCurrentTimestamp(), granted,
                               kGrantBatch);
    });
}

// The slot (or the place in the queue) goes back; grants go on. The common
// case (a plain slot, nobody waiting): a decrement, no lock.
void leave(int, Datum)
{
    if (admission_pending_admitted != 0) [[unlikely]]
        admission_flush_pending();
    if (my_index < 0)
        return;
    AdmissionTable t = shm.admission;
    if (entry_state(t.entries[my_index]) == static_cast<uint32_t>(AdmState::None))
        return;
    // The idle timer after the slot (it acts only on a session idle in its
    // transaction, which this one no longer is): nothing is loaded twice.
    bool done = false;
    if (admission_give_fast(t, my_index, &done)) [[likely]] {
        disarm_idle_timeout();
        if (!done) [[unlikely]]
            grant_freed_slot();
        return;
    }
    disarm_idle_timeout();
    leave_locked();
}

// Priority class and max_active caps of this connection's budgets.
void refresh_profile()
{
    // Both banks' generations only grow; the active one is the larger.
    const BudgetState &b = shm.state->budget;
    uint64_t gen = std::max(atomic::load_acquire(b.banks[0].generation),
                            atomic::load_acquire(b.banks[1].generation));
    if (gen == profile.generation)
        return;
    Profile p{};
    bool low = false;
    // This connection's closure: its own slot and pool chain, which only it
    // changes (at exit), so they are read before the lock.
    int n = slot_closure_length(*my_slot, b.members);
    auto *closure = static_cast<uint32_t *>(palloc(sizeof(uint32_t) * (n + 1)));
    slot_closure(*my_slot, b.members, closure);
    ClientAddr addr;
    (void)parse_login_addr(my_slot->client_addr, addr);
    lock_acquire(shm.state->main_lock, LW_SHARED);
    const BudgetSet &set = active_budgets();
    p.generation = set.generation;
    // The whole closure (slot and member pool), looked up in the index.
    for_each_member(*my_slot, b.members, [&](uint32_t role) {
        for_each_rule_of(set, role, [&](uint32_t i) {
            const BudgetRule &r = set.rules[i];
            if (r.db_oid != 0 && r.db_oid != my_slot->db_oid)
                return;
            low |= r.priority == Priority::Low;
            if (r.max_active == kUnlimited)
                return;
            if (p.n_caps < kMaxAdmissionCaps) {
                p.cap_role[p.n_caps] = r.role_oid;
                p.cap_limit[p.n_caps++] = r.max_active;
            } else {  // keep the tightest caps
                int loosest = 0;
                for (int c = 1; c < p.n_caps; ++c)
                    if (p.cap_limit[c] > p.cap_limit[loosest])
                        loosest = c;
                if (r.max_active < p.cap_limit[loosest]) {
                    p.cap_role[loosest] = r.role_oid;
                    p.cap_limit[loosest] = r.max_active;
                }
            }
        });
    });
    // Which rule's admission_timeout holds: the one function that says
    // which rules govern this connection (closure, database, address).
    Governance g = govern_login(set, my_slot->role_oid, closure, n, my_slot->db_oid, addr);
    low |= g.low_priority;  // address rules too
    if (g.admission_timeout_rule >= 0) {
        const BudgetRule &r = set.rules[g.admission_timeout_rule];
        p.admission_timeout_ms = g.admission_timeout_ms;
        copy_text(p.timeout_budget, describe_rule(r).text);
    }
    lock_release(shm.state->main_lock);
    pfree(closure);
    p.priority = my_slot->priority ? 2 : low ? 0 : 1;
    profile = p;
}

// The statement path's verdict for the profile just refreshed and the
// limits published now (see fast_word).
void refresh_fast_verdict()
{
    uint64_t word = admission_limits_word(published());
    auto active = static_cast<int32_t>(word & 0xffffffffu);
    auto heavy = static_cast<int32_t>(word >> 32);
    if (my_entry == nullptr || my_slot->superuser || profile.n_caps != 0 || heavy != 0 ||
        active <= 0) {
        fast_word = 0;
        return;
    }
    fast_bytes = admission_plain_bytes(profile.priority);
    fast_word = word;
}

// The admission timeout of this connection: its budget's, else the setting.
long admission_timeout_ms()
{
    return profile.admission_timeout_ms > 0 ? static_cast<long>(profile.admission_timeout_ms)
                                            : timeout_ms();
}

// Does another backend wait for a lock this one holds?
bool blocks_a_lock_waiter()
{
    bool found = false;
    for (int part = 0; part < NUM_LOCK_PARTITIONS && !found; ++part) {
        if (compat::proclocks_empty(MyProc, part))
            continue;
        LWLock *partition = LockHashPartitionLockByIndex(part);
        lock_acquire(partition, LW_SHARED);
        found = compat::for_each_proclock(MyProc, part, [](PROCLOCK *pl) {
            LOCK *lock = pl->tag.myLock;
            LockMethod method = GetLocksMethodTable(lock);
            for (int mode = 1; mode <= method->numLockModes; ++mode)
                if ((pl->holdMask & LOCKBIT_ON(mode)) &&
                    (method->conflictTab[mode] & lock->waitMask))
                    return true;
            return false;
        });
        lock_release(partition);
    }
    return found;
}

// This backend's admission counters, kept with its statement counters (so
// they roll up per role and database, retire at exit and reset by epoch).
void count_admission(bool timed_out)
{
    SlotStats &mine = stats_of(my_slot);
    uint64_t epoch = atomic::load(shm.state->stats_epoch);
    write_begin(mine.cc);
    slot_sync_epoch(mine, epoch);
    stmt_record_admission(mine.stmts, timed_out);
    write_end(mine.cc);
}

void report(EventKind kind, const char *detail)
{
    log_event(kind,
              EventFields{my_slot->role_name, my_slot->db_name, MyProcPid, my_slot->client_addr},
              detail);
}

// Admitted past the limit to break a wait on one of our locks.
bool take_overdraft(long waited_ms)
{
    bool taken = false, paused = false;
    uint32_t running = 0;
    lock_acquire(shm.state->admission_lock, LW_EXCLUSIVE);
    paused = admission_paused(me());
    taken = admission_overdraft(shm.admission, my_index, GetCurrentTimestamp());
    running = shm.admission.counters->running;
    lock_release(shm.state->admission_lock);
    if (!taken)
        return false;
    char detail[kDetailLen];
    if (paused)
        format_into(detail,
                    "admitted past a pause after {} ms: another backend waits for a "
                    "lock this transaction holds",
                    waited_ms);
    else
        format_into(detail,
                    "admitted past the limit of {} ({} running) after {} ms: another "
                    "backend waits for a lock this transaction holds",
                    max_active(), running, waited_ms);
    if (paused)
        atomic::fetch_add(shm.state->pauses.lock_admits, uint64_t{1});
    report(EventKind::AdmissionOverdraft, detail);
    ereport(LOG, (errcode(ERRCODE_WARNING),
                  errmsg(paused ? "pg_poolgov: transaction admitted past a pause"
                                : "pg_poolgov: transaction admitted past "
                                  "poolgov.max_active_transactions"),
                  errdetail("%s.", detail)));
    return true;
}

// The admission timeout of a transaction held by a pause (`held`: the
// pauses' bits): the DETAIL says which scope is paused.
[[noreturn]] void time_out_paused(long waited_ms, uint32_t held)
{
    char scope[kDetailLen] = "a paused scope";
    lock_acquire(shm.state->admission_lock, LW_SHARED);
    for (int k = 0; k < kMaxPauses; ++k)
        if ((held >> k & 1u) && shm.state->pauses.scopes[k].in_force) {
            describe_pause_scope(shm.state->pauses.scopes[k], scope);
            break;
        }
    lock_release(shm.state->admission_lock);
    char detail[kDetailLen];
    format_into(detail, "waited {} ms; {} is paused", waited_ms, scope);
    atomic::fetch_add(shm.state->pauses.timeouts, uint64_t{1});
    report(EventKind::AdmissionTimeout, detail);
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_RESOURCES),
             errmsg("pg_poolgov admission timeout: no transaction slot within %d ms", timeout_ms()),
             errdetail("Waited %ld ms; %s is paused (poolgov.pause).", waited_ms, scope),
             errhint("The transaction did not start; retry it after poolgov.resume(), or see "
                     "poolgov.pauses.")));
    pg_unreachable();
}

[[noreturn]] void time_out(long waited_ms, uint32_t running, uint32_t queued)
{
    int limit = max_active();
    char detail[kDetailLen];
    format_into(detail, "waited {} ms; {} running, {} queued, limit {}", waited_ms, running, queued,
                limit);
    report(EventKind::AdmissionTimeout, detail);
    if (profile.admission_timeout_ms > 0)
        ereport(ERROR,
                (errcode(ERRCODE_INSUFFICIENT_RESOURCES),
                 errmsg("pg_poolgov admission timeout: no transaction slot within %ld ms",
                        admission_timeout_ms()),
                 errdetail("Waited %ld ms; %u transactions running, %u queued, "
                           "poolgov.max_active_transactions = %d; the admission_timeout of the "
                           "budget for %s.",
                           waited_ms, running, queued, limit, profile.timeout_budget),
                 errhint("Look for long or idle transactions in poolgov.connections, or raise "
                         "the budget's admission_timeout with poolgov.set_budget_rule().")));
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_RESOURCES),
             errmsg("pg_poolgov admission timeout: no transaction slot within %d ms", timeout_ms()),
             errdetail("Waited %ld ms; %u transactions running, %u queued, "
                       "poolgov.max_active_transactions = %d.",
                       waited_ms, running, queued, limit),
             errhint("Look for long or idle transactions in poolgov.connections, or raise "
                     "poolgov.max_active_transactions or poolgov.admission_timeout.")));
    pg_unreachable();
}

// Gives up the wait at the timeout (unless the grant just arrived).
void leave_at_timeout(long waited_ms)
{
    bool still_waiting = false;
    uint32_t running = 0, queued = 0, held = 0;
    locked_step([&](int *granted) {
        AdmissionTable t = shm.admission;
        still_waiting = admission_waiting(me());
        if (!still_waiting)
            return 0;
        held = admission_paused(me()) ? me().paused : 0;
        bool heavy_only = me().state == static_cast<uint32_t>(AdmState::Running);
        int n = heavy_only ? admission_leave_heavy(t, my_index, limits(), GetCurrentTimestamp(),
                                                   granted, kGrantBatch)
                           : admission_leave(t, my_index, limits(), GetCurrentTimestamp(), granted,
                                             kGrantBatch);
        t.counters->timeouts++;
        running = t.counters->running;
        queued = t.counters->queued;
        return n;
    });
    if (still_waiting) {
        count_admission(true);
        if (held != 0)
            time_out_paused(waited_ms, held);
        time_out(waited_ms, running, queued);
    }
}

bool still_waiting()
{
    lock_acquire(shm.state->admission_lock, LW_SHARED);
    bool waiting = admission_waiting(me());
    lock_release(shm.state->admission_lock);
    return waiting;
}

// Sleeps until granted. Errors (timeout, cancel, terminate) leave through
// the abort callback (or the savepoint's); only plain data lives in this
// frame. The settings are read anew at every wake-up: a reload reaches the
// waiters (the governor wakes them) without their processing it.
void wait_for_grant()
{
    TimestampTz start = GetCurrentTimestamp();
    for (;;) {
        if (!still_waiting())
            return;
        long waited = TimestampDifferenceMilliseconds(start, GetCurrentTimestamp());
        // Turned off, or exempted, meanwhile (a pause holds on regardless).
        if ((!admission_on() && !admission_paused(me())) || exempt()) {
            leave(0, 0);
            return;
        }
        long timeout = admission_timeout_ms();
        if (timeout > 0 && waited >= timeout)
            leave_at_timeout(waited);  // returns only if the grant arrived
        // Past the limit only if a slot holder waits for us (lock_graph.hpp);
        // past a pause if anyone does.
        if (waited >= DeadlockTimeout && blocks_a_lock_waiter() &&
            (admission_paused(me()) || slot_holder_waits_for_me()) && take_overdraft(waited))
            return;
        if (admission_paused(me()))
            lift_expired_pauses(false);  // a backstop: the governor lifts them
        long sleep = std::min<long>(kTickMs, DeadlockTimeout > 0 ? DeadlockTimeout : kTickMs);
        if (timeout > 0)
            sleep = std::max<long>(1, std::min<long>(sleep, timeout - waited));
        int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep,
                           compat::named_wait_event("PoolgovAdmission", &admission_wait_event));
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
        if (rc & WL_TIMEOUT)  // a raised limit frees room nobody released
            locked_step([](int *granted) {
                return admission_grant(shm.admission, limits(), GetCurrentTimestamp(), granted,
                                       kGrantBatch);
            });
    }
}

// A SERIALIZABLE READ ONLY DEFERRABLE transaction that has no snapshot yet
// may still wait for a safe one, i.e. for other serializable transactions,
// which may be queued behind its slot.
bool awaits_safe_snapshot()
{
    return !FirstSnapshotSet && IsolationIsSerializable() && XactReadOnly && XactDeferrable;
}

bool is_heavy(const PlannedStmt *plan)
{
    return max_heavy() > 0 && plan->commandType != CMD_UTILITY && plan->planTree != nullptr &&
           plan->planTree->total_cost >= settings::heavy_cost;
}

bool in_schema(Oid relid, Oid nspid)
{
    return nspid != InvalidOid && get_rel_namespace(relid) == nspid;
}

// A statement an operator must be able to run on a saturated server: a
// read-only SELECT by a superuser or a member of poolgov_admin or
// pg_monitor that reads nothing but system catalogs and views and
// pg_poolgov's own views (pg_stat_activity, poolgov.connections,
// pg_terminate_backend(), pg_reload_conf(), poolgov.terminate_idle() ...).
// Checked only when the statement would otherwise wait.
bool rescue_statement(const PlannedStmt *plan)
{
    if (plan == nullptr || plan->commandType != CMD_SELECT || plan->hasModifyingCTE ||
        plan->rowMarks != NIL)
        return false;
    Oid me_role = GetUserId();
    Oid admin = get_role_oid("poolgov_admin", true);
    if (!superuser_arg(me_role) && !has_privs_of_role(me_role, ROLE_PG_MONITOR) &&
        !(OidIsValid(admin) && has_privs_of_role(me_role, admin)))
        return false;
    Oid poolgov = get_namespace_oid("poolgov", true);
    ListCell *lc;
    foreach (lc, plan->rtable) {
        auto *rte = static_cast<RangeTblEntry *>(lfirst(lc));
        if (rte->rtekind == RTE_RELATION && rte->relid >= FirstNormalObjectId &&
            !in_schema(rte->relid, poolgov))
            return false;
    }
    return true;
}

// The fast path of a transaction's first statement: no other transaction
// waits, the limit has room, the statement needs no heavy slot, and this
// connection has no caps and no pause in force (one load each, the
// budgets' generation telling whether the profile is current): one
// compare-and-swap on the running count, no lock, no clock read. Its
// admission is counted with the statement (admission_pending_admitted).
// False: take the full path (acquire), which handles every other case.
bool fast_admit(int active)
{
    if (my_index < 0) [[unlikely]]
        return false;
    AdmissionEntry &e = me();
    uint32_t state = entry_state(e);
    if (state == static_cast<uint32_t>(AdmState::Running))
        return true;  // admitted earlier in this transaction
    if (state != static_cast<uint32_t>(AdmState::None) || profile.n_caps != 0 ||
        profile.generation != atomic::load_acquire(shm.state->budget.generation) ||
        (!xact_gated() && pauses_in_force()))
        return false;
    refresh_fast_verdict();  // the limits changed since, say: the next one is fast again
    xact_work_flag(kXactWorkAdmission);  // the slot goes back at the end
    if (!admission_take_fast(shm.admission, my_index, profile.priority, active))
        return false;
    admission_pending_admitted++;
    return true;
}

// Takes (or waits for) a slot, and the heavy lane if asked. `plan` is the
// statement's (null for a utility command). With `pause_only` (admission
// control off), only a transaction a pause holds queues; it takes a slot
// of an unlimited queue when the pause is lifted.
void acquire(bool heavy, const PlannedStmt *plan, bool pause_only)
{
    register_backend();
    xact_work_flag(kXactWorkAdmission);  // the slot goes back at the end
    uint32_t state = entry_state(me());
    if (state == static_cast<uint32_t>(AdmState::Running) &&
        (!heavy || me().heavy != static_cast<uint8_t>(HeavyState::None)))
        return;
    AdmissionRequest req{heavy, 1, 0, nullptr, nullptr, 0};
    uint64_t pause_generation = 0;
    if (state == static_cast<uint32_t>(AdmState::None)) {
        refresh_profile();
        refresh_fast_verdict();
        req = AdmissionRequest{heavy,
                               profile.priority,
                               static_cast<uint8_t>(pause_only ? 0 : profile.n_caps),
                               profile.cap_role,
                               profile.cap_limit,
                               0};
        if (!xact_gated())
            req.paused = pause_bits(&pause_generation);
        if (pause_only && req.paused == 0)
            return;
        // Nobody waiting and room: no lock, no clock read.
        if (admission_enter_fast(shm.admission, my_index, req, fast_limits())) {
            count_admission(false);
            return;
        }
    }
    if (rescue_statement(plan))
        return;
    bool now_running = false;
    lock_acquire(shm.state->admission_lock, LW_EXCLUSIVE);
    // A pause came or went since the bits were computed: compute them again.
    while (state == static_cast<uint32_t>(AdmState::None) && !xact_gated() &&
           pause_table_moved(pause_generation)) {
        lock_release(shm.state->admission_lock);
        req.paused = pause_bits(&pause_generation);
        if (pause_only && req.paused == 0)
            return;
        lock_acquire(shm.state->admission_lock, LW_EXCLUSIVE);
    }
    if (state == static_cast<uint32_t>(AdmState::None)) {
        now_running =
            admission_enter(shm.admission, my_index, req, limits(), GetCurrentTimestamp());
    } else {
        now_running =
            admission_enter_heavy(shm.admission, my_index, limits(), GetCurrentTimestamp());
    }
    lock_release(shm.state->admission_lock);
    if (!now_running)
        wait_for_grant();
    // Admitted (also past the limit), unless it was only the heavy lane or
    // admission was turned off meanwhile.
    if (state == static_cast<uint32_t>(AdmState::None) &&
        entry_state(me()) == static_cast<uint32_t>(AdmState::Running))
        count_admission(false);
}

// Rewrites the FATAL that ends a session idle with its slot, so the client
// learns why, and counts it.
void rewrite_idle_fatal(ErrorData *edata)
{
    edata->sqlerrcode = ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT;
    edata->message = pstrdup(
        "terminating connection: idle in transaction while holding a "
        "pg_poolgov transaction slot");
    edata->detail = psprintf(
        "The session was idle in its transaction for %d ms; %d "
        "transactions may run at once "
        "(poolgov.max_active_transactions).",
        settings::admission_idle_timeout, max_active());
    edata->hint = pstrdup(
        "Commit or roll back promptly; poolgov.admission_idle_timeout sets "
        "how long a transaction may idle with a slot.");
    atomic::fetch_add(shm.admission.counters->idle_ended, uint64_t{1});
    if (my_slot != nullptr)
        report(EventKind::AdmissionIdle, edata->detail);
}

void idle_timeout_handler()
{
    // Signal handler: act only if the session still sits idle in its
    // transaction; a statement that just started is left alone.
    if (MyBEEntry != nullptr && MyBEEntry->st_state == STATE_IDLEINTRANSACTION)
        termination_arm(rewrite_idle_fatal);
    else
        SetLatch(MyLatch);
}

}  // namespace

void admission_reloaded()
{
    if (shm.state == nullptr || atomic::load(shm.admission.counters->queued) == 0)
        return;
    // A raised limit (or a lane switched off) has room for waiters now.
    locked_step([](int *granted) {
        return admission_grant(shm.admission, limits(), GetCurrentTimestamp(), granted,
                               kGrantBatch);
    });
    // The others look at the new settings: off, exempt, a shorter timeout.
    int waiting[kGrantBatch];
    for (int from = 0; from < shm.admission.n;) {
        int n = 0;
        lock_acquire(shm.state->admission_lock, LW_SHARED);
        for (; from < shm.admission.n && n < kGrantBatch; ++from)
            if (admission_waiting(shm.admission.entries[from]))
                waiting[n++] = from;
        lock_release(shm.state->admission_lock);
        wake(waiting, n);
    }
}

AdmissionLimits admission_limits() { return limits(); }

void admission_wake(const int *granted, int n) { wake(granted, n); }

// The slot goes back at COMMIT, ABORT and PREPARE (xact_events.hpp, which
// also opens the gate again for the next transaction).
void admission_xact_event(XactEvent event)
{
    switch (event) {
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PREPARE:
        leave(0, 0);
        break;
    default:
        break;
    }
}

// Admission control on: the fast path, else the full one.
__attribute__((always_inline)) inline void top_statement_admission_on(const PlannedStmt *plan,
                                                                      int active, int heavy_lane)
{
    disarm_idle_timeout();
    bool heavy = heavy_lane > 0 && is_heavy(plan);
    if (heavy)
        acquire(true, plan, false);
    else if (active > 0) {
        if (!fast_admit(active))
            acquire(false, plan, false);
    } else if (!xact_gated() && pauses_in_force())
        acquire(false, plan, true);
    gate_transaction();
}

namespace {

// Everything but the verdict's case of admission_top_statement_on.
__attribute__((noinline)) void admission_top_statement_slow(const PlannedStmt *plan)
{
    if (exempt()) [[unlikely]]
        return;
    int active = max_active();
    int heavy_lane = max_heavy();
    if (active > 0 || heavy_lane > 0) [[likely]]  // unless turned off meanwhile
        top_statement_admission_on(plan, active, heavy_lane);
    else
        admission_top_statement_full(plan);
}

}  // namespace

// Admission control or the heavy lane on (the limits word nonzero). The
// common case by the verdict (fast_word): the same limits, the profile
// current, no idle timer armed, and either the transaction passed the gate
// or no pause is in force; then the slot is held already or taken by one
// compare-and-swap. Its admission is counted with the statement
// (admission_pending_admitted). Anything else: admission_top_statement_slow.
// (Reached only from ExecutorStart's fast path, where tracked_stats, so
// my_slot, is set.)
__attribute__((noinline)) void admission_top_statement_on(const PlannedStmt *plan)
{
    admission_rolled_back = false;
    uint64_t limits_word = admission_limits_word(published());
    if (limits_word == fast_word && !idle_timeout_armed &&
        atomic::load_acquire(shm.state->budget.generation) == profile.generation &&
        (xact_gate_passed || atomic::load_seq_cst(shm.state->pauses.n_in_force) == 0)) [[likely]] {
        AdmissionEntry &e = *my_entry;
        uint32_t state = entry_state(e);
        if (state == static_cast<uint32_t>(AdmState::Running)) {  // earlier in this transaction
            xact_gate_passed = true;
            return;
        }
        if (state == static_cast<uint32_t>(AdmState::None)) {
            xact_work_flag(kXactWorkAdmission);  // the slot goes back at the end
            if (admission_take_plain(*shm.admission.counters, e, fast_bytes,
                                     static_cast<uint32_t>(limits_word))) [[likely]] {
                admission_pending_admitted++;
                xact_gate_passed = true;
                return;
            }
        }
    }
    admission_top_statement_slow(plan);
}

// The COMMIT of a transaction in which only admission control flagged work
// (xact_events.cpp): a plain slot goes back by a decrement (the waiters
// then granted if any); anything else through leave().
void admission_commit()
{
    AdmissionEntry *e = my_entry;
    bool done = false;
    if (e != nullptr && admission_pending_admitted == 0 && !idle_timeout_armed &&
        admission_give_plain(*shm.admission.counters, *e, &done)) [[likely]] {
        if (!done) [[unlikely]]
            grant_freed_slot();
        return;
    }
    leave(0, 0);
}

// Everything but the inline case of admission_top_statement (admission.hpp).
void admission_top_statement_full(const PlannedStmt *plan)
{
    rolled_back_to_savepoint = false;
    if (exempt()) [[unlikely]]  // also without shared memory: no my_slot then
        return;
    int active = max_active();
    int heavy_lane = max_heavy();
    if (active > 0 || heavy_lane > 0) {
        top_statement_admission_on(plan, active, heavy_lane);
        return;
    }
    if (!xact_gated()) {
        if (pauses_in_force()) [[unlikely]]
            acquire(false, plan, true);
        gate_transaction();
    }
}

void admission_block_statement()
{
    if (shm.state == nullptr || exempt() || awaits_safe_snapshot())
        return;
    if (max_active() > 0)
        acquire(false, nullptr, false);
    else if (!xact_gated() && pauses_in_force())
        acquire(false, nullptr, true);
    gate_transaction();
}

void admission_utility_started()
{
    rolled_back_to_savepoint = false;
    disarm_idle_timeout();
}

void admission_rolled_back_to_savepoint() { rolled_back_to_savepoint = true; }

void admission_savepoint_aborted()
{
    if (!rolled_back_to_savepoint)
        leave(0, 0);
}

void admission_statement_check()
{
    if (my_index < 0 || settings::admission_idle_timeout <= 0 ||
        entry_state(me()) != static_cast<uint32_t>(AdmState::Running) || !IsTransactionBlock() ||
        !admission_on())
        return;
    if (!idle_timeout_registered) {
        idle_timeout_id = RegisterTimeout(USER_TIMEOUT, idle_timeout_handler);
        idle_timeout_registered = true;
    }
    enable_timeout_after(idle_timeout_id, settings::admission_idle_timeout);
    idle_timeout_armed = true;
}

uint32_t admission_pending_admitted = 0;

void admission_flush_pending()
{
    uint32_t n = admission_pending_admitted;
    admission_pending_admitted = 0;
    if (n == 0 || my_slot == nullptr || shm.state == nullptr)
        return;
    SlotStats &mine = stats_of(my_slot);
    uint64_t epoch = atomic::load(shm.state->stats_epoch);
    write_begin(mine.cc);
    slot_sync_epoch(mine, epoch);
    atomic::owner_add(mine.stmts.admitted, uint64_t{n});
    write_end(mine.cc);
}

}  // namespace poolgov::pg
