// Lock safety of the admission queue: does a transaction that holds an
// admission slot wait for this (queued) backend through heavyweight-lock
// waits? Only then can the queue close a cycle that PostgreSQL's deadlock
// detector cannot see, and only then is a waiter admitted past the limit.
#pragma once

namespace poolgov::pg {

// Walks the lock manager's waits-for graph backwards from this backend
// ("who waits for me", then who waits for them, ...) and answers whether a
// holder of the slot this backend waits for is among them: any backend whose
// admission entry is running, or, for a waiter for the heavy lane, one that
// holds a heavy slot.
// Edges, as deadlock.c draws them: X waits for Y when X's awaited lock is
// held by Y in a mode that conflicts with X's request (hard), or when X is
// behind Y in that lock's wait queue and their requests conflict (soft).
// Parallel workers count as their lock group's leader. Takes every lock
// manager partition lock in shared mode, in order, for the walk: call it
// only when a cheaper test found someone waiting for one of our locks.
bool slot_holder_waits_for_me();

}  // namespace poolgov::pg
