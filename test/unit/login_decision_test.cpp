// The indexed login decision (rules looked up by the closure's role OIDs,
// live counts kept per rule) against a brute-force reference: the algorithm
// pg_poolgov used before the index, which scans every rule and, per rule,
// every slot. Random rule sets, memberships (also longer than a slot holds),
// databases and live slots; counts kept incrementally across claims,
// releases and installs of new rule sets, as the server keeps them.
#include "poolgov/budgets.hpp"
#include "poolgov/oid_map.hpp"

#include "budget_set_owner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

using namespace poolgov;

namespace {

struct RefSlot {
    bool in_use = false;
    uint32_t role = 0, db = 0;
    std::vector<uint32_t> closure;  // role first
    bool overdraft = false;
};

int specificity(const BudgetRule &r, uint32_t login_role)
{
    return (r.db_oid != 0 ? 2 : 0) + (r.role_oid == login_role ? 1 : 0);
}

bool contains(const std::vector<uint32_t> &v, uint32_t x)
{
    return std::find(v.begin(), v.end(), x) != v.end();
}

// The former decide_login, verbatim in its logic.
LoginDecision reference_decide(const LoginRequest &req, const std::vector<BudgetRule> &rules,
                               const std::vector<RefSlot> &slots, const LoginPolicy &policy)
{
    LoginDecision d{Verdict::Allow, LimitKind::None, -1, 0, 0, req.listed_priority, false, 0};
    if (policy.mode == EnforceMode::Off)
        return d;
    if (req.superuser && policy.exempt_superusers)
        return d;
    auto count = [&](uint32_t role, uint32_t db, bool via) {
        int n = 0;
        for (const RefSlot &s : slots) {
            if (!s.in_use || (db != 0 && s.db != db))
                continue;
            if (role != 0 && s.role != role && !(via && contains(s.closure, role)))
                continue;
            ++n;
        }
        return n;
    };
    for (size_t i = 0; i < rules.size(); ++i) {
        const BudgetRule &r = rules[i];
        if (!rule_applies(r, req.member_of, req.n_member_of, req.db_oid))
            continue;
        if (r.priority == Priority::High)
            d.priority = true;
        if (r.max_connections == kUnlimited)
            continue;
        int current = count(r.role_oid, r.db_oid, true);
        if (current < r.max_connections)
            continue;
        bool tighter = d.kind == LimitKind::None || r.max_connections < d.limit ||
                       (r.max_connections == d.limit &&
                        specificity(r, req.role_oid) > specificity(rules[d.rule], req.role_oid));
        if (tighter) {
            d.kind = LimitKind::Budget;
            d.rule = static_cast<int>(i);
            d.current = current;
            d.limit = r.max_connections;
        }
    }
    bool own = false;
    for (const BudgetRule &r : rules)
        own = own || (r.role_oid == req.role_oid && (r.db_oid == 0 || r.db_oid == req.db_oid));
    if (d.kind == LimitKind::None && policy.default_budget >= 0 && !own) {
        int current = count(req.role_oid, 0, false);
        if (current >= policy.default_budget) {
            d.kind = LimitKind::DefaultBudget;
            d.current = current;
            d.limit = policy.default_budget;
        }
    }
    if (d.kind == LimitKind::None && policy.reserve_exhausted && !d.priority && !req.superuser) {
        d.kind = LimitKind::Reserve;
        d.current = count(0, 0, false);
        d.limit = policy.reserve_limit;
    }
    if (d.kind != LimitKind::None)
        d.verdict = policy.mode == EnforceMode::On ? Verdict::Refuse : Verdict::Warn;
    if (d.verdict == Verdict::Refuse && req.superuser && d.kind != LimitKind::Reserve) {
        int in_use = 0;
        for (const RefSlot &s : slots)
            in_use += s.in_use && s.overdraft;
        if (in_use < policy.superuser_reserve) {
            d.verdict = Verdict::Allow;
            d.overdraft = true;
            d.overdrafts_in_use = in_use;
        }
    }
    return d;
}

// The server's side: slots with member_of + member pool, live counts kept
// incrementally (claim +1, release -1, install recomputes).
struct Server {
    static constexpr int kSlots = 48;
    std::vector<ConnSlot> slots = std::vector<ConnSlot>(kSlots);
    std::vector<RefSlot> ref = std::vector<RefSlot>(kSlots);
    std::vector<MemberChunk> chunks = std::vector<MemberChunk>(kSlots * 4);
    MemberPool pool{};
    std::vector<OidMapEntry> role_storage = std::vector<OidMapEntry>(oid_map_capacity_for(kSlots));
    OidMap by_role{};
    int total = 0, overdrafts = 0;
    test::OwnedBudgetSet owned{512};
    BudgetSet &set = owned.set;
    std::vector<BudgetRule> rules;  // what the reference reads

    Server()
    {
        member_pool_init(pool, chunks.data(), static_cast<uint32_t>(chunks.size()));
        oid_map_init(by_role, role_storage.data(), static_cast<uint32_t>(role_storage.size()));
    }

    void install(const std::vector<BudgetRule> &fresh)
    {
        rules = fresh;
        set.count = static_cast<uint32_t>(fresh.size());
        std::copy(fresh.begin(), fresh.end(), set.rules);
        budget_set_index(set);
        for (int i = 0; i < kSlots; ++i)
            if (ref[i].in_use)
                budget_set_count(set, slots[i], pool, +1);
    }

    LiveCounts live(uint32_t role) const
    {
        return LiveCounts{total, static_cast<int>(oid_map_count(by_role, role)), overdrafts};
    }

    bool claim(const std::vector<uint32_t> &closure, uint32_t db, bool overdraft)
    {
        for (int i = 0; i < kSlots; ++i) {
            if (ref[i].in_use)
                continue;
            ConnSlot &s = slots[i];
            s = ConnSlot{};
            s.role_oid = closure[0];
            s.db_oid = db;
            s.overdraft = overdraft;
            int head = std::min<int>(static_cast<int>(closure.size()), kMaxMemberOf);
            for (int k = 0; k < head; ++k)
                s.member_of[s.n_member_of++] = closure[k];
            if (static_cast<int>(closure.size()) > kMaxMemberOf) {
                s.member_chain = member_pool_store(pool, closure.data() + kMaxMemberOf,
                                                   static_cast<int>(closure.size()) - kMaxMemberOf);
                if (s.member_chain == 0)
                    return false;  // the test sizes the pool so this does not happen
            }
            ref[i] = RefSlot{true, closure[0], db, closure, overdraft};
            budget_set_count(set, s, pool, +1);
            EXPECT_TRUE(oid_map_add(by_role, s.role_oid, +1));
            total++;
            overdrafts += overdraft;
            return true;
        }
        return false;
    }

    void release(int i)
    {
        ConnSlot &s = slots[i];
        budget_set_count(set, s, pool, -1);
        EXPECT_TRUE(oid_map_add(by_role, s.role_oid, -1));
        total--;
        overdrafts -= s.overdraft;
        member_pool_free(pool, s.member_chain);
        s.member_chain = 0;
        ref[i].in_use = false;
    }
};

void expect_same(const LoginDecision &a, const LoginDecision &b, int c)
{
    ASSERT_EQ(static_cast<int>(a.verdict), static_cast<int>(b.verdict)) << "case " << c;
    ASSERT_EQ(static_cast<int>(a.kind), static_cast<int>(b.kind)) << "case " << c;
    ASSERT_EQ(a.rule, b.rule) << "case " << c;
    ASSERT_EQ(a.current, b.current) << "case " << c;
    ASSERT_EQ(a.limit, b.limit) << "case " << c;
    ASSERT_EQ(a.priority, b.priority) << "case " << c;
    ASSERT_EQ(a.overdraft, b.overdraft) << "case " << c;
    ASSERT_EQ(a.overdrafts_in_use, b.overdrafts_in_use) << "case " << c;
}

}  // namespace

TEST(LoginDecision, MatchesBruteForceReferenceOnRandomCases)
{
    std::mt19937 rng(12345);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    int decisions = 0;
    for (int round = 0; round < 60; ++round) {
        Server srv;
        const int n_roles =
            pick(0, 2) == 0 ? pick(4, 20) : pick(70, 150);  // closures beyond kMaxMemberOf too
        const int n_dbs = pick(1, 4);
        auto random_rules = [&] {
            std::vector<BudgetRule> out;
            int n = pick(0, 3 * n_roles);
            for (int k = 0; k < n; ++k) {
                BudgetRule r{};
                r.role_oid = 1000 + static_cast<uint32_t>(pick(0, n_roles - 1));
                r.db_oid = pick(0, 2) == 0 ? 10 + static_cast<uint32_t>(pick(0, n_dbs - 1)) : 0;
                bool dup = false;
                for (const BudgetRule &o : out)
                    dup = dup || (o.role_oid == r.role_oid && o.db_oid == r.db_oid);
                if (dup)
                    continue;
                r.max_connections = pick(0, 5) == 0 ? kUnlimited : pick(0, 6);
                r.max_active = kUnlimited;
                r.idle_timeout_ms = -1;
                r.priority = static_cast<Priority>(pick(0, 2));
                out.push_back(r);
            }
            return out;
        };
        auto random_closure = [&] {
            std::vector<uint32_t> c{1000 + static_cast<uint32_t>(pick(0, n_roles - 1))};
            int extra = pick(0, 9) == 0 ? pick(0, n_roles) : pick(0, 4);
            for (int k = 0; k < extra; ++k) {
                uint32_t g = 1000 + static_cast<uint32_t>(pick(0, n_roles - 1));
                if (!contains(c, g))
                    c.push_back(g);
            }
            return c;
        };
        srv.install(random_rules());
        for (int step = 0; step < 400; ++step) {
            int what = pick(0, 19);
            if (what == 0) {
                srv.install(random_rules());
                continue;
            }
            if (what <= 5) {
                std::vector<int> live;
                for (int i = 0; i < Server::kSlots; ++i)
                    if (srv.ref[i].in_use)
                        live.push_back(i);
                if (!live.empty())
                    srv.release(
                        live[static_cast<size_t>(pick(0, static_cast<int>(live.size()) - 1))]);
                continue;
            }
            std::vector<uint32_t> closure = random_closure();
            uint32_t db = 10 + static_cast<uint32_t>(pick(0, n_dbs - 1));
            bool superuser = pick(0, 7) == 0;
            LoginPolicy policy{static_cast<EnforceMode>(pick(0, 9) == 0 ? pick(0, 1) : 2),
                               pick(0, 1) == 1,
                               pick(0, 3) == 0 ? pick(0, 4) : -1,
                               pick(0, 5) == 0,
                               pick(0, 40),
                               pick(0, 3)};
            LoginRequest req{closure[0],     db,
                             superuser,      pick(0, 9) == 0,
                             closure.data(), static_cast<int>(closure.size())};
            LoginDecision got = decide_login(req, srv.set, srv.live(closure[0]), policy);
            LoginDecision want = reference_decide(req, srv.rules, srv.ref, policy);
            expect_same(got, want, decisions);
            decisions++;
            if (got.verdict != Verdict::Refuse)
                srv.claim(closure, db, got.overdraft);
        }
    }
    EXPECT_GT(decisions, 15000);
}

// Live counts kept incrementally equal those recomputed from the slots.
TEST(LoginDecision, IncrementalCountsEqualRecount)
{
    std::mt19937 rng(7);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    Server srv;
    std::vector<BudgetRule> rules;
    for (uint32_t r = 0; r < 100; ++r) {
        BudgetRule b{};
        b.role_oid = 1000 + r;
        b.db_oid = r % 3 == 0 ? 11 : 0;
        b.max_connections = kUnlimited;
        rules.push_back(b);
    }
    srv.install(rules);
    for (int step = 0; step < 3000; ++step) {
        if (pick(0, 2) == 0) {
            for (int i = 0; i < Server::kSlots; ++i)
                if (srv.ref[i].in_use && pick(0, 3) == 0) {
                    srv.release(i);
                    break;
                }
        } else {
            std::vector<uint32_t> c{1000 + static_cast<uint32_t>(pick(0, 99))};
            int extra = pick(0, 4) == 0 ? 90 : pick(0, 5);
            for (int k = 0; k < extra; ++k) {
                uint32_t g = 1000 + static_cast<uint32_t>(pick(0, 99));
                if (!contains(c, g))
                    c.push_back(g);
            }
            srv.claim(c, 10 + static_cast<uint32_t>(pick(0, 1)), false);
        }
    }
    std::vector<int32_t> kept(srv.set.live, srv.set.live + srv.set.count);
    srv.install(rules);  // recounts from the slots
    std::vector<int32_t> recount(srv.set.live, srv.set.live + srv.set.count);
    EXPECT_EQ(kept, recount);
    int sum = 0;
    for (int32_t v : recount)
        sum += v;
    EXPECT_GT(sum, 0);
}
