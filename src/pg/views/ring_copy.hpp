// Copying a shared ring for a view without allocating under its lock.
//
// palloc can fail (ERROR) and must not run while an LWLock is held, so the
// copy is sized from a lock-free read of the ring's counter first; if the
// ring grew in between, the buffer is dropped and the copy retried. A ring
// only grows up to its capacity, so this settles after at most a few tries
// (once full, its size no longer changes).
#pragma once

#include "postgres.hpp"

#include "locks.hpp"

#include "poolgov/atomics.hpp"
#include "poolgov/ring.hpp"

namespace poolgov::pg {

// Records of the ring, oldest first, in a palloc'd buffer (never null);
// *count records of *stride bytes.
inline char *copy_ring_records(LWLock *lock, RingHeader *header, char *data, uint64_t *count,
                               uint32_t *stride)
{
    RingView ring(header, data);
    *stride = ring.stride();  // fixed at startup
    for (;;) {
        uint64_t written = atomic::load(header->written);
        uint64_t room = written < ring.capacity() ? written : ring.capacity();
        char *copy =
            static_cast<char *>(MemoryContextAllocHuge(CurrentMemoryContext, room * *stride + 1));
        lock_acquire(lock, LW_SHARED);
        uint64_t n = ring.size();
        if (n <= room) {
            for (uint64_t i = 0; i < n; ++i)
                memcpy(copy + i * *stride, ring.at(ring.oldest() + i), *stride);
            lock_release(lock);
            *count = n;
            return copy;
        }
        lock_release(lock);
        pfree(copy);
    }
}

// Calls visit(const Record &) on each record of a copy of the ring, oldest
// first (a record's variable part, if any, follows it within the stride).
template <class Record, class Visit>
void for_each_ring_record(LWLock *lock, RingHeader *header, char *data, Visit visit)
{
    uint64_t n;
    uint32_t stride;
    char *records = copy_ring_records(lock, header, data, &n, &stride);
    for (uint64_t i = 0; i < n; ++i)
        visit(*reinterpret_cast<const Record *>(records + i * stride));
}

}  // namespace poolgov::pg
