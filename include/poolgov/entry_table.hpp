// Cumulative per-role and per-database counters in a fixed table keyed by OID.
//
// An entry keeps what outlives connections: logins accepted and refused, the
// peak, authentication failures, and the statement counters of backends that
// have exited ("retired"). Live backends' counters stay in their slots and
// are added at read time.
//
// Entries are dense: entries[0 .. used) are in use, in the order they were
// created (an eviction reuses the victim's place). The retired statement
// counters live in a parallel array (`stats[i]` belongs to `entries[i]`,
// `oids[i]` is its key), so that a lookup touches few pages.
//
// Lookup by OID goes through a hash index: open addressing with linear
// probing over `index` (index_size = a power of two, at least twice the
// capacity, so the load factor stays at or below 1/2). index[h] holds an
// entry number + 1, 0 = empty. Deletion (eviction) uses backward shift, so
// there are no tombstones and no probe chain ever grows with churn: a lookup
// costs the same with 10 or 10,000 entries.
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

#include "poolgov/stmt_stats.hpp"
#include "poolgov/text.hpp"

#include <cstddef>
#include <cstdint>

namespace poolgov {

struct CounterEntry {
    uint32_t oid;  // as in oids[]
    char name[kNameLen];
    uint32_t referenced;  // clock bit: looked up since the hand last passed
    int64_t last_seen;
    uint64_t accepted;
    uint64_t peak_connections;
    uint64_t rejected;       // refused by budget, reserve or breaker
    uint64_t warned;         // would have been refused (poolgov.enforce = warn)
    uint64_t auth_failures;
};

struct EntryTableHeader {
    uint32_t capacity;
    uint32_t used;        // entries[0 .. used) hold keys
    uint32_t index_size;  // power of two, >= 2 * capacity
    uint32_t hand;        // clock hand: next eviction candidate
    uint64_t evicted;
    uint64_t untracked;  // entry_get calls that found no entry to take
};

// The table's arrays: oids[i], entries[i] and stats[i] (the retired statement
// counters) belong together; index[] maps a hashed OID to i + 1.
struct EntryTable {
    EntryTableHeader *header;
    uint32_t *index;
    uint32_t *oids;
    CounterEntry *entries;
    StmtCounters *stats;
};

// Size of the hash index for a capacity (slots, not bytes).
uint32_t entry_index_size(uint32_t capacity);
// Shared-memory bytes one entry costs: oids, entries, stats and its share of
// the index (2 slots).
constexpr size_t entry_bytes_per_entry()
{
    return sizeof(uint32_t) + sizeof(CounterEntry) + sizeof(StmtCounters) + 2 * sizeof(uint32_t);
}

// Sets up an empty table over zeroed arrays (index of entry_index_size
// slots, the others of `capacity` elements).
void entry_table_init(const EntryTable &t, uint32_t capacity);

// Home slot of an OID in the index (for tests that build collisions).
uint32_t entry_home(const EntryTable &t, uint32_t oid);

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
