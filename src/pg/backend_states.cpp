// Backend states as pg_stat_activity shows them (backend_states.hpp).
#include "postgres.hpp"

#include "backend_states.hpp"
#include "compat.hpp"

#include <cstdlib>

namespace poolgov::pg {

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

}  // namespace poolgov::pg
