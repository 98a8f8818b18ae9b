#include "poolgov/history.hpp"

#include "poolgov/no_postgres.hpp"

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
    s.errors = cur.errors;
    s.slow = cur.slow;
    s.adm_waited = cur.adm_waited;
    s.adm_wait_us = cur.adm_wait_us;
    scratch = cur.latency;
    auto delta = [](uint64_t c, uint64_t p) { return c >= p ? c - p : 0; };
    if (same_epoch) {
        statements = delta(cur.statements, prev.statements);
        rejected = delta(cur.rejected, prev.rejected);
        s.errors = delta(cur.errors, prev.errors);
        s.slow = delta(cur.slow, prev.slow);
        s.adm_waited = delta(cur.adm_waited, prev.adm_waited);
        s.adm_wait_us = delta(cur.adm_wait_us, prev.adm_wait_us);
        histogram_subtract(scratch, prev.latency);
    }
    s.statements = statements;
    s.interval_us = prev.at != 0 && cur.at > prev.at ? cur.at - prev.at : 0;
    double seconds = prev.at != 0 ? static_cast<double>(cur.at - prev.at) / 1e6 : 0.0;
    s.statements_per_s = seconds > 0 ? static_cast<double>(statements) / seconds : 0.0;
    s.rejected = rejected;
    double p95 = histogram_quantile(scratch, 0.95, cur.max_ns);
    s.p95_ms = p95 < 0 ? -1.0 : p95 / 1e6;
    return s;
}

}  // namespace poolgov
