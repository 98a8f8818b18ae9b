#include "poolgov/entry_table.hpp"

#include <cstring>

#include "poolgov/no_postgres.hpp"

namespace poolgov {

namespace {

// Clock: the next entry without a reference bit and without live
// connections, or -1 after two full sweeps.
int clock_victim(const EntryTable &t, HasLiveConnections live, const void *ctx)
{
    EntryTableHeader &h = *t.header;
    for (uint32_t step = 0; step < 2 * h.used; ++step) {
        uint32_t i = h.hand;
        h.hand = (h.hand + 1) % h.used;
        CounterEntry &e = t.entries[i];
        if (e.referenced) {
            e.referenced = 0;
            continue;
        }
        if (!live(e.oid, ctx))
            return static_cast<int>(i);
    }
    return -1;
}

}  // namespace

void entry_table_init(const EntryTable &t, OidMapEntry *index, uint32_t capacity)
{
    EntryTableHeader &h = *t.header;
    h = EntryTableHeader{};
    h.capacity = capacity;
    oid_map_init(h.index, index, entry_index_capacity(capacity));
}

int entry_find(const EntryTable &t, uint32_t oid)
{
    const uint32_t *i = oid_map_find(static_cast<const OidMap &>(t.header->index), oid);
    return i == nullptr ? -1 : static_cast<int>(*i);
}

int entry_get(const EntryTable &t, uint32_t oid, const char *name, int64_t now,
              HasLiveConnections live, const void *ctx)
{
    EntryTableHeader &h = *t.header;
    if (oid == 0 || h.capacity == 0)
        return -1;
    int i = entry_find(t, oid);
    if (i < 0) {
        if (h.used < h.capacity) {
            i = static_cast<int>(h.used++);
        } else {
            i = clock_victim(t, live, ctx);
            if (i < 0) {
                ++h.untracked;
                return -1;
            }
            oid_map_erase(h.index, t.entries[i].oid);
            ++h.evicted;
        }
        // Only the buckets in use are written (an entry is 11 kB, mostly
        // histogram; a fresh one is already zero).
        std::memset(&t.entries[i], 0, sizeof(CounterEntry));
        stmt_clear(t.stats[i]);
        t.entries[i].oid = oid;
        // Fits: the index holds more than twice the capacity, and the table
        // never holds more than `capacity` keys.
        oid_map_put(h.index, oid, static_cast<uint32_t>(i));
    }
    CounterEntry &e = t.entries[i];
    if (name != nullptr && name[0] != '\0')
        copy_text(e.name, name);
    e.last_seen = now;
    e.referenced = 1;
    return i;
}

void entry_reset_all(const EntryTable &t)
{
    for (uint32_t i = 0; i < t.header->used; ++i) {
        CounterEntry &e = t.entries[i];
        CounterEntry keep{};
        keep.oid = e.oid;
        std::memcpy(keep.name, e.name, sizeof(keep.name));
        keep.last_seen = e.last_seen;
        keep.referenced = e.referenced;
        e = keep;
        stmt_clear(t.stats[i]);  // the buckets in use only
    }
}

}  // namespace poolgov
