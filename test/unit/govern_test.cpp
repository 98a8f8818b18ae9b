// govern_login, the one answer to "which budget rules govern this login",
// against a brute-force reference model: random rules (roles, groups, no
// role; every database or one; no address, 'local', 'all', IPv4 and IPv6
// ranges, counted as a whole or per address; timeouts; priorities) ×
// random memberships × random client addresses, with live connections
// claimed, released and recounted as the server does. Also the address
// forms, and that the lookup stays flat with 10,000 address rules.
#include "poolgov/budgets.hpp"
#include "poolgov/client_addr.hpp"

#include "budget_set_owner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

using namespace poolgov;

namespace {

// ---------------------------------------------------------------------------
// Address forms

ClientAddr rule_addr(const char *text)
{
    ClientAddr a;
    EXPECT_TRUE(parse_rule_addr(text, a)) << text;
    return a;
}

ClientAddr login_addr(const char *text)
{
    ClientAddr a;
    EXPECT_TRUE(parse_login_addr(text, a)) << text;
    return a;
}

std::string text_of(const ClientAddr &a)
{
    char out[kAddrLen];
    format_addr(a, out);
    return out;
}

}  // namespace

TEST(ClientAddr, RuleFormsParseAndPrintCanonically)
{
    EXPECT_EQ(text_of(rule_addr("local")), "local");
    EXPECT_EQ(text_of(rule_addr("all")), "all");
    EXPECT_EQ(text_of(rule_addr("10.1.2.0/24")), "10.1.2.0/24");
    EXPECT_EQ(text_of(rule_addr("10.1.2.3")), "10.1.2.3");
    EXPECT_EQ(text_of(rule_addr("10.1.2.3/32")), "10.1.2.3");
    EXPECT_EQ(text_of(rule_addr("0.0.0.0/0")), "0.0.0.0/0");
    EXPECT_EQ(text_of(rule_addr("2001:db8::/32")), "2001:db8::/32");
    EXPECT_EQ(text_of(rule_addr("2001:DB8:0:0::1")), "2001:db8::1");
    EXPECT_EQ(text_of(rule_addr("::/0")), "::/0");
    EXPECT_EQ(text_of(kNoAddr), "");
}

TEST(ClientAddr, RuleFormsRejectWhatCidrRejects)
{
    ClientAddr a;
    for (const char *bad : {"", "10.1.2.3/24", "10.1.2.0/33", "10.1.2.0/", "10.1.2.0/-1",
                            "10.1.2.0/2x", "10.1.2", "host.example", "2001:db8::1/32",
                            "2001:db8::/129", "LOCAL", "all/8", "/8", "10.1.2.0/0024"})
        EXPECT_FALSE(parse_rule_addr(bad, a)) << bad;
    EXPECT_FALSE(parse_rule_addr(nullptr, a));
}

TEST(ClientAddr, LoginAddressesAndRanges)
{
    ClientAddr local;
    EXPECT_TRUE(parse_login_addr("", local));
    EXPECT_EQ(local.family, AddrFamily::Local);
    EXPECT_TRUE(parse_login_addr(nullptr, local));
    EXPECT_EQ(local.family, AddrFamily::Local);
    ClientAddr bad;
    EXPECT_FALSE(parse_login_addr("[local]", bad));

    ClientAddr a = login_addr("10.1.2.77");
    EXPECT_TRUE(addr_in_range(a, rule_addr("10.1.2.0/24")));
    EXPECT_TRUE(addr_in_range(a, rule_addr("10.0.0.0/8")));
    EXPECT_TRUE(addr_in_range(a, rule_addr("10.1.2.77")));
    EXPECT_TRUE(addr_in_range(a, rule_addr("0.0.0.0/0")));
    EXPECT_TRUE(addr_in_range(a, rule_addr("10.1.2.64/26")));
    EXPECT_FALSE(addr_in_range(a, rule_addr("10.1.2.0/26")));
    EXPECT_FALSE(addr_in_range(a, rule_addr("10.1.3.0/24")));
    EXPECT_FALSE(addr_in_range(a, rule_addr("::/0")));  // families never mix
    EXPECT_FALSE(addr_in_range(a, rule_addr("local")));
    EXPECT_TRUE(addr_in_range(a, rule_addr("all")));
    EXPECT_FALSE(addr_in_range(a, kNoAddr));
    EXPECT_TRUE(addr_in_range(local, rule_addr("local")));
    EXPECT_TRUE(addr_in_range(local, rule_addr("all")));
    EXPECT_FALSE(addr_in_range(local, rule_addr("0.0.0.0/0")));
    ClientAddr v6 = login_addr("2001:db8::7");
    EXPECT_TRUE(addr_in_range(v6, rule_addr("2001:db8::/32")));
    EXPECT_FALSE(addr_in_range(v6, rule_addr("2001:db9::/32")));
    EXPECT_FALSE(addr_in_range(login_addr("::ffff:10.1.2.77"), rule_addr("10.0.0.0/8")));
}

namespace {

// ---------------------------------------------------------------------------
// The reference model

// Range membership written apart from the core: bit by bit.
bool ref_in_range(const ClientAddr &a, const ClientAddr &r)
{
    if (r.family == AddrFamily::All)
        return true;
    if (r.family == AddrFamily::None || a.family != r.family)
        return false;
    if (r.family == AddrFamily::Local)
        return true;
    for (int bit = 0; bit < r.prefix; ++bit) {
        int x = a.bytes[bit / 8] >> (7 - bit % 8) & 1;
        int y = r.bytes[bit / 8] >> (7 - bit % 8) & 1;
        if (x != y)
            return false;
    }
    return true;
}

bool same_addr(const ClientAddr &a, const ClientAddr &b)
{
    return a.family == b.family && a.prefix == b.prefix &&
           std::memcmp(a.bytes, b.bytes, sizeof(a.bytes)) == 0;
}

// The documented specificity, as a tuple: database; own role, group, no
// role; per address; range precision ('all' 1, a prefix 2 + its length,
// 'local' 150).
std::tuple<int, int, int, int> ref_specificity(const BudgetRule &r, uint32_t login_role)
{
    int role = r.role_oid == login_role ? 2 : r.role_oid != 0 ? 1 : 0;
    int each = r.addr.family != AddrFamily::None && r.addr_scope == AddrScope::EachAddress;
    int range = 0;
    switch (r.addr.family) {
    case AddrFamily::None:
        range = 0;
        break;
    case AddrFamily::All:
        range = 1;
        break;
    case AddrFamily::Local:
        range = 150;
        break;
    default:
        range = 2 + r.addr.prefix;
    }
    return {r.db_oid != 0, role, each, range};
}

struct RefConn {
    uint32_t db;
    ClientAddr addr;
    std::vector<uint32_t> closure;
};

bool contains(const std::vector<uint32_t> &v, uint32_t x)
{
    return std::find(v.begin(), v.end(), x) != v.end();
}

bool ref_applies(const BudgetRule &r, const std::vector<uint32_t> &closure, uint32_t db,
                 const ClientAddr &addr)
{
    if (r.role_oid != 0 && !contains(closure, r.role_oid))
        return false;
    if (r.db_oid != 0 && r.db_oid != db)
        return false;
    if (r.addr.family == AddrFamily::None)
        return true;
    return addr.family != AddrFamily::None && ref_in_range(addr, r.addr);
}

int ref_count(const BudgetRule &r, const std::vector<RefConn> &conns, const ClientAddr &addr)
{
    int n = 0;
    for (const RefConn &c : conns) {
        if (!ref_applies(r, c.closure, c.db, c.addr))
            continue;
        if (r.addr.family != AddrFamily::None && r.addr_scope == AddrScope::EachAddress &&
            !same_addr(c.addr, addr))
            continue;
        ++n;
    }
    return n;
}

Governance ref_govern(const std::vector<BudgetRule> &rules, const std::vector<RefConn> &conns,
                      const std::vector<uint32_t> &closure, uint32_t db, const ClientAddr &addr)
{
    Governance g{0, -1, 0, -1, 0, false, false, false, -1, -1, 0, 0};
    uint32_t me = closure[0];
    auto limit = [&](int i) {
        return rules[i].max_connections == kUnlimited ? int64_t{1} << 40 : rules[i].max_connections;
    };
    // Strictly before: rules are visited in table order, so ties keep the first.
    auto before = [&](int a, int b) {
        if (b < 0)
            return true;
        if (limit(a) != limit(b))
            return limit(a) < limit(b);
        return ref_specificity(rules[a], me) > ref_specificity(rules[b], me);
    };
    auto more_specific = [&](int a, int b) {
        return b < 0 || ref_specificity(rules[a], me) > ref_specificity(rules[b], me);
    };
    for (int i = 0; i < static_cast<int>(rules.size()); ++i) {
        const BudgetRule &r = rules[i];
        if (!ref_applies(r, closure, db, addr))
            continue;
        g.applying++;
        g.own_rule |= r.role_oid == me;
        g.high_priority |= r.priority == Priority::High;
        g.low_priority |= r.priority == Priority::Low;
        if (r.admission_timeout_ms > 0 && more_specific(i, g.admission_timeout_rule)) {
            g.admission_timeout_rule = i;
            g.admission_timeout_ms = r.admission_timeout_ms;
        }
        if (r.idle_in_transaction_timeout_ms > 0 &&
            more_specific(i, g.idle_in_transaction_timeout_rule)) {
            g.idle_in_transaction_timeout_rule = i;
            g.idle_in_transaction_timeout_ms = r.idle_in_transaction_timeout_ms;
        }
        int current = ref_count(r, conns, addr);
        if (before(i, g.tightest)) {
            g.tightest = i;
            g.tightest_current = current;
        }
        if (r.max_connections != kUnlimited && current >= r.max_connections &&
            before(i, g.refusing)) {
            g.refusing = i;
            g.refusing_current = current;
        }
    }
    return g;
}

void expect_same(const Governance &got, const Governance &want, int c)
{
    ASSERT_EQ(got.applying, want.applying) << "case " << c;
    ASSERT_EQ(got.refusing, want.refusing) << "case " << c;
    ASSERT_EQ(got.refusing_current, want.refusing_current) << "case " << c;
    ASSERT_EQ(got.tightest, want.tightest) << "case " << c;
    ASSERT_EQ(got.tightest_current, want.tightest_current) << "case " << c;
    ASSERT_EQ(got.own_rule, want.own_rule) << "case " << c;
    ASSERT_EQ(got.high_priority, want.high_priority) << "case " << c;
    ASSERT_EQ(got.low_priority, want.low_priority) << "case " << c;
    ASSERT_EQ(got.admission_timeout_rule, want.admission_timeout_rule) << "case " << c;
    ASSERT_EQ(got.admission_timeout_ms, want.admission_timeout_ms) << "case " << c;
    ASSERT_EQ(got.idle_in_transaction_timeout_rule, want.idle_in_transaction_timeout_rule)
        << "case " << c;
    ASSERT_EQ(got.idle_in_transaction_timeout_ms, want.idle_in_transaction_timeout_ms)
        << "case " << c;
}

// The server side: slots with closures and addresses, counts kept
// incrementally (claim +1, release -1) and recounted on install.
struct Server {
    static constexpr int kSlots = 64;
    std::vector<ConnSlot> slots = std::vector<ConnSlot>(kSlots);
    std::vector<bool> used = std::vector<bool>(kSlots);
    std::vector<RefConn> ref = std::vector<RefConn>(kSlots);
    std::vector<MemberChunk> chunks = std::vector<MemberChunk>(kSlots * 4);
    MemberPool pool{};
    test::OwnedBudgetSet owned;
    BudgetSet &set = owned.set;
    std::vector<BudgetRule> rules;

    explicit Server(uint32_t pair_slots = 0) : owned(512, pair_slots)
    {
        member_pool_init(pool, chunks.data(), static_cast<uint32_t>(chunks.size()));
    }

    std::vector<RefConn> live() const
    {
        std::vector<RefConn> out;
        for (int i = 0; i < kSlots; ++i)
            if (used[i])
                out.push_back(ref[i]);
        return out;
    }

    void install(const std::vector<BudgetRule> &fresh)
    {
        rules = fresh;
        set.count = static_cast<uint32_t>(fresh.size());
        std::copy(fresh.begin(), fresh.end(), set.rules);
        budget_set_index(set);
        for (int i = 0; i < kSlots; ++i)
            if (used[i])
                budget_set_count(set, slots[i], pool, +1);
    }

    void claim(const std::vector<uint32_t> &closure, uint32_t db, const ClientAddr &addr,
               const char *addr_text)
    {
        for (int i = 0; i < kSlots; ++i) {
            if (used[i])
                continue;
            ConnSlot &s = slots[i];
            s = ConnSlot{};
            s.role_oid = closure[0];
            s.db_oid = db;
            copy_text(s.client_addr, addr_text);
            int head = std::min<int>(static_cast<int>(closure.size()), kMaxMemberOf);
            for (int k = 0; k < head; ++k)
                s.member_of[s.n_member_of++] = closure[k];
            if (static_cast<int>(closure.size()) > kMaxMemberOf)
                s.member_chain = member_pool_store(pool, closure.data() + kMaxMemberOf,
                                                   static_cast<int>(closure.size()) - kMaxMemberOf);
            used[i] = true;
            ref[i] = RefConn{db, addr, closure};
            budget_set_count(set, s, pool, +1);
            return;
        }
    }

    void release(int i)
    {
        budget_set_count(set, slots[i], pool, -1);
        member_pool_free(pool, slots[i].member_chain);
        slots[i].member_chain = 0;
        used[i] = false;
    }
};

struct Gen {
    std::mt19937 rng;
    int n_roles = 10, n_dbs = 3;
    explicit Gen(uint32_t seed) : rng(seed) {}
    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
    uint32_t role() { return 1000 + static_cast<uint32_t>(pick(0, n_roles - 1)); }

    // A login address from a small space, so addresses and ranges meet.
    std::string addr_text()
    {
        int k = pick(0, 9);
        if (k < 2)
            return "";
        if (k < 8)
            return "10.0." + std::to_string(pick(0, 3)) + "." + std::to_string(pick(0, 7));
        return "fd00::" + std::to_string(pick(0, 3)) + ":" + std::to_string(pick(0, 7));
    }

    BudgetRule random_rule()
    {
        BudgetRule r{};
        int with_role = pick(0, 3);
        r.role_oid = with_role != 0 ? role() : 0;
        r.db_oid = pick(0, 2) == 0 ? 10 + static_cast<uint32_t>(pick(0, n_dbs - 1)) : 0;
        int a = r.role_oid == 0 ? pick(1, 9) : pick(0, 9);
        if (a == 0 || a == 1) {
            r.addr = kNoAddr;
        } else if (a == 2) {
            r.addr = kLocalAddr;
        } else if (a == 3) {
            r.addr = ClientAddr{AddrFamily::All, 0, {}};
        } else {
            std::string t = addr_text();
            if (t.empty()) {
                r.addr = kLocalAddr;
            } else {
                ClientAddr base = login_addr(t.c_str());
                static const int v4[] = {0, 8, 16, 22, 24, 29, 30, 32};
                static const int v6[] = {0, 64, 112, 120, 125, 128};
                int p = base.family == AddrFamily::V4 ? v4[pick(0, 7)] : v6[pick(0, 5)];
                r.addr = addr_mask(base, p);
            }
        }
        if (r.addr.family == AddrFamily::None && r.role_oid == 0)
            r.role_oid = role();
        r.addr_scope = pick(0, 2) == 0 ? AddrScope::EachAddress : AddrScope::Range;
        if (r.addr.family == AddrFamily::None)
            r.addr_scope = AddrScope::Range;
        format_addr(r.addr, r.addr_text);
        r.max_connections = pick(0, 5) == 0 ? kUnlimited : pick(0, 7);
        r.max_active = kUnlimited;
        r.idle_timeout_ms = -1;
        r.admission_timeout_ms = pick(0, 2) == 0 ? pick(1, 5) * 1000 : 0;
        r.idle_in_transaction_timeout_ms = pick(0, 2) == 0 ? pick(1, 5) * 1000 : 0;
        r.priority = static_cast<Priority>(pick(0, 2));
        return r;
    }

    std::vector<BudgetRule> random_rules()
    {
        std::vector<BudgetRule> out;
        int n = pick(0, 3 * n_roles);
        for (int k = 0; k < n; ++k) {
            BudgetRule r = random_rule();
            bool dup = false;
            for (const BudgetRule &o : out)
                dup = dup || (o.role_oid == r.role_oid && o.db_oid == r.db_oid &&
                              same_addr(o.addr, r.addr) && o.addr_scope == r.addr_scope);
            if (!dup)
                out.push_back(r);
        }
        // As poolgov.budgets orders them: by role name, database, address.
        return out;
    }

    std::vector<uint32_t> closure()
    {
        std::vector<uint32_t> c{role()};
        int extra = pick(0, 9) == 0 ? pick(0, n_roles) : pick(0, 3);
        for (int k = 0; k < extra; ++k) {
            uint32_t g = role();
            if (!contains(c, g))
                c.push_back(g);
        }
        return c;
    }
};

}  // namespace

TEST(Govern, MatchesReferenceModelOnRandomRulesMembershipsAndAddresses)
{
    Gen gen(20261206);
    int cases = 0, refused = 0, by_address = 0, each_address = 0;
    for (int round = 0; round < 80; ++round) {
        Server srv;
        gen.n_roles = gen.pick(0, 3) == 0 ? gen.pick(70, 120) : gen.pick(3, 12);
        gen.n_dbs = gen.pick(1, 3);
        srv.install(gen.random_rules());
        for (int step = 0; step < 300; ++step) {
            int what = gen.pick(0, 19);
            if (what == 0) {
                srv.install(gen.random_rules());
                continue;
            }
            if (what <= 5) {
                std::vector<int> live;
                for (int i = 0; i < Server::kSlots; ++i)
                    if (srv.used[i])
                        live.push_back(i);
                if (!live.empty())
                    srv.release(live[gen.pick(0, static_cast<int>(live.size()) - 1)]);
                continue;
            }
            std::vector<uint32_t> closure = gen.closure();
            uint32_t db = 10 + static_cast<uint32_t>(gen.pick(0, gen.n_dbs - 1));
            std::string text = gen.addr_text();
            ClientAddr addr = login_addr(text.c_str());
            Governance got = govern_login(srv.set, closure[0], closure.data(),
                                          static_cast<int>(closure.size()), db, addr);
            Governance want = ref_govern(srv.rules, srv.live(), closure, db, addr);
            expect_same(got, want, cases);
            // decide_login asks the same function.
            LoginRequest req{
                closure[0], db, false, false, closure.data(), static_cast<int>(closure.size()),
                addr};
            LoginPolicy policy{EnforceMode::On, true, -1, false, 100, 0};
            LoginDecision d = decide_login(req, srv.set, LiveCounts{0, 0, 0}, policy);
            ASSERT_EQ(d.rule, want.refusing) << "case " << cases;
            ASSERT_EQ(d.verdict == Verdict::Refuse, want.refusing >= 0) << "case " << cases;
            if (want.refusing >= 0) {
                ASSERT_EQ(d.current, want.refusing_current);
                refused++;
                const BudgetRule &r = srv.rules[want.refusing];
                by_address += r.addr.family != AddrFamily::None;
                each_address += r.addr_scope == AddrScope::EachAddress;
            } else {
                srv.claim(closure, db, addr, text.c_str());
            }
            // The role-wide answer of the views: rules for every database
            // and without an address only.
            Governance wide = govern_login(srv.set, closure[0], closure.data(),
                                           static_cast<int>(closure.size()), 0, kNoAddr);
            expect_same(wide, ref_govern(srv.rules, srv.live(), closure, 0, kNoAddr), cases);
            cases++;
        }
    }
    EXPECT_GT(cases, 10000);
    // The cases cover what they claim to: refusals by address rules of both scopes.
    EXPECT_GT(refused, 1000);
    EXPECT_GT(by_address, 300);
    EXPECT_GT(each_address, 100);
}

TEST(Govern, SpecificityBreaksTiesTheDocumentedWay)
{
    test::OwnedBudgetSet owned;
    BudgetSet &s = owned.set;
    auto add = [&](uint32_t role, uint32_t db, const char *addr, AddrScope scope) {
        BudgetRule &r = s.rules[s.count++];
        r = BudgetRule{};
        r.role_oid = role;
        r.db_oid = db;
        r.max_connections = 0;  // all full, all the same limit
        r.max_active = kUnlimited;
        r.addr_scope = scope;
        if (addr != nullptr) {
            r.addr = rule_addr(addr);
            copy_text(r.addr_text, addr);
        }
        return static_cast<int>(s.count - 1);
    };
    const uint32_t me = 100, group = 200;
    uint32_t closure[] = {me, group};
    ClientAddr from = login_addr("10.1.2.3");
    // Each line is more specific than the one before it.
    std::vector<int> order;
    order.push_back(add(0, 0, "all", AddrScope::Range));
    order.push_back(add(0, 0, "10.0.0.0/8", AddrScope::Range));
    order.push_back(add(0, 0, "10.1.2.0/24", AddrScope::Range));
    order.push_back(add(0, 0, "all", AddrScope::EachAddress));
    order.push_back(add(group, 0, nullptr, AddrScope::Range));
    order.push_back(add(group, 0, "10.1.2.0/24", AddrScope::Range));
    order.push_back(add(me, 0, nullptr, AddrScope::Range));
    order.push_back(add(me, 0, "10.0.0.0/8", AddrScope::EachAddress));
    order.push_back(add(0, 7, "all", AddrScope::Range));
    order.push_back(add(group, 7, nullptr, AddrScope::Range));
    order.push_back(add(me, 7, nullptr, AddrScope::Range));
    order.push_back(add(me, 7, "10.1.2.3", AddrScope::Range));
    std::vector<BudgetRule> all(s.rules, s.rules + s.count);
    // Add them in every rotation of table order: the most specific wins
    // whatever the order.
    for (size_t rot = 0; rot < all.size(); ++rot) {
        s.count = 0;
        for (size_t k = 0; k < all.size(); ++k)
            s.rules[s.count++] = all[(k + rot) % all.size()];
        budget_set_index(s);
        Governance g = govern_login(s, me, closure, 2, 7, from);
        ASSERT_GE(g.refusing, 0);
        int original = static_cast<int>((g.refusing + rot) % all.size());
        EXPECT_EQ(original, order.back()) << "rotation " << rot;
        EXPECT_EQ(g.applying, static_cast<int>(all.size()));
    }
    for (size_t k = 1; k < order.size(); ++k)
        EXPECT_GT(rule_specificity(all[order[k]], me), rule_specificity(all[order[k - 1]], me))
            << k;
}

TEST(Govern, TimeoutsComeFromTheMostSpecificRuleThatSetsThem)
{
    test::OwnedBudgetSet owned;
    BudgetSet &s = owned.set;
    auto add = [&](uint32_t role, uint32_t db, int64_t adm, int64_t idle) {
        BudgetRule &r = s.rules[s.count++];
        r = BudgetRule{};
        r.role_oid = role;
        r.db_oid = db;
        r.max_connections = kUnlimited;
        r.admission_timeout_ms = adm;
        r.idle_in_transaction_timeout_ms = idle;
    };
    add(200, 0, 5000, 7000);  // the group
    add(100, 0, 0, 3000);     // the role itself: idle only
    add(100, 9, 0, 0);        // in database 9: nothing set
    budget_set_index(s);
    uint32_t closure[] = {100, 200};
    Governance g = govern_login(s, 100, closure, 2, 9, kLocalAddr);
    EXPECT_EQ(g.admission_timeout_ms, 5000);  // only the group sets it
    EXPECT_EQ(g.admission_timeout_rule, 0);
    EXPECT_EQ(g.idle_in_transaction_timeout_ms, 3000);  // own beats group
    EXPECT_EQ(g.idle_in_transaction_timeout_rule, 1);
    uint32_t other[] = {101};
    Governance none = govern_login(s, 101, other, 1, 9, kLocalAddr);
    EXPECT_EQ(none.admission_timeout_ms, 0);  // not set: the global setting holds
    EXPECT_EQ(none.admission_timeout_rule, -1);
    EXPECT_EQ(none.applying, 0);
}

TEST(Govern, AddressRefusalTextsNameTheRuleAndTheCount)
{
    BudgetRule r{};
    r.role_oid = 100;
    copy_text(r.role_name, "app");
    r.addr = rule_addr("all");
    r.addr_scope = AddrScope::EachAddress;
    copy_text(r.addr_text, "all");
    r.max_connections = 20;
    LoginDecision d{Verdict::Refuse, LimitKind::Budget, 0, 20, 20, false, false, 0};
    RefusalText t = describe_refusal(d, &r, LoginNames{"app", "sales", "10.1.2.3"});
    EXPECT_STREQ(t.sqlstate, "53300");
    EXPECT_STREQ(t.message, "too many connections from client address 10.1.2.3");
    EXPECT_STREQ(t.detail,
                 "Address 10.1.2.3 has 20 connections of role \"app\"; the pg_poolgov budget "
                 "for client_addr 'all' allows 20 from any one address.");
    EXPECT_STREQ(t.hint,
                 "Close idle connections from 10.1.2.3, or raise the budget with "
                 "poolgov.set_budget_rule(role => 'app', client_addr => 'all', per_address => "
                 "true, max_connections => ...).");
    EXPECT_STREQ(decision_kind(d, &r, 100), "address");

    BudgetRule range{};
    range.addr = rule_addr("10.1.2.0/24");
    copy_text(range.addr_text, "10.1.2.0/24");
    range.max_connections = 50;
    LoginDecision d2{Verdict::Refuse, LimitKind::Budget, 0, 50, 50, false, false, 0};
    RefusalText t2 = describe_refusal(d2, &range, LoginNames{"web", "sales", ""});
    EXPECT_STREQ(t2.message, "too many connections from client addresses 10.1.2.0/24");
    EXPECT_STREQ(t2.detail,
                 "Client addresses 10.1.2.0/24 have 50 connections (this one: local); the "
                 "pg_poolgov budget for client_addr '10.1.2.0/24' allows 50.");
    EXPECT_STREQ(t2.hint,
                 "Close idle connections from local, or raise the budget with "
                 "poolgov.set_budget_rule(client_addr => '10.1.2.0/24', max_connections => ...).");

    // One address as a range; unix sockets; a database.
    BudgetRule single{};
    single.addr = rule_addr("10.9.9.9");
    copy_text(single.addr_text, "10.9.9.9");
    single.db_oid = 5;
    copy_text(single.db_name, "sales");
    LoginDecision d3{Verdict::Refuse, LimitKind::Budget, 0, 0, 0, false, false, 0};
    RefusalText t3 = describe_refusal(d3, &single, LoginNames{"web", "sales", "10.9.9.9"});
    EXPECT_STREQ(t3.message, "too many connections from client address 10.9.9.9");
    EXPECT_STREQ(t3.detail,
                 "Address 10.9.9.9 has 0 connections to database \"sales\"; the pg_poolgov "
                 "budget for client_addr '10.9.9.9' allows 0.");
    EXPECT_NE(std::string(t3.hint).find("database => 'sales', client_addr => '10.9.9.9'"),
              std::string::npos)
        << t3.hint;
    BudgetRule sockets{};
    sockets.addr = kLocalAddr;
    copy_text(sockets.addr_text, "local");
    RefusalText t4 = describe_refusal(d3, &sockets, LoginNames{"web", "sales", ""});
    EXPECT_STREQ(t4.message, "too many connections over unix sockets");

    BudgetRule group{};
    group.role_oid = 200;
    copy_text(group.role_name, "staff");
    EXPECT_STREQ(decision_kind(d, &group, 100), "group");
    group.db_oid = 5;
    EXPECT_STREQ(decision_kind(d, &group, 100), "database");
    LoginDecision def{Verdict::Refuse, LimitKind::DefaultBudget, -1, 3, 3, false, false, 0};
    EXPECT_STREQ(decision_kind(def, nullptr, 100), "default");
}

// Per-address counts go away with their connections and survive a full
// table without corrupting others (the overflow is counted).
TEST(Govern, PerAddressCountsFollowClaimsAndReleases)
{
    Server srv(4);  // a tiny table
    BudgetRule r{};
    r.role_oid = 0;
    r.addr = rule_addr("all");
    r.addr_scope = AddrScope::EachAddress;
    r.max_connections = 2;
    srv.install({r});
    std::vector<uint32_t> closure{100};
    for (int k = 0; k < 20; ++k) {
        std::string a = "10.0.0." + std::to_string(k);
        srv.claim(closure, 10, login_addr(a.c_str()), a.c_str());
    }
    const uint32_t usable = srv.set.pair_capacity - 1;  // one entry stays empty
    ASSERT_LT(usable, 20u);
    EXPECT_EQ(srv.set.pairs_used, usable);
    EXPECT_EQ(srv.set.pairs_overflowed, 20u - usable);
    EXPECT_EQ(srv.set.live[0], 20);
    EXPECT_EQ(rule_count(srv.set, 0, login_addr("10.0.0.0")), 1);
    for (int i = 0; i < Server::kSlots; ++i)
        if (srv.used[i])
            srv.release(i);
    EXPECT_EQ(srv.set.pairs_used, 0u);
    EXPECT_EQ(srv.set.live[0], 0);
    for (uint32_t i = 0; i < srv.set.pair_capacity; ++i)
        EXPECT_EQ(srv.set.pairs[i].rule_plus1, 0u);
}

// 10,000 address rules: a login's lookup does not scan them. Measured as
// the time of a login's govern_login against 1,000 and 10,000 rules (one
// per /32 and one per /24 of a 10.x network, half on a role; the logins
// find rules in both): a scan would take ten times as long; the index
// takes a few more binary-search steps.
TEST(Govern, LookupStaysFlatWithTenThousandAddressRules)
{
    auto build = [](test::OwnedBudgetSet &owned, int n) {
        BudgetSet &s = owned.set;
        s.count = 0;
        for (int k = 0; k < n; ++k) {
            BudgetRule &r = s.rules[s.count++];
            r = BudgetRule{};
            r.role_oid = k % 2 == 0 ? 0 : 1000 + static_cast<uint32_t>(k % 50);
            std::string a = k % 4 < 2 ? "10." + std::to_string(k / 256 % 256) + "." +
                                            std::to_string(k % 256) + ".7"
                                      : "10." + std::to_string(k / 256 % 256) + "." +
                                            std::to_string(k % 256) + ".0/24";
            r.addr = rule_addr(a.c_str());
            copy_text(r.addr_text, a.c_str());
            r.max_connections = 5;
        }
        budget_set_index(s);
    };
    test::OwnedBudgetSet small(1000), big(10000);
    build(small, 1000);
    build(big, 10000);
    uint32_t closure[] = {1001, 1003, 1005};
    std::vector<ClientAddr> logins;
    for (int k = 0; k < 256; ++k) {
        std::string a = "10." + std::to_string(k % 4) + "." + std::to_string(k) + ".7";
        logins.push_back(login_addr(a.c_str()));
    }
    auto time_of = [&](const BudgetSet &s) {
        volatile int sink = 0;
        auto start = std::chrono::steady_clock::now();
        for (int rep = 0; rep < 200; ++rep)
            for (const ClientAddr &a : logins)
                sink = sink + govern_login(s, 1001, closure, 3, 5, a).applying;
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    time_of(big.set);  // warm up
    double best_small = 1e9, best_big = 1e9;
    for (int k = 0; k < 5; ++k) {
        best_small = std::min(best_small, time_of(small.set));
        best_big = std::min(best_big, time_of(big.set));
    }
    // Prefix lengths in use: 24 and 32 in both sets, so the same buckets.
    EXPECT_LT(best_big, 3 * best_small)
        << "1,000 rules " << best_small << " s, 10,000 rules " << best_big << " s";
    // And the big set does find the rules of these addresses.
    Governance g = govern_login(big.set, 1001, closure, 3, 5, login_addr("10.0.1.7"));
    EXPECT_GE(g.applying, 1);
}

// The timeouts' messages name the rule that set them by its parts.
TEST(Govern, RuleNamesHaveOnlyTheRulesParts)
{
    BudgetRule role{};
    role.role_oid = 100;
    copy_text(role.role_name, "app");
    EXPECT_STREQ(describe_rule(role).text, "role app");

    BudgetRule all = role;
    all.db_oid = 5;
    copy_text(all.db_name, "sales");
    all.addr = rule_addr("10.1.2.0/24");
    copy_text(all.addr_text, "10.1.2.0/24");
    EXPECT_STREQ(describe_rule(all).text,
                 "role app in database sales from client_addr 10.1.2.0/24");

    BudgetRule addr{};
    addr.addr = rule_addr("local");
    copy_text(addr.addr_text, "local");
    EXPECT_STREQ(describe_rule(addr).text, "client_addr local");
    addr.db_oid = 5;
    copy_text(addr.db_name, "sales");
    EXPECT_STREQ(describe_rule(addr).text, "database sales from client_addr local");
}
