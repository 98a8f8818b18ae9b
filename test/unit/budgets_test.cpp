#include "poolgov/budgets.hpp"
#include "poolgov/sql_text.hpp"

#include "budget_set_owner.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace poolgov;

namespace {

constexpr uint32_t kApp = 100, kBatch = 101, kGroup = 200, kOuter = 300, kOps = 400;
constexpr uint32_t kDb1 = 10, kDb2 = 11;

struct Fixture {
    std::vector<SlotKey> keys = std::vector<SlotKey>(32);
    std::vector<ConnSlot> slots = std::vector<ConnSlot>(32);
    std::unique_ptr<poolgov::test::OwnedBudgetSet> owned =
        std::make_unique<poolgov::test::OwnedBudgetSet>();
    BudgetSet *budgets = &owned->set;
    MemberPool no_pool{};

    void connect(uint32_t role, uint32_t db, std::vector<uint32_t> groups = {})
    {
        for (size_t i = 0; i < slots.size(); ++i) {
            if (keys[i].in_use)
                continue;
            keys[i] = SlotKey{1, role, db, 0};
            ConnSlot &s = slots[i];
            s = ConnSlot{};
            s.role_oid = role;
            s.db_oid = db;
            s.member_of[s.n_member_of++] = role;
            for (uint32_t g : groups)
                s.member_of[s.n_member_of++] = g;
            return;
        }
        FAIL() << "no free slot";
    }

    void rule(uint32_t role, const char *name, int32_t max, uint32_t db = 0,
              Priority prio = Priority::Normal)
    {
        BudgetRule &r = budgets->rules[budgets->count++];
        r = BudgetRule{};
        r.role_oid = role;
        r.db_oid = db;
        r.max_connections = max;
        r.max_active = kUnlimited;
        r.idle_timeout_ms = -1;
        r.priority = prio;
        copy_text(r.role_name, name);
        copy_text(r.db_name, db ? "db" : "");
    }

    LoginDecision login(uint32_t role, uint32_t db, std::vector<uint32_t> groups = {},
                        LoginPolicy policy = {EnforceMode::On, true, -1, false, 0},
                        bool superuser = false, bool listed = false)
    {
        std::vector<uint32_t> member_of{role};
        member_of.insert(member_of.end(), groups.begin(), groups.end());
        LoginRequest req{
            role, db, superuser, listed, member_of.data(), static_cast<int>(member_of.size())};
        // The live counts a server keeps, from the slots.
        budget_set_index(*budgets);
        LiveCounts live{};
        for (size_t i = 0; i < slots.size(); ++i) {
            if (!keys[i].in_use)
                continue;
            budget_set_count(*budgets, slots[i], no_pool, +1);
            live.total++;
            live.role += keys[i].role_oid == role;
            live.overdrafts += slots[i].overdraft;
        }
        return decide_login(req, *budgets, live, policy);
    }
};

}  // namespace

TEST(Budgets, NoRulesAllowsEverything)
{
    Fixture f;
    for (int i = 0; i < 10; ++i)
        f.connect(kApp, kDb1);
    auto d = f.login(kApp, kDb1);
    EXPECT_EQ(d.verdict, Verdict::Allow);
    EXPECT_EQ(d.kind, LimitKind::None);
}

TEST(Budgets, OwnBudgetRefusesAtTheLimitExactly)
{
    Fixture f;
    f.rule(kApp, "app", 3);
    for (int i = 0; i < 2; ++i)
        f.connect(kApp, kDb1);
    EXPECT_EQ(f.login(kApp, kDb1).verdict, Verdict::Allow);
    f.connect(kApp, kDb1);
    auto d = f.login(kApp, kDb2);
    EXPECT_EQ(d.verdict, Verdict::Refuse);
    EXPECT_EQ(d.kind, LimitKind::Budget);
    EXPECT_EQ(d.current, 3);
    EXPECT_EQ(d.limit, 3);
    // Another role is not affected.
    EXPECT_EQ(f.login(kBatch, kDb1).verdict, Verdict::Allow);
}

TEST(Budgets, ZeroBudgetBlocksTheRole)
{
    Fixture f;
    f.rule(kApp, "app", 0);
    EXPECT_EQ(f.login(kApp, kDb1).verdict, Verdict::Refuse);
}

TEST(Budgets, PerDatabaseBudgetAppliesOnlyThere)
{
    Fixture f;
    f.rule(kApp, "app", 1, kDb1);
    f.connect(kApp, kDb1);
    f.connect(kApp, kDb2);
    EXPECT_EQ(f.login(kApp, kDb1).verdict, Verdict::Refuse);
    EXPECT_EQ(f.login(kApp, kDb2).verdict, Verdict::Allow);
}

TEST(Budgets, GroupBudgetCapsTheSumOfMembers)
{
    Fixture f;
    f.rule(kGroup, "grp", 5);
    f.connect(kApp, kDb1, {kGroup});
    f.connect(kApp, kDb1, {kGroup});
    f.connect(kBatch, kDb2, {kGroup});
    f.connect(kOps, kDb1);  // not a member: not counted
    EXPECT_EQ(f.login(kBatch, kDb1, {kGroup}).verdict, Verdict::Allow);
    f.connect(kBatch, kDb1, {kGroup});
    f.connect(kApp, kDb1, {kGroup});
    auto d = f.login(kBatch, kDb1, {kGroup});
    EXPECT_EQ(d.verdict, Verdict::Refuse);
    EXPECT_EQ(d.current, 5);
    EXPECT_EQ(f.login(kOps, kDb1).verdict, Verdict::Allow);
}

TEST(Budgets, TransitiveMembershipCounts)
{
    Fixture f;
    f.rule(kOuter, "outer", 2);
    // app is in grp, grp is in outer: the caller passes the closure.
    f.connect(kApp, kDb1, {kGroup, kOuter});
    f.connect(kBatch, kDb1, {kOuter});
    EXPECT_EQ(f.login(kApp, kDb1, {kGroup, kOuter}).verdict, Verdict::Refuse);
}

TEST(Budgets, TightestRuleIsReported)
{
    Fixture f;
    f.rule(kGroup, "grp", 10);
    f.rule(kApp, "app", 2);
    f.rule(kApp, "app", 2, kDb1);
    f.connect(kApp, kDb1, {kGroup});
    f.connect(kApp, kDb1, {kGroup});
    auto d = f.login(kApp, kDb1, {kGroup});
    ASSERT_EQ(d.kind, LimitKind::Budget);
    EXPECT_EQ(d.rule, 2);  // same limit: the (role, database) rule is more specific
}

TEST(Budgets, DefaultBudgetOnlyForRolesWithoutOwnRule)
{
    Fixture f;
    f.rule(kBatch, "batch", 10);
    LoginPolicy p{EnforceMode::On, true, 2, false, 0};
    f.connect(kApp, kDb1);
    f.connect(kApp, kDb2);
    f.connect(kBatch, kDb1);
    f.connect(kBatch, kDb1);
    auto d = f.login(kApp, kDb1, {}, p);
    EXPECT_EQ(d.kind, LimitKind::DefaultBudget);
    EXPECT_EQ(d.current, 2);
    EXPECT_EQ(f.login(kBatch, kDb1, {}, p).verdict, Verdict::Allow);
}

TEST(Budgets, GroupRuleDoesNotLiftTheDefault)
{
    Fixture f;
    f.rule(kGroup, "grp", 100);
    LoginPolicy p{EnforceMode::On, true, 1, false, 0};
    f.connect(kApp, kDb1, {kGroup});
    EXPECT_EQ(f.login(kApp, kDb1, {kGroup}, p).kind, LimitKind::DefaultBudget);
}

TEST(Budgets, SuperuserExemptUnlessConfigured)
{
    Fixture f;
    f.rule(kApp, "app", 0);
    EXPECT_EQ(f.login(kApp, kDb1, {}, {EnforceMode::On, true, -1, false, 0}, true).verdict,
              Verdict::Allow);
    EXPECT_EQ(f.login(kApp, kDb1, {}, {EnforceMode::On, false, -1, false, 0}, true).verdict,
              Verdict::Refuse);
}

TEST(Budgets, WarnModeLetsInButReports)
{
    Fixture f;
    f.rule(kApp, "app", 1);
    f.connect(kApp, kDb1);
    auto d = f.login(kApp, kDb1, {}, {EnforceMode::Warn, true, -1, false, 0});
    EXPECT_EQ(d.verdict, Verdict::Warn);
    EXPECT_EQ(d.kind, LimitKind::Budget);
    auto off = f.login(kApp, kDb1, {}, {EnforceMode::Off, true, -1, false, 0});
    EXPECT_EQ(off.verdict, Verdict::Allow);
    EXPECT_EQ(off.kind, LimitKind::None);
}

TEST(Budgets, ReserveKeepsSlotsForPriorityRoles)
{
    Fixture f;
    f.rule(kOps, "ops", kUnlimited, 0, Priority::High);
    LoginPolicy p{EnforceMode::On, true, -1, true, 8};
    auto normal = f.login(kApp, kDb1, {}, p);
    EXPECT_EQ(normal.verdict, Verdict::Refuse);
    EXPECT_EQ(normal.kind, LimitKind::Reserve);
    EXPECT_EQ(normal.limit, 8);
    EXPECT_EQ(f.login(kOps, kDb1, {}, p).verdict, Verdict::Allow);
    EXPECT_EQ(f.login(kApp, kDb1, {}, p, false, true).verdict, Verdict::Allow);  // listed
    EXPECT_EQ(f.login(kApp, kDb1, {}, p, true).verdict, Verdict::Allow);         // superuser
    p.reserve_exhausted = false;
    EXPECT_EQ(f.login(kApp, kDb1, {}, p).verdict, Verdict::Allow);
}

TEST(Budgets, RefusalTextNamesRoleBudgetAndNumbers)
{
    Fixture f;
    f.rule(kGroup, "grp", 1);
    f.connect(kApp, kDb1, {kGroup});
    auto d = f.login(kApp, kDb1, {kGroup});
    RefusalText t = describe_refusal(d, &f.budgets->rules[d.rule], "app");
    EXPECT_STREQ(t.message, "too many connections for role \"app\"");
    EXPECT_NE(std::string(t.detail).find("\"grp\" has 1 connections"), std::string::npos);
    EXPECT_NE(std::string(t.detail).find("allows 1"), std::string::npos);
    EXPECT_NE(std::string(t.hint).find("poolgov.set_budget('grp'"), std::string::npos);
}

TEST(QuoteLiteral, AsPostgreSQLQuoteLiteral)
{
    // Expected values are what SELECT quote_literal(...) returns in PostgreSQL 15.
    EXPECT_EQ(quote_literal("app"), "'app'");
    EXPECT_EQ(quote_literal(""), "''");
    EXPECT_EQ(quote_literal("x'); DELETE --"), "'x''); DELETE --'");
    EXPECT_EQ(quote_literal("a\\b"), "E'a\\\\b'");
    EXPECT_EQ(quote_literal("it's a\\"), "E'it''s a\\\\'");
    EXPECT_EQ(quote_literal("''"), "''''''");
    EXPECT_EQ(quote_literal("caf\xc3\xa9"), "'caf\xc3\xa9'");  // bytes pass through
}

TEST(Budgets, RefusalHintsQuoteRoleNamesAsSqlLiterals)
{
    Fixture f;
    f.rule(kApp, "x'); DELETE --", 0);
    auto d = f.login(kApp, kDb1);
    ASSERT_EQ(d.kind, LimitKind::Budget);
    RefusalText t = describe_refusal(d, &f.budgets->rules[d.rule], "x'); DELETE --");
    EXPECT_STREQ(t.hint,
                 "Close idle connections, or raise the budget with "
                 "poolgov.set_budget('x''); DELETE --', ...).");

    Fixture g;
    LoginPolicy p{EnforceMode::On, true, 0, false, 0};
    auto dd = g.login(kBatch, kDb1, {}, p);
    ASSERT_EQ(dd.kind, LimitKind::DefaultBudget);
    RefusalText u = describe_refusal(dd, nullptr, "a\\b");
    EXPECT_STREQ(u.hint,
                 "Give the role a budget with poolgov.set_budget(E'a\\\\b', ...), or "
                 "raise poolgov.default_budget.");
}

TEST(Budgets, ReserveTextNeverNegative)
{
    Fixture f;
    LoginPolicy p{EnforceMode::On, true, -1, true, -963};
    auto d = f.login(kApp, kDb1, {}, p);
    ASSERT_EQ(d.kind, LimitKind::Reserve);
    RefusalText t = describe_refusal(d, nullptr, "app");
    EXPECT_EQ(std::string(t.detail).find('-'), std::string::npos) << t.detail;
    EXPECT_NE(std::string(t.detail).find("only 0 of"), std::string::npos) << t.detail;
}

TEST(Budgets, SuperuserOverdraftUpToTheSuperuserReserve)
{
    Fixture f;
    f.rule(kApp, "boss", 0);
    LoginPolicy p{EnforceMode::On, false, -1, false, 0, 2};
    // Two overdrafts are admitted, each marked on its slot; the third is refused.
    for (int i = 0; i < 2; ++i) {
        auto d = f.login(kApp, kDb1, {}, p, true);
        EXPECT_EQ(d.verdict, Verdict::Allow);
        EXPECT_TRUE(d.overdraft);
        EXPECT_EQ(d.overdrafts_in_use, i);
        EXPECT_EQ(d.kind, LimitKind::Budget);
        EXPECT_EQ(d.limit, 0);
        f.connect(kApp, kDb1);
        f.slots[static_cast<size_t>(i)].overdraft = 1;
    }
    auto third = f.login(kApp, kDb1, {}, p, true);
    EXPECT_EQ(third.verdict, Verdict::Refuse);
    EXPECT_FALSE(third.overdraft);
    // One overdraft ends: one more superuser gets in.
    f.keys[0].in_use = 0;
    EXPECT_TRUE(f.login(kApp, kDb1, {}, p, true).overdraft);
    // Never for other roles, never in warn mode, never without a reserve.
    f.rule(kBatch, "batch", 0);
    EXPECT_EQ(f.login(kBatch, kDb1, {}, p).verdict, Verdict::Refuse);
    LoginPolicy warn{EnforceMode::Warn, false, -1, false, 0, 2};
    auto w = f.login(kApp, kDb1, {}, warn, true);
    EXPECT_EQ(w.verdict, Verdict::Warn);
    EXPECT_FALSE(w.overdraft);
    LoginPolicy none{EnforceMode::On, false, -1, false, 0, 0};
    EXPECT_EQ(f.login(kApp, kDb1, {}, none, true).verdict, Verdict::Refuse);
}

TEST(Budgets, SuperuserOverdraftAlsoCoversTheDefaultBudget)
{
    Fixture f;
    LoginPolicy p{EnforceMode::On, false, 0, false, 0, 1};
    auto d = f.login(kOps, kDb1, {}, p, true);
    EXPECT_EQ(d.kind, LimitKind::DefaultBudget);
    EXPECT_TRUE(d.overdraft);
    RefusalText t = describe_overdraft(d, nullptr, "ops", 1);
    EXPECT_STREQ(t.message,
                 "superuser \"ops\" admitted over its connection budget from the superuser "
                 "reserve");
    EXPECT_NE(std::string(t.detail).find("over budget: 1 of 1"), std::string::npos) << t.detail;
    EXPECT_NE(std::string(t.hint).find("poolgov.set_budget('ops', ...)"), std::string::npos);
}

TEST(Budgets, PriorityNames)
{
    Priority p;
    EXPECT_TRUE(parse_priority("high", p));
    EXPECT_EQ(p, Priority::High);
    EXPECT_STREQ(priority_name(p), "high");
    EXPECT_FALSE(parse_priority("urgent", p));
    EXPECT_FALSE(parse_priority(nullptr, p));
}

// The budget set's index of rules by role.
TEST(BudgetIndex, RulesOfARoleAreFoundAndOthersNot)
{
    test::OwnedBudgetSet owned(16);
    BudgetSet &s = owned.set;
    auto add = [&](uint32_t role, uint32_t db) {
        BudgetRule &r = s.rules[s.count++];
        r = BudgetRule{};
        r.role_oid = role;
        r.db_oid = db;
    };
    add(30, 0);
    add(10, 0);
    add(30, 5);
    add(20, 0);
    add(30, 6);
    budget_set_index(s);
    std::vector<uint32_t> of30;
    for_each_rule_of(s, 30, [&](uint32_t r) { of30.push_back(r); });
    EXPECT_EQ(of30, (std::vector<uint32_t>{0, 2, 4}));  // table order within a role
    std::vector<uint32_t> of99;
    for_each_rule_of(s, 99, [&](uint32_t r) { of99.push_back(r); });
    EXPECT_TRUE(of99.empty());
    EXPECT_EQ(find_rule(s, 30, 5), 2);
    EXPECT_EQ(find_rule(s, 30, 7), -1);
    EXPECT_EQ(find_rule(s, 10, 0), 1);
    EXPECT_TRUE(has_own_rule(s, 30, 77));
    EXPECT_FALSE(has_own_rule(s, 40, 0));

    // Rebuild after a change: the old role is gone, the new one found.
    s.rules[1].role_oid = 40;
    budget_set_index(s);
    EXPECT_EQ(find_rule(s, 10, 0), -1);
    EXPECT_EQ(find_rule(s, 40, 0), 1);

    // A copy answers the same.
    test::OwnedBudgetSet copy(16);
    budget_set_copy(copy.set, s);
    EXPECT_EQ(find_rule(copy.set, 30, 6), 4);
    EXPECT_EQ(copy.set.count, 5u);
}

TEST(BudgetIndex, FullCapacityOfTenThousandRules)
{
    constexpr uint32_t kCap = 10000;
    test::OwnedBudgetSet owned(kCap);
    BudgetSet &s = owned.set;
    for (uint32_t i = 0; i < kCap; ++i) {
        BudgetRule &r = s.rules[s.count++];
        r = BudgetRule{};
        r.role_oid = 16384 + i / 2;  // two rules a role
        r.db_oid = i % 2 == 0 ? 0 : 5;
        r.max_connections = static_cast<int32_t>(i % 7);
    }
    budget_set_index(s);
    EXPECT_EQ(s.index.used, kCap / 2);
    for (uint32_t i = 0; i < kCap; ++i)
        ASSERT_EQ(find_rule(s, 16384 + i / 2, i % 2 == 0 ? 0 : 5), static_cast<int>(i));
}
