// Pauses (poolgov/pause.hpp) and how the admission queue holds and releases
// the transactions they match (poolgov/admission.hpp).
#include "poolgov/admission.hpp"
#include "poolgov/pause.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <thread>
#include <vector>

using namespace poolgov;

namespace {

constexpr int64_t kSec = 1000000;
constexpr uint32_t kDbA = 5, kDbB = 6;
constexpr uint32_t kBatch = 100, kApp = 101, kBatchMember = 102;

// A connection: its database, pid and role closure.
struct Conn {
    uint32_t db;
    int32_t pid;
    std::vector<uint32_t> closure;
    bool has(uint32_t r) const
    {
        return std::find(closure.begin(), closure.end(), r) != closure.end();
    }
};

uint32_t mask_of(const PauseTable &t, const Conn &c)
{
    return pause_mask(t, c.db, c.pid, [&](uint32_t r) { return c.has(r); });
}

struct Fixture {
    AdmissionCounters counters{};
    std::vector<AdmissionEntry> entries;
    PauseTable pauses{};
    AdmissionLimits lim;
    int64_t now = 1000 * kSec;

    Fixture(int n, int max_active) : entries(n), lim{max_active, 0, 0} {}
    AdmissionTable table() { return {&counters, entries.data(), static_cast<int>(entries.size())}; }

    // What the gate does: the fast path first, then the queue.
    bool enter(int i, const Conn &c, uint8_t priority = 1)
    {
        AdmissionRequest r{false, priority, 0, nullptr, nullptr, mask_of(pauses, c)};
        now += 1;
        if (admission_enter_fast(table(), i, r, lim))
            return true;
        return admission_enter(table(), i, r, lim, now);
    }
    std::vector<int> leave(int i)
    {
        int out[64];
        now += 1;
        int n = admission_leave(table(), i, lim, now, out, 64);
        return std::vector<int>(out, out + n);
    }
    int pause(uint32_t db, uint32_t role, int32_t by_pid = 1)
    {
        bool added = false;
        return pause_add(pauses, db, role, 10, by_pid, now, &added);
    }
    std::vector<int> resume(int k)
    {
        EXPECT_TRUE(pause_remove(pauses, k));
        int out[64];
        int n = admission_release(table(), k, lim, now, out, 64);
        return std::vector<int>(out, out + n);
    }
    bool running(int i) const
    {
        return entries[i].state == static_cast<uint32_t>(AdmState::Running);
    }
    bool held(int i) const { return admission_paused(entries[i]); }
};

using V = std::vector<int>;

const Conn batch_a{kDbA, 200, {kBatch}};
const Conn batch_b{kDbB, 201, {kBatch}};
const Conn member_a{kDbA, 202, {kBatchMember, kBatch}};
const Conn app_a{kDbA, 203, {kApp}};
const Conn app_b{kDbB, 204, {kApp}};

}  // namespace

TEST(PauseScope, RoleDatabaseBothOrEverything)
{
    PauseTable t{};
    bool added = false;
    int role = pause_add(t, 0, kBatch, 10, 1, 0, &added);
    EXPECT_TRUE(added);
    EXPECT_EQ(mask_of(t, batch_a), 1u << role);
    EXPECT_EQ(mask_of(t, batch_b), 1u << role);
    EXPECT_EQ(mask_of(t, member_a), 1u << role);  // a member of the paused role
    EXPECT_EQ(mask_of(t, app_a), 0u);
    ASSERT_TRUE(pause_remove(t, role));

    int db = pause_add(t, kDbA, 0, 10, 1, 0, &added);
    EXPECT_EQ(mask_of(t, batch_a), 1u << db);
    EXPECT_EQ(mask_of(t, app_a), 1u << db);
    EXPECT_EQ(mask_of(t, batch_b), 0u);
    ASSERT_TRUE(pause_remove(t, db));

    int both = pause_add(t, kDbA, kBatch, 10, 1, 0, &added);
    EXPECT_EQ(mask_of(t, batch_a), 1u << both);
    EXPECT_EQ(mask_of(t, batch_b), 0u);
    EXPECT_EQ(mask_of(t, app_a), 0u);
    ASSERT_TRUE(pause_remove(t, both));

    int all = pause_add(t, 0, 0, 10, 1, 0, &added);
    for (const Conn *c : {&batch_a, &batch_b, &member_a, &app_a, &app_b})
        EXPECT_EQ(mask_of(t, *c), 1u << all);
    EXPECT_EQ(t.n_in_force, 1u);
    ASSERT_TRUE(pause_remove(t, all));
    EXPECT_EQ(t.n_in_force, 0u);
    EXPECT_FALSE(pause_remove(t, all));
}

TEST(PauseScope, ThePausingSessionIsNeverHeld)
{
    PauseTable t{};
    bool added = false;
    pause_add(t, 0, 0, 10, batch_a.pid, 0, &added);
    EXPECT_EQ(mask_of(t, batch_a), 0u);
    EXPECT_NE(mask_of(t, batch_b), 0u);
}

TEST(PauseScope, APauseAgainRenewsAndAFullTableRefuses)
{
    PauseTable t{};
    bool added = false;
    int k = pause_add(t, 0, kBatch, 10, 1, 5 * kSec, &added);
    EXPECT_EQ(pause_add(t, 0, kBatch, 11, 2, 9 * kSec, &added), k);
    EXPECT_FALSE(added);
    EXPECT_EQ(t.scopes[k].since_us, 5 * kSec);  // the pause started then
    EXPECT_EQ(t.scopes[k].renewed_us, 9 * kSec);
    EXPECT_EQ(t.scopes[k].by_role, 10u);
    EXPECT_EQ(t.n_in_force, 1u);
    for (uint32_t r = 1; r < kMaxPauses; ++r)
        EXPECT_GE(pause_add(t, 0, 1000 + r, 10, 1, 0, &added), 0);
    EXPECT_EQ(pause_add(t, 0, 5000, 10, 1, 0, &added), -1);
    EXPECT_EQ(pause_find(t, 0, 1005), 5);
    EXPECT_EQ(pause_find(t, 0, 5000), -1);
}

TEST(PauseScope, TheTimeoutCountsFromTheLastPause)
{
    PauseTable t{};
    bool added = false;
    int a = pause_add(t, 0, kBatch, 10, 1, 0, &added);
    int b = pause_add(t, kDbA, 0, 10, 1, 4 * kSec, &added);
    int out[kMaxPauses];
    EXPECT_EQ(pause_expired(t, 9 * kSec, 10 * kSec, out), 0);
    EXPECT_EQ(pause_expired(t, 10 * kSec, 10 * kSec, out), 1);
    EXPECT_EQ(out[0], a);
    pause_add(t, 0, kBatch, 10, 1, 10 * kSec, &added);  // renewed
    EXPECT_EQ(pause_expired(t, 14 * kSec, 10 * kSec, out), 1);
    EXPECT_EQ(out[0], b);
    EXPECT_EQ(pause_expired(t, 100 * kSec, 0, out), 0);  // no timeout
}

TEST(PauseScope, ASnapshotIsConsistentAndCarriesTheGeneration)
{
    PauseTable t{};
    bool added = false;
    uint64_t g0 = t.generation;
    int k = pause_add(t, kDbA, kBatch, 10, 1, 0, &added);
    PauseTable copy{};
    pause_snapshot(t, &copy);
    EXPECT_GT(copy.generation, g0);
    EXPECT_EQ(copy.scopes[k].db_oid, kDbA);
    EXPECT_EQ(mask_of(copy, batch_a), 1u << k);
    pause_remove(t, k);
    EXPECT_GT(t.generation, copy.generation);  // a gate holding the copy computes again
}

// A writer keeps replacing the scope in slot 0 with (db, role) pairs whose
// db equals role; a reader's copy must never mix two of them.
TEST(PauseScope, ReadersNeverSeeAHalfWrittenScope)
{
    PauseTable t{};
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        bool added = false;
        for (uint32_t v = 1; !stop.load(); ++v) {
            pause_add(t, v, v, v, 1, v, &added);
            pause_remove(t, 0);
        }
    });
    int torn = 0;
    for (int i = 0; i < 200000; ++i) {
        PauseTable copy{};
        pause_snapshot(t, &copy);
        const PauseScope &s = copy.scopes[0];
        if (s.db_oid != s.role_oid || s.role_oid != s.by_role)
            torn++;
    }
    stop = true;
    writer.join();
    EXPECT_EQ(torn, 0);
}

TEST(PauseQueue, AHeldTransactionWaitsWhileOthersRun)
{
    Fixture f(6, 2);
    int k = f.pause(0, kBatch);
    EXPECT_FALSE(f.enter(0, batch_a));  // held although a slot is free
    EXPECT_TRUE(f.held(0));
    EXPECT_TRUE(f.enter(1, app_a));  // not held: runs, past the held waiter
    EXPECT_TRUE(f.running(1));
    EXPECT_FALSE(f.enter(2, member_a));
    EXPECT_TRUE(f.enter(3, app_b));
    EXPECT_FALSE(f.enter(4, app_a));  // the limit: an ordinary wait
    EXPECT_FALSE(f.held(4));
    EXPECT_EQ(admission_held(f.table(), k), 2);
    // A freed slot goes to the ordinary waiter, not the held ones.
    EXPECT_EQ(f.leave(1), V{4});
    EXPECT_TRUE(f.held(0));
    EXPECT_TRUE(f.held(2));
}

TEST(PauseQueue, ResumeLetsTheHeldInInQueueOrder)
{
    // Admission control off: only held transactions queue; no limit.
    Fixture f(6, INT_MAX);
    int k = f.pause(0, kBatch);
    EXPECT_FALSE(f.enter(3, batch_a));
    EXPECT_FALSE(f.enter(1, member_a));
    EXPECT_FALSE(f.enter(4, batch_b));
    EXPECT_TRUE(f.enter(0, app_a));
    EXPECT_EQ(f.resume(k), (V{3, 1, 4}));  // oldest first
    EXPECT_TRUE(f.running(3) && f.running(1) && f.running(4));
    EXPECT_EQ(f.counters.queued, 0u);
}

TEST(PauseQueue, ResumeUnderALimitHandsSlotsOutOldestFirst)
{
    Fixture f(6, 1);
    int k = f.pause(0, kBatch);
    EXPECT_FALSE(f.enter(2, batch_a));
    EXPECT_FALSE(f.enter(0, batch_b));
    EXPECT_FALSE(f.enter(1, member_a));
    EXPECT_EQ(f.resume(k), V{2});
    EXPECT_EQ(f.leave(2), V{0});
    EXPECT_EQ(f.leave(0), V{1});
}

TEST(PauseQueue, TwoPausesHoldUntilBothAreLifted)
{
    Fixture f(4, INT_MAX);
    int role = f.pause(0, kBatch);
    int db = f.pause(kDbA, 0);
    EXPECT_FALSE(f.enter(0, batch_a));  // held by both
    EXPECT_FALSE(f.enter(1, app_a));    // by the database pause
    EXPECT_FALSE(f.enter(2, batch_b));  // by the role pause
    EXPECT_EQ(f.resume(db), V{1});
    EXPECT_TRUE(f.held(0));
    EXPECT_EQ(f.resume(role), (V{0, 2}));
}

TEST(PauseQueue, APauseHoldsTheAlreadyQueuedItNamesOnly)
{
    Fixture f(4, 1);
    EXPECT_TRUE(f.enter(0, app_a));
    EXPECT_FALSE(f.enter(1, batch_a));
    EXPECT_FALSE(f.enter(2, app_a));
    int k = f.pause(0, kBatch);
    // The pause() call holds the matching waiters it finds, by ticket.
    EXPECT_TRUE(admission_hold(f.table(), 1, f.entries[1].ticket, k));
    EXPECT_FALSE(admission_hold(f.table(), 1, f.entries[1].ticket + 99, k));  // requeued since
    EXPECT_FALSE(admission_hold(f.table(), 0, f.entries[0].ticket, k));       // runs already
    EXPECT_EQ(f.leave(0), V{2});
    EXPECT_TRUE(f.held(1));
}

TEST(PauseQueue, LeavingOrAnOverdraftForgetsThePause)
{
    Fixture f(4, 1);
    int k = f.pause(0, kBatch);
    EXPECT_FALSE(f.enter(0, batch_a));
    EXPECT_FALSE(f.enter(1, batch_a));
    // A held waiter that someone waits a lock for: let in past the pause.
    EXPECT_TRUE(admission_overdraft(f.table(), 0, f.now));
    EXPECT_TRUE(f.running(0));
    EXPECT_EQ(f.entries[0].paused, 0u);
    // A held waiter that times out leaves the queue clean.
    f.leave(1);
    EXPECT_EQ(f.entries[1].paused, 0u);
    EXPECT_EQ(admission_held(f.table(), k), 0);
    EXPECT_EQ(f.counters.queued, 0u);
    // Its next transaction, after the resume, runs at once.
    f.leave(0);
    f.resume(k);
    EXPECT_TRUE(f.enter(1, batch_a));
}

TEST(PauseQueue, NoFastPathForAHeldTransaction)
{
    Fixture f(2, 5);
    f.pause(0, kBatch);
    AdmissionRequest r{false, 1, 0, nullptr, nullptr, mask_of(f.pauses, batch_a)};
    EXPECT_FALSE(admission_enter_fast(f.table(), 0, r, f.lim));
    EXPECT_EQ(f.counters.running, 0u);
}

// The newest-first order of the fairness bound (admission.hpp) never picks a
// waiter a pause holds, and when the pause is lifted the waiters it held are
// let in oldest first, also those that waited less than the bound.
TEST(PauseQueue, NewestFirstSkipsTheHeldAndTheReleasedGoOldestFirst)
{
    Fixture f(6, 1);
    f.lim.fairness_us = 10 * kSec;
    EXPECT_TRUE(f.enter(0, app_a));
    EXPECT_FALSE(f.enter(1, app_a));
    f.pause(0, kBatch);
    EXPECT_FALSE(f.enter(2, batch_a));  // the newest waiter, but held
    EXPECT_EQ(f.leave(0), V{1});
    EXPECT_TRUE(f.held(2));

    Fixture g(7, 1);
    g.lim.fairness_us = 10 * kSec;
    EXPECT_TRUE(g.enter(5, app_a));
    EXPECT_FALSE(g.enter(6, app_a));  // an ordinary waiter
    int p = g.pause(0, kBatch);
    EXPECT_FALSE(g.enter(2, batch_a));
    EXPECT_FALSE(g.enter(0, batch_b));
    EXPECT_FALSE(g.enter(1, member_a));
    EXPECT_EQ(g.resume(p), V{});  // the slot is taken
    EXPECT_EQ(g.leave(5), V{6});  // the oldest, not a released one
    EXPECT_EQ(g.leave(6), V{2});  // then the released, in queue order
    EXPECT_EQ(g.leave(2), V{0});
    EXPECT_EQ(g.leave(0), V{1});
}
