// Who may change and who may see (privileges.hpp).
#include "postgres.hpp"

#include "privileges.hpp"

extern "C" {
#include "catalog/pg_authid.h"
#include "utils/acl.h"
}

namespace poolgov::pg {

void require_admin(const char *action)
{
    if (superuser())
        return;
    Oid admin = get_role_oid("poolgov_admin", true);
    if (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin))
        return;
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("permission denied to %s", action),
             errhint("Only superusers and members of poolgov_admin may %s.", action)));
}

bool can_see_details_of(Oid role)
{
    Oid me = GetUserId();
    return has_privs_of_role(me, ROLE_PG_READ_ALL_STATS) || has_privs_of_role(me, role);
}

}  // namespace poolgov::pg
