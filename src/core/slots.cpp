#include "poolgov/no_postgres.hpp"
#include "poolgov/slots.hpp"

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

}  // namespace poolgov
