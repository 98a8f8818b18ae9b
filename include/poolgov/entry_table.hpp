// Cumulative per-role and per-database counters in a fixed table keyed by OID.
//
// An entry keeps what outlives connections: logins accepted and refused, the
// peak, authentication failures, and the statement counters of backends that
// have exited ("retired"). Live backends' counters stay in their slots and
// are added at read time.
//
// The retired statement counters live in a parallel array (`stats[i]` belongs
// to `entries[i]`), so that looking an OID up touches few pages.
//
// When the table is full, the entry seen least recently that has no live
// connection is evicted (its counters are lost; `evicted` counts that). The
// caller serialises access (the main lock).
#pragma once

#include "poolgov/stmt_stats.hpp"
#include "poolgov/text.hpp"

#include <cstdint>

namespace poolgov {

struct CounterEntry {
    uint32_t oid;  // as in the index; 0: free
    char name[kNameLen];
    int64_t last_seen;
    uint64_t accepted;
    uint64_t peak_connections;
    uint64_t rejected;       // refused by budget, reserve or breaker
    uint64_t warned;         // would have been refused (poolgov.enforce = warn)
    uint64_t auth_failures;
};

struct EntryTableHeader {
    uint32_t capacity;
    uint64_t evicted;
};

// The table's arrays: oids[i] (a dense index, scanned by every lookup),
// entries[i] and stats[i] (the retired statement counters) belong together.
struct EntryTable {
    EntryTableHeader *header;
    uint32_t *oids;
    CounterEntry *entries;
    StmtCounters *stats;
};

// Live-connection test used to protect entries from eviction.
using HasLiveConnections = bool (*)(uint32_t oid, const void *ctx);

// Index of the entry of oid, or -1.
int entry_find(const EntryTable &t, uint32_t oid);
// Finds or creates the entry (a new one starts with zero counters and zero
// stats); -1 only if every entry has live connections. Updates name and
// last_seen.
int entry_get(const EntryTable &t, uint32_t oid, const char *name, int64_t now,
              HasLiveConnections live, const void *ctx);
// Zeroes the counters and stats of every entry (poolgov.reset()); keeps keys.
void entry_reset_all(const EntryTable &t);

}  // namespace poolgov
