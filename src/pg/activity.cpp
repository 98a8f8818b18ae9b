#include "postgres.hpp"

#include "activity.hpp"
#include "compat.hpp"

extern "C" {
#include "catalog/pg_authid.h"
#include "utils/acl.h"
}

#include "shmem.hpp"

#include <cstdlib>

namespace poolgov::pg {

int copy_live_connections(LiveConnection **out)
{
    SharedState *st = shm.state;
    auto *copies = static_cast<LiveConnection *>(palloc(sizeof(LiveConnection) * st->nslots));
    int n = 0;
    LWLockAcquire(st->main_lock, LW_SHARED);
    uint64_t epoch = atomic::load(st->stats_epoch);
    for (uint32_t i = 0; i < st->nslots; ++i) {
        if (!atomic::load(shm.slot_keys[i].in_use))
            continue;
        LiveConnection &c = copies[n++];
        c.slot = shm.slots[i];
        c.index = static_cast<int>(i);
        slot_read_stats(shm.slot_stats[i], epoch, c.stmts);
    }
    LWLockRelease(st->main_lock);
    *out = copies;
    return n;
}

void copy_admission_entries(LiveConnection *conns, int n)
{
    LWLockAcquire(shm.state->admission_lock, LW_SHARED);
    for (int i = 0; i < n; ++i)
        conns[i].adm = shm.admission.entries[conns[i].index];
    LWLockRelease(shm.state->admission_lock);
}

const char *admission_name(const AdmissionEntry &e)
{
    if (e.state == static_cast<uint32_t>(AdmState::Queued))
        return "queued";
    if (e.state != static_cast<uint32_t>(AdmState::Running))
        return "none";
    if (e.heavy == static_cast<uint8_t>(HeavyState::Queued))
        return "queued_heavy";
    if (e.overdraft)
        return "overdraft";
    return e.heavy == static_cast<uint8_t>(HeavyState::Running) ? "heavy" : "running";
}

int BackendIndex::compare_pid(const void *a, const void *b)
{
    int pa = static_cast<const Entry *>(a)->pid, pb = static_cast<const Entry *>(b)->pid;
    return (pa > pb) - (pa < pb);
}

void BackendIndex::build()
{
    int total = pgstat_fetch_stat_numbackends();
    entries_ = static_cast<Entry *>(palloc(sizeof(Entry) * (total + 1)));
    n_ = 0;
    for (int i = 1; i <= total; ++i) {
        LocalPgBackendStatus *local = compat::local_backend_status(i);
        if (local == nullptr)
            continue;
        entries_[n_++] = Entry{local->backendStatus.st_procpid, &local->backendStatus};
    }
    qsort(entries_, n_, sizeof(Entry), compare_pid);
}

const PgBackendStatus *BackendIndex::find(int pid) const
{
    int lo = 0, hi = n_ - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (entries_[mid].pid == pid)
            return entries_[mid].status;
        if (entries_[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return nullptr;
}

ConnState state_of(const PgBackendStatus *be)
{
    if (be == nullptr)
        return ConnState::Unknown;
    switch (be->st_state) {
    case STATE_RUNNING:
    case STATE_FASTPATH:
        return ConnState::Active;
    case STATE_IDLE:
        return ConnState::Idle;
    case STATE_IDLEINTRANSACTION:
    case STATE_IDLEINTRANSACTION_ABORTED:
        return ConnState::IdleInTransaction;
    default:
        return ConnState::Unknown;
    }
}

const char *state_name(const PgBackendStatus *be)
{
    if (be == nullptr)
        return nullptr;
    switch (be->st_state) {
    case STATE_RUNNING:
        return "active";
    case STATE_IDLE:
        return "idle";
    case STATE_IDLEINTRANSACTION:
        return "idle in transaction";
    case STATE_IDLEINTRANSACTION_ABORTED:
        return "idle in transaction (aborted)";
    case STATE_FASTPATH:
        return "fastpath function call";
    case STATE_DISABLED:
        return "disabled";
#if PG_VERSION_NUM >= 180000
    case STATE_STARTING:  // 18+: still authenticating, as pg_stat_activity says
        return "starting";
#endif
    default:
        return nullptr;
    }
}

bool can_see_details_of(Oid role)
{
    Oid me = GetUserId();
    return has_privs_of_role(me, ROLE_PG_READ_ALL_STATS) || has_privs_of_role(me, role);
}

}  // namespace poolgov::pg
