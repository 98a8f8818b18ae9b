#include "poolgov/no_postgres.hpp"
#include "poolgov/history.hpp"

namespace poolgov {

HistorySample make_sample(const Totals &prev, const Totals &cur, const ConnTally &tally,
                          Histogram &scratch)
{
    HistorySample s{};
    s.sampled_at = cur.at;
    s.tally = tally;
    bool same_epoch = prev.epoch == cur.epoch && prev.at != 0;
    uint64_t statements = cur.statements;
    uint64_t rejected = cur.rejected;
    scratch = cur.latency;
    if (same_epoch) {
        statements = cur.statements >= prev.statements ? cur.statements - prev.statements : 0;
        rejected = cur.rejected >= prev.rejected ? cur.rejected - prev.rejected : 0;
        histogram_subtract(scratch, prev.latency);
    }
    double seconds = prev.at != 0 ? static_cast<double>(cur.at - prev.at) / 1e6 : 0.0;
    s.statements_per_s = seconds > 0 ? static_cast<double>(statements) / seconds : 0.0;
    s.rejected = rejected;
    double p95 = histogram_quantile(scratch, 0.95, cur.max_ns);
    s.p95_ms = p95 < 0 ? -1.0 : p95 / 1e6;
    return s;
}

}  // namespace poolgov
