// Prometheus text exposition (format 0.0.4) of pg_poolgov's counters: the
// body of poolgov.metrics(). Plain data in, one string out; no PostgreSQL.
//
// Vocabulary: a *family* is one metric name with its HELP and TYPE lines and
// all its samples (which must be contiguous); a *series* is one sample line
// (name, labels, value). Names, units and labels are the contract with the
// dashboard and the alert rules (monitoring/, docs/monitoring.md): do not
// rename.
//
// Latency buckets: the internal log-linear histogram (histogram.hpp) has 32
// sub-buckets per power of two; a Prometheus bound B (kBucketBounds) rarely
// falls on an internal bucket edge. The internal bucket that straddles B is
// counted as <= B when its midpoint is <= B. So only statements within that
// one internal bucket can land on the wrong side of B; that bucket is at most
// B/32 wide and B is within half of it from its midpoint, so a statement
// counted under le=B took less than B * (1 + 1/64) and one not counted took
// at least B * (1 - 1/64): 1.6 % either way, the same bound as the views'
// quantiles.
// +Inf, _count and the statement counter are exact.
#pragma once

#include "poolgov/histogram.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace poolgov::prom {

constexpr int kBounds = 18;  // finite bounds; +Inf is bucket kBounds
struct BucketBound {
    const char *le;  // as printed
    uint64_t ns;     // the same bound in nanoseconds
};
extern const BucketBound kBucketBounds[kBounds];

// Cumulative counts: out[i] = statements <= kBucketBounds[i] (see above),
// out[kBounds] = all (+Inf).
struct Buckets {
    uint64_t cumulative[kBounds + 1];
};
Buckets cumulative_buckets(const Histogram &h);

// A label value escaped as the format requires: \ -> \\, " -> \", newline -> \n.
std::string escape_label(std::string_view value);

// One role or one database.
struct Row {
    std::string label;  // role or database name (not escaped)
    uint64_t connections = 0;
    uint64_t statements = 0;
    uint64_t errors = 0;
    uint64_t slow = 0;
    uint64_t rejected = 0;
    uint64_t admitted = 0;
    uint64_t admission_timeouts = 0;
    double duration_seconds = 0;  // histogram _sum
    Buckets buckets{};
};

// The label value that stands for the rows beyond the cap.
constexpr std::string_view kOtherLabel = "other";

// Sums rows that share a label into one (labels must be unique per series),
// then keeps the max_rows rows with the most statements (ties: by label, so
// the choice is stable between scrapes) and sums the rest into one row
// labelled "other", appended last. A real row named "other" is merged into it too
// (two series with one label set would be invalid). max_rows < 0: no cap.
std::vector<Row> cap_rows(std::vector<Row> rows, int max_rows);

struct HealthRow {
    std::string check;
    int status;  // 0 ok, 1 warning, 2 critical
};

struct Snapshot {
    // Client backends by state; connections = sum of the four.
    int64_t active = 0, idle = 0, idle_in_transaction = 0, other = 0;
    int64_t max_connections = 0;
    uint64_t accepted = 0, rejected_budget = 0, rejected_reserve = 0, rejected_breaker = 0,
             warned = 0;
    uint64_t auth_failures = 0;
    int64_t breakers_open = 0;
    uint64_t statements = 0, errors = 0, slow = 0;
    double duration_seconds = 0;
    Buckets buckets{};
    int64_t admission_running = 0, admission_queued = 0;
    uint64_t admission_admitted = 0, admission_timeouts = 0, admission_overdrafts = 0,
             admission_waits = 0;
    double admission_wait_seconds = 0;
    // The grant order: recent mean wait, bound in force (poolgov.admission_order).
    double admission_mean_wait_seconds = 0, admission_fairness_bound_seconds = 0;
    uint64_t idle_terminated = 0;
    // Pauses (poolgov.pause): scopes paused and transactions held now; since start.
    int64_t pauses = 0, paused_transactions = 0;
    uint64_t pauses_total = 0, pause_timeouts = 0, pause_lock_admits = 0,
             paused_admission_timeouts = 0;
    std::vector<HealthRow> health;
    std::vector<Row> roles;      // capped already (cap_rows)
    std::vector<Row> databases;  // capped already
};

// The whole exposition, every family with HELP and TYPE, ending in "\n".
std::string format_metrics(const Snapshot &s);

}  // namespace poolgov::prom
