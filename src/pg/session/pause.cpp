// Pauses in the backend (policy: poolgov/pause.hpp).
//
// The gate (session/admission.cpp) asks pause_bits() at a transaction's
// first statement, and only when pauses_in_force(): one atomic load
// otherwise. A superuser's transactions are never held (whatever
// poolgov.exempt_superusers says), nor those of backends without a
// connection slot. The session that paused a scope is left out by the
// scope itself (PauseScope::by_pid).
//
// Lifting: poolgov.resume(), or poolgov.pause_timeout measured from the
// last poolgov.pause() of the scope. The governor looks every sample
// (poolgov.sample_interval) and logs a WARNING; with no governor running,
// a waiter lifts a pause once it is kStaleMs past due (its client then
// sees the WARNING too).
#include "postgres.hpp"

#include "session/pause.hpp"

extern "C" {
#include "utils/timestamp.h"
}

#include "events_log.hpp"
#include "session/admission.hpp"
#include "session/connection.hpp"
#include "locks.hpp"
#include "shmem.hpp"

#include "poolgov/format.hpp"

#include <fmt/format.h>

namespace poolgov::pg {

namespace {

constexpr int kStaleMs = 5000;
constexpr int kBatch = 64;

PauseTable &table() { return shm.state->pauses; }

int64_t timeout_us() { return static_cast<int64_t>(atomic::load(table().timeout_ms)) * 1000; }

// What a lift needs after the lock is gone.
struct Lifted {
    PauseScope scope;
    bool done;
};

// Under the admission lock: lifts scope k if it is still the pause the
// caller saw (same database and role) and, with expired_by > 0, still past
// due at that time. Its waiters are granted into `granted`.
Lifted lift_locked(int k, uint32_t db, uint32_t role, int64_t expired_by, int *granted, int *n)
{
    Lifted l{};
    PauseScope &s = table().scopes[k];
    *n = 0;
    if (s.in_force == 0 || s.db_oid != db || s.role_oid != role ||
        (expired_by > 0 && s.renewed_us > expired_by))
        return l;
    l.scope = s;
    l.done = pause_remove(table(), k);
    *n = admission_release(shm.admission, k, admission_limits(), GetCurrentTimestamp(), granted,
                           kBatch);
    return l;
}

// Grants on in batches while a batch filled up (more waiters than fit).
void grant_rest(int *granted, int n)
{
    admission_wake(granted, n);
    while (n == kBatch) {
        lock_acquire(shm.state->admission_lock, LW_EXCLUSIVE);
        n = admission_grant(shm.admission, admission_limits(), GetCurrentTimestamp(), granted,
                            kBatch);
        lock_release(shm.state->admission_lock);
        admission_wake(granted, n);
    }
}

bool lift(int k, uint32_t db, uint32_t role, int64_t expired_by, const char *why, PauseScope *was)
{
    int granted[kBatch];
    int n = 0;
    lock_acquire(shm.state->admission_lock, LW_EXCLUSIVE);
    Lifted l = lift_locked(k, db, role, expired_by, granted, &n);
    lock_release(shm.state->admission_lock);
    grant_rest(granted, n);
    if (!l.done)
        return false;
    char scope[kDetailLen], detail[kDetailLen];
    describe_pause_scope(l.scope, scope);
    format_into(detail, "{} resumed: {}", scope, why);
    log_event(EventKind::Resume,
              EventFields{l.scope.role_name, l.scope.db_name, my_slot != nullptr ? MyProcPid : 0,
                          nullptr},
              detail);
    if (was != nullptr)
        *was = l.scope;
    return true;
}

}  // namespace

bool pauses_in_force()
{
    return shm.state != nullptr && atomic::load_seq_cst(table().n_in_force) != 0;
}

uint32_t pause_bits(uint64_t *generation)
{
    bool any = false;
    *generation = shm.state != nullptr ? pause_generation(table(), &any) : 0;
    if (!any || my_slot == nullptr || my_slot->superuser)
        return 0;
    lift_expired_pauses(false);
    PauseTable copy{};
    pause_snapshot(table(), &copy);
    *generation = copy.generation;
    // Our own closure: the slot's roles, then our chain in the member pool
    // (written at login, before this backend ran anything; ours until exit).
    const ConnSlot &me = *my_slot;
    const MemberPool &pool = shm.state->budget.members;
    return pause_mask(copy, me.db_oid, MyProcPid, [&](uint32_t role) {
        bool found = false;
        for_each_member(me, pool, [&](uint32_t r) { found = found || r == role; });
        return found;
    });
}

int hold_queued(int k)
{
    const PauseScope &s = table().scopes[k];
    const MemberPool &pool = shm.state->budget.members;
    int held = 0;
    for (int i = 0; i < shm.admission.n; ++i) {
        AdmissionEntry &e = shm.admission.entries[i];
        if (atomic::load_acquire(e.state) != static_cast<uint32_t>(AdmState::Queued))
            continue;
        const ConnSlot &slot = shm.slots[i];
        if (slot.superuser)
            continue;
        bool match = pause_matches(s, slot.db_oid, slot.pid, [&](uint32_t role) {
            bool found = false;
            for_each_member(slot, pool, [&](uint32_t r) { found = found || r == role; });
            return found;
        });
        if (match && admission_hold(shm.admission, i, e.ticket, k))
            held++;
    }
    return held;
}

bool pause_table_moved(uint64_t generation)
{
    return atomic::load(table().generation) != generation;
}

void describe_pause_scope(const PauseScope &s, char (&out)[kDetailLen])
{
    if (s.db_oid != 0 && s.role_oid != 0)
        format_into(out, "role \"{}\" in database \"{}\"", s.role_name, s.db_name);
    else if (s.role_oid != 0)
        format_into(out, "role \"{}\"", s.role_name);
    else if (s.db_oid != 0)
        format_into(out, "database \"{}\"", s.db_name);
    else
        format_into(out, "every session");
}

bool lift_pause(int k, uint32_t db_oid, uint32_t role_oid, const char *why)
{
    return lift(k, db_oid, role_oid, 0, why, nullptr);
}

void lift_expired_pauses(bool from_governor)
{
    if (shm.state == nullptr || atomic::load(table().n_in_force) == 0)
        return;
    int64_t limit = timeout_us();
    if (!from_governor)
        limit += static_cast<int64_t>(kStaleMs) * 1000;
    int64_t now = GetCurrentTimestamp();
    int due[kMaxPauses];
    int n = pause_expired(table(), now, limit, due);
    for (int i = 0; i < n; ++i) {
        int k = due[i];
        uint32_t db = atomic::load(table().scopes[k].db_oid);
        uint32_t role = atomic::load(table().scopes[k].role_oid);
        int timeout_ms = atomic::load(table().timeout_ms);
        char why[kDetailLen];
        format_into(why, "lifted by poolgov.pause_timeout ({} ms)", timeout_ms);
        PauseScope was{};
        if (!lift(k, db, role, now - limit, why, &was))
            continue;  // resumed, renewed or lifted by someone else meanwhile
        atomic::fetch_add(table().lifted_by_timeout, uint64_t{1});
        char scope[kDetailLen];
        describe_pause_scope(was, scope);
        ereport(WARNING,
                (errcode(ERRCODE_WARNING),
                 errmsg("pg_poolgov: the pause of %s was lifted by poolgov.pause_timeout", scope),
                 errdetail("It was paused at %s by role \"%s\" and not resumed within %d ms.",
                           timestamptz_to_str(was.since_us), was.by_name, timeout_ms),
                 errhint("Resume a pause with poolgov.resume() when the work it protects is "
                         "done; poolgov.pause() again renews it.")));
    }
}

}  // namespace poolgov::pg
