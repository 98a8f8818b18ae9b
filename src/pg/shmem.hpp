// pg_poolgov's shared memory: one segment requested at preload, laid out as
// a small header (SharedState) followed by arrays whose sizes come from
// MaxBackends and the PGC_POSTMASTER settings. What every login reads comes
// first, so that it stays on a page or two.
//
// What each lock guards (they nest only in the order src/pg/locks.hpp
// gives, and no lock is ever held across an ereport or a wait):
//   main_lock     connection slots' identity fields (claim, release), the
//                 per-role and per-database counter tables (sized by
//                 poolgov.max_roles / poolgov.max_databases; their hash
//                 indexes and clock hands), the budget set,
//                 peak_connections. Taken exclusively once per login and once
//                 per backend exit, shared by the views. Never per statement.
//   breaker_lock  the login breaker table.
//   events_lock   the events ring.
//   slowlog_lock  the slow-query ring (taken only for slow statements).
//   history_lock  the history ring (written by the governor alone).
//   budget_install_lock  serialises installers of a budget set:
//                 they fill the inactive bank without the main lock, then
//                 swap under it.
//   closure_lock  the shared cache of membership closures, looked up by a
//                 login before it takes the main lock (so a login takes the
//                 main lock once); never held together with another lock.
//   admission_lock the admission queue: counters, entries and latches;
//                 the pause table (poolgov.pause) changes under it too.
//                 Taken only while admission control is on, at most twice
//                 per transaction (start, end) plus a waiter's wake-ups.
// Statement counters live in each backend's slot, written by their owner
// without a lock (see poolgov/slots.hpp). Global counters below are atomics.
#pragma once

#include "postgres.hpp"

#include "poolgov/admission.hpp"
#include "poolgov/breaker.hpp"
#include "poolgov/budgets.hpp"
#include "poolgov/closure_cache.hpp"
#include "poolgov/entry_table.hpp"
#include "poolgov/pause.hpp"
#include "poolgov/ring.hpp"
#include "poolgov/slots.hpp"

namespace poolgov::pg {

// Chunks of the member pool (closures beyond kMaxMemberOf roles) per slot.
constexpr size_t kMemberChunksPerSlot = 4;

// Per-address budget counts ((rule, address) pairs) per connection slot:
// a connection takes one for each per-address rule that counts it; more
// than this many on average overflow (counted in BudgetSet::pairs_overflowed).
constexpr uint32_t kAddrPairsPerSlot = 4;
inline uint32_t budget_pair_slots()
{
    return static_cast<uint32_t>(MaxBackends) * kAddrPairsPerSlot;
}

// The budget set and the live counts the login decision reads.
// Two banks: an installer fills and indexes the inactive one outside the
// main lock (under budget_install_lock), then, under the main lock, recounts
// its live counts from the slots and makes it active. Everything else here
// is under the main lock, except the exit queue (see connection.cpp).
struct BudgetState {
    BudgetSet banks[2];
    uint32_t active;  // banks[active] is in force
    // Published at every install, after the swap (atomics), so that the
    // statement path tests one word instead of the banks: the generation in
    // force, and how many of its rules set an idle_in_transaction_timeout
    // (0: no session has a per-budget idle timeout to arm).
    uint64_t generation;
    uint32_t idle_in_transaction_rules;
    uint32_t capacity;                // poolgov.max_budgets
    OidMap live_by_role;              // login role -> live connections
    OidMap live_by_db;                // database -> live connections
    int32_t live_total;               // live connections
    int32_t live_overdrafts;          // of those, superusers on an overdraft
    MemberPool members;               // closures beyond kMaxMemberOf roles
    uint64_t memberships_overflowed;  // logins whose closure went to the pool
    uint64_t memberships_truncated;   // logins whose closure did not fit at all
    // Slots whose owner exited and that still count: written by the owner
    // at exit without a lock (tail: atomic), taken by main-lock holders.
    uint32_t *exit_queue;  // [nslots]; slot index + 1, 0: not yet written
    uint64_t exit_head;    // under the main lock
    uint64_t exit_tail;    // atomic
    // Free connection slots (indexes), a stack under the main lock: a claim
    // pops one, the drain of an exit pushes it back; no slot scan.
    uint32_t *free_slots;  // [nslots]
    uint32_t n_free_slots;
};
static_assert(std::is_trivially_copyable_v<BudgetState>);  // in shared memory

struct SharedState {
    LWLock *main_lock;
    LWLock *breaker_lock;
    LWLock *events_lock;
    LWLock *slowlog_lock;
    LWLock *history_lock;
    LWLock *admission_lock;
    LWLock *budget_install_lock;
    LWLock *closure_lock;

    // Governor: its latch (to wake it) and a request to reload budgets.
    Latch *governor_latch;
    uint32_t budget_reload_requested;
    // Set when the governor exited while connecting to poolgov.database: its
    // next start checks that the database exists before connecting (atomic).
    uint32_t governor_connect_failed;

    // poolgov.reset() generation; backends zero their own counters lazily.
    uint64_t stats_epoch;
    TimestampTz stats_reset;

    // Cumulative counters since stats_reset (atomics).
    uint64_t accepted;
    uint64_t rejected_budget;
    uint64_t rejected_reserve;
    uint64_t rejected_breaker;
    uint64_t warned;
    uint64_t auth_failures;
    uint64_t idle_terminated;   // sessions pg_poolgov ended for idling
    uint64_t peak_connections;  // under main_lock

    uint32_t breaker_entries;        // copy of breaker->used, so logins need not touch the table
    uint64_t membership_generation;  // bumped on any pg_auth_members change (atomic)

    uint32_t nslots;
    EntryTableHeader roles;
    EntryTableHeader databases;
    OidMap closure_index;  // the closure cache: role -> entry (under closure_lock)
    RingHeader events;
    RingHeader slowlog;
    RingHeader history;
    BudgetState budget;
    AdmissionSettings admission_settings;  // see poolgov/admission.hpp
    PauseTable pauses;  // poolgov.pause(): under admission_lock (poolgov/pause.hpp)
};
static_assert(std::is_trivially_copyable_v<SharedState>);  // in shared memory

// Process-local pointers into the segment; all null unless preloaded.
// slot_keys[i], slots[i] and slot_stats[i] belong together; they are
// separate arrays so that what every login scans stays on a few pages (a new
// backend's first touch of a shared page is a page fault, which costs tens
// of microseconds on some virtual machines).
struct Shmem {
    SharedState *state;
    SlotKey *slot_keys;
    ConnSlot *slots;
    SlotStats *slot_stats;
    EntryTable roles;
    EntryTable databases;
    StmtCounters *retired;  // exited backends, all roles (under main_lock)
    ClosureCache closures;  // under closure_lock
    BreakerTable *breaker;  // under breaker_lock
    char *events;
    char *slowlog;
    char *history;
    AdmissionTable admission;   // under admission_lock; index = slot index
    Latch **admission_latches;  // the latch of each entry's backend
};

extern Shmem shm;

void shmem_install_hooks();

// For SQL functions: errors out clearly when the library was not preloaded.
void require_shmem();

inline RingView events_ring() { return RingView(&shm.state->events, shm.events); }
inline RingView slowlog_ring() { return RingView(&shm.state->slowlog, shm.slowlog); }
inline RingView history_ring() { return RingView(&shm.state->history, shm.history); }

uint32_t slowlog_stride();

inline SlotStats &stats_of(const ConnSlot *slot) { return shm.slot_stats[slot - shm.slots]; }
inline SlotKey &key_of(const ConnSlot *slot) { return shm.slot_keys[slot - shm.slots]; }
inline SlotsView slots_view()
{
    return SlotsView{shm.slot_keys, shm.slots, static_cast<int>(shm.state->nslots)};
}
inline int count_connections(const SlotFilter &f) { return count_slots(slots_view(), f); }

// The budget set in force (under the main lock, shared or exclusive).
inline BudgetSet &active_budgets() { return shm.state->budget.banks[shm.state->budget.active]; }

}  // namespace poolgov::pg
