// Cumulative per-role and per-database counters in a fixed table keyed by OID.
//
// An entry keeps what outlives connections: logins accepted and refused, the
// peak, authentication failures, and the statement counters of backends that
// have exited ("retired"). Live backends' counters stay in their slots and
// are added at read time.
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
    uint32_t oid;  // 0: free
    char name[kNameLen];
    int64_t last_seen;
    uint64_t accepted;
    uint64_t peak_connections;
    uint64_t rejected;       // refused by budget, reserve or breaker
    uint64_t warned;         // would have been refused (poolgov.enforce = warn)
    uint64_t auth_failures;
    StmtCounters retired;
};

struct EntryTableHeader {
    uint32_t capacity;
    uint64_t evicted;
};

// Live-connection test used to protect entries from eviction.
using HasLiveConnections = bool (*)(uint32_t oid, const void *ctx);

CounterEntry *entry_find(CounterEntry *entries, uint32_t capacity, uint32_t oid);
// Finds or creates the entry; nullptr only if every entry has live
// connections. Updates name and last_seen.
CounterEntry *entry_get(EntryTableHeader &h, CounterEntry *entries, uint32_t oid,
                        const char *name, int64_t now, HasLiveConnections live,
                        const void *ctx);
// Zeroes the counters of every entry (poolgov.reset()); keeps keys.
void entry_reset_all(CounterEntry *entries, uint32_t capacity);

}  // namespace poolgov
