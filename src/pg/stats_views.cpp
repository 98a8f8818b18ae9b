// poolgov.stats (one row) and poolgov.history (the governor's samples).
#include "postgres.hpp"

#include "activity.hpp"
#include "guard.hpp"
#include "row_builder.hpp"
#include "shmem.hpp"

#include <cmath>

using namespace poolgov;
using namespace poolgov::pg;

POOLGOV_SQL_FUNCTION(poolgov_stats)
{
    require_shmem();
    SharedState *st = shm.state;
    auto *totals = static_cast<Totals *>(palloc(sizeof(Totals)));
    auto *all = static_cast<StmtCounters *>(palloc(sizeof(StmtCounters)));
    ConnTally tally{};
    gather_totals(*totals, tally, *all);
    double utilization =
        MaxConnections > 0 ? std::round(1000.0 * tally.connections / MaxConnections) / 10.0 : 0;

    RowBuilder row(fcinfo);
    row.int4(tally.connections)
        .int4(tally.active)
        .int4(tally.idle)
        .int4(tally.idle_in_transaction)
        .int4(MaxConnections)
        .float8(utilization)
        .int8(static_cast<int64>(atomic::load(st->peak_connections)))
        .int8(static_cast<int64>(atomic::load(st->accepted)))
        .int8(static_cast<int64>(atomic::load(st->rejected_budget)))
        .int8(static_cast<int64>(atomic::load(st->rejected_reserve)))
        .int8(static_cast<int64>(atomic::load(st->rejected_breaker)))
        .int8(static_cast<int64>(atomic::load(st->warned)))
        .int8(static_cast<int64>(atomic::load(st->auth_failures)))
        .statement_columns(*all)
        .timestamptz(st->stats_reset);
    row.emit();
    return (Datum) 0;
}

POOLGOV_SQL_FUNCTION(poolgov_history)
{
    require_shmem();
    SharedState *st = shm.state;
    LWLockAcquire(st->history_lock, LW_SHARED);
    RingView ring = history_ring();
    uint64_t n = ring.size();
    auto *samples = static_cast<HistorySample *>(palloc(sizeof(HistorySample) * (n + 1)));
    for (uint64_t i = 0; i < n; ++i)
        samples[i] = *reinterpret_cast<HistorySample *>(ring.at(ring.oldest() + i));
    LWLockRelease(st->history_lock);

    RowBuilder row(fcinfo);
    for (uint64_t i = 0; i < n; ++i) {
        const HistorySample &h = samples[i];
        row.timestamptz(h.sampled_at)
            .int4(h.tally.connections)
            .int4(h.tally.active)
            .int4(h.tally.idle)
            .int4(h.tally.idle_in_transaction)
            .float8(h.statements_per_s)
            .float8_or_null(h.p95_ms)
            .int8(static_cast<int64>(h.rejected));
        row.emit();
    }
    return (Datum) 0;
}
