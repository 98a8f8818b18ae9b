// Execution timers of top-level statements.
//
// The executor can time a statement for us (queryDesc->totaltime, an
// Instrumentation; query_instr from 19: compat::query_timer), but that costs an allocation and more bookkeeping per
// statement than the two clock reads we need. So a top-level statement gets
// a small timer here, read around ExecutorRun and ExecutorFinish. When
// another extension asked for that timer anyway (e.g.
// pg_stat_statements), ExecutorEnd reads that one instead, so both report
// the same time.
//
// A statement that fails never reaches ExecutorEnd: an abort forgets the
// timers of the (sub)transaction that aborted.
#pragma once

#include "postgres.hpp"

extern "C" {
#include "access/xact.h"
#include "executor/execdesc.h"
}

namespace poolgov::pg {

// Starts timing; false when all timers are in use (then use totaltime).
bool statement_clock_start(const QueryDesc *qd);
// The running total of qd, or null. Valid until the next start, stop or
// forget: only top-level statements have timers, and none starts or stops
// while a top-level statement's ExecutorRun is under way.
double *statement_clock_of(const QueryDesc *qd);
// Seconds measured, and forgets the timer; negative if there was none.
double statement_clock_stop(const QueryDesc *qd);
void statement_clock_forget(SubTransactionId from);  // InvalidSubTransactionId: all

}  // namespace poolgov::pg
