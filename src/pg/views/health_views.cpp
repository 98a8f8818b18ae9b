// poolgov.health() and poolgov.recommendations: this file only gathers the
// inputs (the live tally, a copy of the history ring, the breaker table
// under its lock, the settings) and emits rows; what they mean is decided
// in src/core/health.cpp and src/core/recommend.cpp.
#include "postgres.hpp"

extern "C" {
#include "postmaster/postmaster.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
}

#include "views/activity.hpp"
#include "views/read_model.hpp"
#include "session/admission.hpp"
#include "breaker_state.hpp"
#include "locks.hpp"
#include "compat.hpp"
#include "guard.hpp"
#include "settings.hpp"
#include "views/health.hpp"
#include "views/ring_copy.hpp"
#include "views/rollup.hpp"
#include "views/row_builder.hpp"
#include "shmem.hpp"

#include <unistd.h>

using namespace poolgov;
using namespace poolgov::pg;

namespace poolgov::pg {

namespace {

HealthSettings health_settings()
{
    return HealthSettings{
        {settings::utilization_warning, settings::utilization_critical},
        {static_cast<double>(settings::p95_latency_warning),
         static_cast<double>(settings::p95_latency_critical)},
        {settings::error_ratio_warning, settings::error_ratio_critical},
        {settings::slow_per_minute_warning, settings::slow_per_minute_critical},
        {static_cast<double>(settings::admission_wait_warning),
         static_cast<double>(settings::admission_wait_critical)},
        {static_cast<double>(settings::breakers_open_warning),
         static_cast<double>(settings::breakers_open_critical)},
    };
}

// Breaker entries refusing logins now, counted under the shared lock.
int count_open_breakers(TimestampTz now)
{
    SharedState *st = shm.state;
    BreakerPolicy policy = breaker_policy();
    if (policy.limit <= 0 || atomic::load(st->breaker_entries) == 0)
        return 0;
    int open = 0;
    lock_acquire(st->breaker_lock, LW_SHARED);
    for (int i = 0; i < kBreakerEntries; ++i) {
        const BreakerEntry &e = shm.breaker->entries[i];
        if (e.key_hash != 0 && !breaker_expired(e, now, policy) &&
            breaker_open_until(e, policy) > now)
            open++;
    }
    lock_release(st->breaker_lock);
    return open;
}

const HistorySample *copy_history(uint64_t *n)
{
    uint32_t stride;
    char *records =
        copy_ring_records(shm.state->history_lock, &shm.state->history, shm.history, n, &stride);
    Assert(stride == sizeof(HistorySample));
    return reinterpret_cast<const HistorySample *>(records);
}

// The newest samples that can fall in the health window, oldest first: at
// most two per sample_interval in a minute, plus two (an interval just
// lowered by a reload still leaves the older samples spaced wider). At the
// default 1 s interval that is 122 samples (about 14 kB), not the whole ring
// (poolgov.stats calls this too); the buffer is allocated before the lock.
const HistorySample *copy_recent_history(uint64_t *n)
{
    int interval_ms = settings::sample_interval > 0 ? settings::sample_interval : 1;
    uint64_t want = static_cast<uint64_t>(kHealthWindowUs / 1000 / interval_ms) * 2 + 2;
    SharedState *st = shm.state;
    if (want > st->history.capacity)
        want = st->history.capacity;
    auto *copy = static_cast<HistorySample *>(palloc(sizeof(HistorySample) * (want + 1)));
    lock_acquire(st->history_lock, LW_SHARED);
    RingView ring = history_ring();
    uint64_t take = ring.size() < want ? ring.size() : want;
    for (uint64_t i = 0; i < take; ++i)
        memcpy(&copy[i], ring.at(ring.written() - take + i), sizeof(HistorySample));
    lock_release(st->history_lock);
    *n = take;
    return copy;
}

HealthReport *evaluate_now(const ConnTally &tally)
{
    TimestampTz now = GetCurrentTimestamp();
    uint64_t n;
    const HistorySample *samples = copy_recent_history(&n);
    HealthInputs in{};
    in.now = now;
    in.connections = tally.connections;
    in.max_connections = MaxConnections;
    in.samples = samples;
    in.nsamples = n;
    in.max_active_transactions = settings::max_active_transactions;
    in.max_heavy_transactions = settings::max_heavy_transactions;
    in.admission_queued = tally.admission_queued;
    in.breakers_open = count_open_breakers(now);
    auto *report = static_cast<HealthReport *>(palloc(sizeof(HealthReport)));
    evaluate_health(health_settings(), in, *report);
    return report;
}

}  // namespace

HealthStatus health_worst(const ConnTally &tally)
{
    HealthReport *report = evaluate_now(tally);
    HealthStatus worst = report->worst;
    pfree(report);
    return worst;
}

// For poolgov.metrics() (read_model): the same report as poolgov.health().
HealthReport *health_report(const ConnTally &tally) { return evaluate_now(tally); }

}  // namespace poolgov::pg

POOLGOV_SQL_FUNCTION(poolgov_health)
{
    require_shmem();
    auto *totals = static_cast<Totals *>(palloc(sizeof(Totals)));
    auto *all = static_cast<StmtCounters *>(palloc(sizeof(StmtCounters)));
    ConnTally tally{};
    gather_totals(*totals, tally, *all);
    HealthReport *report = evaluate_now(tally);
    RowBuilder row(fcinfo);
    for (int i = 0; i < report->n; ++i) {
        const HealthCheck &c = report->checks[i];
        row.text(c.check).text(health_status_name(c.status));
        if (c.has_value)
            row.float8(c.value);
        else
            row.null();
        row.float8(c.warning_at).float8(c.critical_at).text(c.detail);
        row.emit();
    }
    return (Datum)0;
}

POOLGOV_SQL_FUNCTION(poolgov_recommendations)
{
    require_shmem();
    uint64_t n;
    const HistorySample *samples = copy_history(&n);
    RecommendSettings s{};
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    s.cores_from_setting = settings::cpu_cores > 0;
    s.cores =
        settings::cpu_cores > 0 ? settings::cpu_cores : (online > 0 ? static_cast<int>(online) : 1);
    s.spindles = settings::effective_spindles;
    s.min_history_us = static_cast<int64_t>(settings::recommend_min_history) * USECS_PER_SEC;
    RecommendInputs in{};
    in.now = GetCurrentTimestamp();
    in.max_connections = MaxConnections;
    in.superuser_reserved_connections = compat::superuser_reserved_connections();
    in.reserved_connections = compat::postgres_reserved_connections();
    in.max_active_transactions = settings::max_active_transactions;
    in.samples = samples;
    in.nsamples = n;

    RoleUsage *roles = nullptr;
    int nroles = role_budget_usage(&roles);
    int room = kGlobalRecommendations + nroles;
    auto *out = static_cast<Recommendation *>(palloc(sizeof(Recommendation) * room));
    int nout = recommend_globals(s, in, out, room);
    for (int i = 0; i < nroles; ++i)
        nout += recommend_role_budget(roles[i], out[nout]);

    RowBuilder row(fcinfo);
    for (int i = 0; i < nout; ++i) {
        const Recommendation &r = out[i];
        row.text(r.setting).text_or_null(r.current).text_or_null(r.recommended).text(r.reason);
        row.emit();
    }
    return (Datum)0;
}
