// Who may change pg_poolgov's state and who may see other roles' details,
// asked the same way by every management function and view.
#pragma once

#include "postgres.hpp"

namespace poolgov::pg {

// Superusers and members of poolgov_admin; otherwise ERROR 42501.
void require_admin(const char *action);

// Does the current user see other roles' activity details (query text,
// client address)? pg_read_all_stats members, and members of the role.
bool can_see_details_of(Oid role);

}  // namespace poolgov::pg
