// poolgov.roles, poolgov.databases and poolgov.budget_usage: cumulative
// counters per role and per database (retired + live), with budgets.
#include "postgres.hpp"

#include "views/activity.hpp"
#include "session/budgets_sync.hpp"
#include "session/connection.hpp"
#include "locks.hpp"
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

// The rule that governs this role wherever it logs in, as the login
// decision sees it (the core's govern_login over the rules for every
// database and without an address): the rule that refuses it now, else the
// tightest; poolgov.default_budget when no rule names the role itself and
// the default is tighter.
EffectiveBudget effective_budget(Oid role, const BudgetSet &budgets)
{
    Oid *closure = nullptr;
    int n = login_closure(role, &closure);  // the shared cache, as logins use
    Governance g = govern_login(budgets, role, closure, n, 0, kNoAddr);
    pfree(closure);
    EffectiveBudget best{kUnlimited, nullptr, nullptr};
    int rule = g.governing();
    if (rule >= 0) {
        const BudgetRule &r = budgets.rules[rule];
        best = {r.max_connections, r.role_oid == role ? "role" : "group", r.role_name};
    }
    if (!g.own_rule && settings::default_budget >= 0 && g.refusing < 0 &&
        (best.source == nullptr || best.limit == kUnlimited ||
         settings::default_budget < best.limit))
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
        row.int8(static_cast<int64>(r.stats[i].idle_terminated));  // 1.1
        row.emit();
    }
    return (Datum)0;
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
    return (Datum)0;
}

// One row per budget rule in force, with the connections it counts now.
POOLGOV_SQL_FUNCTION(poolgov_budget_usage)
{
    require_shmem();
    SharedState *st = shm.state;
    // Exits since the last login leave the counts first (short, exclusive);
    // the copy is made under the shared lock. The counts are the ones logins
    // are decided by.
    lock_acquire(st->main_lock, LW_EXCLUSIVE);
    drain_exits();
    lock_release(st->main_lock);
    BudgetSet *budgets = copy_active_budgets();

    // Per-address rules: the address with the most connections (one pass
    // over the per-address counts, not one per rule).
    auto *busiest = static_cast<int32_t *>(palloc0(sizeof(int32_t) * (budgets->count + 1)));
    auto *busiest_at =
        static_cast<ClientAddr *>(palloc0(sizeof(ClientAddr) * (budgets->count + 1)));
    for (uint32_t p = 0; p < budgets->pair_capacity; ++p) {
        const AddrCountEntry &e = budgets->pairs[p];
        if (e.rule_plus1 == 0 || e.rule_plus1 > budgets->count)
            continue;
        uint32_t r = e.rule_plus1 - 1;
        if (e.count > busiest[r] ||
            (e.count == busiest[r] && addr_compare(e.addr, busiest_at[r]) < 0)) {
            busiest[r] = e.count;
            busiest_at[r] = e.addr;
        }
    }

    RowBuilder row(fcinfo);
    for (uint32_t i = 0; i < budgets->count; ++i) {
        const BudgetRule &b = budgets->rules[i];
        int count = budgets->live[i];
        bool each = b.addr.family != AddrFamily::None && b.addr_scope == AddrScope::EachAddress;
        // A per-address rule's headroom is that of its busiest address.
        int against = each ? busiest[i] : count;
        row.name(b.role_oid ? b.role_name : nullptr).name(b.db_oid ? b.db_name : nullptr);
        if (b.max_connections == kUnlimited)
            row.null();
        else
            row.int4(b.max_connections);
        row.int4(count);
        if (b.max_connections == kUnlimited)
            row.null();
        else
            row.int4(b.max_connections - against);
        row.text(priority_name(b.priority));
        // 1.2: the address, its scope, the busiest address, the timeouts.
        row.text_or_null(b.addr_text).boolean(each);
        if (each && busiest[i] > 0) {
            char text[kAddrLen];
            format_addr(busiest_at[i], text);
            row.text(text);
        } else {
            row.null();
        }
        row.interval_ms(b.admission_timeout_ms).interval_ms(b.idle_in_transaction_timeout_ms);
        row.emit();
    }
    return (Datum)0;
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
        usage[n++] =
            RoleUsage{r.entries[i].name, static_cast<int64_t>(r.entries[i].peak_connections),
                      own && b.limit != kUnlimited ? b.limit : -1};
    }
    *out = usage;
    return n;
}
