#include "poolgov/budgets.hpp"
#include "poolgov/sql_text.hpp"

#include "poolgov/format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "poolgov/no_postgres.hpp"

namespace poolgov {

namespace {

// More specific rules win ties: (role, database) over role, own over group.
int specificity(const BudgetRule &r, uint32_t login_role)
{
    return (r.db_oid != 0 ? 2 : 0) + (r.role_oid == login_role ? 1 : 0);
}

}  // namespace

size_t budget_set_bytes(uint32_t capacity)
{
    uint32_t index_capacity = oid_map_capacity_for(capacity);
    auto align8 = [](size_t n) { return (n + 7) & ~size_t{7}; };
    return align8(sizeof(BudgetRule) * capacity) + align8(sizeof(uint32_t) * capacity) +
           align8(sizeof(int32_t) * capacity) + sizeof(OidMapEntry) * index_capacity;
}

void budget_set_attach(BudgetSet &s, void *block, uint32_t capacity)
{
    auto align8 = [](size_t n) { return (n + 7) & ~size_t{7}; };
    char *p = static_cast<char *>(block);
    s.generation = 0;
    s.count = 0;
    s.capacity = capacity;
    s.rules = reinterpret_cast<BudgetRule *>(p);
    p += align8(sizeof(BudgetRule) * capacity);
    s.by_role = reinterpret_cast<uint32_t *>(p);
    p += align8(sizeof(uint32_t) * capacity);
    s.live = reinterpret_cast<int32_t *>(p);
    p += align8(sizeof(int32_t) * capacity);
    oid_map_init(s.index, reinterpret_cast<OidMapEntry *>(p), oid_map_capacity_for(capacity));
}

void budget_set_index(BudgetSet &s)
{
    for (uint32_t i = 0; i < s.count; ++i) {
        s.by_role[i] = i;
        s.live[i] = 0;
    }
    std::stable_sort(s.by_role, s.by_role + s.count, [&](uint32_t a, uint32_t b) {
        return s.rules[a].role_oid < s.rules[b].role_oid;
    });
    oid_map_clear(s.index);
    for (uint32_t p = 0; p < s.count; ++p) {
        uint32_t role = s.rules[s.by_role[p]].role_oid;
        if (p == 0 || s.rules[s.by_role[p - 1]].role_oid != role)
            oid_map_put(s.index, role, p);  // fits: capacity >= 2 * count + 1
    }
}

void budget_set_copy(BudgetSet &dst, const BudgetSet &src)
{
    dst.generation = src.generation;
    dst.count = src.count;
    std::memcpy(dst.rules, src.rules, sizeof(BudgetRule) * src.count);
    std::memcpy(dst.by_role, src.by_role, sizeof(uint32_t) * src.count);
    std::memcpy(dst.live, src.live, sizeof(int32_t) * src.count);
    std::memcpy(dst.index.entries, src.index.entries, sizeof(OidMapEntry) * src.index.capacity);
    dst.index.used = src.index.used;
}

void budget_set_count(BudgetSet &s, const ConnSlot &slot, const MemberPool &pool, int delta)
{
    for_each_member(slot, pool, [&](uint32_t role) {
        for_each_rule_of(s, role, [&](uint32_t r) {
            if (s.rules[r].db_oid == 0 || s.rules[r].db_oid == slot.db_oid)
                s.live[r] += delta;
        });
    });
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

bool has_own_rule(const BudgetSet &budgets, uint32_t role_oid, uint32_t db_oid)
{
    bool own = false;
    for_each_rule_of(budgets, role_oid, [&](uint32_t r) {
        own = own || budgets.rules[r].db_oid == 0 || budgets.rules[r].db_oid == db_oid;
    });
    return own;
}

LoginDecision decide_login(const LoginRequest &req, const BudgetSet &budgets,
                           const LiveCounts &live, const LoginPolicy &policy)
{
    LoginDecision d{Verdict::Allow, LimitKind::None, -1, 0, 0, req.listed_priority, false, 0};
    if (policy.mode == EnforceMode::Off)
        return d;
    if (req.superuser && policy.exempt_superusers)
        return d;

    // Only the rules on the roles of the closure; ties go to the more
    // specific rule, then to the one first in poolgov.budgets order.
    for_each_applying_rule(budgets, req.member_of, req.n_member_of, req.db_oid, [&](uint32_t i) {
        const BudgetRule &r = budgets.rules[i];
        if (r.priority == Priority::High)
            d.priority = true;
        if (r.max_connections == kUnlimited)
            return;
        int current = budgets.live[i];
        if (current < r.max_connections)
            return;
        bool tighter = d.kind == LimitKind::None || r.max_connections < d.limit;
        if (!tighter && r.max_connections == d.limit) {
            int mine = specificity(r, req.role_oid);
            int theirs = specificity(budgets.rules[d.rule], req.role_oid);
            tighter = mine > theirs || (mine == theirs && static_cast<int>(i) < d.rule);
        }
        if (tighter) {
            d.kind = LimitKind::Budget;
            d.rule = static_cast<int>(i);
            d.current = current;
            d.limit = r.max_connections;
        }
    });

    if (d.kind == LimitKind::None && policy.default_budget >= 0 &&
        !has_own_rule(budgets, req.role_oid, req.db_oid)) {
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

RefusalText describe_refusal(const LoginDecision &d, const BudgetRule *rule,
                             const char *role_name)
{
    RefusalText t{};
    switch (d.kind) {
    case LimitKind::Budget: {
        if (rule == nullptr)
            break;
        const BudgetRule &r = *rule;
        format_into(t.message, "too many connections for role \"{}\"", role_name);
        const char *whose = std::strcmp(r.role_name, role_name) == 0 ? "its" : "the group's";
        if (r.db_oid != 0)
            format_into(t.detail,
                        "Role \"{}\" has {} connections to database \"{}\"; {} pg_poolgov "
                        "budget there allows {}.",
                        r.role_name, d.current, r.db_name, whose, d.limit);
        else
            format_into(t.detail,
                        "Role \"{}\" has {} connections; {} pg_poolgov budget allows {}.",
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
    format_into(t.detail, "{} Superuser connections over budget: {} of {} "
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
