// Cumulative per-role and per-database counters in a fixed table keyed by OID.
//
// An entry keeps what outlives connections: logins accepted and refused, the
// peak, authentication failures, and the statement counters of backends that
// have exited ("retired"). Live backends' counters stay in their slots and
// are added at read time.
//
// Entries are dense: entries[0 .. used) are in use, in the order they were
// created (an eviction reuses the victim's place). The retired statement
// counters live in a parallel array (`stats[i]` belongs to `entries[i]`).
//
// Lookup by OID goes through the header's OidMap (poolgov/oid_map.hpp: OID
// -> entry number, load at most 1/2, deletion without tombstones), so a
// lookup costs the same with 10 or 10,000 entries and touches only the map
// until the entry is found.
//
// When the table is full, a victim is chosen by the clock (second chance)
// algorithm: the hand sweeps the entries; an entry used since the hand last
// passed (its `referenced` bit) gets a second chance, an entry with live
// connections is never taken. A new role costs O(1) amortised: each sweep
// step clears one reference bit, so the hand never goes round more than
// twice. It asks `live` only about entries without a reference bit; at most
// two sweeps (2 × capacity steps) happen when every entry has live
// connections, and then the new key gets no entry (-1). `evicted` counts
// entries whose counters were dropped, `untracked` the calls that got no
// entry (their counts are lost; the views show both). The caller serialises access (the
// main lock).
#pragma once

#include "poolgov/oid_map.hpp"
#include "poolgov/stmt_stats.hpp"
#include "poolgov/text.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace poolgov {

struct CounterEntry {
    uint32_t oid;
    char name[kNameLen];
    uint32_t referenced;  // clock bit: looked up since the hand last passed
    int64_t last_seen;
    uint64_t accepted;
    uint64_t peak_connections;
    uint64_t rejected;  // refused by budget, reserve or breaker
    uint64_t warned;    // would have been refused (poolgov.enforce = warn)
    uint64_t auth_failures;
};

struct EntryTableHeader {
    OidMap index;  // OID -> entry number
    uint32_t capacity;
    uint32_t used;  // entries[0 .. used) hold keys
    uint32_t hand;  // clock hand: next eviction candidate
    uint64_t evicted;
    uint64_t untracked;  // entry_get calls that found no entry to take
};

static_assert(std::is_trivially_copyable_v<CounterEntry>);
static_assert(std::is_trivially_copyable_v<EntryTableHeader>);

// The table: its header (with the index) and its arrays; entries[i] and
// stats[i] (the retired statement counters) belong together.
struct EntryTable {
    EntryTableHeader *header;
    CounterEntry *entries;
    StmtCounters *stats;
};

// Entries of the index of a table of `capacity` entries.
inline uint32_t entry_index_capacity(uint32_t capacity) { return oid_map_capacity_for(capacity); }
// Shared-memory bytes one entry costs: its counters, its stats and its share
// of the index (about 2 map entries).
constexpr size_t entry_bytes_per_entry()
{
    return sizeof(CounterEntry) + sizeof(StmtCounters) + 2 * sizeof(OidMapEntry);
}

// Sets up an empty table over `entries` and `stats` (`capacity` elements
// each, zeroed) with its index in `index` (entry_index_capacity(capacity)
// map entries).
void entry_table_init(const EntryTable &t, OidMapEntry *index, uint32_t capacity);

// Live-connection test used to protect entries from eviction.
using HasLiveConnections = bool (*)(uint32_t oid, const void *ctx);

// Index of the entry of oid, or -1. Does not mark the entry as used.
int entry_find(const EntryTable &t, uint32_t oid);
// Finds or creates the entry (a new one starts with zero counters and zero
// stats); -1 only if no entry can be evicted (all have live connections),
// counted in `untracked`.
// Updates name, last_seen and the reference bit.
int entry_get(const EntryTable &t, uint32_t oid, const char *name, int64_t now,
              HasLiveConnections live, const void *ctx);
// Zeroes the counters and stats of every entry (poolgov.reset()); keeps keys.
void entry_reset_all(const EntryTable &t);

}  // namespace poolgov
