#include "poolgov/closure_cache.hpp"

#include <cstring>

#include "poolgov/no_postgres.hpp"

namespace poolgov {

int closure_lookup(const ClosureCache &c, uint32_t role, uint64_t generation, int64_t now,
                   uint32_t *out)
{
    for (int i = 0; i < kClosureEntries; ++i) {
        if (c.index[i] != role)
            continue;
        ClosureEntry &e = c.entries[i];
        if (e.generation != generation)
            return -1;
        e.last_used = now;
        std::memcpy(out, e.roles, sizeof(uint32_t) * e.n);
        return static_cast<int>(e.n);
    }
    return -1;
}

void closure_store(const ClosureCache &c, uint32_t role, uint64_t generation, int64_t now,
                   const uint32_t *roles, int n)
{
    if (n <= 0 || n > kMaxMemberOf)
        return;
    int slot = -1;
    for (int i = 0; i < kClosureEntries && slot < 0; ++i)
        if (c.index[i] == role)
            slot = i;
    for (int i = 0; i < kClosureEntries && slot < 0; ++i)
        if (c.index[i] == 0 || c.entries[i].generation != generation)
            slot = i;
    if (slot < 0) {
        slot = 0;
        for (int i = 1; i < kClosureEntries; ++i)
            if (c.entries[i].last_used < c.entries[slot].last_used)
                slot = i;
    }
    ClosureEntry &e = c.entries[slot];
    c.index[slot] = role;
    e.generation = generation;
    e.last_used = now;
    e.n = static_cast<uint32_t>(n);
    std::memcpy(e.roles, roles, sizeof(uint32_t) * n);
}

}  // namespace poolgov
