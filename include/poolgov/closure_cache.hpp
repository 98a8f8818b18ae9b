// A shared cache of role-membership closures: for a login role, the role and
// every role it belongs to, directly or through other roles. Computing one
// walks pg_auth_members through the catalog caches of a brand-new backend,
// which costs more than the rest of pg_poolgov's login work together; most
// logins are of a few roles, so the answer is shared.
//
// Every entry carries the membership generation it was computed under; any
// change to pg_auth_members bumps the generation (a syscache callback), which
// makes all entries stale at once. Closures longer than kMaxMemberOf are
// never cached. The caller serialises access (the main lock).
#pragma once

#include "poolgov/oid_map.hpp"
#include "poolgov/slots.hpp"

#include <cstdint>
#include <type_traits>

namespace poolgov {

constexpr int kClosureEntries = 256;

struct ClosureEntry {
    uint64_t generation;
    int64_t last_used;
    uint32_t n;
    uint32_t roles[kMaxMemberOf];  // roles[0] is the login role
};
static_assert(std::is_trivially_copyable_v<ClosureEntry>);  // in shared memory

// Where the cache lives: its index (role -> entry number, an OidMap whose
// header is in the same storage, so every process sees one map), each
// entry's role (0: free; to unindex it when the entry is reused) and the
// entries.
struct ClosureCache {
    OidMap *by_role;        // capacity: closure_index_capacity()
    uint32_t *role_of;      // [kClosureEntries]
    ClosureEntry *entries;  // [kClosureEntries]
};

// Entries of the index's storage for kClosureEntries closures.
uint32_t closure_index_capacity();

// The cache in its storage (index: closure_index_capacity() entries).
ClosureCache closure_cache_attach(OidMap *header, OidMapEntry *index, uint32_t *role_of,
                                  ClosureEntry *entries);
// Empties it (once, when the storage is new).
void closure_cache_init(const ClosureCache &c);

// Copies the cached closure of `role` into out (room for kMaxMemberOf) and
// returns its length, or -1 when there is none for this generation.
int closure_lookup(const ClosureCache &c, uint32_t role, uint64_t generation, int64_t now,
                   uint32_t *out);

// Remembers a closure computed under `generation` (ignored when too long).
// Replaces the entry of the same role, else a free or stale one, else the
// least recently used.
void closure_store(const ClosureCache &c, uint32_t role, uint64_t generation, int64_t now,
                   const uint32_t *roles, int n);

}  // namespace poolgov
