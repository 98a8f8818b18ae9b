// poolgov.roles, poolgov.databases and poolgov.budget_usage: cumulative
// counters per role and per database (retired + live), with budgets.
#include "postgres.hpp"

#include "views/activity.hpp"
#include "session/budgets_sync.hpp"
#include "session/connection.hpp"
#include "guard.hpp"
#include "settings.hpp"
#include "views/health.hpp"
#include "views/read_model.hpp"
#include "views/rollup.hpp"
#include "views/row_builder.hpp"
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

// The tightest rule for every database that governs this role: its own, or
// one of a group it belongs to; else poolgov.default_budget.
EffectiveBudget effective_budget(Oid role, const BudgetSet &budgets)
{
    Oid *closure = nullptr;
    int n = role_closure(role, &closure);
    EffectiveBudget best{kUnlimited, nullptr, nullptr};
    bool own = false;
    // Only the rules on the closure's roles (index), in table order as
    // before: ties keep the first.
    int best_rule = -1;
    for_each_applying_rule(budgets, closure, n, 0, [&](uint32_t i) {
        const BudgetRule &r = budgets.rules[i];
        if (r.db_oid != 0)
            return;
        own = own || r.role_oid == role;
        bool tighter = best.source == nullptr ||
                       (r.max_connections != kUnlimited &&
                        (best.limit == kUnlimited || r.max_connections < best.limit)) ||
                       (r.max_connections == best.limit && static_cast<int>(i) < best_rule);
        if (tighter) {
            best = {r.max_connections, r.role_oid == role ? "role" : "group", r.role_name};
            best_rule = static_cast<int>(i);
        }
    });
    pfree(closure);
    if (!own && settings::default_budget >= 0 &&
        (best.source == nullptr || best.limit == kUnlimited || settings::default_budget < best.limit))
        best = {settings::default_budget, "default", nullptr};
    return best;
}

}  // namespace

POOLGOV_SQL_FUNCTION(poolgov_roles)
{
    require_shmem();
    Rollup r = read_rollup(RollupOf::Roles, true);
    RowBuilder row(fcinfo);
    for (int i = 0; i < r.n; ++i) {
        CounterEntry &e = r.entries[i];
        EffectiveBudget b = effective_budget(e.oid, *r.budgets);
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
    // Exits since the last login leave the counts first (short, exclusive);
    // the copy is made under the shared lock. The counts are the ones logins
    // are decided by.
    LWLockAcquire(st->main_lock, LW_EXCLUSIVE);
    drain_exits();
    LWLockRelease(st->main_lock);
    BudgetSet *budgets = copy_active_budgets();

    RowBuilder row(fcinfo);
    for (uint32_t i = 0; i < budgets->count; ++i) {
        const BudgetRule &b = budgets->rules[i];
        int count = budgets->live[i];
        row.name(b.role_name).name(b.db_oid ? b.db_name : nullptr);
        if (b.max_connections == kUnlimited)
            row.null();
        else
            row.int4(b.max_connections);
        row.int4(count);
        if (b.max_connections == kUnlimited)
            row.null();
        else
            row.int4(b.max_connections - count);
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
    int n = 0;
    for (int i = 0; i < r.n; ++i) {
        EffectiveBudget b = effective_budget(r.entries[i].oid, *r.budgets);
        bool own = b.source != nullptr && strcmp(b.source, "group") != 0;
        usage[n++] = RoleUsage{r.entries[i].name,
                               static_cast<int64_t>(r.entries[i].peak_connections),
                               own && b.limit != kUnlimited ? b.limit : -1};
    }
    *out = usage;
    return n;
}
