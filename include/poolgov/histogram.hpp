// Log-linear latency histogram: plain counts in a fixed array, so it can live
// in shared memory, be merged by addition and be copied field by field.
//
// Values are nanoseconds. Values below 32 ns each get their own bucket; above,
// every power of two is split into 32 equal sub-buckets. A quantile is
// reported as the midpoint of its bucket, so its relative error is at most
// 1/64 (1.6 %) of the true order statistic, for any data. Values of 2^46 ns
// (19.5 hours) and more land in the last bucket; quantiles are clamped to the
// exact maximum, which the caller keeps.
//
// poolgov.metrics() turns these buckets into Prometheus' cumulative ones
// over fixed bounds (prometheus.hpp): each bound becomes the nearest internal
// bucket edge, within 0.7 % of it for the bounds used (table in
// docs/monitoring.md).
//
// lo/hi bound the buckets in use, so that copying, merging and zeroing touch
// only those: a histogram in shared memory spans three pages, and a new
// backend's first touch of a shared page is a page fault.
#pragma once

#include "poolgov/atomics.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace poolgov {

struct Histogram {
    static constexpr int kSubBits = 5;
    static constexpr int kSub = 1 << kSubBits;  // sub-buckets per octave
    static constexpr int kMaxExp = 45;          // last octave [2^45, 2^46)
    static constexpr int kBuckets = kSub + (kMaxExp - kSubBits + 1) * kSub;

    uint32_t lo;  // first bucket in use (meaningful when hi > 0)
    uint32_t hi;  // one past the last bucket in use; 0 = empty
    uint64_t counts[kBuckets];
};
static_assert(std::is_trivially_copyable_v<Histogram>);  // in shared memory

// Bucket index of a value (nanoseconds). Inline, with histogram_add: both
// run once per statement.
inline int histogram_bucket(uint64_t value)
{
    // With e = exp - kSubBits, value >> e is 32 + the sub-bucket, so the
    // bucket is e * 32 + (value >> e); below 64, e is 0 and the bucket is
    // the value itself. No branch but the last octave's.
    constexpr int kSubBits = Histogram::kSubBits;
    int exp = 63 ^ __builtin_clzll(value | 1);  // floor(log2), bsr
    if (exp > Histogram::kMaxExp) [[unlikely]]
        return Histogram::kBuckets - 1;
    int e = exp > kSubBits ? exp - kSubBits : 0;
    return (e << kSubBits) + static_cast<int>(value >> e);
}
// Inclusive lower and exclusive upper bound of a bucket.
uint64_t histogram_bucket_lower(int bucket);
uint64_t histogram_bucket_upper(int bucket);

// Widens the buckets in use, [lo, hi), to cover [from, to); owner side.
void histogram_widen(Histogram &h, uint32_t from, uint32_t to);

// Owner-side increment; safe against concurrent readers. The bucket is
// usually in use already: the range is widened only when it is not.
inline void histogram_add(Histogram &h, uint64_t value)
{
    auto b = static_cast<uint32_t>(histogram_bucket(value));
    uint32_t hi = atomic::load(h.hi);
    if (b >= hi || b < atomic::load(h.lo)) [[unlikely]]  // also when empty (hi = 0)
        histogram_widen(h, b, b + 1);
    atomic::owner_add(h.counts[b], uint64_t{1});
}
// Owner-side reset to empty, writing only the buckets in use.
void histogram_clear(Histogram &h);
// dst += src, reading src with atomic loads.
void histogram_merge(Histogram &dst, const Histogram &src);
// dst -= src (for per-interval deltas); counts never go below zero.
void histogram_subtract(Histogram &dst, const Histogram &src);
uint64_t histogram_total(const Histogram &h);

// Nearest-rank quantile q in [0, 1], in nanoseconds, clamped to max_value.
// Returns a negative number for an empty histogram.
double histogram_quantile(const Histogram &h, double q, uint64_t max_value);

}  // namespace poolgov
