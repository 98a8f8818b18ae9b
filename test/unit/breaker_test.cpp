#include "poolgov/breaker.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

using namespace poolgov;

namespace {
constexpr int64_t kSec = 1000000;
const BreakerPolicy kPolicy{5, 30 * kSec, 30 * kSec};

std::unique_ptr<BreakerTable> table() { return std::make_unique<BreakerTable>(BreakerTable{}); }

FailureResult fail(BreakerTable &t, const std::string &role, const std::string &addr, int64_t now,
                   const BreakerPolicy &p = kPolicy, bool known = true)
{
    return breaker_record_failure(t, role.c_str(), addr.c_str(), known, now, p);
}

int64_t open_until(const BreakerTable &t, const char *role, const char *addr, int64_t now,
                   const BreakerPolicy &p = kPolicy)
{
    return breaker_open_until(t, role, addr, now, p);
}
}  // namespace

TEST(Breaker, OpensAfterMoreThanLimitFailuresInWindow)
{
    auto t = table();
    int64_t now = 1000 * kSec;
    for (int i = 1; i <= 5; ++i) {
        auto r = fail(*t, "app", "10.0.0.1", now + i);
        EXPECT_EQ(r.outcome, FailureOutcome::Counted);
        EXPECT_EQ(r.failures, i);
    }
    EXPECT_EQ(open_until(*t, "app", "10.0.0.1", now + 10), 0);
    auto r = fail(*t, "app", "10.0.0.1", now + 6);
    EXPECT_EQ(r.outcome, FailureOutcome::Opened);
    EXPECT_EQ(r.open_until, now + 6 + 30 * kSec);
    BreakerEntry copy{};
    EXPECT_EQ(breaker_open_until(*t, "app", "10.0.0.1", now + 7, kPolicy, &copy),
              now + 6 + 30 * kSec);
    // The entry keeps the numbers the refusal message reports.
    EXPECT_EQ(copy.failures, 6);
    EXPECT_EQ(copy.open_limit, 5);
    EXPECT_EQ(copy.open_window_us, 30 * kSec);
    EXPECT_EQ(copy.opened_at, now + 6);
    EXPECT_EQ(copy.window_start, now + 1);
    // Other address and other role are separate pairs.
    EXPECT_EQ(open_until(*t, "app", "10.0.0.2", now + 7), 0);
    EXPECT_EQ(open_until(*t, "other", "10.0.0.1", now + 7), 0);
    // While open, failures do not extend the lockout: it still ends 30 s
    // after the opening failure, to the microsecond.
    auto again = fail(*t, "app", "10.0.0.1", now + 8);
    EXPECT_EQ(again.outcome, FailureOutcome::AlreadyOpen);
    EXPECT_EQ(again.open_until, now + 6 + 30 * kSec);
    EXPECT_EQ(open_until(*t, "app", "10.0.0.1", now + 9), now + 6 + 30 * kSec);
    EXPECT_EQ(open_until(*t, "app", "10.0.0.1", now + 6 + 30 * kSec - 1), now + 6 + 30 * kSec);
    // After the lockout the pair is free again.
    EXPECT_EQ(open_until(*t, "app", "10.0.0.1", now + 6 + 30 * kSec), 0);
}

TEST(Breaker, FailuresOutsideTheWindowDoNotAccumulate)
{
    auto t = table();
    for (int i = 0; i < 20; ++i) {
        auto r = fail(*t, "app", "a", i * 10 * kSec);
        EXPECT_NE(r.outcome, FailureOutcome::Opened) << i;
    }
}

TEST(Breaker, SweepClosesExpiredLockoutsAndReportsThem)
{
    auto t = table();
    for (int i = 0; i < 6; ++i)
        fail(*t, "app", "a", kSec + i);
    fail(*t, "app", "b", kSec);
    std::string closed;
    auto note = [&](const BreakerEntry &e) { closed += e.addr; };
    EXPECT_EQ(breaker_sweep(*t, 10 * kSec, kPolicy, note), 0);
    EXPECT_EQ(breaker_sweep(*t, 40 * kSec, kPolicy, note), 1);
    EXPECT_EQ(closed, "a");
    EXPECT_EQ(t->used, 0u);  // the counting entry for "b" expired too
    // A closed pair counts from zero again.
    EXPECT_EQ(fail(*t, "app", "a", 41 * kSec).failures, 1);
}

TEST(Breaker, DisabledWithZeroLimit)
{
    auto t = table();
    BreakerPolicy off{0, kSec, kSec};
    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(fail(*t, "r", "a", i, off).outcome, FailureOutcome::Disabled);
    EXPECT_EQ(t->used, 0u);
}

// poolgov.auth_failure_limit = 0 turns the breaker off at once: an open
// breaker stops refusing, and the next sweep removes every entry.
TEST(Breaker, ZeroLimitReleasesOpenBreakersAtOnce)
{
    auto t = table();
    for (int i = 0; i < 6; ++i)
        fail(*t, "dba", kBreakerLocalAddr, kSec + i);
    fail(*t, "app", "b", kSec);
    ASSERT_NE(open_until(*t, "dba", kBreakerLocalAddr, 2 * kSec), 0);
    BreakerPolicy off{0, 30 * kSec, 30 * kSec};
    EXPECT_EQ(open_until(*t, "dba", kBreakerLocalAddr, 2 * kSec, off), 0);
    int closed = 0;
    EXPECT_EQ(breaker_sweep(*t, 2 * kSec, off, [&](const BreakerEntry &) { ++closed; }), 1);
    EXPECT_EQ(closed, 1);
    EXPECT_EQ(t->used, 0u);
    // Turned on again, the pair starts from zero.
    EXPECT_EQ(fail(*t, "dba", kBreakerLocalAddr, 3 * kSec).outcome, FailureOutcome::Counted);
}

// A changed poolgov.auth_lockout applies to breakers already open: the end
// is opened_at + the lockout now in force, shorter or longer.
TEST(Breaker, LockoutChangeAppliesToOpenBreakers)
{
    auto t = table();
    for (int i = 0; i < 6; ++i)
        fail(*t, "app", "a", 100 * kSec);
    BreakerPolicy shorter{5, 30 * kSec, 5 * kSec};
    BreakerPolicy longer{5, 30 * kSec, 600 * kSec};
    EXPECT_EQ(open_until(*t, "app", "a", 101 * kSec), 130 * kSec);
    EXPECT_EQ(open_until(*t, "app", "a", 101 * kSec, shorter), 105 * kSec);
    EXPECT_EQ(open_until(*t, "app", "a", 106 * kSec, shorter), 0);
    EXPECT_EQ(open_until(*t, "app", "a", 400 * kSec, longer), 700 * kSec);
    // The sweep uses the new lockout too.
    EXPECT_EQ(breaker_sweep(*t, 106 * kSec, shorter, [](const BreakerEntry &) {}), 1);
    EXPECT_EQ(t->used, 0u);
}

TEST(Breaker, ClearByRoleAddressOrAll)
{
    auto t = table();
    for (int i = 0; i < 6; ++i) {
        fail(*t, "app", "a", kSec);
        fail(*t, "app", "b", kSec);
        fail(*t, "dba", "a", kSec);
    }
    fail(*t, "dba", kBreakerLocalAddr, kSec);
    int open = -1;
    EXPECT_EQ(breaker_clear(*t, "nobody", nullptr, 2 * kSec, kPolicy, &open), 0);
    EXPECT_EQ(open, 0);
    EXPECT_EQ(breaker_clear(*t, "app", "a", 2 * kSec, kPolicy, &open), 1);
    EXPECT_EQ(open, 1);
    EXPECT_EQ(open_until(*t, "app", "a", 2 * kSec), 0);
    EXPECT_NE(open_until(*t, "app", "b", 2 * kSec), 0);
    EXPECT_EQ(breaker_clear(*t, nullptr, "a", 2 * kSec, kPolicy, &open), 1);    // dba from a
    EXPECT_EQ(breaker_clear(*t, "dba", nullptr, 2 * kSec, kPolicy, &open), 1);  // dba local
    EXPECT_EQ(open, 0);
    EXPECT_EQ(breaker_clear(*t, nullptr, nullptr, 2 * kSec, kPolicy, &open), 1);
    EXPECT_EQ(open, 1);
    EXPECT_EQ(t->used, 0u);
    // A cleared pair counts from zero.
    EXPECT_EQ(fail(*t, "app", "a", 3 * kSec).failures, 1);
}

TEST(Breaker, CyclingAddressesCannotEvictOpenBreakersOfOthers)
{
    auto t = table();
    int64_t now = 100 * kSec;
    for (int i = 0; i < 6; ++i)
        fail(*t, "victim", "1.1.1.1", now);
    ASSERT_NE(open_until(*t, "victim", "1.1.1.1", now), 0);
    // An attacker fails once from many addresses, far more than the table
    // holds: the counting entries evict each other, never the open one.
    for (int i = 0; i < 5 * kBreakerEntries; ++i)
        fail(*t, "victim", "10.9." + std::to_string(i), now + 1);
    EXPECT_NE(open_until(*t, "victim", "1.1.1.1", now + 2), 0);
    EXPECT_EQ(t->used, static_cast<uint32_t>(kBreakerEntries));
    EXPECT_EQ(t->untracked, 0u);
    EXPECT_EQ(t->evicted, static_cast<uint64_t>(4 * kBreakerEntries + 1));
}

// The failure mode of the unfixed table: invented names opened entries that
// were never evicted, and once they filled the table a real role was no
// longer tracked (unlimited guesses).
TEST(Breaker, InventedNamesCannotCrowdOutRealRoles)
{
    auto t = table();
    BreakerPolicy p{1, 30 * kSec, 30 * kSec};
    for (int i = 0; i < 1500; ++i) {
        std::string ghost = "ghost" + std::to_string(i);
        fail(*t, ghost, "10.0.0.1", kSec + i, p, false);
        fail(*t, ghost, "10.0.0.1", kSec + i, p, false);
    }
    EXPECT_EQ(t->unknown_used, static_cast<uint32_t>(kBreakerUnknownEntries));
    EXPECT_EQ(t->used, static_cast<uint32_t>(kBreakerUnknownEntries));
    // Every unknown entry is open: further invented names are not tracked.
    EXPECT_EQ(t->untracked, 2u * (1500 - kBreakerUnknownEntries));
    // The first invented names are still locked out.
    EXPECT_NE(open_until(*t, "ghost0", "10.0.0.1", kSec + 2000, p), 0);
    // A real role is tracked and opens after its limit.
    EXPECT_EQ(fail(*t, "app", "10.0.0.1", 2 * kSec, p).outcome, FailureOutcome::Counted);
    EXPECT_EQ(fail(*t, "app", "10.0.0.1", 2 * kSec, p).outcome, FailureOutcome::Opened);
    EXPECT_NE(open_until(*t, "app", "10.0.0.1", 2 * kSec + 1, p), 0);
}

TEST(Breaker, InventedNamesEvictEachOtherNotRealRoles)
{
    auto t = table();
    for (int i = 0; i < 3; ++i)
        fail(*t, "app", "10.0.0.1", kSec);
    for (int i = 0; i < 5000; ++i)
        fail(*t, "ghost" + std::to_string(i), "10.0.0.1", kSec + i, kPolicy, false);
    EXPECT_EQ(t->unknown_used, static_cast<uint32_t>(kBreakerUnknownEntries));
    EXPECT_EQ(t->evicted, 5000u - kBreakerUnknownEntries);
    EXPECT_EQ(t->untracked, 0u);
    // The real role kept its count.
    EXPECT_EQ(fail(*t, "app", "10.0.0.1", 2 * kSec).failures, 4);
}

TEST(Breaker, RealRolesEvictUnknownEntriesFirst)
{
    auto t = table();
    BreakerPolicy p{1, 30 * kSec, 30 * kSec};
    // 256 open unknown entries, then real roles fill the rest of the table.
    for (int i = 0; i < kBreakerUnknownEntries; ++i) {
        fail(*t, "ghost" + std::to_string(i), "a", kSec, p, false);
        fail(*t, "ghost" + std::to_string(i), "a", kSec, p, false);
    }
    for (int i = 0; i < kBreakerEntries - kBreakerUnknownEntries; ++i)
        fail(*t, "app", "r" + std::to_string(i), kSec + i, p);
    ASSERT_EQ(t->used, static_cast<uint32_t>(kBreakerEntries));
    // A new real pair takes an open unknown entry before any real one.
    EXPECT_EQ(fail(*t, "app", "new", 2 * kSec, p).outcome, FailureOutcome::Counted);
    EXPECT_EQ(t->unknown_used, static_cast<uint32_t>(kBreakerUnknownEntries - 1));
    EXPECT_EQ(fail(*t, "app", "r0", 2 * kSec, p).failures, 2);  // still counted
    EXPECT_EQ(t->evicted, 1u);
}

// A table full of open real-role breakers does not fail open for the next
// real pair: the lockout that ends first is evicted instead.
TEST(Breaker, FullTableOfOpenBreakersStillTracksRealRoles)
{
    auto t = table();
    BreakerPolicy p{1, 30 * kSec, 30 * kSec};
    for (int i = 0; i < kBreakerEntries; ++i) {
        std::string a = "a" + std::to_string(i);
        fail(*t, "r", a, kSec + i, p);
        ASSERT_EQ(fail(*t, "r", a, kSec + i, p).outcome, FailureOutcome::Opened);
    }
    EXPECT_EQ(fail(*t, "r", "new", 2 * kSec, p).outcome, FailureOutcome::Counted);
    EXPECT_EQ(t->untracked, 0u);
    EXPECT_EQ(t->evicted, 1u);
    EXPECT_EQ(open_until(*t, "r", "a0", 2 * kSec, p), 0);  // it ended first
    EXPECT_NE(open_until(*t, "r", "a1", 2 * kSec, p), 0);
    EXPECT_EQ(fail(*t, "r", "new", 2 * kSec, p).outcome, FailureOutcome::Opened);
    // Invented names find no room in a table of open real-role entries.
    EXPECT_EQ(fail(*t, "ghost", "x", 2 * kSec, p, false).outcome, FailureOutcome::Untracked);
    EXPECT_EQ(t->untracked, 1u);
}

TEST(Breaker, EvictsOldestCountingEntryWhenFull)
{
    auto t = table();
    for (int i = 0; i < kBreakerEntries; ++i)
        fail(*t, "r", "a" + std::to_string(i), kSec + i);
    fail(*t, "r", "fresh", kSec + kBreakerEntries);
    // a0 had the oldest failure and was evicted; a1 is still counted.
    EXPECT_EQ(fail(*t, "r", "a0", kSec + kBreakerEntries + 1).failures, 1);
    EXPECT_EQ(fail(*t, "r", "fresh", kSec + kBreakerEntries + 2).failures, 2);
}

// A login without a client address (unix socket) is keyed "local", and
// such a key stands for no client address.
TEST(Breaker, UnixSocketLoginsShareTheLocalAddressKey)
{
    EXPECT_STREQ(breaker_key_addr(""), "local");
    EXPECT_STREQ(breaker_key_addr(nullptr), "local");
    EXPECT_STREQ(breaker_key_addr("10.0.0.7"), "10.0.0.7");
    EXPECT_EQ(breaker_client_addr(kBreakerLocalAddr), nullptr);
    EXPECT_STREQ(breaker_client_addr("::1"), "::1");
    auto t = table();
    fail(*t, "app", breaker_key_addr(""), kSec);
    EXPECT_EQ(fail(*t, "app", breaker_key_addr(nullptr), kSec).failures, 2);
}
