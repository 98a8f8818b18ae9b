#include "poolgov/histogram.hpp"

#include "poolgov/atomics.hpp"

#include <cmath>

#include "poolgov/no_postgres.hpp"

namespace poolgov {

namespace {
constexpr int kSub = Histogram::kSub;
constexpr int kSubBits = Histogram::kSubBits;
}  // namespace

uint64_t histogram_bucket_lower(int bucket)
{
    if (bucket < kSub)
        return static_cast<uint64_t>(bucket);
    int exp = kSubBits + (bucket - kSub) / kSub;
    uint64_t sub = static_cast<uint64_t>((bucket - kSub) % kSub);
    return (kSub + sub) << (exp - kSubBits);
}

uint64_t histogram_bucket_upper(int bucket)
{
    if (bucket < kSub)
        return static_cast<uint64_t>(bucket) + 1;
    int exp = kSubBits + (bucket - kSub) / kSub;
    return histogram_bucket_lower(bucket) + (uint64_t{1} << (exp - kSubBits));
}

namespace {

// Zeroes counts[from, to) (buckets about to enter the range).
void zero(Histogram &h, uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i < to; ++i)
        atomic::store(h.counts[i], uint64_t{0});
}

// Widens [lo, hi) to cover [from, to); single writer. Buckets that enter
// the range are zeroed first, so only [lo, hi) needs to be valid: a copy
// may start from an empty header over unzeroed memory (the views'
// rollups, 11 kB a row). In shared memory those buckets are zero already.
void widen(Histogram &h, uint32_t from, uint32_t to)
{
    uint32_t hi = atomic::load(h.hi);
    if (hi == 0) {
        zero(h, from, to);
        atomic::store(h.lo, from);
        atomic::store(h.hi, to);
        return;
    }
    uint32_t lo = atomic::load(h.lo);
    if (from < lo) {
        zero(h, from, lo);
        atomic::store(h.lo, from);
    }
    if (to > hi) {
        zero(h, hi, to);
        atomic::store(h.hi, to);
    }
}

}  // namespace

void histogram_widen(Histogram &h, uint32_t from, uint32_t to) { widen(h, from, to); }

void histogram_clear(Histogram &h)
{
    uint32_t hi = atomic::load(h.hi);
    for (uint32_t i = hi ? atomic::load(h.lo) : 0; i < hi; ++i)
        atomic::store(h.counts[i], uint64_t{0});
    atomic::store(h.hi, 0u);
    atomic::store(h.lo, 0u);
}

void histogram_merge(Histogram &dst, const Histogram &src)
{
    uint32_t hi = atomic::load(src.hi);
    if (hi == 0)
        return;
    uint32_t lo = atomic::load(src.lo);
    widen(dst, lo, hi);
    for (uint32_t i = lo; i < hi; ++i)
        if (uint64_t c = atomic::load(src.counts[i]))
            dst.counts[i] += c;
}

void histogram_subtract(Histogram &dst, const Histogram &src)
{
    for (uint32_t i = dst.hi ? dst.lo : 0; i < dst.hi; ++i)
        dst.counts[i] = dst.counts[i] > src.counts[i] ? dst.counts[i] - src.counts[i] : 0;
}

uint64_t histogram_total(const Histogram &h)
{
    uint64_t n = 0;
    for (uint32_t i = h.hi ? h.lo : 0; i < h.hi; ++i)
        n += h.counts[i];
    return n;
}

double histogram_quantile(const Histogram &h, double q, uint64_t max_value)
{
    uint64_t n = histogram_total(h);
    if (n == 0)
        return -1.0;
    if (q < 0.0)
        q = 0.0;
    if (q > 1.0)
        q = 1.0;
    auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(n)));
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    int bucket = Histogram::kBuckets - 1;
    for (int i = static_cast<int>(h.lo); i < static_cast<int>(h.hi); ++i) {
        seen += h.counts[i];
        if (seen >= rank) {
            bucket = i;
            break;
        }
    }
    double cap = static_cast<double>(max_value);
    // The last bucket also holds everything beyond its range: report the
    // exact maximum there rather than a midpoint that may be far too low.
    if (bucket == Histogram::kBuckets - 1 && max_value >= histogram_bucket_upper(bucket))
        return cap;
    double estimate;
    if (bucket < kSub)
        estimate = static_cast<double>(bucket);
    else
        estimate = (static_cast<double>(histogram_bucket_lower(bucket)) +
                    static_cast<double>(histogram_bucket_upper(bucket))) /
                   2.0;
    return estimate > cap ? cap : estimate;
}

}  // namespace poolgov
