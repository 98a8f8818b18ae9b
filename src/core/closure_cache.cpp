#include "poolgov/closure_cache.hpp"

#include <cstring>

#include "poolgov/no_postgres.hpp"

namespace poolgov {

uint32_t closure_index_capacity() { return oid_map_capacity_for(kClosureEntries); }

ClosureCache closure_cache_attach(OidMap *header, OidMapEntry *index, uint32_t *role_of,
                                  ClosureEntry *entries)
{
    header->entries = index;
    return ClosureCache{header, role_of, entries};
}

void closure_cache_init(const ClosureCache &c)
{
    oid_map_init(*c.by_role, c.by_role->entries, closure_index_capacity());
    std::memset(c.role_of, 0, sizeof(uint32_t) * kClosureEntries);
    std::memset(c.entries, 0, sizeof(ClosureEntry) * kClosureEntries);
}

int closure_lookup(const ClosureCache &c, uint32_t role, uint64_t generation, int64_t now,
                   uint32_t *out)
{
    const uint32_t *slot = oid_map_find(*c.by_role, role);
    if (slot == nullptr)
        return -1;
    ClosureEntry &e = c.entries[*slot];
    if (e.generation != generation)
        return -1;
    e.last_used = now;
    std::memcpy(out, e.roles, sizeof(uint32_t) * e.n);
    return static_cast<int>(e.n);
}

namespace {

// The entry a new closure goes to when its role has none: a free one, else
// one of an older generation, else the least recently used.
uint32_t victim(const ClosureCache &c, uint64_t generation)
{
    for (uint32_t i = 0; i < kClosureEntries; ++i)
        if (c.role_of[i] == 0 || c.entries[i].generation != generation)
            return i;
    uint32_t oldest = 0;
    for (uint32_t i = 1; i < kClosureEntries; ++i)
        if (c.entries[i].last_used < c.entries[oldest].last_used)
            oldest = i;
    return oldest;
}

}  // namespace

void closure_store(const ClosureCache &c, uint32_t role, uint64_t generation, int64_t now,
                   const uint32_t *roles, int n)
{
    if (role == 0 || n <= 0 || n > kMaxMemberOf)
        return;
    const uint32_t *found = oid_map_find(*c.by_role, role);
    uint32_t slot = found != nullptr ? *found : victim(c, generation);
    if (found == nullptr) {
        if (c.role_of[slot] != 0)
            oid_map_erase(*c.by_role, c.role_of[slot]);
        c.role_of[slot] = role;
        oid_map_put(*c.by_role, role, slot);  // fits: at most kClosureEntries keys
    }
    ClosureEntry &e = c.entries[slot];
    e.generation = generation;
    e.last_used = now;
    e.n = static_cast<uint32_t>(n);
    std::memcpy(e.roles, roles, sizeof(uint32_t) * n);
}

}  // namespace poolgov
