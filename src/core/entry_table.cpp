#include "poolgov/no_postgres.hpp"
#include "poolgov/entry_table.hpp"

#include <cstring>

namespace poolgov {

namespace {

constexpr uint32_t kEmpty = 0;

uint32_t hash_oid(uint32_t oid)
{
    // Murmur3's finaliser: OIDs are often consecutive; this spreads them.
    oid ^= oid >> 16;
    oid *= 0x85ebca6bu;
    oid ^= oid >> 13;
    oid *= 0xc2b2ae35u;
    oid ^= oid >> 16;
    return oid;
}

// Slot of oid in the index, or the empty slot where it would go.
uint32_t probe(const EntryTable &t, uint32_t oid)
{
    uint32_t mask = t.header->index_size - 1;
    uint32_t h = hash_oid(oid) & mask;
    while (t.index[h] != kEmpty && t.oids[t.index[h] - 1] != oid)
        h = (h + 1) & mask;
    return h;
}

// Backward-shift deletion: empties slot h and moves later members of the
// probe run back, so that every key stays reachable from its home slot
// without tombstones.
void index_remove(const EntryTable &t, uint32_t h)
{
    uint32_t mask = t.header->index_size - 1;
    uint32_t hole = h;
    for (uint32_t j = (hole + 1) & mask; t.index[j] != kEmpty; j = (j + 1) & mask) {
        uint32_t home = hash_oid(t.oids[t.index[j] - 1]) & mask;
        // The key at j may fill the hole if its home is not in (hole, j].
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays)
            continue;
        t.index[hole] = t.index[j];
        hole = j;
    }
    t.index[hole] = kEmpty;
}

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
        if (!live(t.oids[i], ctx))
            return static_cast<int>(i);
    }
    return -1;
}

}  // namespace

uint32_t entry_index_size(uint32_t capacity)
{
    uint32_t n = 8;
    while (n < 2 * capacity)
        n <<= 1;
    return n;
}

void entry_table_init(const EntryTable &t, uint32_t capacity)
{
    EntryTableHeader &h = *t.header;
    h = EntryTableHeader{};
    h.capacity = capacity;
    h.index_size = entry_index_size(capacity);
    std::memset(t.index, 0, sizeof(uint32_t) * h.index_size);
}

uint32_t entry_home(const EntryTable &t, uint32_t oid)
{
    return hash_oid(oid) & (t.header->index_size - 1);
}

int entry_find(const EntryTable &t, uint32_t oid)
{
    if (oid == 0 || t.header->index_size == 0)
        return -1;
    uint32_t h = probe(t, oid);
    return t.index[h] == kEmpty ? -1 : static_cast<int>(t.index[h] - 1);
}

int entry_get(const EntryTable &t, uint32_t oid, const char *name, int64_t now,
              HasLiveConnections live, const void *ctx)
{
    EntryTableHeader &h = *t.header;
    if (oid == 0 || h.capacity == 0)
        return -1;
    uint32_t slot = probe(t, oid);
    int i;
    if (t.index[slot] != kEmpty) {
        i = static_cast<int>(t.index[slot] - 1);
    } else {
        if (h.used < h.capacity) {
            i = static_cast<int>(h.used++);
        } else {
            i = clock_victim(t, live, ctx);
            if (i < 0) {
                ++h.untracked;
                return -1;
            }
            index_remove(t, probe(t, t.oids[i]));
            ++h.evicted;
            slot = probe(t, oid);  // the shift may have moved the empty slot
        }
        // Only the buckets in use are written (an entry is 11 kB, mostly
        // histogram; a fresh one is already zero).
        std::memset(&t.entries[i], 0, sizeof(CounterEntry));
        stmt_clear(t.stats[i]);
        t.oids[i] = oid;
        t.entries[i].oid = oid;
        t.index[slot] = static_cast<uint32_t>(i) + 1;
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
