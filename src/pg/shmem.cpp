#include "postgres.hpp"

#include "shmem.hpp"

extern "C" {
#include "storage/ipc.h"
#include "storage/shmem.h"
}

#include "settings.hpp"
#include "poolgov/events.hpp"
#include "poolgov/history.hpp"

namespace poolgov::pg {

Shmem shm = {};

namespace {

constexpr const char *kTranche = "pg_poolgov";
constexpr int kLocks = 8;

shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

struct Layout {
    size_t role_index, db_index, closure_index, closure_roles, slot_keys, slots, slot_stats, roles,
        role_stats, databases, db_stats, retired, closures, breaker, events, slowlog, history,
        admission, admission_entries, admission_latches, bank0, bank1, live_by_role, live_by_db,
        member_chunks, exit_queue, free_slots, total;
};

// One place computes sizes and offsets, for the request and for startup.
// Order matters: the header (with the budget state's header), the OID
// indexes and the slot keys are what every login reads, so they come first
// and together; the budget banks, sized by poolgov.max_budgets, come last.
Layout layout()
{
    Layout l{};
    size_t off = MAXALIGN(sizeof(SharedState));
    auto take = [&](size_t bytes) {
        size_t at = off;
        off += MAXALIGN(bytes);
        return at;
    };
    auto nslots = static_cast<size_t>(MaxBackends);
    auto nroles = static_cast<uint32_t>(settings::max_roles);
    auto ndbs = static_cast<uint32_t>(settings::max_databases);
    l.role_index = take(sizeof(OidMapEntry) * entry_index_capacity(nroles));
    l.db_index = take(sizeof(OidMapEntry) * entry_index_capacity(ndbs));
    l.closure_index = take(sizeof(OidMapEntry) * closure_index_capacity());
    l.closure_roles = take(sizeof(uint32_t) * kClosureEntries);
    l.slot_keys = take(sizeof(SlotKey) * nslots);
    l.slots = take(sizeof(ConnSlot) * nslots);
    l.slot_stats = take(sizeof(SlotStats) * nslots);
    l.roles = take(sizeof(CounterEntry) * nroles);
    l.role_stats = take(sizeof(StmtCounters) * nroles);
    l.databases = take(sizeof(CounterEntry) * ndbs);
    l.db_stats = take(sizeof(StmtCounters) * ndbs);
    l.retired = take(sizeof(StmtCounters));
    l.closures = take(sizeof(ClosureEntry) * kClosureEntries);
    l.breaker = take(sizeof(BreakerTable));
    l.events = take(ring_bytes(kEventLogSize, sizeof(EventRecord)));
    l.slowlog =
        take(ring_bytes(static_cast<uint32_t>(settings::slow_query_log_size), slowlog_stride()));
    l.history =
        take(ring_bytes(static_cast<uint32_t>(settings::history_size), sizeof(HistorySample)));
    l.admission = take(sizeof(AdmissionCounters));
    l.admission_entries = take(sizeof(AdmissionEntry) * nslots);
    l.admission_latches = take(sizeof(Latch *) * nslots);
    auto budgets = static_cast<uint32_t>(settings::max_budgets);
    l.bank0 = take(budget_set_bytes(budgets, budget_pair_slots()));
    l.bank1 = take(budget_set_bytes(budgets, budget_pair_slots()));
    l.live_by_role = take(sizeof(OidMapEntry) * oid_map_capacity_for(nslots));
    l.live_by_db = take(sizeof(OidMapEntry) * oid_map_capacity_for(nslots));
    l.member_chunks = take(sizeof(MemberChunk) * nslots * kMemberChunksPerSlot);
    l.exit_queue = take(sizeof(uint32_t) * nslots);
    l.free_slots = take(sizeof(uint32_t) * nslots);
    l.total = off;
    return l;
}

void shmem_request()
{
    if (prev_shmem_request_hook)
        prev_shmem_request_hook();
    RequestAddinShmemSpace(layout().total);
    RequestNamedLWLockTranche(kTranche, kLocks);
}

void init_state(SharedState *s, const Layout &l, char *base)
{
    memset(base, 0, l.total);
    LWLockPadded *locks = GetNamedLWLockTranche(kTranche);
    s->main_lock = &locks[0].lock;
    s->breaker_lock = &locks[1].lock;
    s->events_lock = &locks[2].lock;
    s->slowlog_lock = &locks[3].lock;
    s->history_lock = &locks[4].lock;
    s->admission_lock = &locks[5].lock;
    s->budget_install_lock = &locks[6].lock;
    s->closure_lock = &locks[7].lock;
    s->stats_epoch = 1;
    s->membership_generation = 1;
    s->stats_reset = GetCurrentTimestamp();
    s->nslots = static_cast<uint32_t>(MaxBackends);
    BudgetState &b = s->budget;
    auto budgets = static_cast<uint32_t>(settings::max_budgets);
    budget_set_attach(b.banks[0], base + l.bank0, budgets, budget_pair_slots());
    budget_set_attach(b.banks[1], base + l.bank1, budgets, budget_pair_slots());
    b.active = 0;
    // Generations count from 1: install_budgets() takes an expected
    // generation of 0 to mean "install whatever is in force", so a governor
    // read begun at generation 0 must not overwrite a COMMIT's install.
    b.banks[0].generation = 1;
    b.generation = 1;
    b.idle_in_transaction_rules = 0;
    b.capacity = budgets;
    oid_map_init(b.live_by_role, reinterpret_cast<OidMapEntry *>(base + l.live_by_role),
                 oid_map_capacity_for(s->nslots));
    oid_map_init(b.live_by_db, reinterpret_cast<OidMapEntry *>(base + l.live_by_db),
                 oid_map_capacity_for(s->nslots));
    member_pool_init(b.members, reinterpret_cast<MemberChunk *>(base + l.member_chunks),
                     static_cast<uint32_t>(s->nslots * kMemberChunksPerSlot));
    b.exit_queue = reinterpret_cast<uint32_t *>(base + l.exit_queue);
    b.free_slots = reinterpret_cast<uint32_t *>(base + l.free_slots);
    for (uint32_t i = 0; i < s->nslots; ++i)  // slot 0 on top
        b.free_slots[i] = s->nslots - 1 - i;
    b.n_free_slots = s->nslots;
    RingView::init(&s->events, base + l.events, kEventLogSize, sizeof(EventRecord));
    RingView::init(&s->slowlog, base + l.slowlog,
                   static_cast<uint32_t>(settings::slow_query_log_size), slowlog_stride());
    RingView::init(&s->history, base + l.history, static_cast<uint32_t>(settings::history_size),
                   sizeof(HistorySample));
}

// Runs in the postmaster at start and after every crash restart (a fresh
// segment: found is false, and everything starts from zero).
void shmem_startup()
{
    if (prev_shmem_startup_hook)
        prev_shmem_startup_hook();
    Layout l = layout();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found = false;
    char *base = static_cast<char *>(ShmemInitStruct("pg_poolgov", l.total, &found));
    auto *s = reinterpret_cast<SharedState *>(base);
    if (!found)
        init_state(s, l, base);

    shm.state = s;
    shm.slot_keys = reinterpret_cast<SlotKey *>(base + l.slot_keys);
    shm.slots = reinterpret_cast<ConnSlot *>(base + l.slots);
    shm.slot_stats = reinterpret_cast<SlotStats *>(base + l.slot_stats);
    shm.roles = EntryTable{&s->roles, reinterpret_cast<CounterEntry *>(base + l.roles),
                           reinterpret_cast<StmtCounters *>(base + l.role_stats)};
    shm.databases = EntryTable{&s->databases, reinterpret_cast<CounterEntry *>(base + l.databases),
                               reinterpret_cast<StmtCounters *>(base + l.db_stats)};
    shm.retired = reinterpret_cast<StmtCounters *>(base + l.retired);
    shm.closures = closure_cache_attach(&s->closure_index,
                                        reinterpret_cast<OidMapEntry *>(base + l.closure_index),
                                        reinterpret_cast<uint32_t *>(base + l.closure_roles),
                                        reinterpret_cast<ClosureEntry *>(base + l.closures));
    shm.breaker = reinterpret_cast<BreakerTable *>(base + l.breaker);
    shm.events = base + l.events;
    shm.slowlog = base + l.slowlog;
    shm.history = base + l.history;
    shm.admission = AdmissionTable{reinterpret_cast<AdmissionCounters *>(base + l.admission),
                                   reinterpret_cast<AdmissionEntry *>(base + l.admission_entries),
                                   static_cast<int>(s->nslots)};
    shm.admission_latches = reinterpret_cast<Latch **>(base + l.admission_latches);
    if (!found) {  // the tables' headers and hash indexes; the postmaster's settings
        entry_table_init(shm.roles, reinterpret_cast<OidMapEntry *>(base + l.role_index),
                         static_cast<uint32_t>(settings::max_roles));
        entry_table_init(shm.databases, reinterpret_cast<OidMapEntry *>(base + l.db_index),
                         static_cast<uint32_t>(settings::max_databases));
        closure_cache_init(shm.closures);
        settings::publish_admission_settings();
    }
    LWLockRelease(AddinShmemInitLock);
}

}  // namespace

uint32_t slowlog_stride()
{
    return static_cast<uint32_t>(MAXALIGN(sizeof(SlowQueryRecord) + settings::max_query_text + 1));
}

void shmem_install_hooks()
{
    prev_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = shmem_request;
    prev_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = shmem_startup;
}

void require_shmem()
{
    if (shm.state == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("pg_poolgov must be loaded via shared_preload_libraries"),
                        errhint("Add pg_poolgov to shared_preload_libraries in postgresql.conf and "
                                "restart the server.")));
}

}  // namespace poolgov::pg
