#include "poolgov/budgets.hpp"
#include "poolgov/sql_text.hpp"

#include "poolgov/format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "poolgov/no_postgres.hpp"

namespace poolgov {

namespace {

size_t align8(size_t n) { return (n + 7) & ~size_t{7}; }

uint32_t pair_capacity_for(uint32_t capacity, uint32_t pair_slots)
{
    return oid_map_capacity_for(pair_slots != 0 ? pair_slots : capacity);
}

uint32_t pair_hash(uint32_t rule, const ClientAddr &a)
{
    uint64_t h = 1469598103934665603ull ^ rule;
    h *= 1099511628211ull;
    h ^= static_cast<uint64_t>(a.family) << 8 | a.prefix;
    h *= 1099511628211ull;
    for (uint8_t b : a.bytes) {
        h ^= b;
        h *= 1099511628211ull;
    }
    return static_cast<uint32_t>(h ^ (h >> 32));
}

bool pair_is(const AddrCountEntry &e, uint32_t rule, const ClientAddr &a)
{
    return e.rule_plus1 == rule + 1 && addr_compare(e.addr, a) == 0;
}

// The entry of (rule, a), or the empty entry where it would go (the table
// always keeps one empty entry, so the walk ends).
uint32_t pair_probe(const BudgetSet &s, uint32_t rule, const ClientAddr &a)
{
    uint32_t mask = s.pair_capacity - 1;
    uint32_t i = pair_hash(rule, a) & mask;
    while (s.pairs[i].rule_plus1 != 0 && !pair_is(s.pairs[i], rule, a))
        i = (i + 1) & mask;
    return i;
}

// Removes entry i, shifting the rest of its run back (no tombstones).
void pair_erase_at(BudgetSet &s, uint32_t i)
{
    uint32_t mask = s.pair_capacity - 1;
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; s.pairs[j].rule_plus1 != 0; j = (j + 1) & mask) {
        uint32_t home = pair_hash(s.pairs[j].rule_plus1 - 1, s.pairs[j].addr) & mask;
        // j may move into the hole when its home is not in (hole, j].
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            s.pairs[hole] = s.pairs[j];
            hole = j;
        }
    }
    s.pairs[hole] = AddrCountEntry{};
    s.pairs_used--;
}

void pair_add(BudgetSet &s, uint32_t rule, const ClientAddr &a, int delta)
{
    uint32_t i = pair_probe(s, rule, a);
    AddrCountEntry &e = s.pairs[i];
    if (e.rule_plus1 == 0) {
        if (delta <= 0)
            return;  // a connection that was never counted here (table was full)
        if (s.pairs_used + 1 >= s.pair_capacity) {
            s.pairs_overflowed++;
            return;
        }
        e.rule_plus1 = rule + 1;
        e.addr = a;
        e.count = 0;
        s.pairs_used++;
    }
    e.count += delta;
    if (e.count <= 0)
        pair_erase_at(s, i);
}

int addr_level(const BudgetRule &r)
{
    auto range_level = [&]() -> int {
        switch (r.addr.family) {
        case AddrFamily::None:
            return 0;
        case AddrFamily::All:
            return 1;
        case AddrFamily::V4:
        case AddrFamily::V6:
            return 2 + r.addr.prefix;  // 2..130
        case AddrFamily::Local:
            return 150;  // a single "address"
        }
        return 0;
    };
    if (r.addr.family == AddrFamily::None)
        return 0;
    return (r.addr_scope == AddrScope::EachAddress ? 300 : 0) + range_level();
}

// Order of the address index: range, then role, then rule number.
int addr_key_compare(const BudgetRule &a, uint32_t ia, const BudgetRule &b, uint32_t ib)
{
    int c = addr_compare(a.addr, b.addr);
    if (c != 0)
        return c;
    if (a.role_oid != b.role_oid)
        return a.role_oid < b.role_oid ? -1 : 1;
    return ia < ib ? -1 : ia > ib ? 1 : 0;
}

}  // namespace

int rule_specificity(const BudgetRule &r, uint32_t login_role)
{
    int role_level = r.role_oid == login_role ? 2 : r.role_oid != 0 ? 1 : 0;
    return (r.db_oid != 0 ? 10000 : 0) + role_level * 1000 + addr_level(r);
}

size_t budget_set_bytes(uint32_t capacity, uint32_t pair_slots)
{
    uint32_t index_capacity = oid_map_capacity_for(capacity);
    return align8(sizeof(BudgetRule) * capacity) + 2 * align8(sizeof(uint32_t) * capacity) +
           align8(sizeof(int32_t) * capacity) + align8(sizeof(OidMapEntry) * index_capacity) +
           sizeof(AddrCountEntry) * pair_capacity_for(capacity, pair_slots);
}

void budget_set_attach(BudgetSet &s, void *block, uint32_t capacity, uint32_t pair_slots)
{
    char *p = static_cast<char *>(block);
    s = BudgetSet{};
    s.capacity = capacity;
    s.rules = reinterpret_cast<BudgetRule *>(p);
    p += align8(sizeof(BudgetRule) * capacity);
    s.by_role = reinterpret_cast<uint32_t *>(p);
    p += align8(sizeof(uint32_t) * capacity);
    s.by_addr = reinterpret_cast<uint32_t *>(p);
    p += align8(sizeof(uint32_t) * capacity);
    s.live = reinterpret_cast<int32_t *>(p);
    p += align8(sizeof(int32_t) * capacity);
    uint32_t index_capacity = oid_map_capacity_for(capacity);
    oid_map_init(s.index, reinterpret_cast<OidMapEntry *>(p), index_capacity);
    p += align8(sizeof(OidMapEntry) * index_capacity);
    s.pairs = reinterpret_cast<AddrCountEntry *>(p);
    s.pair_capacity = pair_capacity_for(capacity, pair_slots);
    budget_set_zero_counts(s);
}

void budget_set_zero_counts(BudgetSet &s)
{
    for (uint32_t i = 0; i < s.count; ++i)
        s.live[i] = 0;
    std::memset(static_cast<void *>(s.pairs), 0, sizeof(AddrCountEntry) * s.pair_capacity);
    s.pairs_used = 0;
    s.pairs_overflowed = 0;
}

void budget_set_index(BudgetSet &s)
{
    s.n_role = 0;
    s.n_addr = 0;
    s.prefixes_v4[0] = 0;
    s.prefixes_v6[0] = s.prefixes_v6[1] = s.prefixes_v6[2] = 0;
    s.has_local = s.has_all = 0;
    for (uint32_t i = 0; i < s.count; ++i) {
        const BudgetRule &r = s.rules[i];
        switch (r.addr.family) {
        case AddrFamily::None:
            s.by_role[s.n_role++] = i;
            break;
        case AddrFamily::Local:
            s.has_local = 1;
            s.by_addr[s.n_addr++] = i;
            break;
        case AddrFamily::All:
            s.has_all = 1;
            s.by_addr[s.n_addr++] = i;
            break;
        case AddrFamily::V4:
            s.prefixes_v4[r.addr.prefix / 64] |= uint64_t{1} << (r.addr.prefix % 64);
            s.by_addr[s.n_addr++] = i;
            break;
        case AddrFamily::V6:
            s.prefixes_v6[r.addr.prefix / 64] |= uint64_t{1} << (r.addr.prefix % 64);
            s.by_addr[s.n_addr++] = i;
            break;
        }
    }
    std::stable_sort(s.by_role, s.by_role + s.n_role, [&](uint32_t a, uint32_t b) {
        return s.rules[a].role_oid < s.rules[b].role_oid;
    });
    std::sort(s.by_addr, s.by_addr + s.n_addr, [&](uint32_t a, uint32_t b) {
        return addr_key_compare(s.rules[a], a, s.rules[b], b) < 0;
    });
    oid_map_clear(s.index);
    for (uint32_t p = 0; p < s.n_role; ++p) {
        uint32_t role = s.rules[s.by_role[p]].role_oid;
        if (p == 0 || s.rules[s.by_role[p - 1]].role_oid != role)
            oid_map_put(s.index, role, p);  // fits: capacity >= 2 * count + 1
    }
    budget_set_zero_counts(s);
}

void budget_set_copy(BudgetSet &dst, const BudgetSet &src)
{
    dst.generation = src.generation;
    dst.count = src.count;
    std::memcpy(dst.rules, src.rules, sizeof(BudgetRule) * src.count);
    std::memcpy(dst.by_role, src.by_role, sizeof(uint32_t) * src.n_role);
    std::memcpy(dst.by_addr, src.by_addr, sizeof(uint32_t) * src.n_addr);
    std::memcpy(dst.live, src.live, sizeof(int32_t) * src.count);
    std::memcpy(dst.index.entries, src.index.entries, sizeof(OidMapEntry) * src.index.capacity);
    dst.index.used = src.index.used;
    dst.n_role = src.n_role;
    dst.n_addr = src.n_addr;
    std::memcpy(dst.prefixes_v4, src.prefixes_v4, sizeof(src.prefixes_v4));
    std::memcpy(dst.prefixes_v6, src.prefixes_v6, sizeof(src.prefixes_v6));
    dst.has_local = src.has_local;
    dst.has_all = src.has_all;
    if (dst.pair_capacity == src.pair_capacity) {
        std::memcpy(static_cast<void *>(dst.pairs), src.pairs,
                    sizeof(AddrCountEntry) * src.pair_capacity);
        dst.pairs_used = src.pairs_used;
        dst.pairs_overflowed = src.pairs_overflowed;
    } else {  // tables of another size: entry by entry
        std::memset(static_cast<void *>(dst.pairs), 0, sizeof(AddrCountEntry) * dst.pair_capacity);
        dst.pairs_used = 0;
        dst.pairs_overflowed = src.pairs_overflowed;
        for (uint32_t i = 0; i < src.pair_capacity; ++i)
            if (src.pairs[i].rule_plus1 != 0)
                pair_add(dst, src.pairs[i].rule_plus1 - 1, src.pairs[i].addr, src.pairs[i].count);
    }
}

void addr_rules_at(const BudgetSet &s, const ClientAddr &range, uint32_t role, uint32_t &lo,
                   uint32_t &hi)
{
    // Sign of (rule at position p) - (range, role).
    auto cmp = [&](uint32_t rule) {
        const BudgetRule &r = s.rules[rule];
        int c = addr_compare(r.addr, range);
        if (c != 0 || role == kAnyRole)
            return c;
        return r.role_oid < role ? -1 : r.role_oid > role ? 1 : 0;
    };
    const uint32_t *b = s.by_addr, *e = s.by_addr + s.n_addr;
    const uint32_t *l = std::partition_point(b, e, [&](uint32_t r) { return cmp(r) < 0; });
    const uint32_t *h = std::partition_point(l, e, [&](uint32_t r) { return cmp(r) == 0; });
    lo = static_cast<uint32_t>(l - b);
    hi = static_cast<uint32_t>(h - b);
}

void budget_set_count(BudgetSet &s, const ConnSlot &slot, const MemberPool &pool, int delta)
{
    ClientAddr addr;
    (void)parse_login_addr(slot.client_addr, addr);
    for_each_rule_counting(
        s, [&](auto g) { for_each_member(slot, pool, g); }, slot.db_oid, addr,
        [&](uint32_t r) {
            s.live[r] += delta;
            if (s.rules[r].addr_scope == AddrScope::EachAddress &&
                s.rules[r].addr.family != AddrFamily::None)
                pair_add(s, r, addr, delta);
        });
}

int rule_count(const BudgetSet &s, uint32_t rule, const ClientAddr &addr)
{
    const BudgetRule &r = s.rules[rule];
    if (r.addr.family == AddrFamily::None || r.addr_scope != AddrScope::EachAddress)
        return s.live[rule];
    const AddrCountEntry &e = s.pairs[pair_probe(s, rule, addr)];
    return e.rule_plus1 == 0 ? 0 : e.count;
}

int find_rule(const BudgetSet &s, uint32_t role, uint32_t db_oid)
{
    int found = -1;
    for_each_rule_of(s, role, [&](uint32_t r) {
        if (s.rules[r].db_oid == db_oid)
            found = static_cast<int>(r);
    });
    return found;
}

int find_same_rule(const BudgetSet &s, const BudgetRule &key)
{
    if (key.addr.family == AddrFamily::None)
        return find_rule(s, key.role_oid, key.db_oid);
    uint32_t lo, hi;
    addr_rules_at(s, key.addr, key.role_oid, lo, hi);
    for (uint32_t p = lo; p < hi; ++p) {
        const BudgetRule &r = s.rules[s.by_addr[p]];
        if (r.db_oid == key.db_oid && r.addr_scope == key.addr_scope)
            return static_cast<int>(s.by_addr[p]);
    }
    return -1;
}

bool has_own_rule(const BudgetSet &budgets, uint32_t role_oid, uint32_t db_oid)
{
    bool own = false;
    for_each_rule_of(budgets, role_oid, [&](uint32_t r) {
        own = own || budgets.rules[r].db_oid == 0 || budgets.rules[r].db_oid == db_oid;
    });
    return own;
}

Governance govern_login(const BudgetSet &budgets, uint32_t role_oid, const uint32_t *closure,
                        int n_closure, uint32_t db_oid, const ClientAddr &addr)
{
    Governance g{0, -1, 0, -1, 0, false, false, false, -1, -1, 0, 0};
    int refusing_spec = 0, tightest_spec = 0;
    // a before b: the smaller limit (unlimited last), then the more
    // specific rule, then the rule first in poolgov.budgets order.
    auto before = [&](uint32_t a, int spec_a, int b, int spec_b) {
        if (b < 0)
            return true;
        int64_t la = budgets.rules[a].max_connections, lb = budgets.rules[b].max_connections;
        if (la == kUnlimited)
            la = INT64_MAX;
        if (lb == kUnlimited)
            lb = INT64_MAX;
        if (la != lb)
            return la < lb;
        if (spec_a != spec_b)
            return spec_a > spec_b;
        return static_cast<int>(a) < b;
    };
    auto more_specific = [&](uint32_t a, int spec_a, int b) {
        if (b < 0)
            return true;
        int spec_b = rule_specificity(budgets.rules[b], role_oid);
        return spec_a > spec_b || (spec_a == spec_b && static_cast<int>(a) < b);
    };
    for_each_applying_rule(budgets, closure, n_closure, db_oid, addr, [&](uint32_t i) {
        const BudgetRule &r = budgets.rules[i];
        int spec = rule_specificity(r, role_oid);
        g.applying++;
        g.own_rule = g.own_rule || r.role_oid == role_oid;
        g.high_priority = g.high_priority || r.priority == Priority::High;
        g.low_priority = g.low_priority || r.priority == Priority::Low;
        if (r.admission_timeout_ms > 0 && more_specific(i, spec, g.admission_timeout_rule)) {
            g.admission_timeout_rule = static_cast<int>(i);
            g.admission_timeout_ms = r.admission_timeout_ms;
        }
        if (r.idle_in_transaction_timeout_ms > 0 &&
            more_specific(i, spec, g.idle_in_transaction_timeout_rule)) {
            g.idle_in_transaction_timeout_rule = static_cast<int>(i);
            g.idle_in_transaction_timeout_ms = r.idle_in_transaction_timeout_ms;
        }
        int current = rule_count(budgets, i, addr);
        if (before(i, spec, g.tightest, tightest_spec)) {
            g.tightest = static_cast<int>(i);
            g.tightest_current = current;
            tightest_spec = spec;
        }
        if (r.max_connections != kUnlimited && current >= r.max_connections &&
            before(i, spec, g.refusing, refusing_spec)) {
            g.refusing = static_cast<int>(i);
            g.refusing_current = current;
            refusing_spec = spec;
        }
    });
    return g;
}

LoginDecision decide_login(const LoginRequest &req, const BudgetSet &budgets,
                           const LiveCounts &live, const LoginPolicy &policy)
{
    LoginDecision d{Verdict::Allow, LimitKind::None, -1, 0, 0, req.listed_priority, false, 0};
    if (policy.mode == EnforceMode::Off)
        return d;
    if (req.superuser && policy.exempt_superusers)
        return d;

    // The one answer to "which rules govern": every applying rule must
    // have room; the tightest without room refuses.
    Governance g =
        govern_login(budgets, req.role_oid, req.member_of, req.n_member_of, req.db_oid, req.addr);
    d.priority = d.priority || g.high_priority;
    if (g.refusing >= 0) {
        d.kind = LimitKind::Budget;
        d.rule = g.refusing;
        d.current = g.refusing_current;
        d.limit = budgets.rules[g.refusing].max_connections;
    }

    // poolgov.default_budget: for a role that no applying rule names itself.
    if (d.kind == LimitKind::None && policy.default_budget >= 0 && !g.own_rule) {
        if (live.role >= policy.default_budget) {
            d.kind = LimitKind::DefaultBudget;
            d.current = live.role;
            d.limit = policy.default_budget;
        }
    }

    if (d.kind == LimitKind::None && policy.reserve_exhausted && !d.priority && !req.superuser) {
        d.kind = LimitKind::Reserve;
        d.current = live.total;
        d.limit = policy.reserve_limit;
    }

    if (d.kind != LimitKind::None)
        d.verdict = policy.mode == EnforceMode::On ? Verdict::Refuse : Verdict::Warn;

    // Budgets never take PostgreSQL's superuser reserve away (the reserve
    // check above never refuses a superuser).
    if (d.verdict == Verdict::Refuse && req.superuser && d.kind != LimitKind::Reserve) {
        if (live.overdrafts < policy.superuser_reserve) {
            d.verdict = Verdict::Allow;
            d.overdraft = true;
            d.overdrafts_in_use = live.overdrafts;
        }
    }
    return d;
}

const char *decision_kind(const LoginDecision &d, const BudgetRule *rule, uint32_t login_role)
{
    switch (d.kind) {
    case LimitKind::None:
        return "";
    case LimitKind::DefaultBudget:
        return "default";
    case LimitKind::Reserve:
        return "reserve";
    case LimitKind::Budget:
        break;
    }
    if (rule == nullptr)
        return "role";
    if (rule->addr.family != AddrFamily::None)
        return "address";
    if (rule->db_oid != 0)
        return "database";
    return rule->role_oid == login_role ? "role" : "group";
}

namespace {

// The budget-rule texts of an address rule: one address (a per-address
// rule, or a range of one address) or a range (unix sockets, every client,
// a CIDR range) counted as a whole.
void describe_address_rule(RefusalText &t, const LoginDecision &d, const BudgetRule &r,
                           const LoginNames &login)
{
    const char *addr =
        login.client_addr != nullptr && login.client_addr[0] != '\0' ? login.client_addr : "local";
    char whose[kNameLen + 32] = "";
    if (r.role_oid != 0)
        format_into(whose, " of role \"{}\"", r.role_name);
    char where[kNameLen + 32] = "";
    if (r.db_oid != 0)
        format_into(where, " to database \"{}\"", r.db_name);
    bool each = r.addr_scope == AddrScope::EachAddress;
    bool one = each || ((r.addr.family == AddrFamily::V4 || r.addr.family == AddrFamily::V6) &&
                        r.addr.prefix == addr_bits(r.addr.family));
    if (one) {
        format_into(t.message, "too many connections from client address {}", addr);
        format_into(t.detail,
                    "Address {} has {} connections{}{}; the pg_poolgov budget for client_addr "
                    "'{}' allows {}{}.",
                    addr, d.current, whose, where, r.addr_text, d.limit,
                    each ? " from any one address" : "");
    } else if (r.addr.family == AddrFamily::Local) {
        format_into(t.message, "too many connections over unix sockets");
        format_into(t.detail,
                    "There are {} connections over unix sockets{}{}; the pg_poolgov budget for "
                    "client_addr 'local' allows {}.",
                    d.current, whose, where, d.limit);
    } else {
        const char *range = r.addr.family == AddrFamily::All ? "any address" : r.addr_text;
        format_into(t.message, "too many connections from client addresses {}", range);
        format_into(t.detail,
                    "Client addresses {} have {} connections{}{} (this one: {}); the pg_poolgov "
                    "budget for client_addr '{}' allows {}.",
                    range, d.current, whose, where, addr, r.addr_text, d.limit);
    }
    // The call that raises this very rule.
    char call[kDetailLen];
    format_into(call, "{}{}{}client_addr => {}{}, max_connections => ...",
                r.role_oid != 0 ? "role => " + quote_literal(r.role_name) + ", " : std::string(),
                r.db_oid != 0 ? "database => " : "",
                r.db_oid != 0 ? quote_literal(r.db_name) + ", " : std::string(),
                quote_literal(r.addr_text), each ? ", per_address => true" : "");
    format_into(t.hint,
                "Close idle connections from {}, or raise the budget with "
                "poolgov.set_budget_rule({}).",
                addr, call);
}

}  // namespace

RefusalText describe_refusal(const LoginDecision &d, const BudgetRule *rule, const char *role_name)
{
    return describe_refusal(d, rule, LoginNames{role_name, "", ""});
}

RefusalText describe_refusal(const LoginDecision &d, const BudgetRule *rule,
                             const LoginNames &login)
{
    const char *role_name = login.role;
    RefusalText t{};
    copy_text(t.sqlstate, "53300");  // too_many_connections
    switch (d.kind) {
    case LimitKind::Budget: {
        if (rule == nullptr)
            break;
        const BudgetRule &r = *rule;
        if (r.addr.family != AddrFamily::None) {
            describe_address_rule(t, d, r, login);
            break;
        }
        format_into(t.message, "too many connections for role \"{}\"", role_name);
        const char *whose = std::strcmp(r.role_name, role_name) == 0 ? "its" : "the group's";
        if (r.db_oid != 0)
            format_into(t.detail,
                        "Role \"{}\" has {} connections to database \"{}\"; {} pg_poolgov "
                        "budget there allows {}.",
                        r.role_name, d.current, r.db_name, whose, d.limit);
        else
            format_into(t.detail, "Role \"{}\" has {} connections; {} pg_poolgov budget allows {}.",
                        r.role_name, d.current, whose, d.limit);
        format_into(t.hint,
                    "Close idle connections, or raise the budget with "
                    "poolgov.set_budget({}, ...).",
                    quote_literal(r.role_name));
        break;
    }
    case LimitKind::DefaultBudget:
        format_into(t.message, "too many connections for role \"{}\"", role_name);
        format_into(t.detail,
                    "Role \"{}\" has {} connections; poolgov.default_budget allows {} for a "
                    "role without a budget of its own.",
                    role_name, d.current, d.limit);
        format_into(t.hint,
                    "Give the role a budget with poolgov.set_budget({}, ...), or raise "
                    "poolgov.default_budget.",
                    quote_literal(role_name));
        break;
    case LimitKind::Reserve:
        format_into(t.message,
                    "remaining connection slots are reserved for pg_poolgov priority roles");
        format_into(t.detail,
                    "{} connections are open; only {} of the connection slots are open to "
                    "roles that are not priority roles, and role \"{}\" is not one.",
                    d.current, std::max(d.limit, 0), role_name);
        format_into(t.hint,
                    "List the role in poolgov.priority_roles or give it a budget with "
                    "priority 'high'; poolgov.reserved_connections sets the reserve.");
        break;
    case LimitKind::None:
        break;
    }
    return t;
}

RuleName describe_rule(const BudgetRule &r)
{
    bool role = r.role_oid != 0, db = r.db_oid != 0, addr = r.addr.family != AddrFamily::None;
    RuleName n{};
    format_into(n.text, "{}{}{}{}{}{}", role ? "role " : "", role ? r.role_name : "",
                db ? (role ? " in database " : "database ") : "", db ? r.db_name : "",
                addr ? (role || db ? " from client_addr " : "client_addr ") : "",
                addr ? r.addr_text : "");
    return n;
}

RefusalText describe_overdraft(const LoginDecision &d, const BudgetRule *rule,
                               const char *role_name, int superuser_reserve)
{
    LoginDecision refused = d;
    refused.verdict = Verdict::Refuse;
    RefusalText t = describe_refusal(refused, rule, role_name);
    char budget[kDetailLen];
    copy_text(budget, t.detail);
    format_into(t.message,
                "superuser \"{}\" admitted over its connection budget from the superuser "
                "reserve",
                role_name);
    format_into(t.detail,
                "{} Superuser connections over budget: {} of {} "
                "(superuser_reserved_connections).",
                budget, d.overdrafts_in_use + 1, superuser_reserve);
    format_into(t.hint,
                "Raise the budget with poolgov.set_budget({}, ...), or set "
                "poolgov.exempt_superusers = on.",
                quote_literal(rule != nullptr && d.kind == LimitKind::Budget ? rule->role_name
                                                                             : role_name));
    return t;
}

const char *priority_name(Priority p)
{
    switch (p) {
    case Priority::Low:
        return "low";
    case Priority::High:
        return "high";
    case Priority::Normal:
        break;
    }
    return "normal";
}

bool parse_priority(const char *text, Priority &out)
{
    if (text == nullptr)
        return false;
    if (std::strcmp(text, "low") == 0)
        out = Priority::Low;
    else if (std::strcmp(text, "normal") == 0)
        out = Priority::Normal;
    else if (std::strcmp(text, "high") == 0)
        out = Priority::High;
    else
        return false;
    return true;
}

}  // namespace poolgov
