#include "poolgov/oid_map.hpp"

#include "poolgov/no_postgres.hpp"

namespace poolgov {

namespace {

// murmur3's finalizer: OIDs are sequential, so spread them over the table.
inline uint32_t mix(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

inline uint32_t home(const OidMap &m, uint32_t key) { return mix(key) & (m.capacity - 1); }

// Position of key, or of the empty entry where it would go.
uint32_t probe(const OidMap &m, uint32_t key)
{
    uint32_t mask = m.capacity - 1;
    uint32_t i = home(m, key);
    while (m.entries[i].key != 0 && m.entries[i].key != key)
        i = (i + 1) & mask;
    return i;
}

}  // namespace

uint32_t oid_map_capacity_for(uint32_t n)
{
    uint32_t c = 8;
    while (c < 2 * static_cast<uint64_t>(n) + 1)
        c *= 2;
    return c;
}

void oid_map_init(OidMap &m, OidMapEntry *storage, uint32_t capacity)
{
    m.capacity = capacity;
    m.entries = storage;
    oid_map_clear(m);
}

void oid_map_clear(OidMap &m)
{
    for (uint32_t i = 0; i < m.capacity; ++i)
        m.entries[i] = OidMapEntry{0, 0};
    m.used = 0;
}

const uint32_t *oid_map_find(const OidMap &m, uint32_t key)
{
    if (key == 0 || m.capacity == 0)
        return nullptr;
    uint32_t i = probe(m, key);
    return m.entries[i].key == key ? &m.entries[i].value : nullptr;
}

uint32_t *oid_map_find(OidMap &m, uint32_t key)
{
    return const_cast<uint32_t *>(oid_map_find(static_cast<const OidMap &>(m), key));
}

bool oid_map_put(OidMap &m, uint32_t key, uint32_t value)
{
    if (key == 0 || m.capacity == 0)
        return false;
    uint32_t i = probe(m, key);
    if (m.entries[i].key == key) {
        m.entries[i].value = value;
        return true;
    }
    if (m.used + 1 >= m.capacity)
        return false;
    m.entries[i] = OidMapEntry{key, value};
    m.used++;
    return true;
}

bool oid_map_erase(OidMap &m, uint32_t key)
{
    if (key == 0 || m.capacity == 0)
        return false;
    uint32_t mask = m.capacity - 1;
    uint32_t hole = probe(m, key);
    if (m.entries[hole].key != key)
        return false;
    // Backward shift: move each later entry of the run into the hole when
    // its home position does not lie (cyclically) between the hole and it.
    uint32_t j = hole;
    for (;;) {
        j = (j + 1) & mask;
        if (m.entries[j].key == 0)
            break;
        uint32_t h = home(m, m.entries[j].key);
        bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
        if (stays)
            continue;
        m.entries[hole] = m.entries[j];
        hole = j;
    }
    m.entries[hole] = OidMapEntry{0, 0};
    m.used--;
    return true;
}

bool oid_map_add(OidMap &m, uint32_t key, int32_t delta)
{
    uint32_t *v = oid_map_find(m, key);
    if (v == nullptr)
        return delta <= 0 || oid_map_put(m, key, static_cast<uint32_t>(delta));
    int64_t now = static_cast<int64_t>(*v) + delta;
    if (now <= 0)
        return oid_map_erase(m, key), true;
    *v = static_cast<uint32_t>(now);
    return true;
}

}  // namespace poolgov
