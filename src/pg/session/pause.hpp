// Pauses in the backend (policy: poolgov/pause.hpp): which pauses hold this
// backend's next transaction, and lifting pauses (poolgov.resume and
// poolgov.pause_timeout). The SQL functions are in views/pause_views.cpp.
#pragma once

#include "postgres.hpp"

#include "poolgov/pause.hpp"

#include <cstddef>

namespace poolgov::pg {

// Is any scope paused? (One atomic load: the admission gate's cheap test.)
bool pauses_in_force();

// The bits of the pauses that hold a transaction of this backend (0: none;
// always 0 for superusers and backends without a connection slot),
// computed without a lock from a copy of the table; *generation is the
// table's generation the copy had. Lifts expired pauses first.
uint32_t pause_bits(uint64_t *generation);

// Under the admission lock, right after pause_add(): the transactions
// queued already that scope `k` matches are held too. Returns how many.
// (A queued backend is alive: its slot and closure are stable.)
int hold_queued(int k);

// Under the admission lock: did the table change since `generation`?
bool pause_table_moved(uint64_t generation);

// "role \"batch\"", "database \"app\"", "role \"batch\" in database
// \"app\"" or "every session": the scope in messages (a copy made under
// the admission lock: the names are read there).
void describe_pause_scope(const PauseScope &s, char (&out)[kDetailLen]);

// Lifts pause `k` if it is still the scope (db_oid, role_oid) (the
// admission lock not held) and lets its waiters in; false if it was not in
// force. Records the resume event, saying `why`.
bool lift_pause(int k, uint32_t db_oid, uint32_t role_oid, const char *why);

// Lifts the pauses whose poolgov.pause_timeout has passed, each with a
// WARNING in the server log, and lets their waiters in. The governor calls
// it every sample; a waiter calls it when a pause is well past due (no
// governor). Cheap when nothing is due (no lock).
void lift_expired_pauses(bool from_governor);

}  // namespace poolgov::pg
