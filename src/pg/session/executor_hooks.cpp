// Statement timing from the executor hooks (and ProcessUtility), chained to
// whatever was installed before us, in either order of
// shared_preload_libraries.
//
// Errors are statements that failed while planned or executed (a planner
// hook catches the former); statements the parser rejects are not counted.
//
// Counting follows pg_stat_statements exactly, so that the two agree: a
// statement is counted at ExecutorEnd (or when a tracked utility command
// returns); "top" means nesting level 0, with the level raised around
// ExecutorRun, ExecutorFinish and tracked utility commands (kept balanced on
// errors with PG_TRY, as pg_stat_statements does); EXECUTE and PREPARE pass
// through untracked (the executor counts what EXECUTE runs), and DEALLOCATE
// too before 17 (pg_stat_statements counts it from 17 on).
// Time: see statement_clock.hpp.
//
// The per-statement path takes no lock: it writes this backend's own slot
// inside its change counter (see poolgov/slots.hpp). Only a slow statement
// takes slowlog_lock, to append to the ring.
//
// Nested calls keep the nesting level balanced with PG_TRY, as
// pg_stat_statements does. A top-level statement's phases (planner,
// ExecutorStart/Run/Finish) run without it, to save a sigsetjmp each: an
// error that escapes them ends in the abort of the transaction, or of a
// subtransaction begun between statements (a savepoint), and the abort
// callbacks count the failure and put the level back to 0. (Subtransactions
// begun inside a statement, e.g. by a PL/pgSQL exception block, are unwound
// by the nested PG_TRYs before they abort.)
#include "postgres.hpp"

#include "session/executor_hooks.hpp"

extern "C" {
#include "access/parallel.h"
#include "executor/executor.h"
#include "executor/instrument.h"
#include "storage/ipc.h"
#include "optimizer/planner.h"
#include "mb/pg_wchar.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#if PG_VERSION_NUM >= 160000
#include "nodes/queryjumble.h"
#else
#include "utils/queryjumble.h"
#endif
}

#include "session/admission.hpp"
#include "session/budget_timeouts.hpp"
#include "session/budgets_sync.hpp"
#include "locks.hpp"
#include "compat.hpp"
#include "session/connection.hpp"
#include "session/statement_clock.hpp"
#include "session/xact_events.hpp"
#include "guard.hpp"
#include "settings.hpp"
#include "shmem.hpp"

#include "poolgov/events.hpp"

// GCC 11+ and clang: a function without a stack canary (see ExecutorRun).
#if defined(__has_attribute)
#if __has_attribute(no_stack_protector)
#define POOLGOV_NO_STACK_PROTECTOR __attribute__((no_stack_protector))
#endif
#endif
#ifndef POOLGOV_NO_STACK_PROTECTOR
#define POOLGOV_NO_STACK_PROTECTOR
#endif

namespace poolgov::pg {

namespace {

planner_hook_type prev_planner = nullptr;
ExecutorStart_hook_type prev_ExecutorStart = nullptr;
ExecutorRun_hook_type prev_ExecutorRun = nullptr;
ExecutorFinish_hook_type prev_ExecutorFinish = nullptr;
ExecutorEnd_hook_type prev_ExecutorEnd = nullptr;
ProcessUtility_hook_type prev_ProcessUtility = nullptr;

int nesting_level = 0;

// Frames of call_counting_errors under way. A transaction that aborts while
// one is alive was ended by transaction control inside a procedure or DO
// block (ROLLBACK), not by an error: an error unwinds those frames first.
int guarded_frames = 0;

// Utility commands under way that the statement path does not nest (not
// tracked). With nesting_level, it tells a top-level statement (the only
// kind admission control stops) from one run by a utility command.
int untracked_utility_depth = 0;

bool top_level() { return nesting_level == 0 && untracked_utility_depth == 0; }

// Set while a top-level statement is in the planner or an executor phase.
bool top_statement_active = false;

// Subtransactions begun at nesting level 0 (savepoints between statements),
// innermost last: their abort is where a failed top-level statement lands.
SubTransactionId *level0_subxacts = nullptr;
int n_level0_subxacts = 0;
int cap_level0_subxacts = 0;

bool tracking(int level)
{
    if (my_slot == nullptr || IsParallelWorker())
        return false;
    return settings::track == settings::TRACK_ALL ||
           (settings::track == settings::TRACK_TOP && level == 0);
}

struct Finished {
    uint64_t duration_ns;
    uint64_t rows;
    double plan_cost;  // -1: none
    uint64_t queryid;
    const char *source_text;
    int location;
    int len;
};

void add_slow_query(const Finished &f)
{
    int location = f.location, len = f.len;
    const char *text = f.source_text ? CleanQuerytext(f.source_text, &location, &len) : "";
    if (!f.source_text)
        len = 0;
    int keep =
        len > settings::max_query_text ? pg_mbcliplen(text, len, settings::max_query_text) : len;
    double ms = static_cast<double>(f.duration_ns) / 1e6;

    SharedState *st = shm.state;
    lock_acquire(st->slowlog_lock, LW_EXCLUSIVE);
    RingView ring = slowlog_ring();
    auto *rec = reinterpret_cast<SlowQueryRecord *>(ring.push());
    if (rec != nullptr) {
        rec->finished_at = GetCurrentTimestamp();
        rec->pid = MyProcPid;
        rec->role_oid = my_slot->role_oid;
        rec->duration_ms = ms;
        rec->plan_cost = f.plan_cost;
        rec->rows = f.rows;
        rec->queryid = f.queryid;
        memcpy(rec->role, my_slot->role_name, sizeof(rec->role));
        memcpy(rec->database, my_slot->db_name, sizeof(rec->database));
        copy_text(rec->application_name, application_name);
        memcpy(rec->client_addr, my_slot->client_addr, sizeof(rec->client_addr));
        char *dst = reinterpret_cast<char *>(rec + 1);
        memcpy(dst, text, keep);
        dst[keep] = '\0';
        rec->query_len = static_cast<uint32_t>(keep);
    }
    lock_release(st->slowlog_lock);

    if (settings::log_slow_queries)
        ereport(LOG,
                (errcode(ERRCODE_SUCCESSFUL_COMPLETION),
                 errmsg("pg_poolgov: slow statement: %.3f ms", ms),
                 errdetail("Role \"%s\", database \"%s\", %llu rows: %.*s", my_slot->role_name,
                           my_slot->db_name, static_cast<unsigned long long>(f.rows), keep, text),
                 errhidestmt(true)));
}

// This backend's counters: my_slot's (only called while my_slot is set).
SlotStats &mine() { return *my_slot_stats; }

bool is_slow(uint64_t duration_ns) { return duration_ns >= settings::slow_query_threshold_ns; }

// One seqlock write per statement: the statement, and the transactions
// admission control's fast path admitted since the last write
// (admission_pending_admitted, see admission.hpp).
__attribute__((always_inline)) inline void count_finished(uint64_t duration_ns, uint64_t rows,
                                                          bool slow) noexcept
{
    SlotStats &stats = mine();
    uint64_t epoch = atomic::load(shm.state->stats_epoch);
    uint32_t admitted = admission_pending_admitted;
    write_begin(stats.cc);
    slot_sync_epoch(stats, epoch);
    stmt_record(stats.stmts, duration_ns, rows, slow, admitted);
    write_end(stats.cc);
    admission_pending_admitted = 0;
}

void record_finished(const Finished &f)
{
    bool slow = is_slow(f.duration_ns);
    count_finished(f.duration_ns, f.rows, slow);
    if (slow)
        add_slow_query(f);
}

void record_error(int level)
{
    if (!tracking(level))
        return;
    SlotStats &stats = mine();
    uint64_t epoch = atomic::load(shm.state->stats_epoch);
    uint32_t admitted = admission_pending_admitted;
    write_begin(stats.cc);
    slot_sync_epoch(stats, epoch);
    stmt_record_error(stats.stmts);
    if (admitted != 0)
        atomic::owner_add(stats.stmts.admitted, uint64_t{admitted});
    write_end(stats.cc);
    admission_pending_admitted = 0;
}

// Calls `call` (the previous hook or the standard function). If it raises an
// error, the statement at this level is counted as an error and the error
// goes on unchanged. With `nested`, statements run inside count one level
// deeper; the level is restored however the call ends.
template <class Call>
void call_counting_errors(bool nested, Call call)
{
    const int level = nesting_level;
    if (nested)
        nesting_level++;
    guarded_frames++;
    PG_TRY();
    {
        call();
    }
    PG_CATCH();
    {
        guarded_frames--;
        nesting_level = level;
        record_error(level);
        PG_RE_THROW();
    }
    PG_END_TRY();
    guarded_frames--;
    nesting_level = level;
}

// Only to count statements that fail while being planned (e.g. 1/0 folded
// as a constant): they never reach the executor.
PlannedStmt *poolgov_planner(POOLGOV_PLANNER_PARAMS)
{
    auto plan = [&] { return prev_planner(POOLGOV_PLANNER_ARGS); };
    PlannedStmt *result = nullptr;
    if (nesting_level > 0) {
        call_counting_errors(false, [&] { result = plan(); });
        return result;
    }
    bool saved = top_statement_active;
    top_statement_active = true;
    result = plan();
    top_statement_active = saved;
    return result;
}

void call_prev_executor_start(QueryDesc *queryDesc, int eflags)
{
    prev_ExecutorStart(queryDesc, eflags);
}

// A statement inside another (a function's, a utility command's): counted
// errors, and the executor's timer when tracked (track = all).
__attribute__((noinline, cold)) void nested_executor_start(QueryDesc *queryDesc, int eflags)
{
    call_counting_errors(false, [&] { call_prev_executor_start(queryDesc, eflags); });
    if (tracking(nesting_level) && compat::query_timer(queryDesc) == nullptr)
        compat::add_query_timer(queryDesc);
}

// Is a top-level statement tracked? (Level 0: track = top and all both
// track it.) Only a client backend that logged in has my_slot (the
// authentication hook sets it), so never a parallel worker: no need to ask.
bool tracking_top() { return settings::track != settings::TRACK_NONE && my_slot != nullptr; }

// All our timers in use (many portals open at once): the executor's timer,
// unless another extension asked for it already.
__attribute__((noinline, cold)) void start_with_query_timer(QueryDesc *queryDesc, int eflags)
{
    call_prev_executor_start(queryDesc, eflags);
    if (compat::query_timer(queryDesc) == nullptr)
        compat::add_query_timer(queryDesc);
}

// A top-level statement's timer is taken before its executor starts, so
// that nothing but the chained call is left after it. If another extension
// asks for the executor's timer meanwhile (pg_stat_statements),
// ExecutorEnd reads that one, and ours only goes back.
__attribute__((noinline)) void executor_start_full(QueryDesc *queryDesc, int eflags)
{
    if (nesting_level > 0) {
        nested_executor_start(queryDesc, eflags);
        return;
    }
    bool saved = top_statement_active;
    top_statement_active = true;
    budget_idle_statement_started();
    if (untracked_utility_depth == 0)
        admission_top_statement_full(queryDesc->plannedstmt);
    if (tracking_top() && !statement_clock_start(queryDesc)) [[unlikely]]
        start_with_query_timer(queryDesc, eflags);
    else
        call_prev_executor_start(queryDesc, eflags);
    top_statement_active = saved;
}

// The common case: a top-level statement sent by the client (not inside a
// utility command), no budget idle timer armed, tracked, no other timer
// open. Anything else: executor_start_full, the same the long way.
POOLGOV_NO_STACK_PROTECTOR void poolgov_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
    if ((nesting_level | untracked_utility_depth | statement_clock_n | budget_idle_armed) != 0 ||
        tracked_stats == nullptr) [[unlikely]] {
        executor_start_full(queryDesc, eflags);
        return;
    }
    // The timer first (no other is open: timers[0]); an error in admission
    // or in the executor's start aborts and forgets it.
    StatementTimer *t = &statement_clock_timers[0];
    t->qd = queryDesc;
    t->subxact = InvalidSubTransactionId;
    t->ticks = 0;
    statement_clock_n = 1;
    statement_clock_current = t;
    bool saved = top_statement_active;
    top_statement_active = true;
    admission_top_statement(queryDesc->plannedstmt);
    call_prev_executor_start(queryDesc, eflags);
    top_statement_active = saved;
}

// Runs an executor phase one nesting level down, timing it when this
// top-level statement has a timer of ours.
template <class Call>
void call_nested(const QueryDesc *queryDesc, Call call)
{
    if (nesting_level > 0) {
        call_counting_errors(true, call);
        return;
    }
    int64_t *total = statement_clock_of(queryDesc);
    uint64_t start = total != nullptr ? clock_ticks() : 0;
    nesting_level = 1;
    top_statement_active = true;
    call();  // on error: see on_xact_abort and on_subxact_event
    top_statement_active = false;
    nesting_level = 0;
    if (total != nullptr)
        *total += static_cast<int64_t>(clock_ticks() - start);
}

// ExecutorFinish of a plain SELECT runs no statements of its own: its
// query level queued no AFTER trigger events (statements inside functions
// fire theirs in their own executor) and it has no data-modifying CTEs to
// finish. Such a call needs no nesting level, so no PG_TRY.
bool finish_runs_nothing(const QueryDesc *queryDesc)
{
    return queryDesc->operation == CMD_SELECT && !queryDesc->plannedstmt->hasModifyingCTE;
}

void call_prev_executor_run(POOLGOV_EXECUTOR_RUN_PARAMS)
{
    prev_ExecutorRun(POOLGOV_EXECUTOR_RUN_ARGS);
}

__attribute__((noinline, cold)) void nested_executor_run(POOLGOV_EXECUTOR_RUN_PARAMS)
{
    call_counting_errors(true, [&] { call_prev_executor_run(POOLGOV_EXECUTOR_RUN_ARGS); });
}

// A top-level statement's run, the long way: nested, another statement's
// timer, none, or the clock_gettime clock.
__attribute__((noinline)) void executor_run_full(POOLGOV_EXECUTOR_RUN_PARAMS)
{
    if (nesting_level > 0) {
        nested_executor_run(POOLGOV_EXECUTOR_RUN_ARGS);
        return;
    }
    int64_t *total = statement_clock_of(queryDesc);
    uint64_t start = total != nullptr ? clock_ticks() : 0;
    nesting_level = 1;
    top_statement_active = true;
    call_prev_executor_run(POOLGOV_EXECUTOR_RUN_ARGS);  // on error: see on_xact_abort
    top_statement_active = false;
    nesting_level = 0;
    if (total != nullptr)
        *total += static_cast<int64_t>(clock_ticks() - start);
}

// The common case, written out (not call_nested's lambda) so that no local
// has its address taken (no stack canary) and nothing but the chained call
// is a call (few registers to save): a top-level statement with the current
// timer, on the time-stamp counter. Ticks are summed raw; ExecutorEnd
// converts them once.
POOLGOV_NO_STACK_PROTECTOR void poolgov_ExecutorRun(POOLGOV_EXECUTOR_RUN_PARAMS)
{
    StatementTimer *t = statement_clock_current;
#if POOLGOV_TSC_CLOCK
    if (nesting_level == 0 && t->qd == queryDesc && clock_use_tsc) [[likely]] {
        uint64_t start = __rdtsc();
        nesting_level = 1;
        top_statement_active = true;
        call_prev_executor_run(POOLGOV_EXECUTOR_RUN_ARGS);  // on error: see on_xact_abort
        top_statement_active = false;
        nesting_level = 0;
        t->ticks += static_cast<int64_t>(__rdtsc() - start);
        return;
    }
#endif
    executor_run_full(POOLGOV_EXECUTOR_RUN_ARGS);
}

void call_prev_executor_finish(QueryDesc *queryDesc) { prev_ExecutorFinish(queryDesc); }

__attribute__((noinline)) void executor_finish_nested(QueryDesc *queryDesc)
{
    call_nested(queryDesc, [&] { call_prev_executor_finish(queryDesc); });
}

void poolgov_ExecutorFinish(QueryDesc *queryDesc)
{
    if (finish_runs_nothing(queryDesc))
        call_prev_executor_finish(queryDesc);
    else
        executor_finish_nested(queryDesc);
}

// A slow statement: its record for the ring (and the log).
__attribute__((noinline, cold)) void record_slow(const QueryDesc *queryDesc, uint64_t duration_ns)
{
    const PlannedStmt *ps = queryDesc->plannedstmt;
    Finished f{duration_ns,
               queryDesc->estate->es_processed,
               ps->planTree ? ps->planTree->total_cost : -1.0,
               static_cast<uint64_t>(ps->queryId),  // int64 from 18 on
               queryDesc->sourceText,
               ps->stmt_location,
               ps->stmt_len};
    run_guarded([&] { add_slow_query(f); });
}

// A statement timed by another extension's timer, or nested (track =
// all): counted from that timer.
__attribute__((noinline)) void count_by_query_timer(QueryDesc *queryDesc, int64_t own)
{
    Instrumentation *timer = compat::query_timer(queryDesc);
    if ((timer != nullptr || own >= 0) && tracking(nesting_level)) {
        uint64_t ns = timer != nullptr
                          ? static_cast<uint64_t>(compat::query_timer_seconds(timer) * 1e9)
                          : static_cast<uint64_t>(own);
        bool slow = is_slow(ns);
        uint64_t rows = queryDesc->estate->es_processed;
        run_guarded([&] { count_finished(ns, rows, slow); });
        if (slow) [[unlikely]]
            record_slow(queryDesc, ns);
    }
}

void call_prev_executor_end(QueryDesc *queryDesc) { prev_ExecutorEnd(queryDesc); }

// Admission control's or a budget's idle timer may have to be armed, if
// this statement ran inside a transaction block (xact_block_lxid), then the
// chained call.
__attribute__((noinline)) void executor_end_idle_timers(QueryDesc *queryDesc)
{
    if (xact_block_lxid == compat::local_xid()) {
        admission_statement_check();
        budget_idle_statement_done();
    }
    call_prev_executor_end(queryDesc);
}

// The end of a statement: its own timer stopped and counted (a top-level
// statement has one only if it was tracked when it started), nothing else
// unless admission control or a budget's idle timeout has work. All of it
// before the chained call, which is then a tail call.
__attribute__((noinline)) void executor_end_full(QueryDesc *queryDesc)
{
    if (nesting_level == 0) [[likely]] {
        int64_t own = statement_clock_stop(queryDesc);
        if (own >= 0 && compat::query_timer(queryDesc) == nullptr &&
            settings::track != settings::TRACK_NONE && my_slot_stats != nullptr) [[likely]] {
            auto ns = static_cast<uint64_t>(own);
            bool slow = is_slow(ns);
            // Plain stores into our own slot: nothing here raises or throws,
            // so no guard (count_finished is noexcept).
            count_finished(ns, queryDesc->estate->es_processed, slow);
            if (slow) [[unlikely]]
                record_slow(queryDesc, ns);
        } else if (own >= 0 || compat::query_timer(queryDesc) != nullptr) {
            count_by_query_timer(queryDesc, own);
        }
        if (untracked_utility_depth == 0) {
            admission_statement_done();
            budget_idle_statement_done();
        }
    } else {
        count_by_query_timer(queryDesc, -1);
    }
    call_prev_executor_end(queryDesc);
}

// The common case, decided before anything is written and done with no
// call but tail calls (so no registers to save): a top-level statement
// (not run by a utility command) with our timer, the only one open, its
// ticks converted once, its counters of the current epoch,
// not slow, its histogram bucket in the range in use. Anything else:
// executor_end_full, which does the same the long way.
POOLGOV_NO_STACK_PROTECTOR void poolgov_ExecutorEnd(QueryDesc *queryDesc)
{
    StatementTimer *t = statement_clock_current;
    SlotStats *stats = tracked_stats;
    if (t->qd != queryDesc ||
        (nesting_level | untracked_utility_depth | (statement_clock_n ^ 1)) != 0 ||
        compat::query_timer(queryDesc) != nullptr || stats == nullptr) [[unlikely]] {
        executor_end_full(queryDesc);
        return;
    }
    uint64_t ns = statement_timer_ns(t);
    auto bucket = static_cast<uint32_t>(histogram_bucket(ns));
    if (atomic::load(stats->epoch) != atomic::load(shm.state->stats_epoch) || is_slow(ns) ||
        !stmt_bucket_in_range(stats->stmts, bucket)) [[unlikely]] {
        executor_end_full(queryDesc);
        return;
    }
    statement_clock_n = 0;
    statement_clock_current = &statement_clock_none;
    uint32_t cc = write_open(stats->cc);
    stmt_record_in_range(stats->stmts, ns, static_cast<uint64_t>(queryDesc->estate->es_processed),
                         0, bucket);
    if (admission_pending_admitted != 0) [[unlikely]] {
        atomic::owner_add(stats->stmts.admitted, uint64_t{admission_pending_admitted});
        admission_pending_admitted = 0;
    }
    write_close(stats->cc, cc);
    if ((xact_work & kXactWorkAdmission) ||
        atomic::load(shm.state->budget.idle_in_transaction_rules) != 0) {
        executor_end_idle_timers(queryDesc);
        return;
    }
    call_prev_executor_end(queryDesc);
}

bool counts_rows(const QueryCompletion *qc)
{
    return qc != nullptr &&
           (qc->commandTag == CMDTAG_COPY || qc->commandTag == CMDTAG_FETCH ||
            qc->commandTag == CMDTAG_SELECT || qc->commandTag == CMDTAG_REFRESH_MATERIALIZED_VIEW);
}

void call_prev_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
                       ProcessUtilityContext context, ParamListInfo params,
                       QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
    prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

void call_untracked_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
                            ProcessUtilityContext context, ParamListInfo params,
                            QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
    untracked_utility_depth++;
    PG_TRY();
    {
        call_prev_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
    }
    PG_FINALLY();
    {
        untracked_utility_depth--;
    }
    PG_END_TRY();
}

// Does this utility command take a transaction block's slot? Not
// transaction control, nor SET / RESET / SHOW (SET TRANSACTION ... DEFERRABLE
// must not take a slot before the block's snapshot; see admission.hpp);
// EXECUTE takes it with its statement's plan, in the executor.
bool takes_block_slot(const Node *parsetree)
{
    return !IsA(parsetree, TransactionStmt) && !IsA(parsetree, ExecuteStmt) &&
           !IsA(parsetree, VariableSetStmt) && !IsA(parsetree, VariableShowStmt);
}

// Inside a transaction block, a top-level command takes the block's slot
// before it runs if the block has none.
void before_top_utility(const Node *parsetree)
{
    admission_utility_started();
    budget_idle_statement_started();
    if (takes_block_slot(parsetree) && IsTransactionBlock())
        admission_block_statement();
}

// Any top-level command may leave the session idle in its block.
void after_top_utility(const Node *parsetree)
{
    if (IsTransactionBlock())  // a block began, or goes on (xact_events.hpp)
        xact_block_lxid = compat::local_xid();
    if (IsA(parsetree, TransactionStmt) &&
        reinterpret_cast<const TransactionStmt *>(parsetree)->kind == TRANS_STMT_ROLLBACK_TO)
        admission_rolled_back_to_savepoint();
    admission_statement_done();
    budget_idle_statement_done();
}

void process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
                     ProcessUtilityContext context, ParamListInfo params,
                     QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
    Node *parsetree = pstmt->utilityStmt;
    bool handled = !IsA(parsetree, ExecuteStmt) && !IsA(parsetree, PrepareStmt);
#if PG_VERSION_NUM < 170000
    handled = handled && !IsA(parsetree, DeallocateStmt);
#endif
    int level = nesting_level;
    bool top = top_level();
    if (top)
        before_top_utility(parsetree);
    if (top && IsA(parsetree, ExecuteStmt)) {
        // The statement EXECUTE runs is the top-level one: it takes the
        // transaction's slot (and the heavy lane) as it would from the
        // extended protocol, and is timed as pg_stat_statements times it.
        call_prev_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
        after_top_utility(parsetree);
        return;
    }
    if (!(settings::track_utility && handled && tracking(level))) {
        call_untracked_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest,
                               qc);
        if (top)
            after_top_utility(parsetree);
        return;
    }

    uint64_t start = clock_ticks();
    call_counting_errors(true, [&] {
        call_prev_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
    });
    int64_t duration = clock_ns_since(start);

    Finished f{static_cast<uint64_t>(duration),
               counts_rows(qc) ? qc->nprocessed : 0,
               -1.0,
               static_cast<uint64_t>(pstmt->queryId),
               queryString,
               pstmt->stmt_location,
               pstmt->stmt_len};
    run_guarded([&] { record_finished(f); });
    if (top)
        after_top_utility(parsetree);
}

// A DROP may take pg_poolgov's extension with it (budgets_sync.hpp).
void poolgov_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
                            ProcessUtilityContext context, ParamListInfo params,
                            QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
    const Node *parsetree = pstmt->utilityStmt;
    if (!IsA(parsetree, DropStmt) && !IsA(parsetree, DropOwnedStmt)) {
        process_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
        return;
    }
    Oid extension = budgets_extension_before_drop();
    process_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
    budgets_extension_after_drop(extension);
}

// The top-level statement under way failed: count it, and put the level
// back where statements start.
void top_statement_failed()
{
    if (top_statement_active && !proc_exit_inprogress)
        record_error(0);
    top_statement_active = false;
    nesting_level = 0;
}

}  // namespace

void statements_xact_event(XactEvent event)
{
    switch (event) {
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
        // A ROLLBACK inside a procedure: the CALL is still running, one
        // level down, and nothing failed.
        if (guarded_frames == 0) {
            top_statement_failed();
            statement_clock_forget(InvalidSubTransactionId);
        }
        n_level0_subxacts = 0;
        break;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_PREPARE:
        n_level0_subxacts = 0;
        break;
    default:
        break;
    }
}

namespace {

void on_subxact_event(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid,
                      void *)
{
    switch (event) {
    case SUBXACT_EVENT_START_SUB:
        statement_clock_stamp(parentSubid);
        if (nesting_level != 0)
            return;
        if (n_level0_subxacts == cap_level0_subxacts) {
            int cap = cap_level0_subxacts ? cap_level0_subxacts * 2 : 16;
            size_t bytes = sizeof(SubTransactionId) * cap;
            level0_subxacts = static_cast<SubTransactionId *>(
                level0_subxacts ? repalloc(level0_subxacts, bytes)
                                : MemoryContextAlloc(TopMemoryContext, bytes));
            cap_level0_subxacts = cap;
        }
        level0_subxacts[n_level0_subxacts++] = mySubid;
        xact_work_flag(kXactWorkStatements);  // forgotten at commit
        break;
    case SUBXACT_EVENT_COMMIT_SUB:
    case SUBXACT_EVENT_ABORT_SUB: {
        bool level0 = n_level0_subxacts > 0 && level0_subxacts[n_level0_subxacts - 1] >= mySubid;
        while (n_level0_subxacts > 0 && level0_subxacts[n_level0_subxacts - 1] >= mySubid)
            n_level0_subxacts--;
        if (event == SUBXACT_EVENT_ABORT_SUB) {
            if (level0) {
                top_statement_failed();
                admission_savepoint_aborted();
            }
            statement_clock_forget(mySubid);
        }
        break;
    }
    default:
        break;
    }
}

}  // namespace

void executor_hooks_install()
{
    RegisterSubXactCallback(on_subxact_event, nullptr);
    // The previous hook, else the standard function: never null, so that a
    // chained call is one indirect call, without a test.
    prev_planner = planner_hook ? planner_hook : standard_planner;
    settings::track_assigned = tracked_stats_refresh;
    planner_hook = poolgov_planner;
    prev_ExecutorStart = ExecutorStart_hook ? ExecutorStart_hook : standard_ExecutorStart;
    ExecutorStart_hook = poolgov_ExecutorStart;
    prev_ExecutorRun = ExecutorRun_hook ? ExecutorRun_hook : standard_ExecutorRun;
    ExecutorRun_hook = poolgov_ExecutorRun;
    prev_ExecutorFinish = ExecutorFinish_hook ? ExecutorFinish_hook : standard_ExecutorFinish;
    ExecutorFinish_hook = poolgov_ExecutorFinish;
    prev_ExecutorEnd = ExecutorEnd_hook ? ExecutorEnd_hook : standard_ExecutorEnd;
    ExecutorEnd_hook = poolgov_ExecutorEnd;
    prev_ProcessUtility = ProcessUtility_hook ? ProcessUtility_hook : standard_ProcessUtility;
    ProcessUtility_hook = poolgov_ProcessUtility;
}

}  // namespace poolgov::pg
