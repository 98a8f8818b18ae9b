#include "poolgov/reclaim.hpp"

#include "budget_set_owner.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

using namespace poolgov;

namespace {

constexpr int64_t kSec = 1000000;  // microseconds
constexpr int64_t kNow = 1000 * kSec;

ReclaimCandidate idle_for(int index, int64_t seconds, Priority cls = Priority::Normal)
{
    return ReclaimCandidate{index, true, kNow - seconds * kSec, false, false, cls, -1};
}

ReclaimSettings settings(int connections, int usable = 10)
{
    ReclaimSettings s{};
    s.global_timeout_ms = 0;
    s.pressure_threshold_pct = 90;
    s.pressure_idle_timeout_ms = 60000;
    s.usable_connections = usable;
    s.connections = connections;
    s.exempt_superusers = true;
    return s;
}

std::vector<ReclaimOrder> plan(const std::vector<ReclaimCandidate> &c, const ReclaimSettings &s)
{
    std::vector<ReclaimOrder> out(c.size() + 1);
    int n = reclaim_plan(c.data(), static_cast<int>(c.size()), s, kNow, out.data());
    out.resize(n);
    return out;
}

}  // namespace

TEST(Reclaim, PressureLimitRoundsUp)
{
    EXPECT_EQ(pressure_limit(90, 10), 9);
    EXPECT_EQ(pressure_limit(90, 11), 10);  // 9.9 -> 10
    EXPECT_EQ(pressure_limit(50, 1), 1);
    EXPECT_EQ(pressure_limit(1, 0), 1);
}

TEST(Reclaim, NothingUnderThresholdAndNoTimeouts)
{
    std::vector<ReclaimCandidate> c = {idle_for(0, 500), idle_for(1, 900)};
    EXPECT_TRUE(plan(c, settings(8)).empty());  // 8 < 9
}

TEST(Reclaim, RoleTimeoutReplacesGlobal)
{
    auto s = settings(2);
    s.global_timeout_ms = 10000;
    ReclaimCandidate a = idle_for(0, 20);  // over global
    ReclaimCandidate b = idle_for(1, 20);
    b.role_timeout_ms = 30000;  // its own, longer: not yet
    ReclaimCandidate d = idle_for(2, 5);
    d.role_timeout_ms = 3000;  // its own, shorter: over
    auto out = plan({a, b, d}, s);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].index, 0);
    EXPECT_EQ(out[0].rule, ReclaimRule::Global);
    EXPECT_EQ(out[0].threshold_ms, 10000);
    EXPECT_EQ(out[1].index, 2);
    EXPECT_EQ(out[1].rule, ReclaimRule::Role);
    EXPECT_EQ(out[1].threshold_ms, 3000);
    EXPECT_EQ(out[1].idle_ms, 5000);
}

TEST(Reclaim, ActiveAndExemptSuperusersAreNeverTimedOut)
{
    auto s = settings(2);
    s.global_timeout_ms = 1000;
    ReclaimCandidate active = idle_for(0, 50);
    active.idle = false;
    ReclaimCandidate su = idle_for(1, 50);
    su.superuser = true;
    EXPECT_TRUE(plan({active, su}, s).empty());
    s.exempt_superusers = false;
    auto out = plan({active, su}, s);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].index, 1);
}

TEST(Reclaim, PressureEndsLowBeforeNormalLongestIdleFirstUntilUnder)
{
    // 10 usable, threshold 90 % = 9; 10 connections: end 2 to reach 8.
    std::vector<ReclaimCandidate> c = {idle_for(0, 300),
                                       idle_for(1, 900),
                                       idle_for(2, 120, Priority::Low),
                                       idle_for(3, 70, Priority::Low),
                                       idle_for(4, 30),  // too fresh
                                       idle_for(5, 400, Priority::High)};
    auto out = plan(c, settings(10));
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].index, 2);  // low, idle longest among low
    EXPECT_EQ(out[1].index, 3);
    EXPECT_EQ(out[0].rule, ReclaimRule::Pressure);
    EXPECT_EQ(out[0].threshold_ms, 60000);
    // One more connection: the longest-idle normal one goes next.
    out = plan(c, settings(11));
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[2].index, 1);
}

TEST(Reclaim, PressureSparesPrioritySuperusersAndActive)
{
    ReclaimCandidate prio = idle_for(0, 900, Priority::Low);
    prio.priority = true;
    ReclaimCandidate su = idle_for(1, 900, Priority::Low);
    su.superuser = true;
    ReclaimCandidate active = idle_for(2, 900, Priority::Low);
    active.idle = false;
    auto s = settings(10);
    s.exempt_superusers = false;  // pressure never ends superusers anyway
    EXPECT_TRUE(plan({prio, su, active}, s).empty());
}

TEST(Reclaim, TimeoutsCountTowardPressure)
{
    auto s = settings(10);
    s.global_timeout_ms = 100000;
    // index 0 goes by the global timeout; that alone brings 10 to 9, still
    // at the threshold: one pressure victim more.
    std::vector<ReclaimCandidate> c = {idle_for(0, 200), idle_for(1, 90), idle_for(2, 80)};
    auto out = plan(c, s);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].rule, ReclaimRule::Global);
    EXPECT_EQ(out[1].rule, ReclaimRule::Pressure);
    EXPECT_EQ(out[1].index, 1);
}

TEST(Reclaim, PressureOffAtZero)
{
    auto s = settings(10);
    s.pressure_threshold_pct = 0;
    EXPECT_TRUE(plan({idle_for(0, 900)}, s).empty());
}

TEST(Reclaim, RoleTimeoutAndClassFromBudgets)
{
    poolgov::test::OwnedBudgetSet owned;
    BudgetSet *set = &owned.set;
    auto rule = [&](uint32_t role, uint32_t db, int64_t idle_ms, Priority p) {
        BudgetRule &r = set->rules[set->count++];
        r = BudgetRule{};
        r.role_oid = role;
        r.db_oid = db;
        r.max_connections = kUnlimited;
        r.max_active = kUnlimited;
        r.idle_timeout_ms = idle_ms;
        r.priority = p;
    };
    rule(200, 0, 60000, Priority::Normal);  // group, every database
    rule(100, 7, 5000, Priority::Low);      // the role itself, database 7 only
    budget_set_index(*set);
    uint32_t member_of[] = {100, 200};
    EXPECT_EQ(role_idle_timeout(*set, member_of, 2, 7), 5000);
    EXPECT_EQ(role_idle_timeout(*set, member_of, 2, 8), 60000);
    EXPECT_EQ(role_idle_timeout(*set, member_of, 1, 8), -1);
    EXPECT_EQ(role_priority_class(*set, member_of, 2, 7), Priority::Low);
    EXPECT_EQ(role_priority_class(*set, member_of, 2, 8), Priority::Normal);
}

TEST(Reclaim, MessagesSayWhoWhyAndHowLong)
{
    ReclaimText t = describe_reclaim(ReclaimRule::Role, 2500, 2000, 90);
    EXPECT_NE(std::string(t.message).find("pg_poolgov ended this session after 2.5 s idle"),
              std::string::npos);
    EXPECT_NE(std::string(t.detail).find("2500 ms"), std::string::npos);
    EXPECT_NE(std::string(t.hint).find("idle_timeout"), std::string::npos);
    t = describe_reclaim(ReclaimRule::Pressure, 125000, 60000, 90);
    EXPECT_NE(std::string(t.message).find("2 min 5 s"), std::string::npos);
    EXPECT_NE(std::string(t.detail).find("90%"), std::string::npos);
    EXPECT_NE(std::string(t.hint).find("poolgov.pressure_threshold"), std::string::npos);
    t = describe_reclaim(ReclaimRule::Global, 15000, 10000, 90);
    EXPECT_NE(std::string(t.message).find("poolgov.idle_timeout"), std::string::npos);
}

TEST(Reclaim, ManyCandidatesEachOrderedOnce)
{
    // 5000 idle sessions (as many as a large max_connections), 5100 usable:
    // at 90 % the limit is 4590, so 411 go, all of them low ones, longest
    // idle first; the timeout ones (every 10th, global) are not taken twice.
    std::vector<ReclaimCandidate> c;
    for (int i = 0; i < 5000; ++i)
        c.push_back(idle_for(i, 100 + i, i % 2 ? Priority::Low : Priority::Normal));
    auto s = settings(5000, 5100);
    s.global_timeout_ms = 5000 * 1000;  // only the 100 idle longest (4900 s .. 5099 s)
    auto out = plan(c, s);
    ASSERT_EQ(out.size(), 411u);
    std::vector<int> seen(5000, 0);
    for (const auto &o : out)
        EXPECT_EQ(++seen[o.index], 1) << o.index;
    int timeouts = 0;
    for (const auto &o : out)
        timeouts += o.rule == ReclaimRule::Global;
    EXPECT_EQ(timeouts, 100);
    for (size_t i = 100; i < out.size(); ++i) {
        EXPECT_EQ(c[out[i].index].priority_class, Priority::Low);
        if (i > 100)
            EXPECT_GE(out[i - 1].idle_ms, out[i].idle_ms);
    }
}

namespace {

std::vector<int> budget_victims(const std::vector<ReclaimCandidate> &c, int over)
{
    std::vector<ReclaimOrder> out(c.size() + 1);
    int n = budget_plan(c.data(), static_cast<int>(c.size()), over, kNow, out.data());
    std::vector<int> idx;
    for (int i = 0; i < n; ++i) {
        EXPECT_EQ(out[i].rule, ReclaimRule::Budget);
        idx.push_back(out[i].index);
    }
    return idx;
}

}  // namespace

TEST(Reclaim, BudgetEndsTheLongestIdleUntilMetNeverActive)
{
    ReclaimCandidate active{7, false, kNow - 900 * kSec, false, false, Priority::Normal, -1};
    std::vector<ReclaimCandidate> c{idle_for(1, 5), active, idle_for(2, 300), idle_for(3, 60),
                                    idle_for(4, 1)};
    EXPECT_EQ(budget_victims(c, 2), (std::vector<int>{2, 3}));
    EXPECT_EQ(budget_victims(c, 0), std::vector<int>{});
    EXPECT_EQ(budget_victims(c, -3), std::vector<int>{});
    // Over by more than there are idle sessions: every idle one, the active stays.
    EXPECT_EQ(budget_victims(c, 9), (std::vector<int>{2, 3, 1, 4}));
}

TEST(Reclaim, BudgetMessageNamesTheFunction)
{
    ReclaimText t = describe_reclaim(ReclaimRule::Budget, 61000, 0, 90);
    EXPECT_NE(std::string(t.message).find("connection budget"), std::string::npos);
    EXPECT_NE(std::string(t.detail).find("poolgov.enforce_budget()"), std::string::npos);
    EXPECT_STREQ(reclaim_rule_name(ReclaimRule::Budget), "poolgov.enforce_budget()");
}
