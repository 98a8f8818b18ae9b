// Admission control in the backend: where a transaction takes its slot, the
// wait, and where the slot is given back. The policy is poolgov/admission.hpp.
#pragma once

extern "C" {
struct PlannedStmt;
}

namespace poolgov::pg {

namespace guc {
extern int max_active_transactions;  // 0: off
extern int admission_timeout;        // ms; 0: wait for ever
extern double heavy_cost;            // plan cost units
extern int max_heavy_transactions;   // 0: no heavy lane
extern int admission_idle_timeout;   // ms; 0: off
extern int admission_aging;          // ms; 0: strict priority
}  // namespace guc

void admission_define_gucs();
void admission_install();

// A top-level statement is about to start its executor (not inside a
// utility command, a function or another statement).
void admission_top_statement(const PlannedStmt *plan);

// BEGIN / START TRANSACTION has just opened a transaction block.
void admission_transaction_block_started();

// A top-level utility command starts (the session is no longer idle).
void admission_utility_started();

// A top-level statement (or utility command) finished inside a transaction
// block: the session may now sit idle holding its slot.
void admission_statement_done();

}  // namespace poolgov::pg
