#include "poolgov/no_postgres.hpp"
#include "poolgov/budgets.hpp"
#include "poolgov/sql_text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace poolgov {

namespace {

template <size_t N, class... Args>
void format_into(char (&buf)[N], fmt::format_string<Args...> f, Args &&...args)
{
    auto out = fmt::format_to_n(buf, N - 1, f, std::forward<Args>(args)...);
    *out.out = '\0';
}

// More specific rules win ties: (role, database) over role, own over group.
int specificity(const BudgetRule &r, uint32_t login_role)
{
    return (r.db_oid != 0 ? 2 : 0) + (r.role_oid == login_role ? 1 : 0);
}

}  // namespace

bool has_own_rule(const BudgetSet &budgets, uint32_t role_oid, uint32_t db_oid)
{
    for (uint32_t i = 0; i < budgets.count; ++i) {
        const BudgetRule &r = budgets.rules[i];
        if (r.role_oid == role_oid && (r.db_oid == 0 || r.db_oid == db_oid))
            return true;
    }
    return false;
}

LoginDecision decide_login(const LoginRequest &req, const BudgetSet &budgets,
                           const SlotsView &slots, const LoginPolicy &policy)
{
    LoginDecision d{Verdict::Allow, LimitKind::None, -1, 0, 0, req.listed_priority, false, 0};
    if (policy.mode == EnforceMode::Off)
        return d;
    if (req.superuser && policy.exempt_superusers)
        return d;

    for (uint32_t i = 0; i < budgets.count; ++i) {
        const BudgetRule &r = budgets.rules[i];
        if (!rule_applies(r, req.member_of, req.n_member_of, req.db_oid))
            continue;
        if (r.priority == Priority::High)
            d.priority = true;
        if (r.max_connections == kUnlimited)
            continue;
        int current = count_slots(slots, SlotFilter{r.role_oid, r.db_oid, true});
        if (current < r.max_connections)
            continue;
        bool tighter = d.kind == LimitKind::None || r.max_connections < d.limit ||
                       (r.max_connections == d.limit &&
                        specificity(r, req.role_oid) >
                            specificity(budgets.rules[d.rule], req.role_oid));
        if (tighter) {
            d.kind = LimitKind::Budget;
            d.rule = static_cast<int>(i);
            d.current = current;
            d.limit = r.max_connections;
        }
    }

    if (d.kind == LimitKind::None && policy.default_budget >= 0 &&
        !has_own_rule(budgets, req.role_oid, req.db_oid)) {
        int current = count_slots(slots, SlotFilter{req.role_oid, 0, false});
        if (current >= policy.default_budget) {
            d.kind = LimitKind::DefaultBudget;
            d.current = current;
            d.limit = policy.default_budget;
        }
    }

    if (d.kind == LimitKind::None && policy.reserve_exhausted && !d.priority && !req.superuser) {
        d.kind = LimitKind::Reserve;
        d.current = count_slots(slots, SlotFilter{});
        d.limit = policy.reserve_limit;
    }

    if (d.kind != LimitKind::None)
        d.verdict = policy.mode == EnforceMode::On ? Verdict::Refuse : Verdict::Warn;

    // Budgets never take PostgreSQL's superuser reserve away (the reserve
    // check above never refuses a superuser).
    if (d.verdict == Verdict::Refuse && req.superuser && d.kind != LimitKind::Reserve) {
        int in_use = 0;
        for (int i = 0; i < slots.n; ++i)
            if (atomic::load(slots.keys[i].in_use) && slots.slots[i].overdraft)
                ++in_use;
        if (in_use < policy.superuser_reserve) {
            d.verdict = Verdict::Allow;
            d.overdraft = true;
            d.overdrafts_in_use = in_use;
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
