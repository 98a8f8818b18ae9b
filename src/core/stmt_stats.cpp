#include "poolgov/stmt_stats.hpp"

#include "poolgov/atomics.hpp"

#include <cstddef>
#include <cstring>
#include <initializer_list>

#include "poolgov/no_postgres.hpp"

namespace poolgov {

void stmt_record_error(StmtCounters &c) { atomic::owner_add(c.errors, uint64_t{1}); }

void stmt_record_admission(StmtCounters &c, bool timed_out)
{
    atomic::owner_add(timed_out ? c.admission_timeouts : c.admitted, uint64_t{1});
}

void stmt_record_idle_terminated(StmtCounters &c)
{
    atomic::owner_add(c.idle_terminated, uint64_t{1});
}

void stmt_clear(StmtCounters &c)
{
    for (uint64_t *f : {&c.statements, &c.errors, &c.rows, &c.slow, &c.total_ns, &c.max_ns,
                        &c.admitted, &c.admission_timeouts, &c.idle_terminated})
        atomic::store(*f, uint64_t{0});
    histogram_clear(c.latency);
}

void stmt_reset_header(StmtCounters &c)
{
    std::memset(&c, 0, offsetof(StmtCounters, latency) + offsetof(Histogram, counts));
}

void stmt_merge(StmtCounters &dst, const StmtCounters &src)
{
    dst.statements += atomic::load(src.statements);
    dst.errors += atomic::load(src.errors);
    dst.rows += atomic::load(src.rows);
    dst.slow += atomic::load(src.slow);
    dst.total_ns += atomic::load(src.total_ns);
    dst.admitted += atomic::load(src.admitted);
    dst.admission_timeouts += atomic::load(src.admission_timeouts);
    dst.idle_terminated += atomic::load(src.idle_terminated);
    uint64_t m = atomic::load(src.max_ns);
    if (m > dst.max_ns)
        dst.max_ns = m;
    histogram_merge(dst.latency, src.latency);
}

void stmt_copy(StmtCounters &dst, const StmtCounters &src)
{
    dst = StmtCounters{};
    stmt_merge(dst, src);
}

StmtSummary stmt_summarize(const StmtCounters &c)
{
    constexpr double kNsPerMs = 1e6;
    StmtSummary s{};
    s.statements = c.statements;
    s.errors = c.errors;
    s.rows = c.rows;
    s.slow = c.slow;
    s.total_ms = static_cast<double>(c.total_ns) / kNsPerMs;
    s.mean_ms = c.statements ? s.total_ms / static_cast<double>(c.statements) : -1.0;
    s.max_ms = c.statements ? static_cast<double>(c.max_ns) / kNsPerMs : -1.0;
    auto q = [&](double p) {
        double v = histogram_quantile(c.latency, p, c.max_ns);
        return v < 0 ? -1.0 : v / kNsPerMs;
    };
    s.p50_ms = q(0.50);
    s.p95_ms = q(0.95);
    s.p99_ms = q(0.99);
    return s;
}

}  // namespace poolgov
