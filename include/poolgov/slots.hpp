// Connection slots: one plain record per possible backend, in shared memory.
//
// Vocabulary: a *connection* is a client backend that passed authentication
// and the login checks; its *slot* is claimed in the authentication hook and
// released by the backend's exit callback. Walsenders, background workers and
// autovacuum never claim a slot.
//
// Locking: a slot is claimed (key and identity written, in_use set) under
// the main lock held exclusively; readers hold it shared. The owner frees
// its slot at process exit, after PostgreSQL forgot the backend, with atomic
// stores and no lock (key.exiting, key.in_use, an entry in the exit queue);
// the next exclusive holder of the main lock takes it out of the live counts
// and puts it back on the free stack (see src/pg/session/connection.cpp).
// The statement counters (SlotStats) are written by the owning backend
// alone, with no lock, inside `cc`; readers copy them with read_consistent().
#pragma once

#include "poolgov/atomics.hpp"
#include "poolgov/stmt_stats.hpp"
#include "poolgov/text.hpp"

#include <cstdint>
#include <type_traits>

namespace poolgov {

// Roles of a closure held in the slot itself; the rest go to the member
// pool (below), so a closure of any length is counted in full.
constexpr int kMaxMemberOf = 64;

// What every login scans, in a dense array of its own (16 bytes a slot, so a
// few pages for hundreds of slots: a new backend's first touch of each
// shared page is a page fault). keys[i] belongs to slots[i].
struct SlotKey {
    uint32_t in_use;
    uint32_t role_oid;
    uint32_t db_oid;
    // kSlotExiting: set by the owner at exit, before it clears in_use, until
    // the next holder of the main lock has taken the connection out of the
    // live counts (then kSlotDrained and the slot is free again; see
    // src/pg/session/connection.cpp).
    uint32_t exiting;
};
static_assert(std::is_trivially_copyable_v<SlotKey>);  // in shared memory

constexpr uint32_t kSlotExiting = 1;
constexpr uint32_t kSlotDrained = 2;

// Whether the live counts include this slot's connection (under the main
// lock): in use and not drained yet, or exited and not drained yet.
inline bool slot_counted(const SlotKey &k)
{
    // in_use first: the owner stores exiting before it clears in_use, and
    // only main-lock holders (not running now) drain.
    bool in_use = atomic::load(k.in_use) != 0;
    uint32_t exiting = atomic::load(k.exiting);
    return exiting == kSlotExiting || (in_use && exiting == 0);
}

struct ConnSlot {
    int32_t pid;
    uint32_t role_oid;  // as in the key; written together at claim
    uint32_t db_oid;
    uint8_t superuser;
    uint8_t priority;
    uint16_t n_member_of;
    // The login role and every role it belongs to, directly or through other
    // roles, as of login. A budget on role R counts the connections whose
    // member_of contains R.
    uint32_t member_of[kMaxMemberOf];
    // The rest of the closure (beyond kMaxMemberOf roles): the head of a
    // chain in the member pool (chunk index + 1), 0 when none.
    uint32_t member_chain;
    // The closure did not fit (pool exhausted): member_of holds the login
    // role and the roles budgeted at login first; counted in
    // memberships_truncated and logged.
    uint8_t members_truncated;
    int64_t backend_start;  // PostgreSQL timestamp (microseconds)
    char role_name[kNameLen];
    char db_name[kNameLen];
    char client_addr[kAddrLen];  // numeric address, "" for a unix socket
    char application_name[kNameLen];
    uint8_t overdraft;  // a superuser admitted over its budget (see decide_login)
    // Idle reclamation (src/pg/session/idle_reclaim.cpp): a request to end this
    // session if it is still idle, written by the governor or
    // poolgov.terminate_idle() and taken (atomic exchange) by the owner in
    // its SIGUSR2 handler. request = pid << 8 | ReclaimRule; 0 = none.
    int64_t reclaim_threshold_ms;  // written before request
    uint64_t reclaim_request;
    uint32_t reclaim_outcome;  // set by the owner: 1 accepted, 2 declined
};
static_assert(std::is_trivially_copyable_v<ConnSlot>);  // in shared memory

// Closures longer than kMaxMemberOf: chunks of roles in a shared pool,
// chained from ConnSlot::member_chain, taken at claim and given back when the
// connection leaves the live counts (both under the main lock).
constexpr int kChunkRoles = 62;
struct MemberChunk {
    uint32_t next;  // index + 1 of the next chunk, 0: last
    uint32_t n;
    uint32_t roles[kChunkRoles];
};
static_assert(std::is_trivially_copyable_v<MemberChunk>);  // in shared memory

struct MemberPool {
    uint32_t capacity;   // chunks
    uint32_t free_head;  // index + 1, 0: none free
    uint32_t free_count;
    uint32_t unused;
    MemberChunk *chunks;
};
static_assert(std::is_trivially_copyable_v<MemberPool>);  // in shared memory

void member_pool_init(MemberPool &p, MemberChunk *chunks, uint32_t capacity);
// Stores roles in a chain; returns its head, or 0 (nothing taken) when the
// pool has too few free chunks. n must be > 0.
uint32_t member_pool_store(MemberPool &p, const uint32_t *roles, int n);
void member_pool_free(MemberPool &p, uint32_t head);

// Calls f(role) for every role of the slot's closure, held in the slot and
// in the pool (the caller holds the main lock).
template <class F>
void for_each_member(const ConnSlot &s, const MemberPool &pool, F f)
{
    for (int i = 0; i < s.n_member_of; ++i)
        f(s.member_of[i]);
    for (uint32_t c = s.member_chain; c != 0;) {
        const MemberChunk &chunk = pool.chunks[c - 1];
        for (uint32_t i = 0; i < chunk.n; ++i)
            f(chunk.roles[i]);
        c = chunk.next;
    }
}

// The whole closure, copied into out (room for slot_closure_length(s, pool)).
int slot_closure_length(const ConnSlot &s, const MemberPool &pool);
int slot_closure(const ConnSlot &s, const MemberPool &pool, uint32_t *out);

struct SlotsView {
    const SlotKey *keys;
    const ConnSlot *slots;
    int n;
};

// The statement counters of a slot, in a parallel array: every login scans
// the slots, so they stay small (a few hundred bytes, not the 10 KB of a
// histogram), which keeps the pages a new backend touches few.
struct SlotStats {
    ChangeCount cc;
    uint64_t epoch;  // counters are valid only while this equals the shared epoch
    StmtCounters stmts;
};
static_assert(std::is_trivially_copyable_v<SlotStats>);  // in shared memory

inline bool slot_member_of(const ConnSlot &s, uint32_t role)
{
    for (int i = 0; i < s.n_member_of; ++i)
        if (s.member_of[i] == role)
            return true;
    return false;
}

// Which connections a count includes.
struct SlotFilter {
    uint32_t role = 0;            // 0: any role
    uint32_t db = 0;              // 0: any database
    bool via_membership = false;  // role matches members of `role` too
};

int count_slots(const SlotsView &v, const SlotFilter &f);

// The owner's counters, reset lazily when the shared epoch moved on
// (poolgov.reset() bumps the epoch rather than touching other backends'
// memory). Call inside write_begin/write_end.
inline void slot_sync_epoch(SlotStats &s, uint64_t epoch)
{
    if (atomic::load(s.epoch) != epoch) {
        stmt_clear(s.stmts);
        atomic::store(s.epoch, epoch);
    }
}

// Consistent copy of a slot's counters; zero when they belong to an older
// epoch.
inline void slot_read_stats(const SlotStats &s, uint64_t epoch, StmtCounters &out)
{
    read_consistent(s.cc, [&] {
        if (atomic::load(s.epoch) == epoch)
            stmt_copy(out, s.stmts);
        else
            out = StmtCounters{};
    });
}

}  // namespace poolgov
