// poolgov.health(): the policy that turns what the server shows now and the
// governor's last minute of history into one status per check.
//
// Vocabulary: a *check* measures one thing (utilization, p95 latency, ...);
// its *value* is compared with two thresholds: at or above `critical_at` it
// is critical, else at or above `warning_at` it is a warning, else ok (so a
// warning threshold above the critical one never shows a warning). The
// *window* is the last minute of poolgov.history: the samples taken in
// (now - 60 s, now]. Everything here is plain data; the clock is an input.
#pragma once

#include "poolgov/history.hpp"

#include <cstddef>
#include <cstdint>

namespace poolgov {

enum class HealthStatus : uint8_t { Ok = 0, Warning = 1, Critical = 2 };

const char *health_status_name(HealthStatus s);  // ok | warning | critical
HealthStatus health_classify(double value, double warning_at, double critical_at);
inline HealthStatus health_worse(HealthStatus a, HealthStatus b) { return a > b ? a : b; }

struct HealthThresholds {
    double warning;
    double critical;
};

struct HealthSettings {
    HealthThresholds utilization;      // percent of max_connections
    HealthThresholds p95_latency;      // ms
    HealthThresholds error_ratio;      // percent of statements
    HealthThresholds slow_per_minute;  // slow statements per minute
    HealthThresholds admission_wait;   // ms, mean wait
    HealthThresholds breakers_open;    // open breaker entries
};

constexpr int64_t kHealthWindowUs = 60 * 1000000LL;
// Fewer statements than this in the window: the error ratio is shown but
// judged ok (one error in three statements is not an outage).
constexpr uint64_t kErrorRatioMinStatements = 20;

struct HealthInputs {
    int64_t now;  // same clock as HistorySample::sampled_at (microseconds)
    int connections;
    int max_connections;
    const HistorySample *samples;  // oldest first
    size_t nsamples;
    int max_active_transactions;  // 0: admission control off
    int max_heavy_transactions;   // 0: no heavy lane
    int admission_queued;         // waiting now
    int breakers_open;            // breaker entries refusing logins now
};

// Sums over the samples in (now - window_us, now].
struct WindowSummary {
    int samples;
    int64_t covered_us;  // sum of the samples' interval lengths
    uint64_t statements, errors, slow, adm_waited, adm_wait_us;
    double max_p95_ms;  // negative: no interval had a statement
};
WindowSummary summarize_window(const HistorySample *samples, size_t n, int64_t now,
                               int64_t window_us);

constexpr int kHealthChecks = 6;
constexpr size_t kHealthDetailLen = 400;

struct HealthCheck {
    const char *check;  // static name
    HealthStatus status;
    bool has_value;  // false: value is NULL (nothing to measure)
    double value;
    double warning_at;
    double critical_at;
    char detail[kHealthDetailLen];
};

struct HealthReport {
    HealthCheck checks[kHealthChecks];
    int n;
    HealthStatus worst;
};

// Checks, in this order: utilization, p95_latency, error_ratio,
// slow_per_minute, admission_wait, breakers_open.
void evaluate_health(const HealthSettings &settings, const HealthInputs &in, HealthReport &out);

}  // namespace poolgov
