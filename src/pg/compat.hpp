// PostgreSQL 15 to 19 from one source tree: small wrappers over the server
// APIs that changed between majors, selected by PG_VERSION_NUM. A call site
// that differs only in a name or an argument uses a wrapper from here; one
// whose logic differs by major keeps its own #if, next to the code it
// changes. docs/install.md says which majors are built and tested where.
//
// Checked against the server headers of 15 (Debian 12), 17.12 and 19~rc1
// (Debian's postgresql-server-dev-17/-19) and 18.6 (built from Debian's
// source); 16 is written from its API (PGPROC.myProcLocks became a dlist in
// 16, with the reserved connections and HaveNFreeProcs changes) and not
// built here.
//
//   major  what changed that this file hides
//   16     lock lists are dlists (SHM_QUEUE before); ReservedBackends split into
//          SuperuserReservedConnections + ReservedConnections;
//          HaveNFreeProcs(n, &nfree); pgstat_get_local_beentry_by_index
//   17     CreateWaitEventSet(ResourceOwner, n); WaitEventExtensionNew
//   18     ExecutorRun_hook without execute_once; WaitEventSet in
//          storage/waiteventset.h
//   19     planner_hook with ExplainState *; QueryDesc.query_instr replaces
//          totaltime (an Instrumentation whose total is an instr_time);
//          syscache callbacks take a SysCacheIdentifier; PGPROC.links split
//          (waitLink is the lock wait queue's)
#pragma once

#include "postgres.hpp"

extern "C" {
#include "executor/execdesc.h"
#include "executor/instrument.h"
#include "postmaster/postmaster.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"
#if PG_VERSION_NUM >= 180000
#include "storage/waiteventset.h"
#else
#include "storage/latch.h"
#endif
}

#include <cstddef>

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 200000
#error "pg_poolgov builds for PostgreSQL 15 to 19"
#endif

namespace poolgov::pg::compat {

// --- reserved connections ----------------------------------------------------
// superuser_reserved_connections (ReservedBackends up to 15).
inline int superuser_reserved_connections()
{
#if PG_VERSION_NUM >= 160000
    return SuperuserReservedConnections;
#else
    return ReservedBackends;
#endif
}

// PostgreSQL's reserved_connections (16+: slots for members of
// pg_use_reserved_connections, below the superusers' ones); 0 before 16.
inline int postgres_reserved_connections()
{
#if PG_VERSION_NUM >= 160000
    return ReservedConnections;
#else
    return 0;
#endif
}

// Every slot PostgreSQL itself keeps from ordinary roles.
inline int reserved_by_postgres()
{
    return superuser_reserved_connections() + postgres_reserved_connections();
}

inline bool have_n_free_procs(int n)
{
#if PG_VERSION_NUM >= 160000
    int nfree = 0;
    return HaveNFreeProcs(n, &nfree);
#else
    return HaveNFreeProcs(n);
#endif
}

// --- backend status ----------------------------------------------------------
// Entry `index` (1-based) of this transaction's backend status snapshot.
inline LocalPgBackendStatus *local_backend_status(int index)
{
#if PG_VERSION_NUM >= 160000
    return pgstat_get_local_beentry_by_index(index);
#else
    return pgstat_fetch_stat_local_beentry(index);
#endif
}

// --- lock lists ----------------------------------------------------------------
// The shared lock table's lists, walked without dlist_foreach/dlist_container
// (from 16 on), which do not compile as C++ (their type check uses
// __builtin_types_compatible_p), nor SHMQueueNext (15). The caller holds the
// lock partition's LWLock (LockHashPartitionLockByIndex), at least shared,
// and must not change the list while walking it. `fn` returns true to stop;
// each walker returns whether `fn` stopped it.

namespace detail {
template <class T>
T *container_of(void *link, size_t offset)
{
    return reinterpret_cast<T *>(static_cast<char *>(link) - offset);
}

#if PG_VERSION_NUM >= 160000
// A dlist_head in shared memory is initialised (dlist_init); a zeroed one
// (next == nullptr) is empty too.
template <class T, class Fn>
bool walk(dlist_head *head, size_t offset, Fn fn)
{
    dlist_node *end = &head->head;
    for (dlist_node *cur = end->next; cur != nullptr && cur != end;) {
        dlist_node *next = cur->next;  // fn may not unlink, but read ahead anyway
        if (fn(container_of<T>(cur, offset)))
            return true;
        cur = next;
    }
    return false;
}
#else
template <class T, class Fn>
bool walk(SHM_QUEUE *head, size_t offset, Fn fn)
{
    for (Pointer cur = SHMQueueNext(head, head, offset); cur != nullptr;) {
        T *item = reinterpret_cast<T *>(cur);
        Pointer next = SHMQueueNext(head, reinterpret_cast<SHM_QUEUE *>(cur + offset), offset);
        if (fn(item))
            return true;
        cur = next;
    }
    return false;
}
#endif
}  // namespace detail

// The PROCLOCKs of `proc` in lock partition `partition` (the locks it holds
// or awaits there): fn(PROCLOCK *).
template <class Fn>
bool for_each_proclock(PGPROC *proc, int partition, Fn fn)
{
    return detail::walk<PROCLOCK>(&proc->myProcLocks[partition], offsetof(PROCLOCK, procLink), fn);
}

// The index of `proc` in ProcGlobal->allProcs (17 dropped PGPROC.pgprocno).
inline int proc_number(const PGPROC *proc)
{
#if PG_VERSION_NUM >= 170000
    return static_cast<int>(GetNumberFromPGProc(proc));
#else
    return proc->pgprocno;
#endif
}

// This backend's local transaction id: new at every transaction start
// (17 moved it into PGPROC.vxid).
inline LocalTransactionId local_xid()
{
#if PG_VERSION_NUM >= 170000
    return MyProc->vxid.lxid;
#else
    return MyProc->lxid;
#endif
}

// Whether `proc` has no PROCLOCK in the partition; read without the
// partition lock, it is a hint (another backend may be moving a fast-path
// lock of ours into the table), enough to skip partitions cheaply.
inline bool proclocks_empty(PGPROC *proc, int partition)
{
#if PG_VERSION_NUM >= 160000
    return dlist_is_empty(&proc->myProcLocks[partition]);
#else
    return SHMQueueEmpty(&proc->myProcLocks[partition]);
#endif
}

// The PROCLOCKs of one lock (its holders, and its waiters' entries with an
// empty holdMask): fn(PROCLOCK *). Partition: LockHashPartitionLock of the
// lock's hash code.
template <class Fn>
bool for_each_lock_holder(LOCK *lock, Fn fn)
{
    return detail::walk<PROCLOCK>(&lock->procLocks, offsetof(PROCLOCK, lockLink), fn);
}

// The processes queued for one lock, in queue order: fn(PGPROC *).
template <class Fn>
bool for_each_lock_waiter(LOCK *lock, Fn fn)
{
#if PG_VERSION_NUM >= 190000
    return detail::walk<PGPROC>(&lock->waitProcs.dlist, offsetof(PGPROC, waitLink), fn);
#elif PG_VERSION_NUM >= 160000
    return detail::walk<PGPROC>(&lock->waitProcs.dlist, offsetof(PGPROC, links), fn);
#else
    return detail::walk<PGPROC>(&lock->waitProcs.links, offsetof(PGPROC, links), fn);
#endif
}

// How many processes wait for the lock.
inline int lock_waiter_count(const LOCK *lock)
{
#if PG_VERSION_NUM >= 160000
    return static_cast<int>(lock->waitProcs.count);
#else
    return lock->waitProcs.size;
#endif
}

// --- waiting ---------------------------------------------------------------------
// A wait event of type Extension named `name` in pg_stat_activity (17+:
// WaitEventExtensionNew, registered once per backend, at its first wait);
// before 17 every extension wait is plain "Extension". Call it from a
// backend attached to shared memory, never from the postmaster; it can
// ERROR only when the server's table of custom wait events is full.
inline uint32 named_wait_event(const char *name, uint32 *cache)
{
#if PG_VERSION_NUM >= 170000
    if (*cache == 0)
        *cache = WaitEventExtensionNew(name);
    return *cache;
#else
    (void)name;
    (void)cache;
    return PG_WAIT_EXTENSION;
#endif
}

// A WaitEventSet in TopMemoryContext that no resource owner tracks: the
// caller frees it (FreeWaitEventSet).
inline WaitEventSet *create_wait_event_set(int nevents)
{
#if PG_VERSION_NUM >= 170000
    return CreateWaitEventSet(nullptr, nevents);
#else
    return CreateWaitEventSet(TopMemoryContext, nevents);
#endif
}

// --- executor ----------------------------------------------------------------------
// The query-level timer that ExecutorRun and ExecutorFinish start and stop
// when it exists (QueryDesc.totaltime up to 18, query_instr from 19).
inline Instrumentation *query_timer(const QueryDesc *queryDesc)
{
#if PG_VERSION_NUM >= 190000
    return queryDesc->query_instr;
#else
    return queryDesc->totaltime;
#endif
}

// Gives the statement a query-level timer after ExecutorStart, in its
// executor memory (as pg_stat_statements did up to 18).
inline void add_query_timer(QueryDesc *queryDesc)
{
    MemoryContext old = MemoryContextSwitchTo(queryDesc->estate->es_query_cxt);
#if PG_VERSION_NUM >= 190000
    queryDesc->query_instr = InstrAlloc(INSTRUMENT_TIMER);
#else
    queryDesc->totaltime = InstrAlloc(1, INSTRUMENT_TIMER, false);
#endif
    MemoryContextSwitchTo(old);
}

// Seconds the query-level timer measured (at ExecutorEnd).
inline double query_timer_seconds(Instrumentation *timer)
{
#if PG_VERSION_NUM >= 190000
    return INSTR_TIME_GET_DOUBLE(timer->total);
#else
    InstrEndLoop(timer);
    return timer->total;
#endif
}

}  // namespace poolgov::pg::compat

// Hook signatures that gained or lost a parameter: the parameter list and
// the argument list to pass on, for defining a hook and chaining it.
#if PG_VERSION_NUM >= 180000
#define POOLGOV_EXECUTOR_RUN_PARAMS QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define POOLGOV_EXECUTOR_RUN_ARGS queryDesc, direction, count
#else
#define POOLGOV_EXECUTOR_RUN_PARAMS \
    QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once
#define POOLGOV_EXECUTOR_RUN_ARGS queryDesc, direction, count, execute_once
#endif

#if PG_VERSION_NUM >= 190000
#define POOLGOV_PLANNER_PARAMS                                                            \
    Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams, \
        ExplainState *es
#define POOLGOV_PLANNER_ARGS parse, query_string, cursorOptions, boundParams, es
#else
#define POOLGOV_PLANNER_PARAMS \
    Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams
#define POOLGOV_PLANNER_ARGS parse, query_string, cursorOptions, boundParams
#endif

// The cache id a syscache invalidation callback receives.
#if PG_VERSION_NUM >= 190000
#define POOLGOV_SYSCACHE_ID SysCacheIdentifier
#else
#define POOLGOV_SYSCACHE_ID int
#endif
