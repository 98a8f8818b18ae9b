#include "poolgov/no_postgres.hpp"
#include "poolgov/entry_table.hpp"

#include <cstring>

namespace poolgov {

int entry_find(const EntryTable &t, uint32_t oid)
{
    for (uint32_t i = 0; i < t.header->capacity; ++i)
        if (t.oids[i] == oid)
            return static_cast<int>(i);
    return -1;
}

int entry_get(const EntryTable &t, uint32_t oid, const char *name, int64_t now,
              HasLiveConnections live, const void *ctx)
{
    int i = entry_find(t, oid);
    if (i < 0) {
        i = entry_find(t, 0);
        if (i < 0) {
            int lru = -1;
            for (uint32_t j = 0; j < t.header->capacity; ++j)
                if (!live(t.oids[j], ctx) &&
                    (lru < 0 || t.entries[j].last_seen < t.entries[lru].last_seen))
                    lru = static_cast<int>(j);
            if (lru < 0)
                return -1;
            ++t.header->evicted;
            i = lru;
        }
        std::memset(&t.entries[i], 0, sizeof(CounterEntry));
        std::memset(&t.stats[i], 0, sizeof(StmtCounters));
        t.oids[i] = oid;
        t.entries[i].oid = oid;
    }
    CounterEntry &e = t.entries[i];
    if (name != nullptr && name[0] != '\0')
        copy_text(e.name, name);
    e.last_seen = now;
    return i;
}

void entry_reset_all(const EntryTable &t)
{
    for (uint32_t i = 0; i < t.header->capacity; ++i) {
        if (t.oids[i] == 0)
            continue;
        CounterEntry &e = t.entries[i];
        CounterEntry keep{};
        keep.oid = e.oid;
        std::memcpy(keep.name, e.name, sizeof(keep.name));
        keep.last_seen = e.last_seen;
        e = keep;
        std::memset(&t.stats[i], 0, sizeof(StmtCounters));
    }
}

}  // namespace poolgov
