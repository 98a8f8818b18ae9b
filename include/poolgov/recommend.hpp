// poolgov.recommendations: rules that turn the server's settings, the
// governor's history and the per-role peaks into suggested settings. Each
// reason quotes the numbers it used. A rule that needs history says "not
// enough history" (recommended NULL) until the history spans
// `min_history_us`. Plain data; the clock is an input.
#pragma once

#include "poolgov/history.hpp"

#include <cstddef>
#include <cstdint>

namespace poolgov {

struct RecommendSettings {
    int cores;                // CPU cores used by the formula (> 0)
    bool cores_from_setting;  // poolgov.cpu_cores > 0, else the OS count
    int spindles;             // poolgov.effective_spindles
    int64_t min_history_us;   // poolgov.recommend_min_history
};

// Rule constants (documented in docs/reference.md).
constexpr double kConnectionHeadroom = 0.25;   // max_connections: peak + 25 %
constexpr double kBudgetNearShare = 0.90;      // a role's peak >= 90 % of its budget
constexpr double kIdleShareHigh = 50.0;        // percent of client connections idle
constexpr int kIdleMinConnections = 5;         // mean connections to judge the idle share
constexpr double kSlowShareHigh = 5.0;         // percent of statements slow
constexpr uint64_t kSlowMinStatements = 1000;  // statements to judge the slow share

struct RecommendInputs {
    int64_t now;
    int max_connections;
    int superuser_reserved_connections;
    int max_active_transactions;   // 0: off
    const HistorySample *samples;  // oldest first
    size_t nsamples;
    int reserved_connections = 0;  // PostgreSQL's reserved_connections (16+)
};

constexpr size_t kRecSettingLen = 96;
constexpr size_t kRecValueLen = 128;
constexpr size_t kRecReasonLen = 480;

struct Recommendation {
    char setting[kRecSettingLen];
    char current[kRecValueLen];      // empty: NULL
    char recommended[kRecValueLen];  // empty: NULL (not enough data)
    char reason[kRecReasonLen];
};

// What the history (all of it) says.
struct HistorySpan {
    int samples;
    int64_t span_us;  // newest sampled_at - oldest sampled_at
    int peak_connections;
    double mean_connections;
    double mean_idle_share;  // percent; idle / connections over samples with connections
    uint64_t statements;
    uint64_t slow;
};
HistorySpan summarize_history(const HistorySample *samples, size_t n);

constexpr int kGlobalRecommendations = 4;

// max_active_transactions and max_connections always; the idle-share and
// slow-share rows when they apply or when there is not enough history to
// tell. Returns the number written to out (room >= kGlobalRecommendations).
int recommend_globals(const RecommendSettings &s, const RecommendInputs &in, Recommendation *out,
                      int room);

struct RoleUsage {
    const char *role;
    int64_t peak_connections;  // since the last reset
    int32_t budget;            // effective budget; < 0: unlimited
};

// A row when the role's peak reached kBudgetNearShare of its budget.
bool recommend_role_budget(const RoleUsage &u, Recommendation &out);

}  // namespace poolgov
