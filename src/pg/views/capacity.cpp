// poolgov.capacity.
//
// poolgov.capacity shows numbers only (no role, database or query), so it
// is readable by every role, like poolgov.stats. Each table's counters are
// read under the lock that guards that table, one table at a time.
#include "postgres.hpp"

extern "C" {
#include "utils/guc.h"
}

#include "locks.hpp"
#include "guard.hpp"
#include "views/row_builder.hpp"
#include "shmem.hpp"

#include "poolgov/events.hpp"
#include "poolgov/history.hpp"

#include <initializer_list>

using namespace poolgov;
using namespace poolgov::pg;

namespace {

// One row of poolgov.capacity; evictions or untracked < 0 and a null
// setting print NULL.
struct CapacityRow {
    const char *name;
    int64 used;
    int64 capacity;
    int64 evictions;
    int64 untracked;  // < 0: not applicable
    int64 bytes_per_entry;
    const char *setting;
};

CapacityRow ring_row(const char *name, LWLock *lock, RingHeader *h, const char *setting)
{
    lock_acquire(lock, LW_SHARED);
    RingView ring(h, nullptr);
    CapacityRow r{name,
                  static_cast<int64>(ring.size()),
                  ring.capacity(),
                  static_cast<int64>(ring.written() - ring.size()),
                  -1,
                  ring.stride(),
                  setting};
    lock_release(lock);
    return r;
}

}  // namespace

POOLGOV_SQL_FUNCTION(poolgov_capacity)
{
    require_shmem();
    SharedState *st = shm.state;
    constexpr int kRows = 10;
    CapacityRow rows[kRows];
    int n = 0;

    int64 per_entry = static_cast<int64>(entry_bytes_per_entry());
    lock_acquire(st->main_lock, LW_SHARED);
    rows[n++] = {"roles",
                 st->roles.used,
                 st->roles.capacity,
                 static_cast<int64>(st->roles.evicted),
                 static_cast<int64>(st->roles.untracked),
                 per_entry,
                 "poolgov.max_roles"};
    rows[n++] = {"databases",
                 st->databases.used,
                 st->databases.capacity,
                 static_cast<int64>(st->databases.evicted),
                 static_cast<int64>(st->databases.untracked),
                 per_entry,
                 "poolgov.max_databases"};
    // Budgets beyond the capacity are refused by poolgov.set_budget, never
    // dropped: evictions is NULL.
    BudgetState &b = st->budget;
    rows[n++] = {
        "budgets",
        b.banks[b.active].count,
        b.capacity,
        -1,
        -1,
        static_cast<int64>(2 * budget_set_bytes(b.capacity, budget_pair_slots()) / b.capacity),
        "poolgov.max_budgets"};
    // Membership closures longer than a slot holds: chunks of the shared
    // pool in use; a login whose closure did not fit at all is untracked
    // (its first roles, budgeted ones first, still count; see budgets.md).
    rows[n++] = {"memberships",
                 b.members.capacity - b.members.free_count,
                 b.members.capacity,
                 -1,
                 static_cast<int64>(atomic::load(b.memberships_truncated)),
                 static_cast<int64>(sizeof(MemberChunk)),
                 "max_connections"};
    // An entry, its role and its share of the index.
    int64 closure_bytes = sizeof(ClosureEntry) + sizeof(uint32_t) +
                          sizeof(OidMapEntry) * closure_index_capacity() / kClosureEntries;
    rows[n++] = {
        "closure_cache", shm.closures.by_role->used, kClosureEntries, -1, -1, closure_bytes,
        nullptr};
    int64 slots = 0;
    for (uint32_t i = 0; i < st->nslots; ++i)
        slots += atomic::load(shm.slot_keys[i].in_use) != 0;
    lock_release(st->main_lock);
    rows[n++] = {"connections",
                 slots,
                 st->nslots,
                 -1,
                 -1,
                 static_cast<int64>(sizeof(SlotKey) + sizeof(ConnSlot) + sizeof(SlotStats) +
                                    sizeof(AdmissionEntry) + sizeof(Latch *)),
                 "max_connections"};

    lock_acquire(st->breaker_lock, LW_SHARED);
    rows[n++] = {"breakers",
                 shm.breaker->used,
                 kBreakerEntries,
                 static_cast<int64>(shm.breaker->evicted),
                 static_cast<int64>(shm.breaker->untracked),
                 static_cast<int64>(sizeof(BreakerEntry)),
                 nullptr};
    lock_release(st->breaker_lock);

    rows[n++] = ring_row("events", st->events_lock, &st->events, nullptr);
    rows[n++] =
        ring_row("slow_queries", st->slowlog_lock, &st->slowlog, "poolgov.slow_query_log_size");
    rows[n++] = ring_row("history", st->history_lock, &st->history, "poolgov.history_size");

    RowBuilder row(fcinfo);
    for (int i = 0; i < n; ++i) {
        const CapacityRow &r = rows[i];
        row.text(r.name).int8(r.used).int8(r.capacity);
        for (int64 v : {r.evictions, r.untracked})
            if (v < 0)
                row.null();
            else
                row.int8(v);
        row.int8(r.bytes_per_entry).int8(r.capacity * r.bytes_per_entry).text(r.setting);
        row.emit();
    }
    return (Datum)0;
}
