#include "postgres.hpp"

#include "read_model.hpp"

#include "activity.hpp"
#include "budgets_sync.hpp"
#include "connection.hpp"
#include "shmem.hpp"

namespace poolgov::pg {

void gather_totals(Totals &totals, ConnTally &tally, StmtCounters &all)
{
    SharedState *st = shm.state;
    BackendIndex index;
    index.build();
    auto *pids = static_cast<int *>(palloc(sizeof(int) * st->nslots));
    auto *scratch = static_cast<StmtCounters *>(palloc(sizeof(StmtCounters)));
    int npids = 0;

    all = StmtCounters{};
    LWLockAcquire(st->main_lock, LW_SHARED);
    uint64_t epoch = atomic::load(st->stats_epoch);
    stmt_merge(all, *shm.retired);
    for (uint32_t i = 0; i < st->nslots; ++i) {
        if (!atomic::load(shm.slot_keys[i].in_use))
            continue;
        pids[npids++] = shm.slots[i].pid;
        slot_read_stats(shm.slot_stats[i], epoch, *scratch);
        stmt_merge(all, *scratch);
    }
    LWLockRelease(st->main_lock);

    tally = ConnTally{};
    for (int i = 0; i < npids; ++i)
        tally_add(tally, state_of(index.find(pids[i])));
    LWLockAcquire(st->admission_lock, LW_SHARED);
    tally.admission_running = static_cast<int32_t>(shm.admission.counters->running);
    tally.admission_queued = static_cast<int32_t>(shm.admission.counters->queued);
    totals.adm_waited = shm.admission.counters->waited;
    totals.adm_wait_us = shm.admission.counters->wait_total_us;
    LWLockRelease(st->admission_lock);

    totals.at = GetCurrentTimestamp();
    totals.epoch = epoch;
    totals.statements = all.statements;
    totals.max_ns = all.max_ns;
    totals.errors = all.errors;
    totals.slow = all.slow;
    totals.latency = all.latency;
    totals.rejected = atomic::load(st->rejected_budget) + atomic::load(st->rejected_reserve) +
                      atomic::load(st->rejected_breaker);
    pfree(scratch);
    pfree(pids);
}

GlobalRead *read_global()
{
    SharedState *st = shm.state;
    auto *g = static_cast<GlobalRead *>(palloc0(sizeof(GlobalRead)));
    gather_totals(g->totals, g->tally, g->all);
    LWLockAcquire(st->breaker_lock, LW_SHARED);
    g->breaker_untracked = shm.breaker->untracked;
    g->breaker_evicted = shm.breaker->evicted;
    LWLockRelease(st->breaker_lock);
    LWLockAcquire(st->admission_lock, LW_SHARED);
    g->adm = *shm.admission.counters;
    LWLockRelease(st->admission_lock);
    return g;
}

namespace {

// Copies a counter table with its stats (and the budget set) under the
// shared lock; adds rows for budgeted roles that have none yet when
// `with_budget_roles`.
Rollup copy_table(const EntryTable &t, bool with_budget_roles)
{
    uint32_t capacity = t.header->capacity;
    SharedState *st = shm.state;
    Rollup r{};
    r.budgets = copy_active_budgets();  // track S: rules, index and live counts
    uint32_t room = capacity + r.budgets->count;
    r.entries = static_cast<CounterEntry *>(palloc(sizeof(CounterEntry) * room));
    r.stats = static_cast<StmtCounters *>(palloc0(sizeof(StmtCounters) * room));
    r.connections = static_cast<int *>(palloc0(sizeof(int) * room));
    r.queued = static_cast<int *>(palloc0(sizeof(int) * room));
    LWLockAcquire(st->main_lock, LW_SHARED);
    for (uint32_t i = 0; i < capacity; ++i) {
        if (t.oids[i] == 0)
            continue;
        r.entries[r.n] = t.entries[i];
        stmt_merge(r.stats[r.n++], t.stats[i]);  // only the buckets in use
    }
    LWLockRelease(st->main_lock);
    if (!with_budget_roles)
        return r;
    for (uint32_t b = 0; b < r.budgets->count; ++b) {
        const BudgetRule &rule = r.budgets->rules[b];
        bool present = false;
        for (int i = 0; i < r.n && !present; ++i)
            present = r.entries[i].oid == rule.role_oid;
        if (present)
            continue;
        CounterEntry &e = r.entries[r.n++];
        memset(&e, 0, sizeof(e));
        e.oid = rule.role_oid;
        copy_text(e.name, rule.role_name);
    }
    return r;
}

// Adds live connections' counters to row i and counts its connections.
void add_live(Rollup &r, int i, const LiveConnection *live, int nlive, bool by_role)
{
    for (int j = 0; j < nlive; ++j) {
        const ConnSlot &s = live[j].slot;
        if ((by_role ? s.role_oid : s.db_oid) != r.entries[i].oid)
            continue;
        r.connections[i]++;
        r.queued[i] += admission_waiting(live[j].adm);
        stmt_merge(r.stats[i], live[j].stmts);
    }
}

}  // namespace

Rollup read_rollup(RollupOf of, bool with_budget_roles, bool with_live)
{
    bool by_role = of == RollupOf::Roles;
    Rollup r = copy_table(by_role ? shm.roles : shm.databases, with_budget_roles && by_role);
    if (!with_live)
        return r;
    LiveConnection *live = nullptr;
    int nlive = copy_live_connections(&live);
    copy_admission_entries(live, nlive);
    for (int i = 0; i < r.n; ++i)
        add_live(r, i, live, nlive, by_role);
    pfree(live);
    return r;
}

LoginCounters read_logins()
{
    SharedState *st = shm.state;
    LoginCounters c;
    c.accepted = atomic::load(st->accepted);
    c.rejected_budget = atomic::load(st->rejected_budget);
    c.rejected_reserve = atomic::load(st->rejected_reserve);
    c.rejected_breaker = atomic::load(st->rejected_breaker);
    c.warned = atomic::load(st->warned);
    c.auth_failures = atomic::load(st->auth_failures);
    c.idle_terminated = atomic::load(st->idle_terminated);
    return c;
}

ReadModel read_model()
{
    ReadModel m;
    m.global = read_global();
    m.logins = read_logins();
    m.roles = read_rollup(RollupOf::Roles, true);
    m.databases = read_rollup(RollupOf::Databases, false);
    return m;
}

}  // namespace poolgov::pg
