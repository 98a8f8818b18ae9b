#include "poolgov/admission.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

using namespace poolgov;

namespace {

constexpr int64_t kSec = 1000000;

struct Fixture {
    AdmissionCounters counters{};
    std::vector<AdmissionEntry> entries;
    AdmissionLimits lim{2, 0, 0};
    int64_t now = 1000 * kSec;
    std::vector<int> woken;

    explicit Fixture(int n) : entries(n) {}
    AdmissionTable table() { return {&counters, entries.data(), static_cast<int>(entries.size())}; }

    bool enter(int i, uint8_t priority = 1, bool heavy = false, uint32_t cap_role = 0,
               int32_t cap = 0)
    {
        AdmissionRequest r{heavy, priority, 0, &cap_role, &cap};
        r.n_caps = cap_role ? 1 : 0;
        now += 1;
        return admission_enter(table(), i, r, lim, now);
    }
    std::vector<int> leave(int i)
    {
        int out[64];
        now += 1;
        int n = admission_leave(table(), i, lim, now, out, 64);
        return std::vector<int>(out, out + n);
    }
    std::vector<int> grant()
    {
        int out[64];
        int n = admission_grant(table(), lim, now, out, 64);
        return std::vector<int>(out, out + n);
    }
    bool running(int i) const
    {
        return entries[i].state == static_cast<uint32_t>(AdmState::Running);
    }
    bool queued(int i) const { return admission_waiting(entries[i]); }
};

using V = std::vector<int>;

}  // namespace

TEST(Admission, RunsUpToTheLimitThenQueues)
{
    Fixture f(5);
    EXPECT_TRUE(f.enter(0));
    EXPECT_TRUE(f.enter(1));
    EXPECT_FALSE(f.enter(2));
    EXPECT_FALSE(f.enter(3));
    EXPECT_EQ(f.counters.running, 2u);
    EXPECT_EQ(f.counters.queued, 2u);
    EXPECT_EQ(f.counters.admitted, 2u);
}

TEST(Admission, ReleaseHandsTheSlotToTheOldestWaiter)
{
    Fixture f(5);
    f.enter(0);
    f.enter(1);
    f.enter(2);
    f.enter(3);
    f.enter(4);
    EXPECT_EQ(f.leave(1), V{2});
    EXPECT_TRUE(f.running(2));
    EXPECT_EQ(f.leave(0), V{3});
    EXPECT_EQ(f.leave(2), V{4});
    EXPECT_EQ(f.leave(3), V{});
    EXPECT_EQ(f.counters.running, 1u);
    EXPECT_EQ(f.counters.queued, 0u);
    EXPECT_EQ(f.counters.admitted, 5u);
    EXPECT_EQ(f.counters.waited, 3u);
}

TEST(Admission, NewcomerDoesNotBargePastTheQueue)
{
    Fixture f(4);
    f.enter(0);
    f.enter(1);
    f.enter(2);  // waits
    // The limit rises (a reload): the waiter, not a newcomer, gets the room.
    f.lim.max_active = 3;
    EXPECT_FALSE(f.enter(3));
    EXPECT_EQ(f.grant(), V{2});
    EXPECT_TRUE(f.queued(3));
}

TEST(Admission, HigherPriorityFirstAndAgingPreventsStarvation)
{
    Fixture f(6);
    f.enter(0);
    f.enter(1);
    f.enter(2, 0);  // low
    f.enter(3, 1);  // normal
    f.enter(4, 2);  // high
    EXPECT_EQ(f.leave(0), V{4});
    EXPECT_EQ(f.leave(1), V{3});
    EXPECT_EQ(f.leave(4), V{2});

    Fixture g(4);
    g.lim = {1, 0, 1 * kSec};
    g.enter(0);
    g.enter(1, 0);      // low, waits
    g.now += 3 * kSec;  // low has aged to high
    g.enter(2, 2);      // a high newcomer queues behind it
    EXPECT_FALSE(g.running(2));
    EXPECT_EQ(g.leave(0), V{1});
}

TEST(Admission, RoleCapWithoutHeadOfLineBlocking)
{
    Fixture f(5);
    f.lim.max_active = 3;
    EXPECT_TRUE(f.enter(0, 1, false, 77, 1));   // role 77 may run one
    EXPECT_FALSE(f.enter(1, 1, false, 77, 1));  // held back by its cap only
    EXPECT_TRUE(f.enter(2));                    // another role passes it
    EXPECT_TRUE(f.enter(3));
    EXPECT_FALSE(f.enter(4));  // now the limit is reached
    EXPECT_EQ(admission_cap_usage(f.table(), 77), 1);
    // Entry 3 leaves: 4 gets it, since 1 is still capped.
    EXPECT_EQ(f.leave(3), V{4});
    // Entry 0 (role 77) leaves: 1 may run but the server is full ...
    EXPECT_EQ(f.leave(0), V{1});
    EXPECT_EQ(admission_cap_usage(f.table(), 77), 1);
}

TEST(Admission, HeavyLaneSerializesHeavyTransactions)
{
    Fixture f(5);
    f.lim = {4, 1, 0};
    EXPECT_TRUE(f.enter(0, 1, true));
    EXPECT_FALSE(f.enter(1, 1, true));  // second heavy waits
    EXPECT_TRUE(f.enter(2));            // light passes
    EXPECT_EQ(f.counters.heavy_running, 1u);
    EXPECT_EQ(f.leave(0), V{1});
    EXPECT_EQ(f.entries[1].heavy, static_cast<uint8_t>(HeavyState::Running));
    // A running transaction upgrading to heavy waits for the lane.
    EXPECT_FALSE(admission_enter_heavy(f.table(), 2, f.lim, f.now));
    EXPECT_TRUE(f.running(2));
    EXPECT_TRUE(f.queued(2));
    int out[4];
    EXPECT_EQ(admission_leave_heavy(f.table(), 1, f.lim, f.now, out, 4), 1);
    EXPECT_EQ(out[0], 2);
    EXPECT_EQ(f.counters.heavy_running, 1u);
    EXPECT_EQ(f.counters.running, 2u);
    EXPECT_EQ(f.counters.queued, 0u);
}

TEST(Admission, LaneSwitchedOffLetsHeavyWaitersIn)
{
    // A reload sets max_heavy_transactions to 0 while heavy transactions
    // wait: they run without a heavy slot, and the one that held the lane
    // still gives its heavy slot back.
    Fixture f(4);
    f.lim = {3, 1, 0};
    EXPECT_TRUE(f.enter(0, 1, true));
    EXPECT_FALSE(f.enter(1, 1, true));
    EXPECT_TRUE(f.enter(2));
    EXPECT_FALSE(admission_enter_heavy(f.table(), 2, f.lim, f.now));  // upgrade waits
    f.lim.max_heavy = 0;
    V granted = f.grant();
    std::sort(granted.begin(), granted.end());
    EXPECT_EQ(granted, (V{1, 2}));
    EXPECT_TRUE(f.running(1));
    EXPECT_FALSE(f.queued(1));
    EXPECT_FALSE(f.queued(2));
    EXPECT_EQ(f.entries[1].heavy, static_cast<uint8_t>(HeavyState::None));
    EXPECT_EQ(f.entries[2].heavy, static_cast<uint8_t>(HeavyState::None));
    EXPECT_EQ(f.counters.heavy_running, 1u);  // entry 0's, until it leaves
    f.leave(0);
    EXPECT_EQ(f.counters.heavy_running, 0u);
    EXPECT_EQ(f.counters.queued, 0u);
}

TEST(Admission, LoweredLimitGrantsNothingUntilRunningFallsBelowIt)
{
    Fixture f(6);
    f.lim.max_active = 4;
    for (int i = 0; i < 4; ++i)
        EXPECT_TRUE(f.enter(i));
    EXPECT_FALSE(f.enter(4));
    EXPECT_FALSE(f.enter(5));
    f.lim.max_active = 1;  // reload: 4 -> 1
    EXPECT_EQ(f.leave(0), V{});
    EXPECT_EQ(f.leave(1), V{});
    EXPECT_EQ(f.leave(2), V{});
    EXPECT_EQ(f.counters.running, 1u);
    EXPECT_EQ(f.leave(3), V{4});  // running fell to 0 < 1
    EXPECT_EQ(f.counters.running, 1u);
    EXPECT_TRUE(f.queued(5));
}

TEST(Admission, RaisedLimitGrantsWaitersAtOnce)
{
    Fixture f(5);
    f.lim.max_active = 1;
    EXPECT_TRUE(f.enter(0));
    for (int i = 1; i < 5; ++i)
        EXPECT_FALSE(f.enter(i));
    f.lim.max_active = 10;  // reload: 1 -> 10, nobody has released anything
    EXPECT_EQ(f.grant(), (V{1, 2, 3, 4}));
    EXPECT_EQ(f.counters.running, 5u);
    EXPECT_EQ(f.counters.queued, 0u);
}

// (A waiter cancelled after its grant arrived leaves like a running
// transaction: the core sees the same calls as a release. The race itself
// is driven in the server by TAP 021, "race".)

TEST(Admission, CancelWhileQueuedLeavesTheQueueConsistent)
{
    Fixture f(4);
    f.lim.max_active = 1;
    f.enter(0);
    f.enter(1);
    f.enter(2);
    EXPECT_EQ(f.leave(1), V{});
    EXPECT_EQ(f.counters.queued, 1u);
    EXPECT_EQ(f.leave(0), V{2});
    EXPECT_EQ(f.leave(2), V{});
    EXPECT_EQ(f.counters.running, 0u);
    EXPECT_EQ(f.counters.queued, 0u);
}

TEST(Admission, OverdraftRunsPastTheLimit)
{
    Fixture f(3);
    f.lim.max_active = 1;
    f.enter(0);
    f.enter(1);
    EXPECT_TRUE(admission_overdraft(f.table(), 1, f.now));
    EXPECT_FALSE(admission_overdraft(f.table(), 1, f.now));
    EXPECT_EQ(f.counters.running, 2u);
    EXPECT_EQ(f.counters.overdrafts, 1u);
    EXPECT_EQ(f.leave(0), V{});  // still over the limit: nobody else yet
    f.enter(2);
    EXPECT_TRUE(f.queued(2));
    EXPECT_EQ(f.leave(1), V{2});
}

TEST(Admission, WaitTimesAreRecorded)
{
    Fixture f(2);
    f.lim.max_active = 1;
    f.enter(0);
    f.enter(1);
    f.now += 2 * kSec;
    f.leave(0);
    EXPECT_GE(f.counters.wait_max_us, static_cast<uint64_t>(2 * kSec));
    EXPECT_EQ(f.counters.wait_total_us, f.counters.wait_max_us);
}

TEST(Admission, RandomOperationsKeepCountersExact)
{
    Fixture f(16);
    f.lim = {3, 1, 0};
    uint64_t seed = 12345;
    auto next = [&] {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        return seed >> 33;
    };
    for (int step = 0; step < 20000; ++step) {
        int i = static_cast<int>(next() % 16);
        AdmissionEntry &e = f.entries[i];
        if (e.state == static_cast<uint32_t>(AdmState::None))
            f.enter(i, static_cast<uint8_t>(next() % 3), next() % 4 == 0, next() % 2 ? 0 : 9, 2);
        else
            f.leave(i);
        uint32_t running = 0, heavy = 0, queued = 0;
        for (auto &x : f.entries) {
            running += x.state == static_cast<uint32_t>(AdmState::Running);
            heavy += x.heavy == static_cast<uint8_t>(HeavyState::Running);
            queued += admission_waiting(x);
        }
        ASSERT_EQ(running, f.counters.running);
        ASSERT_EQ(heavy, f.counters.heavy_running);
        ASSERT_EQ(queued, f.counters.queued);
        ASSERT_LE(running, 3u);
        ASSERT_LE(heavy, 1u);
        ASSERT_LE(admission_cap_usage(f.table(), 9), 2);
        // Nobody eligible is left waiting.
        int out[16];
        ASSERT_EQ(admission_grant(f.table(), f.lim, f.now, out, 16), 0);
    }
}

namespace {

// The waiter lists hold exactly the waiting entries, each in the list of its
// priority class, in ticket order, with consistent back links.
void expect_lists_consistent(const Fixture &f)
{
    std::vector<int> seen(f.entries.size(), 0);
    for (int l = 0; l < kPriorityClasses; ++l) {
        uint32_t prev = 0;
        uint64_t last_ticket = 0;
        for (uint32_t link = f.counters.head[l]; link != 0; link = f.entries[link - 1].next) {
            const AdmissionEntry &e = f.entries[link - 1];
            ASSERT_TRUE(admission_waiting(e)) << "entry " << link - 1 << " listed but not waiting";
            ASSERT_EQ(e.list, l);
            ASSERT_EQ(std::min<int>(e.priority, kPriorityClasses - 1), l);
            ASSERT_EQ(e.prev, prev);
            ASSERT_GT(e.ticket, last_ticket);
            ASSERT_EQ(seen[link - 1]++, 0);
            last_ticket = e.ticket;
            prev = link;
        }
        ASSERT_EQ(f.counters.tail[l], prev);
    }
    for (size_t i = 0; i < f.entries.size(); ++i)
        ASSERT_EQ(seen[i], admission_waiting(f.entries[i]) ? 1 : 0) << "entry " << i;
}

// The rule of the header, by brute force over every entry: the eligible
// waiter with the highest aged priority class, then the lowest ticket;
// with a fairness bound, unless that one waited longer than the bound, is
// aged or waits for the heavy lane, the newest eligible plain slot waiter
// of its class.
int reference_best(const Fixture &f)
{
    auto aged = [&](const AdmissionEntry &e) {
        int p = e.priority;
        if (f.lim.aging_us > 0 && e.queued_since > 0 && f.now > e.queued_since)
            p += static_cast<int>(std::min<int64_t>((f.now - e.queued_since) / f.lim.aging_us, 2));
        return std::min(p, 2);
    };
    auto eligible = [&](const AdmissionEntry &e) {
        bool running = e.state == static_cast<uint32_t>(AdmState::Running);
        bool heavy_room = f.lim.max_heavy > 0 &&
                          f.counters.heavy_running < static_cast<uint32_t>(f.lim.max_heavy);
        if (running)
            return e.heavy == static_cast<uint8_t>(HeavyState::Queued) && heavy_room;
        if (f.counters.running >= static_cast<uint32_t>(f.lim.max_active))
            return false;
        if (e.heavy == static_cast<uint8_t>(HeavyState::Queued) && !heavy_room)
            return false;
        for (int c = 0; c < e.n_caps; ++c) {
            int used = 0;
            for (const auto &x : f.entries)
                if (x.state == static_cast<uint32_t>(AdmState::Running))
                    for (int d = 0; d < x.n_caps; ++d)
                        used += x.cap_role[d] == e.cap_role[c];
            if (used >= e.cap_limit[c])
                return false;
        }
        return true;
    };
    int best = -1;
    for (size_t i = 0; i < f.entries.size(); ++i) {
        const AdmissionEntry &e = f.entries[i];
        if (!admission_waiting(e) || !eligible(e))
            continue;
        if (best < 0 || aged(e) > aged(f.entries[best]) ||
            (aged(e) == aged(f.entries[best]) && e.ticket < f.entries[best].ticket))
            best = static_cast<int>(i);
    }
    // The bound in force: the factor times the recent mean wait, under the
    // ceiling; the ceiling alone without a factor.
    int64_t bound = f.lim.fairness_us;
    if (bound > 0 && f.lim.fairness_factor_pct > 0)
        bound = std::min<int64_t>(
            bound, static_cast<int64_t>(f.counters.wait_mean_us) * f.lim.fairness_factor_pct / 100);
    if (best < 0 || bound <= 0)
        return best;
    const AdmissionEntry &b = f.entries[best];
    if (f.now - b.queued_since > bound || b.heavy != static_cast<uint8_t>(HeavyState::None) ||
        aged(b) != b.priority)
        return best;
    int newest = best;
    for (size_t i = 0; i < f.entries.size(); ++i) {
        const AdmissionEntry &e = f.entries[i];
        if (e.state == static_cast<uint32_t>(AdmState::Queued) &&
            e.heavy == static_cast<uint8_t>(HeavyState::None) && e.priority == b.priority &&
            eligible(e) && e.ticket > f.entries[newest].ticket)
            newest = static_cast<int>(i);
    }
    return newest;
}

}  // namespace

// Many waiters, three classes, aging, caps, the heavy lane, cancels and
// overdrafts: the lists stay exact, and every grant goes to the waiter the
// brute-force rule picks.
namespace {

void grant_in_the_order_of_the_full_scan(int64_t fairness_us, int32_t factor_pct = 0)
{
    Fixture f(48);
    f.lim = {4, 1, 50, fairness_us, factor_pct};
    uint64_t seed = 987654321;
    auto next = [&] {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        return seed >> 33;
    };
    int checked_grants = 0;
    for (int step = 0; step < 200000; ++step) {
        f.now += static_cast<int64_t>(next() % 40);
        int i = static_cast<int>(next() % f.entries.size());
        AdmissionEntry &e = f.entries[i];
        bool running = e.state == static_cast<uint32_t>(AdmState::Running);
        int op = static_cast<int>(next() % 10);
        if (e.state == static_cast<uint32_t>(AdmState::None)) {
            f.enter(i, static_cast<uint8_t>(next() % 3), next() % 5 == 0,
                    next() % 3 ? 0 : 7 + static_cast<uint32_t>(next() % 2), 2);
        } else if (running && op < 2 && e.heavy == static_cast<uint8_t>(HeavyState::None)) {
            admission_enter_heavy(f.table(), i, f.lim, f.now);
        } else if (running && op < 3) {
            int out[64];
            admission_leave_heavy(f.table(), i, f.lim, f.now, out, 64);
        } else if (!running && op < 1) {
            admission_overdraft(f.table(), i, f.now);
        } else if (running && op < 5 && e.heavy == static_cast<uint8_t>(HeavyState::None) &&
                   e.n_caps == 0) {
            // The lock-free leave hands nothing over; the grants below do.
            bool done;
            ASSERT_TRUE(admission_leave_fast(f.table(), i, &done));
        } else if (op < 7) {
            // A reload may change the limit; then grant one at a time
            // against the reference.
            if (next() % 2)
                f.lim.max_active = 2 + static_cast<int>(next() % 5);
            int expected = reference_best(f);
            int out[1];
            int n = admission_grant(f.table(), f.lim, f.now, out, 1);
            ASSERT_EQ(n, expected >= 0 ? 1 : 0) << "step " << step;
            if (n == 1) {
                ASSERT_EQ(out[0], expected) << "step " << step;
                checked_grants++;
            }
        } else {
            f.leave(i);
        }
        expect_lists_consistent(f);
        if (::testing::Test::HasFatalFailure())
            return;
    }
    EXPECT_GT(checked_grants, 500);
}

}  // namespace

TEST(Admission, WaiterListsGrantInTheOrderOfTheFullScan) { grant_in_the_order_of_the_full_scan(0); }

// The same with a fairness bound short enough that both of its branches
// (the newest waiter, the oldest past the bound) are taken often.
TEST(AdmissionFairness, GrantsInTheOrderOfTheFullScan) { grant_in_the_order_of_the_full_scan(120); }

// And with the bound following the mean wait, the ceiling high enough that
// the factor decides, then low enough that it binds now and then.
TEST(AdmissionFairness, AdaptiveBoundGrantsInTheOrderOfTheFullScan)
{
    grant_in_the_order_of_the_full_scan(10 * kSec, 150);
    grant_in_the_order_of_the_full_scan(200, 300);
}

TEST(AdmissionFairness, BoundZeroIsFifo)
{
    Fixture f(10);
    f.lim = {1, 0, 0, 0};
    f.enter(0);
    for (int i = 1; i < 10; ++i)
        f.enter(i);
    int running = 0;
    for (int i = 1; i < 10; ++i) {
        EXPECT_EQ(f.leave(running), V{i});
        running = i;
    }
}

TEST(AdmissionFairness, WithinTheBoundTheNewestWaiterGoesFirst)
{
    Fixture f(5);
    f.lim = {1, 0, 0, 10 * kSec};
    f.enter(0);
    f.enter(1);
    f.enter(2);
    f.enter(3);
    EXPECT_EQ(f.leave(0), V{3});
    f.enter(4);
    EXPECT_EQ(f.leave(3), V{4});
    EXPECT_EQ(f.leave(4), V{2});
    EXPECT_EQ(f.leave(2), V{1});
    EXPECT_EQ(f.counters.queued, 0u);
}

TEST(AdmissionFairness, PastTheBoundTheOldestGoesFirst)
{
    Fixture f(5);
    f.lim = {1, 0, 0, 1 * kSec};
    f.enter(0);
    f.enter(1);
    f.enter(2);
    f.now += 1 * kSec;  // 1 and 2 have now waited just over the bound
    f.enter(3);
    EXPECT_EQ(f.leave(0), V{1});
    EXPECT_EQ(f.leave(1), V{2});  // over the bound by now as well
    f.enter(0);
    EXPECT_EQ(f.leave(2), V{0});  // 3 waited a few us: the newest goes first again
    EXPECT_EQ(f.leave(0), V{3});
}

// A closed loop (every transaction that ends queues again at once), as
// pgbench drives the server: kClients clients, kLimit slots, transactions
// of 100-299 us, so a FIFO turn of the queue takes about 1.8 ms. Checks the
// guarantee at every grant: nobody is passed over by a later waiter of its
// class once it has waited longer than the bound in force (read just
// before the grant), and that bound never exceeds the ceiling.
namespace {

constexpr int kClients = 40, kLimit = 4;

struct LoopResult {
    int newest_first = 0, oldest_first = 0;
    int64_t max_wait = 0;
    int64_t max_bound = 0;   // the largest bound in force seen
    uint64_t max_mean = 0;   // the largest mean wait seen
    int64_t total_wait = 0;  // of the granted waiters
};

LoopResult closed_loop(int64_t ceiling, int32_t factor_pct, int steps = 20000)
{
    Fixture f(kClients);
    f.lim = {kLimit, 0, 0, ceiling, factor_pct};
    for (int i = 0; i < kClients; ++i)
        f.enter(i);
    uint64_t seed = 42;
    auto next = [&] {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        return seed >> 33;
    };
    LoopResult r;
    for (int step = 0; step < steps; ++step) {
        f.now += 25 + static_cast<int64_t>(next() % 50);
        std::vector<int> running;
        for (int i = 0; i < kClients; ++i)
            if (f.running(i))
                running.push_back(i);
        EXPECT_EQ(running.size(), static_cast<size_t>(kLimit));
        int leaver = running[next() % running.size()];
        // What the queue looks like just before the grant the leave makes.
        std::vector<AdmissionEntry> before = f.entries;
        int64_t bound = admission_fairness_bound_us(f.counters, f.lim);
        EXPECT_LE(bound, ceiling);
        r.max_bound = std::max(r.max_bound, bound);
        r.max_mean = std::max(r.max_mean, f.counters.wait_mean_us);
        int64_t at = f.now + 1;
        V got = f.leave(leaver);
        EXPECT_EQ(got.size(), 1u);
        if (got.size() != 1u)
            return r;
        const AdmissionEntry &g = before[got[0]];
        bool passed_someone = false;
        for (int i = 0; i < kClients; ++i) {
            const AdmissionEntry &e = before[i];
            if (i == got[0] || e.state != static_cast<uint32_t>(AdmState::Queued))
                continue;
            if (e.ticket < g.ticket) {
                passed_someone = true;
                EXPECT_LE(at - e.queued_since, bound)
                    << "step " << step << ": " << i << " passed over by " << got[0];
                if (at - e.queued_since > bound)
                    return r;
            }
        }
        (passed_someone ? r.newest_first : r.oldest_first)++;
        r.max_wait = std::max(r.max_wait, at - g.queued_since);
        r.total_wait += at - g.queued_since;
        f.enter(leaver);
    }
    return r;
}

}  // namespace

// A fixed bound shorter than a FIFO turn: some grants go to the newest
// waiter, and past the bound the waiters go in FIFO order: at most all the
// others (kClients - kLimit - 1 of them) are served first, each within one
// transaction's share of the slots.
TEST(AdmissionFairness, NobodyIsPassedOverLongerThanTheBound)
{
    constexpr int64_t kBound = 2000;
    LoopResult r = closed_loop(kBound, 0);
    EXPECT_GT(r.newest_first, 1000);
    EXPECT_GT(r.oldest_first, 1000);
    EXPECT_EQ(r.max_bound, kBound);
    EXPECT_LE(r.max_wait, kBound + (kClients - kLimit) * 300);
}

// A fixed bound below the mean wait is FIFO: every waiter is past it by the
// time its turn could come. A bound of twice the recent mean wait keeps
// newest-first for about half the grants (1 - 1/2, see the header) at the
// same load, passes nobody over beyond the bound in force, and the longest
// wait stays near twice the mean (plus the FIFO drain past the bound).
TEST(AdmissionFairness, BoundFollowingTheMeanWaitKeepsNewestFirstWhereAFixedOneIsFifo)
{
    LoopResult fixed = closed_loop(500, 0);
    EXPECT_LT(fixed.newest_first, 200) << "a fixed 500 us bound should act as FIFO here";

    LoopResult fifo = closed_loop(0, 0);
    int64_t fifo_mean = fifo.total_wait / (fifo.newest_first + fifo.oldest_first);
    EXPECT_EQ(fifo.newest_first, 0);

    LoopResult adaptive = closed_loop(10 * kSec, 200);
    int grants = adaptive.newest_first + adaptive.oldest_first;
    EXPECT_GT(adaptive.newest_first, grants * 3 / 10);
    EXPECT_LT(adaptive.newest_first, grants * 7 / 10);
    // The mean wait is the load's (Little's law), whatever the order.
    int64_t mean = adaptive.total_wait / grants;
    EXPECT_NEAR(static_cast<double>(mean), static_cast<double>(fifo_mean), fifo_mean * 0.1);
    EXPECT_LE(adaptive.max_bound, static_cast<int64_t>(adaptive.max_mean) * 2);
    EXPECT_LE(adaptive.max_wait, adaptive.max_bound + (kClients - kLimit) * 300);
    EXPECT_GT(adaptive.max_bound, fifo_mean);  // the bound did follow the load up

    // A ceiling below twice the mean binds: the bound in force is the
    // ceiling, and the guarantee is the ceiling's.
    LoopResult capped = closed_loop(2500, 200);
    EXPECT_EQ(capped.max_bound, 2500);
    EXPECT_LE(capped.max_wait, 2500 + (kClients - kLimit) * 300);
}

// The recent mean wait: the first plain waiter's wait sets it, each later
// one moves it by 1/kWaitMeanWeight of the difference; waiters served at
// once, heavy-lane waiters and waiters a pause held do not count.
TEST(AdmissionFairness, MeanWaitFollowsThePlainWaiters)
{
    Fixture f(4);
    f.lim = {1, 1, 0, 10 * kSec, 200};
    EXPECT_TRUE(f.enter(0));
    EXPECT_EQ(f.counters.wait_mean_us, 0u);  // served at once: no wait
    EXPECT_FALSE(f.enter(1));
    f.now += 999;  // with enter's and leave's 1 us each: a wait of 1000 us
    EXPECT_EQ(f.leave(0), V{1});
    EXPECT_EQ(f.counters.wait_mean_us, 1000u);
    int64_t expected = 1000;
    int running = 1;
    for (int k = 0; k < 50; ++k) {
        int other = running == 1 ? 2 : 1;
        EXPECT_FALSE(f.enter(other));
        f.now += 2999;
        EXPECT_EQ(f.leave(running), V{other});
        expected += (3000 - expected) / kWaitMeanWeight;
        EXPECT_EQ(f.counters.wait_mean_us, static_cast<uint64_t>(expected)) << k;
        running = other;
    }
    EXPECT_GT(expected, 2500);

    // A heavy-lane wait does not count.
    Fixture g(2);
    g.lim = {2, 1, 0, 10 * kSec, 200};
    EXPECT_TRUE(g.enter(0, 1, true));
    EXPECT_FALSE(g.enter(1, 1, true));
    g.now += 5000;
    EXPECT_EQ(g.leave(0), V{1});
    EXPECT_EQ(g.counters.wait_mean_us, 0u);

    // Nor does the wait of a waiter a pause held.
    Fixture h(2);
    h.lim = {1, 0, 0, 10 * kSec, 200};
    EXPECT_TRUE(h.enter(0));
    EXPECT_FALSE(h.enter(1));
    ASSERT_TRUE(admission_hold(h.table(), 1, h.entries[1].ticket, 0));
    h.now += 5000;
    EXPECT_EQ(h.leave(0), V{});
    int out[4];
    EXPECT_EQ(admission_release(h.table(), 0, h.lim, h.now, out, 4), 1);
    EXPECT_EQ(out[0], 1);
    EXPECT_EQ(h.counters.wait_mean_us, 0u);
}

// The bound in force: the factor times the mean, never above the ceiling;
// the ceiling alone without a factor; nothing (FIFO) without a ceiling or
// before any wait was measured.
TEST(AdmissionFairness, BoundInForceIsTheFactorTimesTheMeanUnderTheCeiling)
{
    AdmissionCounters c{};
    c.wait_mean_us = 30000;
    EXPECT_EQ(admission_fairness_bound_us(c, {8, 0, 0, 1 * kSec, 200}), 60000);
    EXPECT_EQ(admission_fairness_bound_us(c, {8, 0, 0, 1 * kSec, 150}), 45000);
    EXPECT_EQ(admission_fairness_bound_us(c, {8, 0, 0, 50000, 200}), 50000);
    EXPECT_EQ(admission_fairness_bound_us(c, {8, 0, 0, 100000, 0}), 100000);
    EXPECT_EQ(admission_fairness_bound_us(c, {8, 0, 0, 0, 200}), 0);
    c.wait_mean_us = 0;
    EXPECT_EQ(admission_fairness_bound_us(c, {8, 0, 0, 1 * kSec, 200}), 0);
    c.wait_mean_us = uint64_t{1} << 62;  // no overflow: the ceiling holds
    EXPECT_EQ(admission_fairness_bound_us(c, {8, 0, 0, 1 * kSec, 10000}), 1 * kSec);

    // In the queue: mean 1 ms, factor 2. The oldest waited 1.5 ms: the
    // newest goes first; once it has waited past 2 ms, the oldest goes.
    Fixture f(4);
    f.lim = {1, 0, 0, 10 * kSec, 200};
    f.counters.wait_mean_us = 1000;
    f.enter(0);
    f.enter(1);
    f.enter(2);
    f.now += 1500;
    f.enter(3);
    EXPECT_EQ(f.leave(0), V{3});
    f.now += 600;  // 1 and 2 have waited over 2 ms now (the mean moved little)
    ASSERT_LE(admission_fairness_bound_us(f.counters, f.lim), 2000);
    f.enter(0);
    EXPECT_EQ(f.leave(3), V{1});
    EXPECT_EQ(f.leave(1), V{2});
    EXPECT_EQ(f.leave(2), V{0});
}

TEST(AdmissionFairness, PriorityClassesAndAgingStillHold)
{
    Fixture f(6);
    f.lim = {1, 0, 0, 10 * kSec};
    f.enter(0);
    f.enter(1, 2);                // high
    f.enter(2, 1);                // normal
    f.enter(3, 1);                // normal, newer
    f.enter(4, 0);                // low, newest
    EXPECT_EQ(f.leave(0), V{1});  // the class first
    EXPECT_EQ(f.leave(1), V{3});  // then the newest of the class
    EXPECT_EQ(f.leave(3), V{2});
    EXPECT_EQ(f.leave(2), V{4});

    // A low waiter aged to high goes before newer high waiters, and a newer
    // low waiter of its list does not take its aged turn: aging is not
    // undone by the newest-first order.
    Fixture g(5);
    g.lim = {1, 0, 1 * kSec, 10 * kSec};
    g.enter(0);
    g.enter(1, 0);
    g.now += 3 * kSec;
    g.enter(4, 0);
    g.enter(2, 2);
    g.enter(3, 2);
    EXPECT_EQ(g.leave(0), V{1});
    EXPECT_EQ(g.leave(1), V{3});
    EXPECT_EQ(g.leave(3), V{2});
    EXPECT_EQ(g.leave(2), V{4});
}

TEST(AdmissionFairness, HeavyLaneWaitersKeepTheirFifoTurn)
{
    Fixture f(6);
    f.lim = {4, 1, 0, 10 * kSec};
    EXPECT_TRUE(f.enter(0, 1, true));
    EXPECT_FALSE(f.enter(1, 1, true));
    EXPECT_FALSE(f.enter(2, 1, true));
    EXPECT_FALSE(f.enter(3, 1, true));
    EXPECT_EQ(f.leave(0), V{1});
    EXPECT_EQ(f.leave(1), V{2});
    EXPECT_EQ(f.leave(2), V{3});

    // Slots full, a heavy waiter at the front: it is not passed over by the
    // plain waiters that queued after it.
    Fixture g(6);
    g.lim = {1, 1, 0, 10 * kSec};
    g.enter(0);
    g.enter(1, 1, true);
    g.enter(2);
    g.enter(3);
    EXPECT_EQ(g.leave(0), V{1});
    EXPECT_EQ(g.leave(1), V{3});
}

TEST(AdmissionFast, TakesAndGivesBackWithoutTheQueueWhenNobodyWaits)
{
    Fixture f(4);
    AdmissionRequest plain{false, 1, 0, nullptr, nullptr};
    EXPECT_TRUE(admission_enter_fast(f.table(), 0, plain, f.lim));
    EXPECT_TRUE(admission_enter_fast(f.table(), 1, plain, f.lim));
    EXPECT_FALSE(admission_enter_fast(f.table(), 2, plain, f.lim));  // full
    EXPECT_EQ(f.counters.running, 2u);
    EXPECT_FALSE(f.enter(2));  // queues under the lock
    // With a waiter, the fast path is closed even when room appears ...
    bool done = true;
    EXPECT_TRUE(admission_leave_fast(f.table(), 0, &done));
    EXPECT_FALSE(done);  // ... and the leaver must grant
    EXPECT_FALSE(admission_enter_fast(f.table(), 3, plain, f.lim));
    EXPECT_EQ(f.grant(), V{2});
    EXPECT_TRUE(admission_leave_fast(f.table(), 1, &done));
    EXPECT_TRUE(done);
    EXPECT_EQ(f.counters.running, 1u);
    EXPECT_EQ(f.counters.admitted, 3u);
}

TEST(AdmissionFast, HeavyOrCappedTransactionsTakeTheLockedPath)
{
    Fixture f(2);
    f.lim = {4, 1, 0};
    uint32_t role = 5;
    int32_t cap = 1;
    AdmissionRequest heavy{true, 1, 0, nullptr, nullptr};
    AdmissionRequest capped{false, 1, 1, &role, &cap};
    EXPECT_FALSE(admission_enter_fast(f.table(), 0, heavy, f.lim));
    EXPECT_FALSE(admission_enter_fast(f.table(), 0, capped, f.lim));
    EXPECT_EQ(f.counters.running, 0u);
    f.enter(0, 1, false, 5, 1);
    bool done = false;
    EXPECT_FALSE(admission_leave_fast(f.table(), 0, &done));  // has a cap: locked leave
    EXPECT_EQ(f.leave(0), V{});
    EXPECT_EQ(f.counters.running, 0u);
}

// The lean take (admission_take_plain) writes only the state and the four
// bytes after it: it relies on every way into state None leaving the rest
// of the entry clean (no wait time, pause bits or was_held, no heavy state,
// no caps). Here an entry goes through a pause hold, an overdraft, a fast
// give-back, a heavy wait abandoned and a locked leave, and is checked at
// each return to None and after the next lean take.
TEST(AdmissionFast, AnEntryBackInNoneIsCleanForTheLeanTake)
{
    auto clean = [](const AdmissionEntry &e) {
        return e.state == static_cast<uint32_t>(AdmState::None) &&
               e.heavy == static_cast<uint8_t>(HeavyState::None) && e.n_caps == 0 &&
               e.queued_since == 0 && e.paused == 0 && e.was_held == 0;
    };
    Fixture f(3);
    f.lim = {1, 1, 0};
    AdmissionRequest plain{false, 1, 0, nullptr, nullptr};
    ASSERT_TRUE(admission_enter_fast(f.table(), 0, plain, f.lim));
    // Entry 1 queues (high priority), a pause holds it, then it runs past
    // the limit and the pause.
    EXPECT_FALSE(f.enter(1, 2));
    ASSERT_TRUE(admission_hold(f.table(), 1, f.entries[1].ticket, 3));
    EXPECT_EQ(f.entries[1].was_held, 1u);
    ASSERT_TRUE(admission_overdraft(f.table(), 1, f.now));
    EXPECT_EQ(f.entries[1].overdraft, 1);
    bool done = false;
    ASSERT_TRUE(admission_leave_fast(f.table(), 1, &done));
    EXPECT_TRUE(clean(f.entries[1]));
    ASSERT_TRUE(admission_leave_fast(f.table(), 0, &done));
    EXPECT_TRUE(done);
    EXPECT_TRUE(clean(f.entries[0]));
    // The lean take: a plain running entry of its own priority, no overdraft.
    ASSERT_TRUE(admission_enter_fast(f.table(), 1, plain, f.lim));
    EXPECT_TRUE(f.running(1));
    EXPECT_EQ(f.entries[1].overdraft, 0);
    EXPECT_EQ(f.entries[1].priority, 1);
    EXPECT_EQ(f.entries[1].queued_since, 0);
    EXPECT_EQ(f.entries[1].paused, 0u);
    EXPECT_EQ(f.entries[1].was_held, 0u);
    // A heavy wait abandoned, then the fast give-back; then a heavy slot
    // given back by the locked leave.
    f.lim = {3, 1, 0};
    ASSERT_TRUE(f.enter(2, 1, true));  // holds the heavy slot
    ASSERT_TRUE(admission_enter_fast(f.table(), 0, plain, f.lim));
    EXPECT_FALSE(admission_enter_heavy(f.table(), 0, f.lim, f.now));  // waits for it
    int out[4];
    admission_leave_heavy(f.table(), 0, f.lim, f.now, out, 4);
    ASSERT_TRUE(admission_leave_fast(f.table(), 0, &done));
    EXPECT_TRUE(clean(f.entries[0]));
    f.leave(2);
    EXPECT_TRUE(clean(f.entries[2]));
    ASSERT_TRUE(admission_enter_fast(f.table(), 2, plain, f.lim));
    EXPECT_EQ(f.entries[2].heavy, static_cast<uint8_t>(HeavyState::None));
    EXPECT_EQ(f.counters.running, 2u);
}

// Threads race the lock-free path against the locked queue (a mutex stands
// for the LWLock): the limit always holds, nobody is stranded, and the
// counters end at zero.
TEST(AdmissionFast, ConcurrentFastAndLockedPathsKeepTheLimit)
{
    constexpr int kThreads = 6, kLimit = 2, kRounds = 3000;
    AdmissionCounters counters{};
    std::vector<AdmissionEntry> entries(kThreads);
    AdmissionTable t{&counters, entries.data(), kThreads};
    AdmissionLimits lim{kLimit, 0, 0};
    std::mutex lock;
    std::atomic<int> inside{0}, max_inside{0};
    std::vector<std::thread> threads;
    for (int id = 0; id < kThreads; ++id)
        threads.emplace_back([&, id] {
            AdmissionRequest req{false, 1, 0, nullptr, nullptr};
            int granted[kThreads];
            for (int r = 0; r < kRounds; ++r) {
                if (!admission_enter_fast(t, id, req, lim)) {
                    bool running;
                    {
                        std::lock_guard<std::mutex> g(lock);
                        running = admission_enter(t, id, req, lim, 1);
                    }
                    while (!running) {
                        std::this_thread::yield();
                        std::lock_guard<std::mutex> g(lock);
                        // A waiter also grants on its own, as the backend
                        // does on its timer, so no lost wake-up can hang us.
                        admission_grant(t, lim, 1, granted, kThreads);
                        running = !admission_waiting(entries[id]);
                    }
                }
                int now_inside = ++inside;
                int seen = max_inside.load();
                while (now_inside > seen && !max_inside.compare_exchange_weak(seen, now_inside)) {
                }
                --inside;
                bool done = false;
                if (admission_leave_fast(t, id, &done)) {
                    if (!done) {
                        std::lock_guard<std::mutex> g(lock);
                        admission_grant(t, lim, 1, granted, kThreads);
                    }
                } else {
                    std::lock_guard<std::mutex> g(lock);
                    admission_leave(t, id, lim, 1, granted, kThreads);
                }
            }
        });
    for (auto &th : threads)
        th.join();
    EXPECT_LE(max_inside.load(), kLimit);
    EXPECT_EQ(counters.running, 0u);
    EXPECT_EQ(counters.queued, 0u);
    EXPECT_EQ(counters.admitted, static_cast<uint64_t>(kThreads) * kRounds);
}
