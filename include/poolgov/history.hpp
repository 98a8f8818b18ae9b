// The governor's samples (poolgov.history) and the arithmetic that turns two
// snapshots of cumulative counters into one interval.
#pragma once

#include "poolgov/histogram.hpp"

#include <cstdint>
#include <type_traits>

namespace poolgov {

enum class ConnState : uint8_t { Unknown, Active, Idle, IdleInTransaction };

struct ConnTally {
    int32_t connections;
    int32_t active;
    int32_t idle;
    int32_t idle_in_transaction;
    int32_t admission_running;  // transactions holding an admission slot
    int32_t admission_queued;   // waiting for one (or for a heavy slot)
};
static_assert(std::is_trivially_copyable_v<ConnTally>);  // in shared memory

inline void tally_add(ConnTally &t, ConnState s)
{
    t.connections++;
    switch (s) {
    case ConnState::Active:
        t.active++;
        break;
    case ConnState::Idle:
        t.idle++;
        break;
    case ConnState::IdleInTransaction:
        t.idle_in_transaction++;
        break;
    case ConnState::Unknown:
        break;
    }
}

struct HistorySample {
    int64_t sampled_at;  // PostgreSQL timestamp
    ConnTally tally;
    double statements_per_s;
    double p95_ms;      // negative: no statement finished in the interval
    uint64_t rejected;  // logins refused in the interval
    // Counts in the interval, for poolgov.health() and the recommendations
    // (not columns of poolgov.history).
    int64_t interval_us;   // length of the interval; 0 for the first sample
    uint64_t statements;   // statements completed
    uint64_t errors;       // statements that aborted
    uint64_t slow;         // completed statements at or over the slow threshold
    uint64_t adm_waited;   // admission waits that ended with a slot
    uint64_t adm_wait_us;  // their total wait
};
static_assert(std::is_trivially_copyable_v<HistorySample>);  // in shared memory

// Cumulative counters as the governor reads them at one instant.
struct Totals {
    int64_t at;      // microseconds
    uint64_t epoch;  // poolgov.reset() generation
    uint64_t statements;
    uint64_t rejected;
    uint64_t max_ns;
    uint64_t errors;
    uint64_t slow;
    uint64_t adm_waited;
    uint64_t adm_wait_us;
    Histogram latency;
};

// Interval between prev and cur. A reset between them (epoch changed) makes
// the interval start at zero rather than produce negative rates.
HistorySample make_sample(const Totals &prev, const Totals &cur, const ConnTally &tally,
                          Histogram &scratch);

}  // namespace poolgov
