// OidMap: an open-addressing hash map from a nonzero 32-bit key (a role or
// database OID) to a 32-bit value, in storage the caller provides (shared
// memory or the heap), so that it can live in shared memory as plain data.
//
// Linear probing; deletion shifts the following run back (no tombstones), so
// a lookup never walks more than the run its key hashes into, however many
// keys came and went. The capacity is a power of two and at least one entry
// stays empty, so every probe sequence ends. oid_map_capacity_for(n) keeps
// the load at or below one half for n keys.
//
// The one hash table of the core, used for
//   - the budget rule index (role OID -> first rule of the role, see
//     poolgov/budgets.hpp),
//   - the live connection counts by login role and by database (OID ->
//     connections, through oid_map_add / oid_map_count),
//   - the per-role and per-database counter tables (OID -> entry number,
//     see poolgov/entry_table.hpp).
// The caller serialises writers and keeps readers away while it writes (the
// main lock).
#pragma once

#include <cstdint>
#include <type_traits>

namespace poolgov {

struct OidMapEntry {
    uint32_t key;  // 0: empty
    uint32_t value;
};

struct OidMap {
    uint32_t capacity;  // a power of two
    uint32_t used;
    OidMapEntry *entries;
};

static_assert(std::is_trivially_copyable_v<OidMapEntry>);
static_assert(std::is_trivially_copyable_v<OidMap>);

// The capacity that holds n keys at a load of at most one half (at least 8).
uint32_t oid_map_capacity_for(uint32_t n);

// Attaches and empties `storage` (capacity entries, a power of two).
void oid_map_init(OidMap &m, OidMapEntry *storage, uint32_t capacity);
void oid_map_clear(OidMap &m);

// The value of key, or null.
const uint32_t *oid_map_find(const OidMap &m, uint32_t key);
uint32_t *oid_map_find(OidMap &m, uint32_t key);

// Inserts or replaces; false (and no change) when the key is new and the map
// is full (capacity - 1 keys).
bool oid_map_put(OidMap &m, uint32_t key, uint32_t value);

// Removes key; false when it was absent.
bool oid_map_erase(OidMap &m, uint32_t key);

// Counters: adds delta to key's value, inserting it at delta when absent and
// erasing it when it reaches zero. False when a new key does not fit.
bool oid_map_add(OidMap &m, uint32_t key, int32_t delta);

// The counter of key (0 when absent).
inline uint32_t oid_map_count(const OidMap &m, uint32_t key)
{
    const uint32_t *v = oid_map_find(m, key);
    return v == nullptr ? 0 : *v;
}

}  // namespace poolgov
