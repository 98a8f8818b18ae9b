#include "poolgov/no_postgres.hpp"
#include "poolgov/entry_table.hpp"

#include <cstring>

namespace poolgov {

CounterEntry *entry_find(CounterEntry *entries, uint32_t capacity, uint32_t oid)
{
    for (uint32_t i = 0; i < capacity; ++i)
        if (entries[i].oid == oid)
            return &entries[i];
    return nullptr;
}

CounterEntry *entry_get(EntryTableHeader &h, CounterEntry *entries, uint32_t oid,
                        const char *name, int64_t now, HasLiveConnections live,
                        const void *ctx)
{
    CounterEntry *e = entry_find(entries, h.capacity, oid);
    if (e == nullptr) {
        CounterEntry *lru = nullptr;
        for (uint32_t i = 0; i < h.capacity && e == nullptr; ++i) {
            CounterEntry &c = entries[i];
            if (c.oid == 0)
                e = &c;
            else if (!live(c.oid, ctx) && (lru == nullptr || c.last_seen < lru->last_seen))
                lru = &c;
        }
        if (e == nullptr) {
            if (lru == nullptr)
                return nullptr;
            ++h.evicted;
            e = lru;
        }
        std::memset(e, 0, sizeof(*e));
        e->oid = oid;
    }
    if (name != nullptr && name[0] != '\0')
        copy_text(e->name, name);
    e->last_seen = now;
    return e;
}

void entry_reset_all(CounterEntry *entries, uint32_t capacity)
{
    for (uint32_t i = 0; i < capacity; ++i) {
        CounterEntry &e = entries[i];
        if (e.oid == 0)
            continue;
        uint32_t oid = e.oid;
        CounterEntry keep{};
        keep.oid = oid;
        std::memcpy(keep.name, e.name, sizeof(keep.name));
        keep.last_seen = e.last_seen;
        e = keep;
    }
}

}  // namespace poolgov
