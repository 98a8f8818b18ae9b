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
// Time is int64 nanoseconds, read with clock_ticks() below: the CPU's
// time-stamp counter where that is safe, else CLOCK_MONOTONIC (the clock
// PostgreSQL's instr_time reads). The timer of the statement under way is
// found through a pointer (statement_clock_current), not by searching the
// table: the search is left for portals interleaving (several top-level statements
// open at once, e.g. cursors fetched in turn).
//
// A statement that fails never reaches ExecutorEnd: an abort forgets the
// timers of the (sub)transaction that aborted.
#pragma once

#include "postgres.hpp"

extern "C" {
#include "access/xact.h"
#include "executor/execdesc.h"
}

#include "poolgov/tick_clock.hpp"

#include <cstdint>
#include <ctime>

// The time-stamp counter: x86-64, and backends forked from the postmaster
// that measured its rate (not EXEC_BACKEND, where each backend starts anew).
#if defined(__x86_64__) && !defined(EXEC_BACKEND)
#define POOLGOV_TSC_CLOCK 1
#include <x86intrin.h>
#else
#define POOLGOV_TSC_CLOCK 0
#endif

namespace poolgov::pg {

// The statement clock (poolgov/tick_clock.hpp): the CPU's time-stamp
// counter where the kernel keeps time with it, else CLOCK_MONOTONIC in
// nanoseconds. Chosen and calibrated once in the postmaster
// (statement_clock_calibrate); backends inherit the choice by fork.
extern bool clock_use_tsc;
extern TickScale clock_scale;

inline uint64_t clock_ticks()
{
#if POOLGOV_TSC_CLOCK
    if (clock_use_tsc) [[likely]]
        return __rdtsc();
#endif
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000 + static_cast<uint64_t>(ts.tv_nsec);
}

// Nanoseconds since `start` (a clock_ticks() reading).
inline int64_t clock_ns_since(uint64_t start)
{
    return static_cast<int64_t>(ticks_between_ns(start, clock_ticks(), clock_scale));
}

// Chooses the clock and measures the counter's rate (a few ms of spinning):
// from _PG_init in the postmaster. Says which clock at DEBUG1.
void statement_clock_calibrate();

struct StatementTimer {
    const QueryDesc *qd;
    // Where the statement started: 0 until a subtransaction starts after
    // it (statement_clock_stamp), which stamps it with its parent. So a
    // timer of 0 started in the innermost subtransaction begun since, and
    // no call to GetCurrentSubTransactionId() per statement.
    SubTransactionId subxact;
    // Clock ticks summed over its ExecutorRun and ExecutorFinish calls
    // (clock_ticks() differences, converted once, at the end:
    // statement_timer_ns).
    int64_t ticks;
};

// A timer's total in nanoseconds (0 if the ticks summed up negative: a
// counter read on another CPU may be a few ticks behind).
inline uint64_t statement_timer_ns(const StatementTimer *t)
{
    return ticks_to_ns(t->ticks > 0 ? static_cast<uint64_t>(t->ticks) : 0, clock_scale);
}

// The timer last started or found; &statement_clock_none (whose qd is
// null, so that it matches no statement) after a stop or a forget: never
// null, one comparison tells whether it is a statement's.
extern StatementTimer statement_clock_none;
extern StatementTimer *statement_clock_current;

// The table of timers; timers[0] is the common case's, found through
// statement_clock_current (see statement_clock.cpp).
constexpr int kStatementTimers = 8;
extern StatementTimer statement_clock_timers[kStatementTimers];
extern int statement_clock_n;

bool statement_clock_start_slow(const QueryDesc *qd);
int64_t statement_clock_stop_slow(const QueryDesc *qd);
StatementTimer *statement_clock_find(const QueryDesc *qd);  // the search; sets current

// Starts timing; false when all timers are in use (then use totaltime).
// The common case, no other top-level statement open, writes timers[0].
inline bool statement_clock_start(const QueryDesc *qd)
{
    if (statement_clock_n != 0) [[unlikely]]
        return statement_clock_start_slow(qd);
    StatementTimer *t = &statement_clock_timers[0];
    t->qd = qd;
    t->subxact = InvalidSubTransactionId;  // see StatementTimer
    t->ticks = 0;
    statement_clock_n = 1;
    statement_clock_current = t;
    return true;
}

// The running total of qd (ticks), or null. Valid until the next start, stop or
// forget: only top-level statements have timers, and none starts or stops
// while a top-level statement's ExecutorRun is under way.
inline int64_t *statement_clock_of(const QueryDesc *qd)
{
    StatementTimer *t = statement_clock_current;
    if (t->qd != qd) [[unlikely]]
        t = statement_clock_find(qd);
    return t ? &t->ticks : nullptr;
}

// Nanoseconds measured, and forgets the timer; negative if there was none.
// The common case: the only open timer, the current one.
inline int64_t statement_clock_stop(const QueryDesc *qd)
{
    StatementTimer *t = statement_clock_current;
    if (statement_clock_n != 1 || t->qd != qd) [[unlikely]]
        return statement_clock_stop_slow(qd);
    statement_clock_n = 0;
    statement_clock_current = &statement_clock_none;
    return static_cast<int64_t>(statement_timer_ns(t));
}

void statement_clock_forget(SubTransactionId from);  // InvalidSubTransactionId: all
// A subtransaction starts, child of `parent`: the open timers not stamped
// yet started in `parent` (or in a subtransaction of it that ended).
void statement_clock_stamp(SubTransactionId parent);

}  // namespace poolgov::pg
