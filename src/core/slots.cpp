#include "poolgov/slots.hpp"

#include "poolgov/no_postgres.hpp"

namespace poolgov {

int count_slots(const SlotsView &v, const SlotFilter &f)
{
    int count = 0;
    for (int i = 0; i < v.n; ++i) {
        const SlotKey &k = v.keys[i];
        if (!atomic::load(k.in_use))  // freed without the lock at exit
            continue;
        if (f.db != 0 && k.db_oid != f.db)
            continue;
        if (f.role != 0 && k.role_oid != f.role &&
            !(f.via_membership && slot_member_of(v.slots[i], f.role)))
            continue;
        ++count;
    }
    return count;
}

void member_pool_init(MemberPool &p, MemberChunk *chunks, uint32_t capacity)
{
    p.capacity = capacity;
    p.chunks = chunks;
    p.free_head = 0;
    p.free_count = 0;
    p.unused = 0;
    for (uint32_t i = capacity; i > 0; --i) {
        chunks[i - 1].next = p.free_head;
        chunks[i - 1].n = 0;
        p.free_head = i;
        p.free_count++;
    }
}

uint32_t member_pool_store(MemberPool &p, const uint32_t *roles, int n)
{
    uint32_t need = static_cast<uint32_t>((n + kChunkRoles - 1) / kChunkRoles);
    if (n <= 0 || need > p.free_count)
        return 0;
    uint32_t head = p.free_head;
    uint32_t c = head;
    int at = 0;
    for (uint32_t k = 0; k < need; ++k) {
        MemberChunk &chunk = p.chunks[c - 1];
        int take = n - at < kChunkRoles ? n - at : kChunkRoles;
        for (int i = 0; i < take; ++i)
            chunk.roles[i] = roles[at + i];
        chunk.n = static_cast<uint32_t>(take);
        at += take;
        if (k + 1 == need) {
            p.free_head = chunk.next;
            chunk.next = 0;
        } else {
            c = chunk.next;
        }
    }
    p.free_count -= need;
    return head;
}

void member_pool_free(MemberPool &p, uint32_t head)
{
    while (head != 0) {
        MemberChunk &chunk = p.chunks[head - 1];
        uint32_t next = chunk.next;
        chunk.n = 0;
        chunk.next = p.free_head;
        p.free_head = head;
        p.free_count++;
        head = next;
    }
}

int slot_closure_length(const ConnSlot &s, const MemberPool &pool)
{
    int n = 0;
    for_each_member(s, pool, [&](uint32_t) { ++n; });
    return n;
}

int slot_closure(const ConnSlot &s, const MemberPool &pool, uint32_t *out)
{
    int n = 0;
    for_each_member(s, pool, [&](uint32_t r) { out[n++] = r; });
    return n;
}

}  // namespace poolgov
