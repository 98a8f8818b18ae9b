#include "postgres.hpp"

#include "views/activity.hpp"
#include "locks.hpp"
#include "compat.hpp"

extern "C" {
#include "catalog/pg_authid.h"
#include "utils/acl.h"
}

#include "shmem.hpp"
#include "session/admission.hpp"

#include <cstdlib>

namespace poolgov::pg {

int copy_live_connections(LiveConnection **out)
{
    SharedState *st = shm.state;
    admission_flush_pending();  // this backend's own counters are complete
    auto *copies = static_cast<LiveConnection *>(palloc(sizeof(LiveConnection) * st->nslots));
    int n = 0;
    lock_acquire(st->main_lock, LW_SHARED);
    uint64_t epoch = atomic::load(st->stats_epoch);
    for (uint32_t i = 0; i < st->nslots; ++i) {
        if (!atomic::load(shm.slot_keys[i].in_use))
            continue;
        LiveConnection &c = copies[n++];
        c.slot = shm.slots[i];
        c.index = static_cast<int>(i);
        slot_read_stats(shm.slot_stats[i], epoch, c.stmts);
    }
    lock_release(st->main_lock);
    *out = copies;
    return n;
}

void copy_admission_entries(LiveConnection *conns, int n)
{
    lock_acquire(shm.state->admission_lock, LW_SHARED);
    for (int i = 0; i < n; ++i)
        conns[i].adm = shm.admission.entries[conns[i].index];
    lock_release(shm.state->admission_lock);
}

const char *admission_name(const AdmissionEntry &e)
{
    if (e.state == static_cast<uint32_t>(AdmState::Queued))
        return e.paused != 0 ? "paused" : "queued";
    if (e.state != static_cast<uint32_t>(AdmState::Running))
        return "none";
    if (e.heavy == static_cast<uint8_t>(HeavyState::Queued))
        return "queued_heavy";
    if (e.overdraft)
        return "overdraft";
    return e.heavy == static_cast<uint8_t>(HeavyState::Running) ? "heavy" : "running";
}

}  // namespace poolgov::pg
