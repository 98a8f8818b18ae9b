// Pauses: poolgov.pause() holds the new transactions of a *scope* (a
// database, a role and its members, both, or everything) in the admission
// queue until poolgov.resume() or poolgov.pause_timeout lifts the pause.
//
// The scopes live in a small fixed table in shared memory. A transaction of
// a connection matches scope k when the scope's database is 0 or the
// connection's, its role is 0 or in the connection's role closure (the
// login role and every role it belongs to: a pause of role R holds R and
// its members), and the connection is not the one that paused it. Whoever
// calls pause_mask() leaves superusers out (they are never paused).
//
// A queued transaction carries the bits of the scopes that hold it
// (AdmissionEntry::paused, poolgov/admission.hpp); while any bit is set it
// is not eligible for a slot, whatever the limits (also with admission
// control off: then only held transactions queue, and a lifted pause grants
// them all, in queue order).
//
// Concurrency: the table changes only under the admission lock, inside its
// change counter; the admission gate reads it without the lock
// (pause_snapshot) to compute a transaction's bits, and before it queues,
// under the lock, checks that the generation did not move meanwhile (else
// it computes again). A transaction that passed the gate before a pause
// was written runs: the drain (poolgov.pause's wait) sees it running.
#pragma once

#include "poolgov/atomics.hpp"
#include "poolgov/text.hpp"

#include <cstdint>
#include <type_traits>

namespace poolgov {

constexpr int kMaxPauses = 16;  // bits of AdmissionEntry::paused

struct PauseScope {
    uint32_t in_force;  // 0: free
    uint32_t db_oid;    // 0: every database
    uint32_t role_oid;  // 0: every role
    uint32_t by_role;   // who paused (role oid)
    int32_t by_pid;     // its session, never held by this pause
    uint32_t unused;
    int64_t since_us;    // when the scope was paused
    int64_t renewed_us;  // last pause() of the scope; pause_timeout counts from here
    // For messages and views, written by pause() after pause_add() and read
    // under the admission lock only (not part of a snapshot).
    char db_name[kNameLen];
    char role_name[kNameLen];
    char by_name[kNameLen];
};
static_assert(std::is_trivially_copyable_v<PauseScope>);  // in shared memory

struct PauseTable {
    ChangeCount cc;       // written under the admission lock
    uint32_t n_in_force;  // atomic: 0 means no scope is paused (the cheap test)
    int32_t timeout_ms;   // poolgov.pause_timeout, published on reload (atomic)
    uint32_t unused;
    uint64_t generation;  // every change; read inside cc or under the lock
    uint64_t pauses;      // counters since start (atomics)
    uint64_t resumes;
    uint64_t lifted_by_timeout;
    uint64_t lock_admits;  // held transactions let in because someone waited for their lock
    uint64_t timeouts;     // held transactions that reached admission_timeout
    PauseScope scopes[kMaxPauses];
};
static_assert(std::is_trivially_copyable_v<PauseTable>);  // in shared memory

// The generation, then whether any scope is paused, in that order: a
// pause_add counts the scope first and then writes it (bumping the
// generation), so a gate that reads "none paused" read a generation that
// the pause moves, and sees that under the lock before it queues.
uint64_t pause_generation(const PauseTable &t, bool *any);

// A consistent copy of the scopes and the generation, without the lock.
void pause_snapshot(const PauseTable &t, PauseTable *copy);

// The scope's index, or -1.
int pause_find(const PauseTable &t, uint32_t db_oid, uint32_t role_oid);

// Pauses the scope (under the admission lock). A scope already paused is
// renewed (its timeout counts anew; since and by stay). Returns its index,
// or -1 when the table is full. *added tells whether it is new.
int pause_add(PauseTable &t, uint32_t db_oid, uint32_t role_oid, uint32_t by_role, int32_t by_pid,
              int64_t now, bool *added);

// Lifts scope `k` (under the admission lock). False if it was not in force.
bool pause_remove(PauseTable &t, int k);

// The scopes in force whose pause_timeout has passed at `now` (timeout_us
// <= 0: none), written to out (room for kMaxPauses); returns how many.
int pause_expired(const PauseTable &t, int64_t now, int64_t timeout_us, int *out);

// Does scope `s` (in force) hold a transaction of database `db_oid`, of the
// connection `pid`, whose role closure contains the roles is_member says?
template <class IsMember>
bool pause_matches(const PauseScope &s, uint32_t db_oid, int32_t pid, IsMember is_member)
{
    if (s.in_force == 0 || s.by_pid == pid)
        return false;
    if (s.db_oid != 0 && s.db_oid != db_oid)
        return false;
    return s.role_oid == 0 || is_member(s.role_oid);
}

// The bits of the scopes (of a copy, or under the lock) that hold such a
// transaction.
template <class IsMember>
uint32_t pause_mask(const PauseTable &t, uint32_t db_oid, int32_t pid, IsMember is_member)
{
    uint32_t mask = 0;
    for (int k = 0; k < kMaxPauses; ++k)
        if (pause_matches(t.scopes[k], db_oid, pid, is_member))
            mask |= uint32_t{1} << k;
    return mask;
}

}  // namespace poolgov
