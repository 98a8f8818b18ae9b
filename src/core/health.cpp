#include "poolgov/health.hpp"

#include "poolgov/format.hpp"

#include <fmt/format.h>

#include "poolgov/no_postgres.hpp"

namespace poolgov {

namespace {

// "at or above the warning threshold of 60 (poolgov.health_utilization_warning)"
const char *over_phrase(HealthStatus s)
{
    return s == HealthStatus::Critical ? "critical" : "warning";
}

HealthCheck &start(HealthReport &r, const char *name, const HealthThresholds &t)
{
    HealthCheck &c = r.checks[r.n++];
    c = HealthCheck{};
    c.check = name;
    c.status = HealthStatus::Ok;
    c.warning_at = t.warning;
    c.critical_at = t.critical;
    return c;
}

void judge(HealthCheck &c, double value)
{
    c.has_value = true;
    c.value = value;
    c.status = health_classify(value, c.warning_at, c.critical_at);
}

double threshold_of(const HealthCheck &c)
{
    return c.status == HealthStatus::Critical ? c.critical_at : c.warning_at;
}

void utilization(const HealthSettings &s, const HealthInputs &in, HealthReport &r)
{
    HealthCheck &c = start(r, "utilization", s.utilization);
    double pct = in.max_connections > 0 ? 100.0 * in.connections / in.max_connections : 0.0;
    judge(c, pct);
    if (c.status == HealthStatus::Ok)
        format_into(c.detail, "{} of max_connections = {} in use ({:.1f} %)", in.connections,
                    in.max_connections, pct);
    else
        format_into(c.detail,
                    "{} of max_connections = {} in use ({:.1f} %), at or above the {} threshold of "
                    "{:g} % (poolgov.health_utilization_{}); see poolgov.roles for who holds them, "
                    "cap roles with poolgov.set_budget, end idle sessions or put a pooler in front",
                    in.connections, in.max_connections, pct, over_phrase(c.status), threshold_of(c),
                    over_phrase(c.status));
}

void p95_latency(const HealthSettings &s, const WindowSummary &w, HealthReport &r)
{
    HealthCheck &c = start(r, "p95_latency", s.p95_latency);
    if (w.max_p95_ms < 0) {
        format_into(c.detail,
                    "no statement finished in the last minute ({} samples in "
                    "poolgov.history)",
                    w.samples);
        return;
    }
    judge(c, w.max_p95_ms);
    if (c.status == HealthStatus::Ok)
        format_into(c.detail, "highest per-sample p95 in the last minute: {:.3f} ms ({} samples)",
                    w.max_p95_ms, w.samples);
    else
        format_into(c.detail,
                    "highest per-sample p95 in the last minute is {:.3f} ms ({} samples), at or "
                    "above the {} threshold of {:g} ms (poolgov.health_p95_latency_{}); see "
                    "poolgov.slow_queries and poolgov.history, and check for lock waits",
                    w.max_p95_ms, w.samples, over_phrase(c.status), threshold_of(c),
                    over_phrase(c.status));
}

void error_ratio(const HealthSettings &s, const WindowSummary &w, HealthReport &r)
{
    HealthCheck &c = start(r, "error_ratio", s.error_ratio);
    uint64_t all = w.statements + w.errors;
    if (all == 0) {
        format_into(c.detail,
                    "no statement finished in the last minute ({} samples in "
                    "poolgov.history)",
                    w.samples);
        return;
    }
    double pct = 100.0 * static_cast<double>(w.errors) / static_cast<double>(all);
    judge(c, pct);
    if (all < kErrorRatioMinStatements && c.status != HealthStatus::Ok) {
        c.status = HealthStatus::Ok;
        format_into(c.detail,
                    "{} of {} statements failed in the last minute ({:.1f} %), too few statements "
                    "to judge (fewer than {})",
                    w.errors, all, pct, kErrorRatioMinStatements);
    } else if (c.status == HealthStatus::Ok) {
        format_into(c.detail, "{} of {} statements failed in the last minute ({:.1f} %)", w.errors,
                    all, pct);
    } else {
        format_into(c.detail,
                    "{} of {} statements failed in the last minute ({:.1f} %), at or above the {} "
                    "threshold of {:g} % (poolgov.health_error_ratio_{}); see poolgov.roles and "
                    "poolgov.databases (errors) and the server log",
                    w.errors, all, pct, over_phrase(c.status), threshold_of(c),
                    over_phrase(c.status));
    }
}

void slow_per_minute(const HealthSettings &s, const WindowSummary &w, HealthReport &r)
{
    HealthCheck &c = start(r, "slow_per_minute", s.slow_per_minute);
    if (w.covered_us <= 0) {
        format_into(c.detail,
                    "no history in the last minute (is the governor running? see "
                    "poolgov.history)");
        return;
    }
    double seconds = static_cast<double>(w.covered_us) / 1e6;
    double rate = static_cast<double>(w.slow) * 60.0 / seconds;
    judge(c, rate);
    if (c.status == HealthStatus::Ok)
        format_into(c.detail, "{} slow statements in the last {:.0f} s ({:.1f} per minute)", w.slow,
                    seconds, rate);
    else
        format_into(c.detail,
                    "{} slow statements in the last {:.0f} s ({:.1f} per minute), at or above the "
                    "{} threshold of {:g} per minute (poolgov.health_slow_per_minute_{}); see "
                    "poolgov.slow_queries",
                    w.slow, seconds, rate, over_phrase(c.status), threshold_of(c),
                    over_phrase(c.status));
}

void admission_wait(const HealthSettings &s, const HealthInputs &in, const WindowSummary &w,
                    HealthReport &r)
{
    HealthCheck &c = start(r, "admission_wait", s.admission_wait);
    if (in.max_active_transactions <= 0 && in.max_heavy_transactions <= 0) {
        format_into(c.detail, "admission control is off (poolgov.max_active_transactions = 0)");
        return;
    }
    double mean_ms = w.adm_waited > 0 ? static_cast<double>(w.adm_wait_us) /
                                            static_cast<double>(w.adm_waited) / 1000.0
                                      : 0.0;
    judge(c, mean_ms);
    if (c.status == HealthStatus::Ok)
        format_into(c.detail,
                    "{} transactions waited for a slot in the last minute, {:.1f} ms on average; "
                    "{} waiting now",
                    w.adm_waited, mean_ms, in.admission_queued);
    else
        format_into(c.detail,
                    "{} transactions waited for a slot in the last minute, {:.1f} ms on average, "
                    "at or above the {} threshold of {:g} ms (poolgov.health_admission_wait_{}); "
                    "{} waiting now; see poolgov.connections (admission) and consider raising "
                    "poolgov.max_active_transactions (poolgov.recommendations)",
                    w.adm_waited, mean_ms, over_phrase(c.status), threshold_of(c),
                    over_phrase(c.status), in.admission_queued);
}

void breakers_open(const HealthSettings &s, const HealthInputs &in, HealthReport &r)
{
    HealthCheck &c = start(r, "breakers_open", s.breakers_open);
    judge(c, in.breakers_open);
    if (c.status == HealthStatus::Ok)
        format_into(c.detail, "{} login breakers open", in.breakers_open);
    else
        format_into(c.detail,
                    "{} login breakers open, at or above the {} threshold of {:g} "
                    "(poolgov.health_breakers_open_{}); see poolgov.breakers and poolgov.events "
                    "for who fails to log in, poolgov.breaker_reset() to reopen",
                    in.breakers_open, over_phrase(c.status), threshold_of(c),
                    over_phrase(c.status));
}

}  // namespace

const char *health_status_name(HealthStatus s)
{
    switch (s) {
    case HealthStatus::Ok:
        return "ok";
    case HealthStatus::Warning:
        return "warning";
    case HealthStatus::Critical:
        return "critical";
    }
    return "unknown";
}

HealthStatus health_classify(double value, double warning_at, double critical_at)
{
    if (value >= critical_at)
        return HealthStatus::Critical;
    if (value >= warning_at)
        return HealthStatus::Warning;
    return HealthStatus::Ok;
}

WindowSummary summarize_window(const HistorySample *samples, size_t n, int64_t now,
                               int64_t window_us)
{
    WindowSummary w{};
    w.max_p95_ms = -1.0;
    for (size_t i = 0; i < n; ++i) {
        const HistorySample &h = samples[i];
        if (h.sampled_at <= now - window_us || h.sampled_at > now)
            continue;
        w.samples++;
        w.covered_us += h.interval_us;
        w.statements += h.statements;
        w.errors += h.errors;
        w.slow += h.slow;
        w.adm_waited += h.adm_waited;
        w.adm_wait_us += h.adm_wait_us;
        if (h.p95_ms > w.max_p95_ms)
            w.max_p95_ms = h.p95_ms;
    }
    return w;
}

void evaluate_health(const HealthSettings &settings, const HealthInputs &in, HealthReport &out)
{
    out.n = 0;
    WindowSummary w = summarize_window(in.samples, in.nsamples, in.now, kHealthWindowUs);
    utilization(settings, in, out);
    p95_latency(settings, w, out);
    error_ratio(settings, w, out);
    slow_per_minute(settings, w, out);
    admission_wait(settings, in, w, out);
    breakers_open(settings, in, out);
    out.worst = HealthStatus::Ok;
    for (int i = 0; i < out.n; ++i)
        out.worst = health_worse(out.worst, out.checks[i].status);
}

}  // namespace poolgov
