// The one transaction callback of pg_poolgov. Three parts of the session
// have work at the end of a transaction: the statement path (level-0
// savepoints, a failed top-level statement), admission control (the slot
// goes back) and the budget table (re-read and installed at commit). One
// callback instead of three: PostgreSQL calls it twice per transaction
// (PRE_COMMIT, COMMIT) on the statement path, and at those two events it
// returns at once unless a part flagged work in xact_work. Every other event
// (ABORT, PREPARE, the parallel ones, ...) reaches every part, flagged or
// not: those are rare, and an error's cleanup must not depend on a flag.
#pragma once

#include "postgres.hpp"

extern "C" {
#include "access/xact.h"
}

#include <cstdint>

namespace poolgov::pg {

enum XactWork : uint32_t {
    kXactWorkStatements = 1,  // level-0 savepoints to forget at commit
    kXactWorkAdmission = 2,   // this transaction took part in admission control
    kXactWorkBudgets = 4,     // this transaction changed poolgov.budgets
};

// What the parts flagged in this transaction; cleared at its end (COMMIT,
// ABORT, PREPARE), when every part has done its work.
extern uint32_t xact_work;

inline void xact_work_flag(XactWork part) { xact_work |= part; }

// This transaction's first top-level statement passed pause control
// (admission.cpp): no pause holds it any more. Cleared when it ends
// (COMMIT, ABORT, PREPARE), whatever xact_work says.
extern bool xact_gate_passed;

// The local transaction id of the transaction block a top-level utility
// command (BEGIN, START TRANSACTION, COMMIT AND CHAIN ...) left open last.
// A session can sit idle in a transaction only inside a block, and a block
// begins only by a utility command: a statement of another transaction
// (compat::local_xid() differs) arms no idle timer, without asking
// IsTransactionBlock().
extern LocalTransactionId xact_block_lxid;

// The parts, in the order they are called.
void admission_xact_event(XactEvent event);
// COMMIT when admission control alone flagged work: the slot goes back.
void admission_commit();
void budgets_xact_event(XactEvent event);
void statements_xact_event(XactEvent event);

void xact_events_install();

}  // namespace poolgov::pg
