#include "postgres.hpp"

#include "events_log.hpp"

#include "locks.hpp"
#include "shmem.hpp"

namespace poolgov::pg {

void log_event(EventKind kind, const EventFields &who, const char *detail)
{
    if (shm.state == nullptr)
        return;
    TimestampTz now = GetCurrentTimestamp();
    lock_acquire(shm.state->events_lock, LW_EXCLUSIVE);
    RingView ring = events_ring();
    auto *rec = reinterpret_cast<EventRecord *>(ring.push());
    rec->at = now;
    rec->kind = kind;
    rec->pid = who.pid;
    copy_text(rec->role, who.role);
    copy_text(rec->database, who.database);
    copy_text(rec->client_addr, who.client_addr);
    copy_text(rec->detail, detail);
    lock_release(shm.state->events_lock);
}

}  // namespace poolgov::pg
