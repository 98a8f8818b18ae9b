#include "poolgov/histogram.hpp"
#include "poolgov/stmt_stats.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

using namespace poolgov;

namespace {

std::unique_ptr<Histogram> make() { return std::make_unique<Histogram>(Histogram{}); }

// Nearest-rank quantile of the exact data.
double exact_quantile(std::vector<uint64_t> v, double q)
{
    std::sort(v.begin(), v.end());
    auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    if (rank == 0)
        rank = 1;
    return static_cast<double>(v[rank - 1]);
}

void expect_close(const std::vector<uint64_t> &data, double q)
{
    auto h = make();
    uint64_t max = 0;
    for (uint64_t x : data) {
        histogram_add(*h, x);
        max = std::max(max, x);
    }
    double exact = exact_quantile(data, q);
    double est = histogram_quantile(*h, q, max);
    if (exact < 32) {
        EXPECT_EQ(est, exact) << "q=" << q;
    } else {
        EXPECT_LE(std::fabs(est - exact) / exact, 1.0 / 64 + 1e-12)
            << "q=" << q << " exact=" << exact << " est=" << est;
    }
}

}  // namespace

TEST(Histogram, BucketsAreContiguousAndOrdered)
{
    uint64_t expect_lower = 0;
    for (int b = 0; b < Histogram::kBuckets; ++b) {
        ASSERT_EQ(histogram_bucket_lower(b), expect_lower) << b;
        ASSERT_GT(histogram_bucket_upper(b), histogram_bucket_lower(b));
        ASSERT_EQ(histogram_bucket(histogram_bucket_lower(b)), b);
        ASSERT_EQ(histogram_bucket(histogram_bucket_upper(b) - 1), b);
        expect_lower = histogram_bucket_upper(b);
    }
    EXPECT_EQ(expect_lower, uint64_t{1} << (Histogram::kMaxExp + 1));
}

TEST(Histogram, BucketWidthBoundsRelativeError)
{
    for (int b = Histogram::kSub; b < Histogram::kBuckets; ++b) {
        double lo = static_cast<double>(histogram_bucket_lower(b));
        double width = static_cast<double>(histogram_bucket_upper(b)) - lo;
        ASSERT_LE(width / lo, 1.0 / 32 + 1e-12);
    }
}

TEST(Histogram, EmptyHasNoQuantile)
{
    auto h = make();
    EXPECT_LT(histogram_quantile(*h, 0.5, 0), 0.0);
    EXPECT_EQ(histogram_total(*h), 0u);
}

TEST(Histogram, OneValue)
{
    for (uint64_t v : {uint64_t{0}, uint64_t{7}, uint64_t{31}, uint64_t{32}, uint64_t{1000},
                       uint64_t{123456789}}) {
        for (double q : {0.0, 0.5, 0.99, 1.0})
            expect_close({v}, q);
    }
}

TEST(Histogram, AllEqual)
{
    std::vector<uint64_t> data(10000, 2500000);  // 2.5 ms
    for (double q : {0.01, 0.5, 0.95, 0.99})
        expect_close(data, q);
}

TEST(Histogram, RandomLogNormal)
{
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(13.0, 2.0);  // around 0.4 ms, wide
    std::vector<uint64_t> data;
    for (int i = 0; i < 200000; ++i)
        data.push_back(static_cast<uint64_t>(dist(rng)));
    for (double q : {0.001, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0})
        expect_close(data, q);
}

TEST(Histogram, AdversarialBucketEdges)
{
    // Values sitting right at bucket bounds, where a midpoint is furthest off.
    std::vector<uint64_t> data;
    for (int b = Histogram::kSub; b < Histogram::kBuckets; b += 7) {
        data.push_back(histogram_bucket_lower(b));
        data.push_back(histogram_bucket_upper(b) - 1);
    }
    for (double q = 0.0; q <= 1.0; q += 0.01)
        expect_close(data, q);
}

TEST(Histogram, HugeValuesClampToMax)
{
    auto h = make();
    uint64_t huge = uint64_t{1} << 60;
    histogram_add(*h, 1000);
    histogram_add(*h, huge);
    histogram_add(*h, ~uint64_t{0});
    EXPECT_EQ(histogram_bucket(huge), Histogram::kBuckets - 1);
    EXPECT_EQ(histogram_quantile(*h, 1.0, ~uint64_t{0}), static_cast<double>(~uint64_t{0}));
    EXPECT_NEAR(histogram_quantile(*h, 0.2, ~uint64_t{0}), 1000.0, 1000.0 / 64);
}

TEST(Histogram, MergeEqualsCombinedData)
{
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<uint64_t> d(1, 50000000);
    auto a = make(), b = make(), all = make();
    for (int i = 0; i < 50000; ++i) {
        uint64_t x = d(rng);
        histogram_add(i % 3 ? *a : *b, x);
        histogram_add(*all, x);
    }
    histogram_merge(*a, *b);
    for (int i = 0; i < Histogram::kBuckets; ++i)
        ASSERT_EQ(a->counts[i], all->counts[i]);
    histogram_subtract(*a, *b);
    EXPECT_EQ(histogram_total(*a), 50000u - histogram_total(*b));
}

TEST(Histogram, TracksTheBucketsInUse)
{
    auto h = make();
    EXPECT_EQ(h->hi, 0u);
    histogram_add(*h, 5000);
    histogram_add(*h, 70);
    histogram_add(*h, 900000);
    EXPECT_EQ(h->lo, static_cast<uint32_t>(histogram_bucket(70)));
    EXPECT_EQ(h->hi, static_cast<uint32_t>(histogram_bucket(900000)) + 1);
    auto m = make();
    histogram_add(*m, 1);
    histogram_merge(*m, *h);  // the range widens to cover both
    EXPECT_EQ(m->lo, 1u);
    EXPECT_EQ(m->hi, h->hi);
    EXPECT_EQ(histogram_total(*m), 4u);
    histogram_clear(*h);
    EXPECT_EQ(h->hi, 0u);
    EXPECT_EQ(histogram_total(*h), 0u);
    for (uint64_t c : h->counts)
        ASSERT_EQ(c, 0u);     // cleared, not just marked empty
    histogram_merge(*m, *h);  // merging an empty histogram changes nothing
    EXPECT_EQ(histogram_total(*m), 4u);
}

TEST(StmtStats, ClearZeroesEverything)
{
    auto c = std::make_unique<StmtCounters>(StmtCounters{});
    stmt_record(*c, 123456, 3, true);
    stmt_record_error(*c);
    stmt_clear(*c);
    StmtCounters zero{};
    EXPECT_EQ(std::memcmp(c.get(), &zero, sizeof(zero)), 0);
}

TEST(StmtStats, RecordAndSummarize)
{
    auto c = std::make_unique<StmtCounters>(StmtCounters{});
    stmt_record(*c, 1000000, 5, false);   // 1 ms
    stmt_record(*c, 3000000, 1, false);   // 3 ms
    stmt_record(*c, 200000000, 0, true);  // 200 ms, slow
    stmt_record_error(*c);
    StmtSummary s = stmt_summarize(*c);
    EXPECT_EQ(s.statements, 3u);
    EXPECT_EQ(s.errors, 1u);
    EXPECT_EQ(s.rows, 6u);
    EXPECT_EQ(s.slow, 1u);
    EXPECT_DOUBLE_EQ(s.total_ms, 204.0);
    EXPECT_DOUBLE_EQ(s.mean_ms, 68.0);
    EXPECT_DOUBLE_EQ(s.max_ms, 200.0);
    EXPECT_NEAR(s.p50_ms, 3.0, 3.0 / 64);
    EXPECT_NEAR(s.p99_ms, 200.0, 200.0 / 64);
}

TEST(StmtStats, EmptySummaryHasNoLatency)
{
    StmtCounters c{};
    StmtSummary s = stmt_summarize(c);
    EXPECT_EQ(s.statements, 0u);
    EXPECT_LT(s.mean_ms, 0);
    EXPECT_LT(s.p95_ms, 0);
}
