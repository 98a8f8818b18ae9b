// Checks CREATE EXTENSION makes before it changes anything.
//
// The install script creates the role poolgov_admin, or keeps one that
// exists (roles are cluster-wide and outlive DROP EXTENSION). A role of that
// name made by someone else beforehand would receive pg_poolgov's
// management rights, so an existing poolgov_admin is accepted only if it is
// what the script would create: NOLOGIN, no password, no attributes, member
// of nothing, and every membership in it granted by a superuser (as after a
// DBA's GRANT following an earlier install). From 16 on, also no member
// but superusers with ADMIN OPTION: a CREATEROLE role that creates a role
// receives ADMIN OPTION on it (with the bootstrap superuser as grantor of
// record), and could then grant the management rights to itself.
#include "postgres.hpp"

#include "session/install_checks.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_auth_members.h"
#include "catalog/pg_authid.h"
#include "utils/acl.h"
#include "utils/catcache.h"
#include "utils/syscache.h"
}

namespace poolgov::pg {

namespace {

constexpr const char *kAdminRole = "poolgov_admin";

// The first reason the existing role differs from what the script creates,
// or nullptr.
const char *admin_role_difference(HeapTuple tup, Oid oid)
{
    auto *role = reinterpret_cast<Form_pg_authid>(GETSTRUCT(tup));
    if (role->rolsuper)
        return "It is a superuser.";
    if (role->rolcanlogin)
        return "It can log in (LOGIN).";
    if (role->rolcreaterole || role->rolcreatedb || role->rolreplication || role->rolbypassrls)
        return "It has CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS.";
    bool isnull = true;
    (void)SysCacheGetAttr(AUTHNAME, tup, Anum_pg_authid_rolpassword, &isnull);
    if (!isnull)
        return "It has a password.";

    const char *why = nullptr;
    CatCList *memberships = SearchSysCacheList1(AUTHMEMMEMROLE, ObjectIdGetDatum(oid));
    if (memberships->n_members > 0)
        why = "It is a member of other roles.";
    ReleaseSysCacheList(memberships);
    if (why != nullptr)
        return why;

    CatCList *members = SearchSysCacheList1(AUTHMEMROLEMEM, ObjectIdGetDatum(oid));
    for (int i = 0; i < members->n_members && why == nullptr; ++i) {
        auto *m = reinterpret_cast<Form_pg_auth_members>(GETSTRUCT(&members->members[i]->tuple));
        if (!superuser_arg(m->grantor))
            why = "A role that is not a superuser granted membership in it.";
#if PG_VERSION_NUM >= 160000
        else if (m->admin_option && !superuser_arg(m->member))
            why = "A role that is not a superuser holds ADMIN OPTION on it.";
#endif
    }
    ReleaseSysCacheList(members);
    return why;
}

}  // namespace

void check_admin_role()
{
    HeapTuple tup = SearchSysCache1(AUTHNAME, CStringGetDatum(kAdminRole));
    if (!HeapTupleIsValid(tup))
        return;
    Oid oid = reinterpret_cast<Form_pg_authid>(GETSTRUCT(tup))->oid;
    const char *why = admin_role_difference(tup, oid);
    ReleaseSysCache(tup);
    if (why != nullptr)
        ereport(ERROR,
                (errcode(ERRCODE_DUPLICATE_OBJECT),
                 errmsg("role \"%s\" already exists and is not the role pg_poolgov creates",
                        kAdminRole),
                 errdetail("%s pg_poolgov gives %s the right to manage budgets; a role of "
                           "that name made by someone else must not receive it.",
                           why, kAdminRole),
                 errhint("Drop the role, or make it NOLOGIN without a password or attributes "
                         "and review its members, then run CREATE EXTENSION again.")));
}

}  // namespace poolgov::pg
