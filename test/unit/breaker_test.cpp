#include "poolgov/breaker.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

using namespace poolgov;

namespace {
constexpr int64_t kSec = 1000000;
const BreakerPolicy kPolicy{5, 30 * kSec, 30 * kSec};

std::unique_ptr<BreakerTable> table()
{
    return std::make_unique<BreakerTable>(BreakerTable{});
}
}  // namespace

TEST(Breaker, OpensAfterMoreThanLimitFailuresInWindow)
{
    auto t = table();
    int64_t now = 1000 * kSec;
    for (int i = 1; i <= 5; ++i) {
        auto r = breaker_record_failure(*t, "app", "10.0.0.1", now + i, kPolicy);
        EXPECT_EQ(r.outcome, FailureOutcome::Counted);
        EXPECT_EQ(r.failures, i);
    }
    EXPECT_EQ(breaker_open_until(*t, "app", "10.0.0.1", now + 10), 0);
    auto r = breaker_record_failure(*t, "app", "10.0.0.1", now + 6, kPolicy);
    EXPECT_EQ(r.outcome, FailureOutcome::Opened);
    EXPECT_EQ(r.open_until, now + 6 + 30 * kSec);
    EXPECT_EQ(breaker_open_until(*t, "app", "10.0.0.1", now + 7), now + 6 + 30 * kSec);
    // Other address and other role are separate pairs.
    EXPECT_EQ(breaker_open_until(*t, "app", "10.0.0.2", now + 7), 0);
    EXPECT_EQ(breaker_open_until(*t, "other", "10.0.0.1", now + 7), 0);
    // While open, failures do not extend the lockout.
    EXPECT_EQ(breaker_record_failure(*t, "app", "10.0.0.1", now + 8, kPolicy).outcome,
              FailureOutcome::AlreadyOpen);
    // After the lockout the pair is free again.
    EXPECT_EQ(breaker_open_until(*t, "app", "10.0.0.1", now + 31 * kSec), 0);
}

TEST(Breaker, FailuresOutsideTheWindowDoNotAccumulate)
{
    auto t = table();
    for (int i = 0; i < 20; ++i) {
        auto r = breaker_record_failure(*t, "app", "a", i * 10 * kSec, kPolicy);
        EXPECT_NE(r.outcome, FailureOutcome::Opened) << i;
    }
}

TEST(Breaker, SweepClosesExpiredLockoutsAndReportsThem)
{
    auto t = table();
    for (int i = 0; i < 6; ++i)
        breaker_record_failure(*t, "app", "a", kSec + i, kPolicy);
    breaker_record_failure(*t, "app", "b", kSec, kPolicy);
    std::string closed;
    EXPECT_EQ(breaker_sweep(*t, 10 * kSec, kPolicy.window_us,
                            [&](const BreakerEntry &e) { closed += e.addr; }),
              0);
    EXPECT_EQ(breaker_sweep(*t, 40 * kSec, kPolicy.window_us,
                            [&](const BreakerEntry &e) { closed += e.addr; }),
              1);
    EXPECT_EQ(closed, "a");
    EXPECT_EQ(t->used, 0u);  // the counting entry for "b" expired too
    // A closed pair counts from zero again.
    EXPECT_EQ(breaker_record_failure(*t, "app", "a", 41 * kSec, kPolicy).failures, 1);
}

TEST(Breaker, DisabledWithZeroLimit)
{
    auto t = table();
    BreakerPolicy off{0, kSec, kSec};
    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(breaker_record_failure(*t, "r", "a", i, off).outcome, FailureOutcome::Disabled);
    EXPECT_EQ(t->used, 0u);
}

TEST(Breaker, CyclingAddressesCannotEvictOpenBreakers)
{
    auto t = table();
    int64_t now = 100 * kSec;
    for (int i = 0; i < 6; ++i)
        breaker_record_failure(*t, "victim", "1.1.1.1", now, kPolicy);
    ASSERT_NE(breaker_open_until(*t, "victim", "1.1.1.1", now), 0);
    // An attacker fails once from many addresses, far more than the table holds.
    for (int i = 0; i < 5 * kBreakerEntries; ++i)
        breaker_record_failure(*t, "victim", ("10.9." + std::to_string(i)).c_str(), now + 1,
                               kPolicy);
    EXPECT_NE(breaker_open_until(*t, "victim", "1.1.1.1", now + 2), 0);
    EXPECT_EQ(t->used, static_cast<uint32_t>(kBreakerEntries));
}

TEST(Breaker, FullTableOfOpenBreakersStopsTracking)
{
    auto t = table();
    BreakerPolicy p{0 + 1, 30 * kSec, 30 * kSec};
    for (int i = 0; i < kBreakerEntries; ++i) {
        std::string a = "a" + std::to_string(i);
        breaker_record_failure(*t, "r", a.c_str(), 1, p);
        ASSERT_EQ(breaker_record_failure(*t, "r", a.c_str(), 2, p).outcome,
                  FailureOutcome::Opened);
    }
    auto r = breaker_record_failure(*t, "r", "new", 3, p);
    EXPECT_EQ(r.outcome, FailureOutcome::Untracked);
    EXPECT_EQ(t->untracked, 1u);
    // Once the lockouts have passed there is room again.
    EXPECT_EQ(breaker_record_failure(*t, "r", "new", 40 * kSec, p).outcome,
              FailureOutcome::Counted);
}

TEST(Breaker, EvictsOldestCountingEntryWhenFull)
{
    auto t = table();
    for (int i = 0; i < kBreakerEntries; ++i)
        breaker_record_failure(*t, "r", ("a" + std::to_string(i)).c_str(), kSec + i, kPolicy);
    breaker_record_failure(*t, "r", "fresh", kSec + kBreakerEntries, kPolicy);
    // a0 had the oldest failure and was evicted; a1 is still counted.
    EXPECT_EQ(breaker_record_failure(*t, "r", "a0", kSec + kBreakerEntries + 1, kPolicy).failures,
              1);
    EXPECT_EQ(breaker_record_failure(*t, "r", "fresh", kSec + kBreakerEntries + 2, kPolicy)
                  .failures,
              2);
}
