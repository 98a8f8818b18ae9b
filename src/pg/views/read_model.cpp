#include "postgres.hpp"

#include "views/read_model.hpp"

#include "views/activity.hpp"
#include "session/budgets_sync.hpp"
#include "session/connection.hpp"
#include "session/admission.hpp"
#include "locks.hpp"
#include "shmem.hpp"

#include <algorithm>

namespace poolgov::pg {

void gather_totals(Totals &totals, ConnTally &tally, StmtCounters &all)
{
    SharedState *st = shm.state;
    admission_flush_pending();  // this backend's own counters are complete
    BackendIndex index;
    index.build();
    auto *pids = static_cast<int *>(palloc(sizeof(int) * st->nslots));
    auto *scratch = static_cast<StmtCounters *>(palloc(sizeof(StmtCounters)));
    int npids = 0;

    all = StmtCounters{};
    lock_acquire(st->main_lock, LW_SHARED);
    uint64_t epoch = atomic::load(st->stats_epoch);
    stmt_merge(all, *shm.retired);
    for (uint32_t i = 0; i < st->nslots; ++i) {
        if (!atomic::load(shm.slot_keys[i].in_use))
            continue;
        pids[npids++] = shm.slots[i].pid;
        slot_read_stats(shm.slot_stats[i], epoch, *scratch);
        stmt_merge(all, *scratch);
    }
    lock_release(st->main_lock);

    tally = ConnTally{};
    for (int i = 0; i < npids; ++i)
        tally_add(tally, state_of(index.find(pids[i])));
    lock_acquire(st->admission_lock, LW_SHARED);
    tally.admission_running = static_cast<int32_t>(shm.admission.counters->running);
    tally.admission_queued = static_cast<int32_t>(shm.admission.counters->queued);
    totals.adm_waited = shm.admission.counters->waited;
    totals.adm_wait_us = shm.admission.counters->wait_total_us;
    lock_release(st->admission_lock);

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
    lock_acquire(st->breaker_lock, LW_SHARED);
    g->breaker_untracked = shm.breaker->untracked;
    g->breaker_evicted = shm.breaker->evicted;
    lock_release(st->breaker_lock);
    lock_acquire(st->admission_lock, LW_SHARED);
    g->adm = *shm.admission.counters;
    const PauseTable &p = st->pauses;
    for (const PauseScope &s : p.scopes)
        g->pauses_in_force += s.in_force != 0;
    if (g->pauses_in_force > 0)
        for (int i = 0; i < shm.admission.n; ++i)
            g->paused_transactions += admission_paused(shm.admission.entries[i]);
    g->pauses_total = atomic::load(p.pauses);
    g->pause_timeouts = atomic::load(p.lifted_by_timeout);
    g->pause_lock_admits = atomic::load(p.lock_admits);
    g->paused_admission_timeouts = atomic::load(p.timeouts);
    lock_release(st->admission_lock);
    return g;
}

namespace {

// Entries copied per hold of the shared main lock. A login takes that lock
// exclusively, so a view over 10,000 entries lets logins in between chunks
// instead of holding them for the whole copy.
constexpr uint32_t kCopyChunk = 256;

// Row index of each OID, sorted by OID: rows are found by binary search, so
// matching live connections and budgets to rows costs O((a + b) log n),
// not O(a × n).
struct RowKey {
    uint32_t oid;
    int row;
};

int compare_row_keys(const void *a, const void *b)
{
    uint32_t x = static_cast<const RowKey *>(a)->oid, y = static_cast<const RowKey *>(b)->oid;
    return x < y ? -1 : x > y;
}

RowKey *sorted_row_keys(const Rollup &r)
{
    auto *keys = static_cast<RowKey *>(palloc(sizeof(RowKey) * (r.n + 1)));
    for (int i = 0; i < r.n; ++i)
        keys[i] = RowKey{r.entries[i].oid, i};
    qsort(keys, r.n, sizeof(RowKey), compare_row_keys);
    return keys;
}

int find_row(const RowKey *keys, int n, uint32_t oid)
{
    RowKey key{oid, 0};
    auto *hit =
        static_cast<const RowKey *>(bsearch(&key, keys, n, sizeof(RowKey), compare_row_keys));
    return hit ? hit->row : -1;
}

// An entry evicted while the table was copied, and created again at a place
// copied later, gives two rows of one OID: keep the later copy (the newer
// one) and close the gaps. Rare: only when the table evicts during a read.
void drop_duplicate_rows(Rollup &r)
{
    RowKey *keys = sorted_row_keys(r);
    auto *drop = static_cast<bool *>(palloc0(sizeof(bool) * (r.n + 1)));
    for (int k = 0; k + 1 < r.n; ++k)
        if (keys[k].oid == keys[k + 1].oid)  // same OID: the lower row is older
            drop[std::min(keys[k].row, keys[k + 1].row)] = true;
    int n = 0;
    for (int i = 0; i < r.n; ++i) {
        if (drop[i])
            continue;
        if (n != i) {
            r.entries[n] = r.entries[i];
            memcpy(&r.stats[n], &r.stats[i], sizeof(StmtCounters));
        }
        n++;
    }
    r.n = n;
    pfree(drop);
    pfree(keys);
}

// Copies a counter table with its stats (and the budget set) under the
// shared lock, in chunks of kCopyChunk entries (each row is consistent in
// itself; rows of different chunks may be a few logins apart); adds rows
// for budgeted roles that have none yet when `with_budget_roles`. Entries
// are dense and `used` only grows, so the copy covers the entries that
// existed when it started; memory is allocated before the lock is taken.
Rollup copy_table(const EntryTable &t, bool with_budget_roles)
{
    SharedState *st = shm.state;
    Rollup r{};
    r.budgets = copy_active_budgets();  // rules, index and live counts
    lock_acquire(st->main_lock, LW_SHARED);
    uint32_t used = t.header->used;
    uint64_t evictions = t.header->evicted;
    lock_release(st->main_lock);

    uint32_t extra = with_budget_roles ? r.budgets->count : 0;
    size_t room = static_cast<size_t>(used) + extra + 1;
    r.entries = static_cast<CounterEntry *>(palloc(sizeof(CounterEntry) * room));
    r.stats = static_cast<StmtCounters *>(
        MemoryContextAllocHuge(CurrentMemoryContext, sizeof(StmtCounters) * room));
    for (size_t i = 0; i < room; ++i)  // headers only: merges widen from empty
        stmt_reset_header(r.stats[i]);
    r.connections = static_cast<int *>(palloc0(sizeof(int) * room));
    r.queued = static_cast<int *>(palloc0(sizeof(int) * room));
    for (uint32_t from = 0; from < used; from += kCopyChunk) {
        uint32_t to = std::min(used, from + kCopyChunk);
        lock_acquire(st->main_lock, LW_SHARED);
        for (uint32_t i = from; i < to; ++i) {
            r.entries[r.n] = t.entries[i];
            stmt_merge(r.stats[r.n++], t.stats[i]);  // only the buckets in use
        }
        lock_release(st->main_lock);
    }
    if (evictions != atomic::load(t.header->evicted))
        drop_duplicate_rows(r);
    if (!with_budget_roles)
        return r;
    // Budgeted roles without a row, each once (a role may have several
    // rules): sorted by OID, so 10,000 rules cost O(b log b), not O(b²).
    int seen = r.n;
    RowKey *keys = sorted_row_keys(r);
    auto *missing = static_cast<RowKey *>(palloc(sizeof(RowKey) * (r.budgets->count + 1)));
    int nmissing = 0;
    for (uint32_t b = 0; b < r.budgets->count; ++b) {
        uint32_t role = r.budgets->rules[b].role_oid;
        if (find_row(keys, seen, role) < 0)
            missing[nmissing++] = RowKey{role, static_cast<int>(b)};
    }
    qsort(missing, nmissing, sizeof(RowKey), compare_row_keys);
    for (int k = 0; k < nmissing; ++k) {
        if (k > 0 && missing[k].oid == missing[k - 1].oid)
            continue;
        const BudgetRule &rule = r.budgets->rules[missing[k].row];
        CounterEntry &e = r.entries[r.n++];
        memset(&e, 0, sizeof(e));
        e.oid = rule.role_oid;
        copy_text(e.name, rule.role_name);
    }
    pfree(missing);
    pfree(keys);
    return r;
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
    // Each live connection's counters go to its row (found by binary search).
    RowKey *keys = sorted_row_keys(r);
    for (int j = 0; j < nlive; ++j) {
        const ConnSlot &s = live[j].slot;
        int i = find_row(keys, r.n, by_role ? s.role_oid : s.db_oid);
        if (i < 0)
            continue;
        r.connections[i]++;
        r.queued[i] += admission_waiting(live[j].adm);
        stmt_merge(r.stats[i], live[j].stmts);
    }
    pfree(keys);
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
