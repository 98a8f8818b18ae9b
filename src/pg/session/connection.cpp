#include "postgres.hpp"

#include "session/connection.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_auth_members.h"
#include "catalog/pg_authid.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/varlena.h"
#include "utils/catcache.h"
#include "utils/inval.h"
#include "utils/syscache.h"
}

#include "locks.hpp"
#include "compat.hpp"
#include "session/idle_reclaim.hpp"
#include "settings.hpp"
#include "shmem.hpp"

#include "poolgov/atomics.hpp"

#include <algorithm>

namespace poolgov::pg {

ConnSlot *my_slot = nullptr;
SlotStats *my_slot_stats = nullptr;
SlotStats *tracked_stats = nullptr;

void tracked_stats_refresh(int track)
{
    tracked_stats = track != settings::TRACK_NONE ? my_slot_stats : nullptr;
}

namespace {

// Fills the slot's closure: the first kMaxMemberOf roles in the slot, the
// rest in the member pool, so every rule counts this connection whatever its
// closure's length (also rules installed later). If the pool cannot hold
// the rest (exhausted), the slot keeps the login role, then the roles that
// have budgets now, then others while room lasts, and says so (the caller
// counts and logs it); returns false then. No allocation: this runs under
// the main lock.
bool store_memberships(ConnSlot &s, const Oid *closure, int n, const BudgetSet &budgets)
{
    s.n_member_of = 0;
    s.member_chain = 0;
    s.members_truncated = 0;
    int head = n < kMaxMemberOf ? n : kMaxMemberOf;
    for (int i = 0; i < head; ++i)
        s.member_of[s.n_member_of++] = closure[i];
    if (n <= kMaxMemberOf)
        return true;
    s.member_chain =
        member_pool_store(shm.state->budget.members, closure + kMaxMemberOf, n - kMaxMemberOf);
    if (s.member_chain != 0)
        return true;
    s.members_truncated = 1;
    s.n_member_of = 0;
    s.member_of[s.n_member_of++] = closure[0];
    for (int pass = 0; pass < 2; ++pass)
        for (int i = 1; i < n && s.n_member_of < kMaxMemberOf; ++i)
            if ((oid_map_find(budgets.index, closure[i]) != nullptr) == (pass == 0))
                s.member_of[s.n_member_of++] = closure[i];
    return false;
}

// Index of the role's (database's) counter entry, created if needed; -1 if
// the table is full of entries with live connections.
int role_entry(Oid oid, const char *name, TimestampTz now)
{
    return entry_get(shm.roles, oid, name, now, role_has_connections, nullptr);
}

int database_entry(Oid oid, const char *name, TimestampTz now)
{
    return entry_get(shm.databases, oid, name, now, database_has_connections, nullptr);
}

void retire_counters(const ConnSlot &s)
{
    SharedState *st = shm.state;
    const SlotStats &mine = stats_of(&s);
    if (atomic::load(mine.epoch) != atomic::load(st->stats_epoch))
        return;  // counters predate the last reset
    TimestampTz now = GetCurrentTimestamp();
    int r = role_entry(s.role_oid, s.role_name, now);
    if (r >= 0)
        stmt_merge(shm.roles.stats[r], mine.stmts);
    int d = database_entry(s.db_oid, s.db_name, now);
    if (d >= 0)
        stmt_merge(shm.databases.stats[d], mine.stmts);
    stmt_merge(*shm.retired, mine.stmts);
}

// Release happens in two steps so that a budget never admits a login while
// the leaving backend is still visible:
//  1. on_shmem_exit (before ProcKill, LWLocks usable): add this backend's
//     counters to its role, its database and the totals, and detach them
//     from the slot, under the main lock;
//  2. on_proc_exit (after PostgreSQL removed the backend from
//     pg_stat_activity and freed its PGPROC): mark the slot free, one atomic
//     store that needs no lock.
// Both run on normal exit, FATAL and pg_terminate_backend; a crash (SIGKILL)
// runs neither, but then the postmaster reinitialises shared memory.
ConnSlot *slot_to_free = nullptr;

void retire_connection(int code, Datum arg)
{
    ConnSlot *slot = my_slot;
    if (slot == nullptr)
        return;
    my_slot = nullptr;  // no more statements are counted
    my_slot_stats = nullptr;
    tracked_stats = nullptr;
    SlotStats &stats = stats_of(slot);
    lock_acquire(shm.state->main_lock, LW_EXCLUSIVE);
    retire_counters(*slot);
    // A free slot's counters are zero (so the next owner touches only what
    // it uses); epoch 0 makes readers ignore them meanwhile.
    write_begin(stats.cc);
    stmt_clear(stats.stmts);
    atomic::store(stats.epoch, uint64_t{0});
    write_end(stats.cc);
    lock_release(shm.state->main_lock);
}

// The owner's last word, after ProcKill: no lock can be taken any more. The
// connection leaves the live counts at the next main-lock holder's
// drain_exits(), which also puts the slot back on the free stack; until then
// the slot is marked exiting (still counted, not reusable) and its closure
// stays for the drain to read. Order: exiting, in_use, then the queue entry,
// each a release store, so that a drained slot is free for good.
void free_slot(int code, Datum arg)
{
    if (slot_to_free == nullptr)
        return;
    BudgetState &b = shm.state->budget;
    SlotKey &key = key_of(slot_to_free);
    atomic::store_release(key.exiting, kSlotExiting);
    atomic::store_release(key.in_use, 0u);
    uint64_t pos = atomic::fetch_add_acq_rel(b.exit_tail, uint64_t{1});
    atomic::store_release(b.exit_queue[pos % shm.state->nslots],
                          static_cast<uint32_t>(slot_to_free - shm.slots) + 1);
    slot_to_free = nullptr;
}

// A free slot from the stack (no scan), or null when every slot is taken.
ConnSlot *find_free_slot()
{
    BudgetState &b = shm.state->budget;
    if (b.n_free_slots == 0)
        return nullptr;
    return &shm.slots[b.free_slots[--b.n_free_slots]];
}

// Adds (+1) or removes (-1) a connection to or from the live counts.
void count_live(const ConnSlot &s, int delta)
{
    BudgetState &b = shm.state->budget;
    budget_set_count(active_budgets(), s, b.members, delta);
    // Both maps hold nslots keys at most: an add cannot fail.
    (void)oid_map_add(b.live_by_role, s.role_oid, delta);
    (void)oid_map_add(b.live_by_db, s.db_oid, delta);
    b.live_total += delta;
    b.live_overdrafts += s.overdraft ? delta : 0;
}

}  // namespace

// Takes the connections whose owners exited out of the live counts and
// gives their slots back. Each exit is drained once, by whoever holds the
// main lock exclusively next; the work is the number of exits since.
void drain_exits()
{
    BudgetState &b = shm.state->budget;
    uint32_t n = shm.state->nslots;
    uint64_t tail = atomic::load_acquire(b.exit_tail);
    while (b.exit_head < tail) {
        uint32_t &entry = b.exit_queue[b.exit_head % n];
        uint32_t v = atomic::load_acquire(entry);
        if (v == 0)
            break;  // reserved, not written yet: the next holder takes it
        entry = 0;
        b.exit_head++;
        ConnSlot &s = shm.slots[v - 1];
        count_live(s, -1);
        member_pool_free(b.members, s.member_chain);
        s.member_chain = 0;
        atomic::store_release(shm.slot_keys[v - 1].exiting, kSlotDrained);
        b.free_slots[b.n_free_slots++] = v - 1;  // in_use was cleared before the entry
    }
}

namespace {

void fill_slot(ConnSlot &s, const LoginInfo &login, const Oid *closure, int n_closure,
               const BudgetSet &budgets, const LoginDecision &d)
{
    memset(&s, 0, sizeof(s));
    s.pid = MyProcPid;
    s.role_oid = login.role_oid;
    s.db_oid = login.db_oid;
    s.superuser = login.superuser;
    s.priority = d.priority;
    s.overdraft = d.overdraft;
    if (!store_memberships(s, closure, n_closure, budgets))
        atomic::fetch_add(shm.state->budget.memberships_truncated, uint64_t{1});
    else if (s.member_chain != 0)
        atomic::fetch_add(shm.state->budget.memberships_overflowed, uint64_t{1});
    s.backend_start = MyStartTimestamp;
    copy_text(s.role_name, login.role_name);
    copy_text(s.db_name, login.db_name);
    copy_text(s.client_addr, login.client_addr);
    copy_text(s.application_name, login.application_name);
    SlotStats &stats = stats_of(&s);
    write_begin(stats.cc);
    slot_sync_epoch(stats, atomic::load(shm.state->stats_epoch));
    write_end(stats.cc);
    SlotKey &key = key_of(&s);
    key.role_oid = login.role_oid;
    key.db_oid = login.db_oid;
    key.exiting = 0;
    atomic::store_release(key.in_use, 1u);
}

void count_login(const LoginInfo &login, const LoginDecision &d, TimestampTz now)
{
    SharedState *st = shm.state;
    int ri = role_entry(login.role_oid, login.role_name, now);
    int di = database_entry(login.db_oid, login.db_name, now);
    CounterEntry *r = ri >= 0 ? &shm.roles.entries[ri] : nullptr;
    CounterEntry *db = di >= 0 ? &shm.databases.entries[di] : nullptr;
    if (d.verdict == Verdict::Refuse) {
        if (r)
            r->rejected++;
        if (db)
            db->rejected++;
        atomic::fetch_add(d.kind == LimitKind::Reserve ? st->rejected_reserve : st->rejected_budget,
                          uint64_t{1});
        return;
    }
    if (d.verdict == Verdict::Warn) {
        if (r)
            r->warned++;
        atomic::fetch_add(st->warned, uint64_t{1});
    }
    atomic::fetch_add(st->accepted, uint64_t{1});
    // From the live counts (this connection included), not a slot scan.
    const BudgetState &b = st->budget;
    uint64_t own = oid_map_count(b.live_by_role, login.role_oid);
    uint64_t in_db = oid_map_count(b.live_by_db, login.db_oid);
    uint64_t all = static_cast<uint64_t>(b.live_total);
    if (r) {
        r->accepted++;
        r->peak_connections = std::max(r->peak_connections, own);
    }
    if (db) {
        db->accepted++;
        db->peak_connections = std::max(db->peak_connections, in_db);
    }
    st->peak_connections = std::max(st->peak_connections, all);
}

}  // namespace

// Under the main lock: from the live counts, not a slot scan.
bool role_has_connections(uint32_t oid, const void *)
{
    return oid_map_count(shm.state->budget.live_by_role, oid) > 0;
}

bool database_has_connections(uint32_t oid, const void *)
{
    return oid_map_count(shm.state->budget.live_by_db, oid) > 0;
}

// OIDs of the roles named in poolgov.priority_roles (names that match no
// role are ignored, as a list setting must be valid before roles exist).
int priority_role_oids(Oid **out)
{
    *out = nullptr;
    if (settings::priority_roles == nullptr || settings::priority_roles[0] == '\0')
        return 0;
    char *raw = pstrdup(settings::priority_roles);
    List *names = NIL;
    int n = 0;
    if (SplitIdentifierString(raw, ',', &names) && names != NIL) {
        *out = static_cast<Oid *>(palloc(sizeof(Oid) * list_length(names)));
        ListCell *lc;
        foreach (lc, names) {
            Oid r = get_role_oid(static_cast<const char *>(lfirst(lc)), true);
            if (OidIsValid(r))
                (*out)[n++] = r;
        }
    }
    list_free(names);
    pfree(raw);
    return n;
}

namespace {

// Only the reserved slots (PostgreSQL's reserves plus ours) are free:
// superuser_reserved_connections, from 16 on PostgreSQL's own
// reserved_connections above it, and poolgov.reserved_connections above
// both. The reserves stack as PostgreSQL's own do: a class of roles may use
// the reserves of the classes below it, so members of
// pg_use_reserved_connections (16+), who may use PostgreSQL's
// reserved_connections, are not held back by ours (PostgreSQL still keeps
// the superusers' slots from them). has_privs_of_role reads
// pg_auth_members through the syscache, as PostgreSQL's own check of that
// role does at this point of the login.
bool reserve_exhausted(Oid role, int extra_procs)
{
    if (settings::reserved_connections <= 0 ||
        compat::have_n_free_procs(compat::reserved_by_postgres() + settings::reserved_connections +
                                  extra_procs))
        return false;
#if PG_VERSION_NUM >= 160000
    if (compat::postgres_reserved_connections() > 0 &&
        has_privs_of_role(role, ROLE_PG_USE_RESERVED_CONNECTIONS))
        return false;
#endif
    return true;
}

}  // namespace

LoginPolicy login_policy(Oid role, int extra_procs)
{
    return LoginPolicy{
        static_cast<EnforceMode>(settings::enforce),
        settings::exempt_superusers,
        settings::default_budget,
        reserve_exhausted(role, extra_procs),
        MaxConnections - compat::reserved_by_postgres() - settings::reserved_connections,
        compat::superuser_reserved_connections()};
}

int login_closure(Oid role, Oid **out)
{
    SharedState *st = shm.state;
    TimestampTz now = GetCurrentTimestamp();
    Oid *closure = static_cast<Oid *>(palloc(sizeof(Oid) * kMaxMemberOf));
    lock_acquire(st->closure_lock, LW_EXCLUSIVE);  // the lookup stamps last_used
    int n =
        closure_lookup(shm.closures, role, atomic::load(st->membership_generation), now, closure);
    lock_release(st->closure_lock);
    if (n >= 0) {
        *out = closure;
        return n;
    }
    pfree(closure);
    // Not cached: walk pg_auth_members (the generation first, so that a
    // change during the walk makes what we store stale at once).
    uint64_t generation = membership_generation();
    n = role_closure(role, out);
    lock_acquire(st->closure_lock, LW_EXCLUSIVE);
    closure_store(shm.closures, role, generation, now, *out, n);
    lock_release(st->closure_lock);
    return n;
}

namespace {

// Under the main lock (exclusive, exits drained): the decision for this
// login from the live counts, by the core's decide_login.
LoginDecision decide_locked(const LoginInfo &login, const LoginPolicy &policy,
                            const BudgetSet &budgets)
{
    const BudgetState &b = shm.state->budget;
    bool listed = false;
    for (int i = 0; i < login.n_priority_roles && !listed; ++i)
        for (int j = 0; j < login.n_closure && !listed; ++j)
            listed = login.closure[j] == login.priority_roles[i];
    LoginRequest req{login.role_oid, login.db_oid,  login.superuser,
                     listed,         login.closure, login.n_closure};
    (void)parse_login_addr(login.client_addr, req.addr);
    LiveCounts live{b.live_total, static_cast<int>(oid_map_count(b.live_by_role, login.role_oid)),
                    b.live_overdrafts};
    return decide_login(req, budgets, live, policy);
}

}  // namespace

LoginDecision peek_login(const LoginInfo &login, const LoginPolicy &policy, BudgetRule *rule_copy)
{
    SharedState *st = shm.state;
    lock_acquire(st->main_lock, LW_EXCLUSIVE);
    drain_exits();  // the counts a login would see
    const BudgetSet &budgets = active_budgets();
    LoginDecision d = decide_locked(login, policy, budgets);
    if (d.kind == LimitKind::Budget)
        *rule_copy = budgets.rules[d.rule];
    lock_release(st->main_lock);
    return d;
}

LoginDecision claim_connection(const LoginInfo &login, const LoginPolicy &policy,
                               BudgetRule *rule_copy)
{
    SharedState *st = shm.state;
    TimestampTz now = GetCurrentTimestamp();

    // One pass: the closure is known (login_closure), so the decision and
    // the claim take the main lock once.
    lock_acquire(st->main_lock, LW_EXCLUSIVE);
    drain_exits();
    BudgetSet &budgets = active_budgets();
    LoginDecision d = decide_locked(login, policy, budgets);
    ConnSlot *slot = d.verdict == Verdict::Refuse ? nullptr : find_free_slot();
    if (slot != nullptr) {
        fill_slot(*slot, login, login.closure, login.n_closure, budgets, d);
        count_live(*slot, +1);
    }
    count_login(login, d, now);
    if (d.kind == LimitKind::Budget)
        *rule_copy = budgets.rules[d.rule];  // the message is built outside the lock
    lock_release(st->main_lock);

    if (slot != nullptr) {
        my_slot = slot_to_free = slot;
        my_slot_stats = &stats_of(slot);
        tracked_stats_refresh(settings::track);
        on_proc_exit(free_slot, 0);
        on_shmem_exit(retire_connection, 0);
        reclaim_backend_start();  // idle reclamation requests (SIGUSR2)
        if (slot->members_truncated)
            ereport(WARNING,
                    (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                     errmsg("pg_poolgov could not keep all role memberships of this connection"),
                     errdetail("Role \"%s\" belongs to %d roles; the connection keeps %d of them "
                               "(those with budgets first) because the shared member pool of %u "
                               "chunks is full. A budget put later on another of its groups does "
                               "not count this connection.",
                               login.role_name, login.n_closure - 1, kMaxMemberOf - 1,
                               st->budget.members.capacity),
                     errhint("The pool holds %zu chunks of %d roles per connection slot "
                             "(max_connections); fewer concurrent sessions of roles in more than "
                             "%d roles free it.",
                             kMemberChunksPerSlot, kChunkRoles, kMaxMemberOf)));
    } else if (d.verdict != Verdict::Refuse) {
        ereport(WARNING, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                          errmsg("pg_poolgov: no free connection slot; this connection is not "
                                 "tracked")));
    }
    return d;
}

// Does this pg_auth_members row make its member count as the role? Up to
// 15 every membership lets the member SET ROLE to the role (and inherit its
// privileges unless the member is NOINHERIT): all count. From 16 a
// membership carries its own options, and counts when it lets the member
// act as the role: inherit its privileges (INHERIT) or become it (SET). An
// ADMIN-only membership does not: it lets the member administer the role,
// and 16 gives one to a CREATEROLE role for every role it creates, which
// must not put the creator under each of their budgets. (A NOINHERIT role's
// memberships are SET-only from 16, and still count, as on 15.) A member
// and a role may have several rows from 16 (one per grantor): the pair
// counts if any of them does.
namespace {
bool membership_counts(const Form_pg_auth_members m)
{
#if PG_VERSION_NUM >= 160000
    return m->inherit_option || m->set_option;
#else
    (void)m;
    return true;
#endif
}
}  // namespace

int role_closure(Oid role, Oid **out)
{
    int cap = 16, n = 0;
    Oid *roles = static_cast<Oid *>(palloc(sizeof(Oid) * cap));
    roles[n++] = role;
    for (int i = 0; i < n; ++i) {
        CatCList *members = SearchSysCacheList1(AUTHMEMMEMROLE, ObjectIdGetDatum(roles[i]));
        for (int j = 0; j < members->n_members; ++j) {
            HeapTuple tup = &members->members[j]->tuple;
            auto *m = reinterpret_cast<Form_pg_auth_members>(GETSTRUCT(tup));
            if (!membership_counts(m))
                continue;
            Oid granted = m->roleid;
            bool seen = false;
            for (int k = 0; k < n && !seen; ++k)
                seen = roles[k] == granted;
            if (seen)
                continue;
            if (n == cap) {
                cap *= 2;
                roles = static_cast<Oid *>(repalloc(roles, sizeof(Oid) * cap));
            }
            roles[n++] = granted;
        }
        ReleaseSysCacheList(members);
    }
    *out = roles;
    return n;
}

namespace {

// Adds one to a global counter and, for a role that already has an entry, to
// a field of it. An unauthenticated client allocates nothing: neither
// invented names nor the names of real roles that never logged in get an
// entry (they could churn the table and evict real counters); no
// last_seen update either, so failures do not keep an entry from eviction.
void count_failed_login(uint64_t &global, uint64_t CounterEntry::*field, Oid role_oid)
{
    SharedState *st = shm.state;
    atomic::fetch_add(global, uint64_t{1});
    if (!OidIsValid(role_oid))
        return;
    lock_acquire(st->main_lock, LW_EXCLUSIVE);
    int r = entry_find(shm.roles, role_oid);
    if (r >= 0)
        (shm.roles.entries[r].*field)++;
    lock_release(st->main_lock);
}

}  // namespace

namespace {

// Any change to pg_auth_members (GRANT, REVOKE, DROP ROLE, ...) reaches
// every backend as a catalog invalidation; the first to process it makes all
// cached closures stale. (The committing backend processes its own at
// commit.)
void on_membership_change(Datum, POOLGOV_SYSCACHE_ID, uint32)
{
    if (shm.state != nullptr)
        atomic::fetch_add(shm.state->membership_generation, uint64_t{1});
}

}  // namespace

void membership_cache_install()
{
    CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, on_membership_change, (Datum)0);
}

uint64_t membership_generation() { return atomic::load(shm.state->membership_generation); }

void count_auth_failure(Oid role_oid, const char *role_name)
{
    count_failed_login(shm.state->auth_failures, &CounterEntry::auth_failures, role_oid);
}

void count_breaker_refusal(Oid role_oid, const char *role_name)
{
    count_failed_login(shm.state->rejected_breaker, &CounterEntry::rejected, role_oid);
}

}  // namespace poolgov::pg
