// The read model: one code path that copies what the views and
// poolgov.metrics() show out of shared memory, so that they read the same
// numbers the same way (poolgov.stats, .roles, .databases, .health and the
// Prometheus exposition).
//
// Locking: global statement counters and the live slots under main_lock
// (shared), the admission counters under admission_lock, the breaker
// counters under breaker_lock, each held only for the copy. Every copy is
// palloc'd plain data; nothing here keeps a lock or a C++ object alive.
#pragma once

#include "postgres.hpp"

#include "poolgov/admission.hpp"
#include "poolgov/budgets.hpp"
#include "poolgov/entry_table.hpp"
#include "poolgov/history.hpp"
#include "poolgov/stmt_stats.hpp"

namespace poolgov::pg {

// Statement counters of everyone (retired + live, current epoch), the
// connection tally, and the refused-login counter, at one instant.
void gather_totals(Totals &totals, ConnTally &tally, StmtCounters &all);

// What poolgov.stats shows: the totals above plus the admission and breaker
// counters. Login counters are atomics the caller reads from shm.state.
struct GlobalRead {
    Totals totals;
    ConnTally tally;
    StmtCounters all;
    AdmissionCounters adm;
    // Pauses (poolgov.pause): scopes paused and transactions held now, and
    // the pause table's counters since start.
    int64_t pauses_in_force, paused_transactions;
    uint64_t pauses_total, pause_timeouts, pause_lock_admits, paused_admission_timeouts;
    uint64_t breaker_untracked;
    uint64_t breaker_evicted;
};
GlobalRead *read_global();

// One row of poolgov.roles / poolgov.databases: retired counters plus those
// of the live connections of that role or database.
struct Rollup {
    CounterEntry *entries;  // copies
    StmtCounters *stats;    // their retired counters, then the live ones added
    int *connections;       // live connections now
    int *queued;            // of those, waiting for an admission slot now
    int n;
    BudgetSet *budgets;
};

enum class RollupOf { Roles, Databases };

// with_budget_roles: add rows for budgeted roles that have none yet (roles
// only). with_live: add the live connections' counters (else the counts are
// the retired ones and connections / queued are 0).
Rollup read_rollup(RollupOf of, bool with_budget_roles, bool with_live = true);

// Login and session counters (atomics in shared memory, read one by one).
struct LoginCounters {
    uint64_t accepted, rejected_budget, rejected_reserve, rejected_breaker, warned;
    uint64_t auth_failures;
    uint64_t idle_terminated;
};
LoginCounters read_logins();

// Everything at once, for poolgov.metrics(): what poolgov.stats, .roles
// (with budgeted roles not seen yet) and .databases read, by the same calls.
struct ReadModel {
    GlobalRead *global;
    LoginCounters logins;
    Rollup roles;
    Rollup databases;
};
ReadModel read_model();

}  // namespace poolgov::pg
