// poolgov.check_login(role, database, client_addr): what a login would get
// right now, with no side effect. The same inputs as the authentication
// hook builds (closure from the shared cache, priority roles, the policy)
// and the same decision over the same live counts (peek_login: the core's
// decide_login under the main lock, exits drained first), so the answer is
// the login's.
#include "postgres.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"  // get_database_oid (19+)
#include "commands/dbcommands.h"  // get_database_oid (15-18)
#include "funcapi.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include <sys/socket.h>
#include "utils/inet.h"
#include "utils/timestamp.h"
}

#include "breaker_state.hpp"
#include "guard.hpp"
#include "privileges.hpp"
#include "session/connection.hpp"
#include "locks.hpp"
#include "shmem.hpp"

using namespace poolgov;
using namespace poolgov::pg;

namespace {

// A role may check itself (or a role whose privileges it has); other
// roles need poolgov_admin or pg_monitor, as budget_usage's readers do.
void require_check_privilege(Oid role, const char *role_name)
{
    Oid me = GetUserId();
    if (superuser() || has_privs_of_role(me, role) || has_privs_of_role(me, ROLE_PG_MONITOR))
        return;
    Oid admin = get_role_oid("poolgov_admin", true);
    if (OidIsValid(admin) && has_privs_of_role(me, admin))
        return;
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied to check logins of role \"%s\"", role_name),
                    errhint("A role may check its own logins; checking another role's takes "
                            "membership in poolgov_admin or pg_monitor.")));
}

const char *verdict_name(const LoginDecision &d)
{
    switch (d.verdict) {
    case Verdict::Allow:
        return "allow";
    case Verdict::Warn:
        return "warn";
    case Verdict::Refuse:
        return "refuse";
    }
    return "allow";
}

}  // namespace

POOLGOV_SQL_FUNCTION(poolgov_check_login)
{
    require_shmem();
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        PG_RETURN_NULL();
    const char *role_name = NameStr(*PG_GETARG_NAME(0));
    const char *db_name = NameStr(*PG_GETARG_NAME(1));
    Oid role = get_role_oid(role_name, false);
    require_check_privilege(role, role_name);
    Oid db = get_database_oid(db_name, false);

    // The address as the login would show it: numeric, no mask; NULL is a
    // unix socket.
    const char *addr = "";
    if (!PG_ARGISNULL(2)) {
        inet *in = PG_GETARG_INET_PP(2);
        int bits = ip_family(in) == PGSQL_AF_INET ? 32 : 128;
        if (ip_bits(in) != bits)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("client_addr must be one address, not a network"),
                            errdetail("A login comes from one address; budgets name ranges.")));
        addr =
            text_to_cstring(DatumGetTextPP(DirectFunctionCall1(network_host, PG_GETARG_DATUM(2))));
    }

    Oid *priority = nullptr;
    int n_priority = priority_role_oids(&priority);
    Oid *closure = nullptr;
    int n_closure = login_closure(role, &closure);
    LoginInfo login{role, db,       superuser_arg(role), role_name, db_name,  addr,
                    "",   priority, n_priority,          closure,   n_closure};
    // The login would take a process slot of its own: one more than ours.
    LoginPolicy policy = login_policy(role, 1);
    BudgetRule rule{};
    LoginDecision d = peek_login(login, policy, &rule);
    const BudgetRule *r = d.kind == LimitKind::Budget ? &rule : nullptr;

    // The breaker (for the password family of authentication methods).
    bool breaker_open = false;
    BreakerPolicy bp = breaker_policy();
    if (bp.limit > 0 && atomic::load(shm.state->breaker_entries) > 0) {
        BreakerEntry open{};
        lock_acquire(shm.state->breaker_lock, LW_SHARED);
        breaker_open = breaker_open_until(*shm.breaker, role_name, breaker_key_addr(addr),
                                          GetCurrentTimestamp(), bp, &open) != 0;
        lock_release(shm.state->breaker_lock);
    }

    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("poolgov.check_login must return a record")));
    desc = BlessTupleDesc(desc);
    constexpr int kColumns = 16;
    Datum values[kColumns];
    bool nulls[kColumns];
    memset(nulls, 1, sizeof(nulls));
    int c = 0;
    auto put = [&](Datum v) {
        nulls[c] = false;
        values[c++] = v;
    };
    auto skip = [&] { c++; };
    auto put_text = [&](const char *s) {
        if (s != nullptr && s[0] != '\0')
            put(CStringGetTextDatum(s));
        else
            skip();
    };
    auto put_name = [&](const char *s) {
        if (s != nullptr && s[0] != '\0')
            put(DirectFunctionCall1(namein, CStringGetDatum(s)));
        else
            skip();
    };
    put(BoolGetDatum(d.verdict != Verdict::Refuse));  // allowed
    put_text(verdict_name(d));                        // verdict
    put_text(decision_kind(d, r, role));              // kind
    put_name(r ? r->role_name : nullptr);             // rule_role
    put_name(r ? r->db_name : nullptr);               // rule_database
    put_text(r ? r->addr_text : nullptr);             // rule_client_addr
    if (r != nullptr)                                 // per_address
        put(BoolGetDatum(r->addr.family != AddrFamily::None &&
                         r->addr_scope == AddrScope::EachAddress));
    else
        skip();
    if (d.kind != LimitKind::None) {  // max_connections, connections
        put(Int32GetDatum(d.limit));
        put(Int32GetDatum(d.current));
    } else {
        skip();
        skip();
    }
    put_text(r ? priority_name(r->priority) : nullptr);  // priority
    put(BoolGetDatum(policy.reserve_exhausted && !d.priority && !login.superuser));
    put(BoolGetDatum(breaker_open));
    if (d.kind != LimitKind::None) {
        RefusalText t = d.overdraft ? describe_overdraft(d, r, role_name, policy.superuser_reserve)
                                    : describe_refusal(d, r, LoginNames{role_name, db_name, addr});
        if (d.overdraft)
            skip();  // admitted: no SQLSTATE
        else
            put_text(t.sqlstate);
        put_text(t.message);
        put_text(t.detail);
        put_text(t.hint);
    }
    if (desc->natts != kColumns)
        elog(ERROR, "pg_poolgov: check_login declares %d columns, the library fills %d",
             desc->natts, kColumns);
    HeapTuple tuple = heap_form_tuple(desc, values, nulls);
    return HeapTupleGetDatum(tuple);
}
