// poolgov.stats (one row) and poolgov.history (the governor's samples).
#include "postgres.hpp"

#include "views/activity.hpp"
#include "guard.hpp"
#include "views/health.hpp"
#include "views/read_model.hpp"
#include "views/ring_copy.hpp"
#include "views/row_builder.hpp"
#include "shmem.hpp"

#include <cmath>

using namespace poolgov;
using namespace poolgov::pg;

POOLGOV_SQL_FUNCTION(poolgov_stats)
{
    require_shmem();
    SharedState *st = shm.state;
    GlobalRead *g = read_global();
    LoginCounters l = read_logins();
    const ConnTally &tally = g->tally;
    const StmtCounters *all = &g->all;
    const AdmissionCounters &adm = g->adm;
    uint64_t breaker_untracked = g->breaker_untracked, breaker_evicted = g->breaker_evicted;
    double utilization =
        MaxConnections > 0 ? std::round(1000.0 * tally.connections / MaxConnections) / 10.0 : 0;
    HealthStatus health = health_worst(tally);

    RowBuilder row(fcinfo);
    row.int4(tally.connections)
        .int4(tally.active)
        .int4(tally.idle)
        .int4(tally.idle_in_transaction)
        .int4(MaxConnections)
        .float8(utilization)
        .int8(static_cast<int64>(atomic::load(st->peak_connections)))
        .int8(static_cast<int64>(l.accepted))
        .int8(static_cast<int64>(l.rejected_budget))
        .int8(static_cast<int64>(l.rejected_reserve))
        .int8(static_cast<int64>(l.rejected_breaker))
        .int8(static_cast<int64>(l.warned))
        .int8(static_cast<int64>(l.auth_failures))
        .statement_columns(*all)
        .timestamptz(st->stats_reset)
        // 1.1
        .int8(static_cast<int64>(breaker_untracked))
        .int8(static_cast<int64>(breaker_evicted))
        .int8(static_cast<int64>(atomic::load(st->roles.evicted)))
        .int8(static_cast<int64>(atomic::load(st->databases.evicted)))
        // admission control (1.1)
        .int4(tally.admission_running)
        .int4(tally.admission_queued)
        .int8(static_cast<int64>(adm.timeouts))
        .int8(static_cast<int64>(adm.admitted))
        .int8(static_cast<int64>(adm.waited))
        .float8(static_cast<double>(adm.wait_total_us) / 1000.0)
        .float8(static_cast<double>(adm.wait_max_us) / 1000.0)
        .int8(static_cast<int64>(adm.overdrafts))
        .int8(static_cast<int64>(adm.idle_ended))
        // idle reclamation (1.1)
        .int8(static_cast<int64>(l.idle_terminated))
        .text(health_status_name(health));  // 1.1, always last
    row.emit();
    return (Datum)0;
}

POOLGOV_SQL_FUNCTION(poolgov_history)
{
    require_shmem();
    SharedState *st = shm.state;
    uint64_t n;
    uint32_t stride;
    char *records = copy_ring_records(st->history_lock, &st->history, shm.history, &n, &stride);

    RowBuilder row(fcinfo);
    for (uint64_t i = 0; i < n; ++i) {
        const auto &h = *reinterpret_cast<const HistorySample *>(records + i * stride);
        row.timestamptz(h.sampled_at)
            .int4(h.tally.connections)
            .int4(h.tally.active)
            .int4(h.tally.idle)
            .int4(h.tally.idle_in_transaction)
            .float8(h.statements_per_s)
            .float8_or_null(h.p95_ms)
            .int8(static_cast<int64>(h.rejected))
            .int4(h.tally.admission_queued);  // 1.1
        row.emit();
    }
    return (Datum)0;
}
