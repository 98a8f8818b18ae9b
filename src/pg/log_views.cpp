// poolgov.events and poolgov.slow_queries: copies of the rings, masked for
// readers without the privileges of the row's role (or pg_read_all_stats).
#include "postgres.hpp"

#include "activity.hpp"
#include "guard.hpp"
#include "row_builder.hpp"
#include "shmem.hpp"

extern "C" {
#include "utils/acl.h"
}

#include "poolgov/events.hpp"

using namespace poolgov;
using namespace poolgov::pg;

namespace {

// Copies the records of a ring under its lock (palloc'd, oldest first).
char *copy_ring(LWLock *lock, RingView (*ring_of)(), uint64_t *count, uint32_t *stride)
{
    LWLockAcquire(lock, LW_SHARED);
    RingView ring = ring_of();
    *count = ring.size();
    *stride = ring.stride();
    char *copy = static_cast<char *>(palloc(*count * *stride + 1));
    for (uint64_t i = 0; i < *count; ++i)
        memcpy(copy + i * *stride, ring.at(ring.oldest() + i), *stride);
    LWLockRelease(lock);
    return copy;
}

}  // namespace

POOLGOV_SQL_FUNCTION(poolgov_events)
{
    require_shmem();
    uint64_t n;
    uint32_t stride;
    char *records = copy_ring(shm.state->events_lock, events_ring, &n, &stride);
    RowBuilder row(fcinfo);
    for (uint64_t i = 0; i < n; ++i) {
        const auto *e = reinterpret_cast<const EventRecord *>(records + i * stride);
        bool visible = can_see_details_of(get_role_oid(e->role, true));
        row.timestamptz(e->at)
            .text(event_kind_name(e->kind))
            .name(e->role[0] ? e->role : nullptr)
            .name(e->database[0] ? e->database : nullptr)
            .int4(e->pid);
        if (visible)
            row.inet(e->client_addr);
        else
            row.null();
        row.text(e->detail);
        row.emit();
    }
    return (Datum) 0;
}

POOLGOV_SQL_FUNCTION(poolgov_slow_queries)
{
    require_shmem();
    uint64_t n;
    uint32_t stride;
    char *records = copy_ring(shm.state->slowlog_lock, slowlog_ring, &n, &stride);
    RowBuilder row(fcinfo);
    for (uint64_t i = 0; i < n; ++i) {
        const auto *q = reinterpret_cast<const SlowQueryRecord *>(records + i * stride);
        bool visible = can_see_details_of(q->role_oid);
        row.timestamptz(q->finished_at)
            .int4(q->pid)
            .name(q->role)
            .name(q->database)
            .float8(q->duration_ms)
            .float8_or_null(q->plan_cost)
            .int8(static_cast<int64>(q->rows));
        if (visible && q->queryid != 0)
            row.int8(static_cast<int64>(q->queryid));
        else
            row.null();
        row.text(q->application_name);
        if (visible)
            row.inet(q->client_addr).text(reinterpret_cast<const char *>(q + 1));
        else
            row.null().text("<insufficient privilege>");
        row.emit();
    }
    return (Datum) 0;
}
