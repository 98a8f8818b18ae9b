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

#include "activity.hpp"
#include "read_model.hpp"
#include "admission.hpp"
#include "breaker_state.hpp"
#include "compat.hpp"
#include "guard.hpp"
#include "guc.hpp"
#include "health.hpp"
#include "ring_copy.hpp"
#include "row_builder.hpp"
#include "shmem.hpp"

#include <unistd.h>

using namespace poolgov;
using namespace poolgov::pg;

namespace poolgov::pg {

namespace {

// Thresholds (PGC_SIGHUP). Percentages, milliseconds, per minute, counts.
double utilization_warning = 60, utilization_critical = 80;
int p95_latency_warning = 500, p95_latency_critical = 2000;
double error_ratio_warning = 1, error_ratio_critical = 5;
double slow_per_minute_warning = 10, slow_per_minute_critical = 60;
int admission_wait_warning = 100, admission_wait_critical = 1000;
int breakers_open_warning = 1, breakers_open_critical = 10;
// Recommendations.
int cpu_cores = 0;             // 0: CPUs online
int effective_spindles = 1;
int recommend_min_history = 600;  // s

HealthSettings health_settings()
{
    return HealthSettings{
        {utilization_warning, utilization_critical},
        {static_cast<double>(p95_latency_warning), static_cast<double>(p95_latency_critical)},
        {error_ratio_warning, error_ratio_critical},
        {slow_per_minute_warning, slow_per_minute_critical},
        {static_cast<double>(admission_wait_warning),
         static_cast<double>(admission_wait_critical)},
        {static_cast<double>(breakers_open_warning), static_cast<double>(breakers_open_critical)},
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
    LWLockAcquire(st->breaker_lock, LW_SHARED);
    for (int i = 0; i < kBreakerEntries; ++i) {
        const BreakerEntry &e = shm.breaker->entries[i];
        if (e.key_hash != 0 && !breaker_expired(e, now, policy) &&
            breaker_open_until(e, policy) > now)
            open++;
    }
    LWLockRelease(st->breaker_lock);
    return open;
}

const HistorySample *copy_history(uint64_t *n)
{
    uint32_t stride;
    char *records = copy_ring_records(shm.state->history_lock, &shm.state->history,
                                      shm.history, n, &stride);
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
    int interval_ms = guc::sample_interval > 0 ? guc::sample_interval : 1;
    uint64_t want = static_cast<uint64_t>(kHealthWindowUs / 1000 / interval_ms) * 2 + 2;
    SharedState *st = shm.state;
    if (want > st->history.capacity)
        want = st->history.capacity;
    auto *copy = static_cast<HistorySample *>(palloc(sizeof(HistorySample) * (want + 1)));
    LWLockAcquire(st->history_lock, LW_SHARED);
    RingView ring = history_ring();
    uint64_t take = ring.size() < want ? ring.size() : want;
    for (uint64_t i = 0; i < take; ++i)
        memcpy(&copy[i], ring.at(ring.written() - take + i), sizeof(HistorySample));
    LWLockRelease(st->history_lock);
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
    in.max_active_transactions = guc::max_active_transactions;
    in.max_heavy_transactions = guc::max_heavy_transactions;
    in.admission_queued = tally.admission_queued;
    in.breakers_open = count_open_breakers(now);
    auto *report = static_cast<HealthReport *>(palloc(sizeof(HealthReport)));
    evaluate_health(health_settings(), in, *report);
    return report;
}

void define_threshold(const char *name, const char *what, double *warning, double *critical,
                      double max)
{
    char wname[96], cname[96];
    snprintf(wname, sizeof(wname), "poolgov.health_%s_warning", name);
    snprintf(cname, sizeof(cname), "poolgov.health_%s_critical", name);
    DefineCustomRealVariable(wname, what, "poolgov.health() reports a warning at or above it.",
                             warning, *warning, 0.0, max, PGC_SIGHUP, 0, nullptr, nullptr,
                             nullptr);
    DefineCustomRealVariable(cname, what, "poolgov.health() reports critical at or above it.",
                             critical, *critical, 0.0, max, PGC_SIGHUP, 0, nullptr, nullptr,
                             nullptr);
}

void define_threshold(const char *name, const char *what, int *warning, int *critical, int min,
                      int flags)
{
    char wname[96], cname[96];
    snprintf(wname, sizeof(wname), "poolgov.health_%s_warning", name);
    snprintf(cname, sizeof(cname), "poolgov.health_%s_critical", name);
    DefineCustomIntVariable(wname, what, "poolgov.health() reports a warning at or above it.",
                            warning, *warning, min, INT_MAX, PGC_SIGHUP, flags, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable(cname, what, "poolgov.health() reports critical at or above it.",
                            critical, *critical, min, INT_MAX, PGC_SIGHUP, flags, nullptr,
                            nullptr, nullptr);
}

}  // namespace

void health_define_gucs()
{
    define_threshold("utilization", "Client connections in percent of max_connections.",
                     &utilization_warning, &utilization_critical, 100.0);
    define_threshold("p95_latency",
                     "Highest per-sample p95 statement latency in the last minute.",
                     &p95_latency_warning, &p95_latency_critical, 0, GUC_UNIT_MS);
    define_threshold("error_ratio", "Failed statements in percent, last minute.",
                     &error_ratio_warning, &error_ratio_critical, 100.0);
    define_threshold("slow_per_minute", "Slow statements per minute, last minute.",
                     &slow_per_minute_warning, &slow_per_minute_critical, 1e9);
    define_threshold("admission_wait", "Mean admission wait in the last minute.",
                     &admission_wait_warning, &admission_wait_critical, 0, GUC_UNIT_MS);
    define_threshold("breakers_open", "Login breakers open.", &breakers_open_warning,
                     &breakers_open_critical, 1, 0);
    DefineCustomIntVariable("poolgov.cpu_cores",
                            "CPU cores poolgov.recommendations counts.",
                            "0 uses the number of CPUs online.", &cpu_cores, cpu_cores, 0, 65536,
                            PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.effective_spindles",
                            "Disks that can work in parallel, for poolgov.recommendations.",
                            "(cores x 2) + effective spindles is the recommended "
                            "poolgov.max_active_transactions.",
                            &effective_spindles, effective_spindles, 0, 10000, PGC_SIGHUP, 0,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.recommend_min_history",
                            "History needed before recommendations are made from it.", nullptr,
                            &recommend_min_history, recommend_min_history, 1, 30 * 86400,
                            PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
}

HealthStatus health_worst(const ConnTally &tally)
{
    HealthReport *report = evaluate_now(tally);
    HealthStatus worst = report->worst;
    pfree(report);
    return worst;
}

// For poolgov.metrics() (read_model): the same report as poolgov.health().
HealthReport *health_report(const ConnTally &tally)
{
    return evaluate_now(tally);
}

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
    return (Datum) 0;
}

POOLGOV_SQL_FUNCTION(poolgov_recommendations)
{
    require_shmem();
    uint64_t n;
    const HistorySample *samples = copy_history(&n);
    RecommendSettings s{};
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    s.cores_from_setting = cpu_cores > 0;
    s.cores = cpu_cores > 0 ? cpu_cores : (online > 0 ? static_cast<int>(online) : 1);
    s.spindles = effective_spindles;
    s.min_history_us = static_cast<int64_t>(recommend_min_history) * USECS_PER_SEC;
    RecommendInputs in{};
    in.now = GetCurrentTimestamp();
    in.max_connections = MaxConnections;
    in.superuser_reserved_connections = compat::superuser_reserved_connections();
    in.reserved_connections = compat::postgres_reserved_connections();
    in.max_active_transactions = guc::max_active_transactions;
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
    return (Datum) 0;
}
