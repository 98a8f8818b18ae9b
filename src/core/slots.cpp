#include "poolgov/no_postgres.hpp"
#include "poolgov/slots.hpp"

namespace poolgov {

int count_slots(const ConnSlot *slots, int n, const SlotFilter &f)
{
    int count = 0;
    for (int i = 0; i < n; ++i) {
        const ConnSlot &s = slots[i];
        if (!atomic::load(s.in_use))  // freed without the lock at exit
            continue;
        if (f.db != 0 && s.db_oid != f.db)
            continue;
        if (f.role != 0) {
            bool match = f.via_membership ? slot_member_of(s, f.role) : s.role_oid == f.role;
            if (!match)
                continue;
        }
        ++count;
    }
    return count;
}

}  // namespace poolgov
