// Statement counters: what one backend, one role or one database has run.
//
// A backend writes its own StmtCounters (in its connection slot) with no lock,
// inside a ChangeCount; readers copy them consistently and add up per role and
// per database. When the backend exits, its counters are added to the
// "retired" counters of its role and database under the main lock, so a sum
// of retired + live never loses or double-counts a statement.
#pragma once

#include "poolgov/histogram.hpp"

#include <cstdint>
#include <type_traits>

namespace poolgov {

struct StmtCounters {
    uint64_t statements;  // completed statements
    uint64_t errors;      // statements that started executing and aborted
    uint64_t rows;        // rows processed by completed statements
    uint64_t slow;        // completed statements at or over the threshold
    uint64_t total_ns;    // execution time of completed statements
    uint64_t max_ns;
    uint64_t admitted;            // transactions admission control let run
    uint64_t admission_timeouts;  // waits that ended in 53000
    uint64_t idle_terminated;     // 1 when pg_poolgov ended this idle session
    Histogram latency;
};
static_assert(std::is_trivially_copyable_v<StmtCounters>);  // in shared memory

// Owner-side updates (single writer, concurrent readers allowed).
// Can a statement of this duration be recorded by stmt_record_in_range()?
// Its histogram bucket (histogram_bucket(duration_ns)) is in the range in
// use (no widening).
inline bool stmt_bucket_in_range(const StmtCounters &c, uint32_t bucket)
{
    return bucket < atomic::load(c.latency.hi) && bucket >= atomic::load(c.latency.lo);
}

// A completed statement that is not slow, whose bucket is in range (the
// statement path's common case, with no call); `admitted` adds transactions
// admitted since the last write (admission control's fast path folds its
// count into the statement's record: one write instead of two).
__attribute__((always_inline)) inline void stmt_record_in_range(StmtCounters &c,
                                                                uint64_t duration_ns, uint64_t rows,
                                                                uint64_t admitted, uint32_t bucket)
{
    atomic::owner_add(c.statements, uint64_t{1});
    atomic::owner_add(c.rows, rows);
    atomic::owner_add(c.total_ns, duration_ns);
    if (admitted != 0)
        atomic::owner_add(c.admitted, admitted);
    atomic::owner_max(c.max_ns, duration_ns);
    atomic::owner_add(c.latency.counts[bucket], uint64_t{1});
}

// A completed statement.
__attribute__((always_inline)) inline void stmt_record(StmtCounters &c, uint64_t duration_ns,
                                                       uint64_t rows, bool slow,
                                                       uint64_t admitted = 0)
{
    auto bucket = static_cast<uint32_t>(histogram_bucket(duration_ns));
    if (!stmt_bucket_in_range(c, bucket)) [[unlikely]]  // also when empty (hi = 0)
        histogram_widen(c.latency, bucket, bucket + 1);
    if (slow) [[unlikely]]
        atomic::owner_add(c.slow, uint64_t{1});
    stmt_record_in_range(c, duration_ns, rows, admitted, bucket);
}
void stmt_record_error(StmtCounters &c);
void stmt_record_admission(StmtCounters &c, bool timed_out);
void stmt_record_idle_terminated(StmtCounters &c);
// Owner-side reset to zero, writing only what is in use.
void stmt_clear(StmtCounters &c);

// Zero counters and an empty histogram, writing only the header (not the
// 10 kB of buckets): the buckets outside [lo, hi) are never read, and a
// merge zeroes those it brings into range. For private copies (views).
void stmt_reset_header(StmtCounters &c);

// dst += src; src is read with atomic loads, dst is private.
void stmt_merge(StmtCounters &dst, const StmtCounters &src);
// dst = src, reading src with atomic loads.
void stmt_copy(StmtCounters &dst, const StmtCounters &src);

// Summary in milliseconds for the views; negative quantiles mean "no data".
struct StmtSummary {
    uint64_t statements, errors, rows, slow;
    double total_ms, mean_ms, max_ms, p50_ms, p95_ms, p99_ms;
};
StmtSummary stmt_summarize(const StmtCounters &c);

}  // namespace poolgov
