// poolgov.roles, poolgov.databases and poolgov.budget_usage: cumulative
// counters per role and per database (retired + live), with budgets.
#include "postgres.hpp"

#include "activity.hpp"
#include "connection.hpp"
#include "guard.hpp"
#include "guc.hpp"
#include "health.hpp"
#include "read_model.hpp"
#include "row_builder.hpp"
#include "shmem.hpp"

using namespace poolgov;
using namespace poolgov::pg;

namespace {

// The admission columns (1.1): admitted, queued, admission_timeouts.
void admission_columns(RowBuilder &row, const StmtCounters &c, int queued)
{
    row.int8(static_cast<int64>(c.admitted))
        .int4(queued)
        .int8(static_cast<int64>(c.admission_timeouts));
}

struct EffectiveBudget {
    int32_t limit;       // kUnlimited or a number
    const char *source;  // "role", "group", "default" or null
    const char *role;    // whose rule
};

// Rules for every database (db_oid 0), sorted by role and then by their
// place in the budget set: a role's rules are found by binary search, so a
// view of 10,000 roles against 10,000 budgets does not compare every row
// with every rule.
struct RuleKey {
    uint32_t role_oid;
    uint32_t rule;
};

int compare_rule_keys(const void *a, const void *b)
{
    const auto *x = static_cast<const RuleKey *>(a), *y = static_cast<const RuleKey *>(b);
    if (x->role_oid != y->role_oid)
        return x->role_oid < y->role_oid ? -1 : 1;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

struct BudgetIndex {
    RuleKey *keys;
    int n;
};

BudgetIndex index_budgets(const BudgetSet &budgets)
{
    BudgetIndex ix{static_cast<RuleKey *>(palloc(sizeof(RuleKey) * (budgets.count + 1))), 0};
    for (uint32_t i = 0; i < budgets.count; ++i)
        if (budgets.rules[i].db_oid == 0)
            ix.keys[ix.n++] = RuleKey{budgets.rules[i].role_oid, i};
    qsort(ix.keys, ix.n, sizeof(RuleKey), compare_rule_keys);
    return ix;
}

int compare_uint32(const void *a, const void *b)
{
    uint32_t x = *static_cast<const uint32_t *>(a), y = *static_cast<const uint32_t *>(b);
    return x < y ? -1 : x > y;
}

// The tightest rule for every database that governs this role: its own, or
// one of a group it belongs to; else poolgov.default_budget. Rules are
// visited in budget-set order, as a scan of the whole set would.
EffectiveBudget effective_budget(Oid role, const BudgetSet &budgets, const BudgetIndex &ix)
{
    Oid *closure = nullptr;
    int n = role_closure(role, &closure);
    int cap = 8, found = 0;
    auto *rules = static_cast<uint32_t *>(palloc(sizeof(uint32_t) * cap));
    for (int c = 0; c < n; ++c) {
        // First key of this role (lower bound), then its run.
        int lo = 0, hi = ix.n;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (ix.keys[mid].role_oid < closure[c])
                lo = mid + 1;
            else
                hi = mid;
        }
        for (int k = lo; k < ix.n && ix.keys[k].role_oid == closure[c]; ++k) {
            if (found == cap) {
                cap *= 2;
                rules = static_cast<uint32_t *>(repalloc(rules, sizeof(uint32_t) * cap));
            }
            rules[found++] = ix.keys[k].rule;
        }
    }
    qsort(rules, found, sizeof(uint32_t), compare_uint32);
    EffectiveBudget best{kUnlimited, nullptr, nullptr};
    bool own = false;
    for (int i = 0; i < found; ++i) {
        const BudgetRule &r = budgets.rules[rules[i]];
        own = own || r.role_oid == role;
        bool tighter = best.source == nullptr ||
                       (r.max_connections != kUnlimited &&
                        (best.limit == kUnlimited || r.max_connections < best.limit));
        if (tighter)
            best = {r.max_connections, r.role_oid == role ? "role" : "group", r.role_name};
    }
    pfree(rules);
    pfree(closure);
    if (!own && guc::default_budget >= 0 &&
        (best.source == nullptr || best.limit == kUnlimited || guc::default_budget < best.limit))
        best = {guc::default_budget, "default", nullptr};
    return best;
}

}  // namespace

POOLGOV_SQL_FUNCTION(poolgov_roles)
{
    require_shmem();
    Rollup r = read_rollup(RollupOf::Roles, true);
    BudgetIndex ix = index_budgets(*r.budgets);
    RowBuilder row(fcinfo);
    for (int i = 0; i < r.n; ++i) {
        CounterEntry &e = r.entries[i];
        EffectiveBudget b = effective_budget(e.oid, *r.budgets, ix);
        row.name(e.name).int4(r.connections[i]).int8(static_cast<int64>(e.peak_connections));
        if (b.source == nullptr || b.limit == kUnlimited)
            row.null();
        else
            row.int4(b.limit);
        row.text(b.source).name(b.role);
        row.int8(static_cast<int64>(e.accepted))
            .int8(static_cast<int64>(e.rejected))
            .int8(static_cast<int64>(e.warned))
            .int8(static_cast<int64>(e.auth_failures));
        row.statement_columns(r.stats[i]);
        admission_columns(row, r.stats[i], r.queued[i]);
        row.int8(static_cast<int64>(r.stats[i].idle_terminated));  // 1.1, track R
        row.emit();
    }
    return (Datum) 0;
}

POOLGOV_SQL_FUNCTION(poolgov_databases)
{
    require_shmem();
    Rollup r = read_rollup(RollupOf::Databases, false);
    RowBuilder row(fcinfo);
    for (int i = 0; i < r.n; ++i) {
        CounterEntry &e = r.entries[i];
        row.name(e.name)
            .int4(r.connections[i])
            .int8(static_cast<int64>(e.peak_connections))
            .int8(static_cast<int64>(e.accepted))
            .int8(static_cast<int64>(e.rejected));
        row.statement_columns(r.stats[i]);
        admission_columns(row, r.stats[i], r.queued[i]);
        row.emit();
    }
    return (Datum) 0;
}

// One row per budget rule in force, with the connections it counts now.
POOLGOV_SQL_FUNCTION(poolgov_budget_usage)
{
    require_shmem();
    SharedState *st = shm.state;
    auto *budgets = static_cast<BudgetSet *>(palloc(sizeof(BudgetSet)));
    auto *counts = static_cast<int *>(palloc(sizeof(int) * kMaxBudgets));
    LWLockAcquire(st->main_lock, LW_SHARED);
    memcpy(budgets, shm.budgets,
           offsetof(BudgetSet, rules) + sizeof(BudgetRule) * shm.budgets->count);
    for (uint32_t i = 0; i < budgets->count; ++i) {
        const BudgetRule &b = budgets->rules[i];
        counts[i] = count_connections({b.role_oid, b.db_oid, true});
    }
    LWLockRelease(st->main_lock);

    RowBuilder row(fcinfo);
    for (uint32_t i = 0; i < budgets->count; ++i) {
        const BudgetRule &b = budgets->rules[i];
        row.name(b.role_name).name(b.db_oid ? b.db_name : nullptr);
        if (b.max_connections == kUnlimited)
            row.null();
        else
            row.int4(b.max_connections);
        row.int4(counts[i]);
        if (b.max_connections == kUnlimited)
            row.null();
        else
            row.int4(b.max_connections - counts[i]);
        row.text(priority_name(b.priority));
        row.emit();
    }
    return (Datum) 0;
}

// For poolgov.recommendations: each role's peak (since the last reset) with
// its own budget or the default one; a group's budget caps a sum, which one
// member's peak does not measure, so those roles are left out.
int poolgov::pg::role_budget_usage(RoleUsage **out)
{
    Rollup r = read_rollup(RollupOf::Roles, false, false);
    auto *usage = static_cast<RoleUsage *>(palloc(sizeof(RoleUsage) * (r.n + 1)));
    BudgetIndex ix = index_budgets(*r.budgets);
    int n = 0;
    for (int i = 0; i < r.n; ++i) {
        EffectiveBudget b = effective_budget(r.entries[i].oid, *r.budgets, ix);
        bool own = b.source != nullptr && strcmp(b.source, "group") != 0;
        usage[n++] = RoleUsage{r.entries[i].name,
                               static_cast<int64_t>(r.entries[i].peak_connections),
                               own && b.limit != kUnlimited ? b.limit : -1};
    }
    *out = usage;
    return n;
}
