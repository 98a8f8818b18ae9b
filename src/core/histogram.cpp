#include "poolgov/no_postgres.hpp"
#include "poolgov/histogram.hpp"

#include "poolgov/atomics.hpp"

#include <cmath>

namespace poolgov {

namespace {
constexpr int kSub = Histogram::kSub;
constexpr int kSubBits = Histogram::kSubBits;
}  // namespace

int histogram_bucket(uint64_t value)
{
    if (value < static_cast<uint64_t>(kSub))
        return static_cast<int>(value);
    int exp = 63 - __builtin_clzll(value);
    if (exp > Histogram::kMaxExp)
        return Histogram::kBuckets - 1;
    int sub = static_cast<int>((value >> (exp - kSubBits)) & (kSub - 1));
    return kSub + (exp - kSubBits) * kSub + sub;
}

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

void histogram_add(Histogram &h, uint64_t value)
{
    atomic::owner_add(h.counts[histogram_bucket(value)], uint64_t{1});
}

void histogram_merge(Histogram &dst, const Histogram &src)
{
    for (int i = 0; i < Histogram::kBuckets; ++i)
        dst.counts[i] += atomic::load(src.counts[i]);
}

void histogram_subtract(Histogram &dst, const Histogram &src)
{
    for (int i = 0; i < Histogram::kBuckets; ++i)
        dst.counts[i] = dst.counts[i] > src.counts[i] ? dst.counts[i] - src.counts[i] : 0;
}

uint64_t histogram_total(const Histogram &h)
{
    uint64_t n = 0;
    for (uint64_t c : h.counts)
        n += c;
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
    for (int i = 0; i < Histogram::kBuckets; ++i) {
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
