// The governor: a background worker that samples connection states and
// statement counters every poolgov.sample_interval into the history ring,
// closes expired login breakers, ends idle sessions over their rule (idle
// reclamation: it only asks, the victims check and end themselves, and no
// lock is held while it signals), and keeps the shared budget set in step
// with poolgov.budgets (at start, on request, every 10 samples, and every
// sample on a hot standby, where replication changes the table without
// firing triggers).
//
// Lifecycle: started once the server is consistent (primary or hot
// standby); SIGHUP reloads settings; SIGTERM ends it (exit 1, so the
// postmaster restarts it after kRestartSeconds unless the server is shutting
// down); a crash makes the postmaster reset shared memory and start it again.
//
// poolgov.database missing (or not accepting connections): connecting to it
// is a FATAL, and the postmaster would start the governor again every
// kRestartSeconds. So an exit while connecting is remembered in shared
// memory; the next start connects to the shared catalogs only, checks the
// database, and either restarts to connect to it or says once, in one LOG
// line, that it cannot read budgets, then goes on sampling (logins, views
// and the breaker need no database) and checks again every
// kDatabaseRecheckSeconds.
#include "postgres.hpp"

#include "governor/governor.hpp"

extern "C" {
#include "portability/instr_time.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

#include "views/activity.hpp"
#include "session/admission.hpp"
#include "views/read_model.hpp"
#include "breaker_state.hpp"
#include "session/budgets_sync.hpp"
#include "catalog_safe.hpp"
#include "events_log.hpp"
#include "locks.hpp"
#include "guard.hpp"
#include "settings.hpp"
#include "session/idle_reclaim.hpp"
#include "session/pause.hpp"
#include "governor/metrics_http.hpp"
#include "shmem.hpp"

#include "poolgov/atomics.hpp"

#include "poolgov/format.hpp"

extern "C" PGDLLEXPORT void poolgov_governor_main(Datum main_arg);

namespace poolgov::pg {

namespace {

constexpr int kRestartSeconds = 5;
constexpr int kReloadEverySamples = 10;
constexpr int kDatabaseRecheckSeconds = 15;

bool connecting = false;  // inside BackgroundWorkerInitializeConnection

Totals *prev_totals;
Totals *cur_totals;
Histogram *scratch;
StmtCounters *all_counters;

void forget_governor(int, Datum) { shm.state->governor_latch = nullptr; }

char capacity_error_logged[256];

void reload_budgets_now()
{
    instr_time start, read_done;
    INSTR_TIME_SET_CURRENT(start);
    uint64_t generation = current_budget_generation();
    BudgetSet *fresh = new_budget_set();
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, "pg_poolgov: reading poolgov.budgets");
    bool found = read_budget_table(fresh);
    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_activity(STATE_IDLE, nullptr);
    INSTR_TIME_SET_CURRENT(read_done);
    // No extension here (never created, or dropped): no budget applies.
    if (!found) {
        fresh->count = 0;
        found = current_budget_count() > 0;
    }
    // Someone installed while we read: read again on the next pass, so the
    // shared set converges on the committed table.
    if (found && !install_budgets(*fresh, generation, "governor")) {
        atomic::store(shm.state->budget_reload_requested, uint32_t{1});
        SetLatch(MyLatch);
    }
    elog(DEBUG1,
         "pg_poolgov governor: read %u budgets in %.3f ms; last install %.3f ms, %.3f ms of it "
         "under the main lock",
         fresh->count, INSTR_TIME_GET_MILLISEC(read_done) - INSTR_TIME_GET_MILLISEC(start),
         last_install_ms, last_install_locked_ms);
    free_budget_set(fresh);
    capacity_error_logged[0] = '\0';  // read fine: log the next such error again
}

// A table with more rows than poolgov.max_budgets (possible after lowering
// the setting and restarting, or rows added while the trigger was off): the
// set in force stays, and the error is logged once per distinct message,
// not at every reload.
bool already_logged(const ErrorData *e)
{
    if (e->sqlerrcode != ERRCODE_PROGRAM_LIMIT_EXCEEDED || e->message == nullptr)
        return false;
    if (strcmp(capacity_error_logged, e->message) == 0)
        return true;
    strlcpy(capacity_error_logged, e->message, sizeof(capacity_error_logged));
    return false;
}

// A broken table must not take the governor down: report and go on.
void reload_budgets()
{
    MemoryContext cxt = CurrentMemoryContext;
    PG_TRY();
    {
        reload_budgets_now();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(cxt);
        ErrorData *e = CopyErrorData();
        if (!already_logged(e))
            EmitErrorReport();
        FreeErrorData(e);
        FlushErrorState();
        AbortCurrentTransaction();
        pgstat_report_activity(STATE_IDLE, nullptr);
    }
    PG_END_TRY();
}

void take_sample()
{
    pgstat_clear_snapshot();  // read the backend states afresh
    ConnTally tally{};
    gather_totals(*cur_totals, tally, *all_counters);
    HistorySample s = make_sample(*prev_totals, *cur_totals, tally, *scratch);
    lock_acquire(shm.state->history_lock, LW_EXCLUSIVE);
    RingView ring = history_ring();
    *reinterpret_cast<HistorySample *>(ring.push()) = s;
    lock_release(shm.state->history_lock);
    std::swap(prev_totals, cur_totals);
}

void sweep_breakers()
{
    SharedState *st = shm.state;
    if (atomic::load(st->breaker_entries) == 0)
        return;
    auto *closed = static_cast<BreakerEntry *>(palloc(sizeof(BreakerEntry) * kBreakerEntries));
    int n = 0;
    lock_acquire(st->breaker_lock, LW_EXCLUSIVE);
    breaker_sweep(*shm.breaker, GetCurrentTimestamp(), breaker_policy(),
                  [&](const BreakerEntry &e) { closed[n++] = e; });
    atomic::store(st->breaker_entries, shm.breaker->used);
    lock_release(st->breaker_lock);
    for (int i = 0; i < n; ++i) {
        char detail[kDetailLen];
        format_into(detail, "lockout over after {} failed logins from {}", closed[i].failures,
                    closed[i].addr);
        const char *addr =
            strcmp(closed[i].addr, kBreakerLocalAddr) == 0 ? nullptr : closed[i].addr;
        log_event(EventKind::BreakerClose, EventFields{closed[i].role, nullptr, 0, addr}, detail);
    }
}

void allocate_state()
{
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    prev_totals = static_cast<Totals *>(palloc0(sizeof(Totals)));
    cur_totals = static_cast<Totals *>(palloc0(sizeof(Totals)));
    scratch = static_cast<Histogram *>(palloc0(sizeof(Histogram)));
    all_counters = static_cast<StmtCounters *>(palloc0(sizeof(StmtCounters)));
    MemoryContextSwitchTo(old);
}

void note_connect_failure(int, Datum)
{
    if (connecting)
        atomic::store(shm.state->governor_connect_failed, uint32_t{1});
}

enum class DatabaseState { Usable, Missing, NoConnections };

// Needs a connection (to the shared catalogs at least).
DatabaseState check_database()
{
    bool allows = false;
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    Oid oid = database_oid_safe(settings::database, &allows);
    CommitTransactionCommand();
    if (!OidIsValid(oid))
        return DatabaseState::Missing;
    return allows ? DatabaseState::Usable : DatabaseState::NoConnections;
}

// Connects to poolgov.database and returns true, or -- when the last try to
// connect failed and the database is still missing -- connects to the shared
// catalogs only, logs why once, and returns false.
bool connect_budget_database()
{
    if (atomic::load(shm.state->governor_connect_failed) == 0) {
        before_shmem_exit(note_connect_failure, 0);
        connecting = true;
        BackgroundWorkerInitializeConnection(settings::database, nullptr, 0);
        connecting = false;
        return true;
    }
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
    DatabaseState state = check_database();
    if (state == DatabaseState::Usable) {
        atomic::store(shm.state->governor_connect_failed, uint32_t{0});
        ereport(LOG, (errcode(ERRCODE_SUCCESSFUL_COMPLETION),
                      errmsg("pg_poolgov governor: connecting to database \"%s\" "
                             "(poolgov.database)",
                             settings::database)));
        proc_exit(1);  // the postmaster starts us again, and we connect
    }
    // Its table is gone with it (DROP DATABASE ... WITH (FORCE) ends the
    // governor): no budget applies, as after DROP EXTENSION. A database that
    // only refuses connections keeps its budgets.
    if (state == DatabaseState::Missing && current_budget_count() > 0) {
        BudgetSet *none = new_budget_set();
        install_budgets(*none, 0, "governor");
        free_budget_set(none);
    }
    ereport(LOG,
            (errcode(ERRCODE_UNDEFINED_DATABASE),
             state == DatabaseState::Missing
                 ? errmsg("pg_poolgov governor: database \"%s\" named by poolgov.database does "
                          "not exist",
                          settings::database)
                 : errmsg("pg_poolgov governor: database \"%s\" named by poolgov.database does "
                          "not allow connections",
                          settings::database),
             errdetail("No budget is read until it can connect; logins, statistics, history "
                       "and the login breaker work without it. It checks again every %d s.",
                       kDatabaseRecheckSeconds),
             errhint("Create the database and CREATE EXTENSION pg_poolgov in it, or set "
                     "poolgov.database to the database that holds poolgov.budgets.")));
    return false;
}

// The loop's state between passes.
struct Pass {
    TimestampTz next_sample;
    uint64_t samples;
    bool have_database;
    TimestampTz next_check;  // when to look for a missing poolgov.database again
};

// Sleeps until the next sample is due, the latch is set or a /metrics
// client needs serving (served inside the wait); applies a reload.
void wait_for_next_pass(const Pass &p)
{
    long wait_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), p.next_sample);
    metrics_http_wait(wait_ms);  // one wait on the latch and the /metrics sockets
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
        ConfigReloadPending = false;
        ProcessConfigFile(PGC_SIGHUP);
        admission_reloaded();
        metrics_http_configure();
    }
}

// Keeps the sample grid: the interval counts from the last due time, not
// from when this pass ended.
void schedule_next_sample(Pass &p, TimestampTz now)
{
    p.samples++;
    p.next_sample = TimestampTzPlusMilliseconds(p.next_sample, settings::sample_interval);
    if (p.next_sample <= now)  // fell behind (or the interval shrank): restart the grid
        p.next_sample = TimestampTzPlusMilliseconds(now, settings::sample_interval);
}

// Idle reclamation (src/pg/idle_reclaim.cpp); on a hot standby too, whose
// read-only sessions are client sessions like any other.
void reclaim_idle()
{
    governor_reclaim_idle();
    lift_expired_pauses(true);  // poolgov.pause_timeout (session/pause.cpp)
}

// Without poolgov.database: restarts to connect once it exists.
void recheck_database(Pass &p, TimestampTz now)
{
    if (now < p.next_check)
        return;
    p.next_check = TimestampTzPlusMilliseconds(now, kDatabaseRecheckSeconds * 1000);
    if (check_database() == DatabaseState::Usable) {
        atomic::store(shm.state->governor_connect_failed, uint32_t{0});
        ereport(LOG, (errcode(ERRCODE_SUCCESSFUL_COMPLETION),
                      errmsg("pg_poolgov governor: database \"%s\" exists now; "
                             "restarting to connect to it",
                             settings::database)));
        proc_exit(1);
    }
}

}  // namespace

void governor_register()
{
    BackgroundWorker worker;
    memset(&worker, 0, sizeof(worker));
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_ConsistentState;
    worker.bgw_restart_time = kRestartSeconds;
    strlcpy(worker.bgw_library_name, "pg_poolgov", BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, "poolgov_governor_main", BGW_MAXLEN);
    strlcpy(worker.bgw_name, "pg_poolgov governor", BGW_MAXLEN);
    strlcpy(worker.bgw_type, "pg_poolgov governor", BGW_MAXLEN);
    RegisterBackgroundWorker(&worker);
}

void governor_main()
{
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    bool have_database = connect_budget_database();

    shm.state->governor_latch = MyLatch;
    on_shmem_exit(forget_governor, 0);
    allocate_state();
    MemoryContext pass =
        AllocSetContextCreate(TopMemoryContext, "pg_poolgov governor pass", ALLOCSET_DEFAULT_SIZES);
    MemoryContextSwitchTo(pass);
    metrics_http_configure();
    if (have_database)
        reload_budgets();

    Pass pass_state{GetCurrentTimestamp(), 0, have_database, 0};
    pass_state.next_check =
        TimestampTzPlusMilliseconds(pass_state.next_sample, kDatabaseRecheckSeconds * 1000);
    for (;;) {
        wait_for_next_pass(pass_state);
        // A transaction's commit (reload_budgets, check_database) leaves
        // CurrentMemoryContext at TopMemoryContext: switch back every pass,
        // or what a pass allocates is never freed.
        MemoryContextReset(pass);
        MemoryContextSwitchTo(pass);
        bool requested = atomic::exchange_acq_rel(shm.state->budget_reload_requested, 0u) != 0;
        TimestampTz now = GetCurrentTimestamp();
        bool sample_due = now >= pass_state.next_sample;
        if (sample_due) {
            take_sample();
            sweep_breakers();
            reclaim_idle();
            schedule_next_sample(pass_state, now);
        }
        if (!pass_state.have_database) {
            recheck_database(pass_state, now);
            continue;
        }
        if (requested ||
            (sample_due && (RecoveryInProgress() || pass_state.samples % kReloadEverySamples == 0)))
            reload_budgets();
    }
}

}  // namespace poolgov::pg

// Guarded like every entry point: a C++ exception becomes an ERROR (FATAL
// in a worker, which then exits 1 and is restarted) once no C++ frame is
// left. governor_main's frames hold only trivially destructible objects.
void poolgov_governor_main(Datum)
{
    poolgov::pg::run_guarded([] { poolgov::pg::governor_main(); });
}
