// Admission control in the backend: where a transaction takes its slot, the
// wait, and where the slot is given back. The policy is poolgov/admission.hpp.
#pragma once

#include "poolgov/admission.hpp"

#include "session/xact_events.hpp"
#include "shmem.hpp"

#include <cstdint>

extern "C" {
struct PlannedStmt;
}

namespace poolgov::pg {

// The queue's limits as published in shared memory (pauses use them when
// they release waiters), and waking the entries a grant returned.
AdmissionLimits admission_limits();
void admission_wake(const int *granted, int n);

// The governor has reloaded the configuration: grant what a raised limit
// allows and wake every waiter to look at the new settings.
void admission_reloaded();

// A top-level statement is about to start its executor (not inside a
// utility command, a function or another statement).
void admission_top_statement_full(const PlannedStmt *plan);
// The same when admission control or the heavy lane is on. (It loads the
// limits word again: passed as an argument it would take the register of
// ExecutorStart's eflags, which then costs the default path a register save.)
void admission_top_statement_on(const PlannedStmt *plan);

// Set by ROLLBACK TO SAVEPOINT until the next statement: the savepoints it
// aborts were not aborted by an error, and the transaction keeps its slot.
extern bool admission_rolled_back;

// The common case inline, for a backend with a connection slot: admission
// control and the heavy lane off (one load for both), and either the
// transaction passed the pause gate already or no scope is paused (one
// load of the pause count, at a transaction's first statement only).
// Anything else, and superusers' exemption: admission_top_statement_full.
inline void admission_top_statement(const PlannedStmt *plan)
{
    if (admission_limits_word(shm.state->admission_settings) != 0) [[unlikely]] {
        admission_top_statement_on(plan);
        return;
    }
    if (!xact_gate_passed && atomic::load_seq_cst(shm.state->pauses.n_in_force) != 0) [[unlikely]] {
        admission_top_statement_full(plan);
        return;
    }
    admission_rolled_back = false;
    xact_gate_passed = true;
}

// A top-level utility command other than transaction control, SET, RESET
// and SHOW is about to run inside a transaction block: the block takes its
// slot here if it has none (not at BEGIN, where an error would leave no
// block to abort).
void admission_block_statement();

// ROLLBACK TO SAVEPOINT ran: the savepoints it aborts keep the slot.
void admission_rolled_back_to_savepoint();

// A savepoint taken between top-level statements was aborted: by an error
// (the block waits for ROLLBACK TO or ROLLBACK, and holds no slot meanwhile;
// a wait under way is abandoned) unless ROLLBACK TO SAVEPOINT did it.
void admission_savepoint_aborted();

// A top-level utility command starts (the session is no longer idle).
void admission_utility_started();

// A top-level statement (or utility command) finished inside a transaction
// block: the session may now sit idle holding its slot. Only a transaction
// that took part in admission control (xact_work) can hold a slot.
void admission_statement_check();
inline void admission_statement_done()
{
    if (xact_work & kXactWorkAdmission)
        admission_statement_check();
}

// Transactions the fast path admitted that this backend's counters do not
// show yet: the statement path adds them in its own write of the counters
// (one seqlock write per statement, not two); admission_flush_pending()
// writes them at once. Flushed at the latest when the transaction gives its
// slot back, and before this backend reads or resets the counters.
extern uint32_t admission_pending_admitted;
void admission_flush_pending();

}  // namespace poolgov::pg
