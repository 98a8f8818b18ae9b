// ClientAuthentication_hook: the login circuit breaker, then the budget and
// reserve decision, then the claim of this backend's connection slot.
//
// PostgreSQL calls the hook at the end of ClientAuthentication(), after the
// password exchange, on success and on failure; not for pg_hba "reject"
// lines. The backend already holds a process slot here, so every refusal is
// immediate (FATAL), never a wait.
//
// Catalog access on the login path (audited). The hook runs before a
// database is selected: only shared catalogs exist, and when the shared
// relcache init file (global/pg_internal.init) is missing, after REINDEX or
// VACUUM FULL of a shared catalog, invalidation churn or a restart,
// criticalSharedRelcachesBuilt is false and opening a shared index reads
// pg_class, which FATALs ("cannot read pg_class without having selected a
// database") for every login. So everything reachable from the hook reads
// catalogs only through paths that fall back to heap scans meanwhile:
//   - role OID (get_role_oid, also for poolgov.priority_roles): syscache
//     AUTHNAME;
//   - superuser_arg: syscache AUTHOID;
//   - membership closure (role_closure in connection.cpp): syscache list
//     AUTHMEMMEMROLE (SearchCatCacheList uses IndexScanOK too);
//     catcache.c IndexScanOK forces heap scans for these three caches while
//     criticalSharedRelcachesBuilt is false, as PostgreSQL's own
//     authentication relies on;
//   - database OID: database_oid_safe (catalog_safe.cpp), a pg_database scan with
//     indexOK = criticalSharedRelcachesBuilt, as postinit.c
//     GetDatabaseTuple(); never get_database_oid(), which always opens
//     pg_database_datname_index (and no syscache looks databases up by name).
// Nothing else on the path touches a catalog: the breaker, the budget
// decision, the slot claim and the event log use shared memory only, and
// the membership invalidation callback only bumps a shared counter.
#include "postgres.hpp"

#include "session/auth_hook.hpp"

extern "C" {
#include "catalog/pg_authid.h"
#include "common/ip.h"
#include "libpq/auth.h"
#include "libpq/hba.h"
#include "libpq/libpq-be.h"
#include "postmaster/postmaster.h"
#include "replication/walsender.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/varlena.h"
}

#include "breaker_state.hpp"
#include "catalog_safe.hpp"
#include "locks.hpp"
#include "compat.hpp"
#include "session/connection.hpp"
#include "events_log.hpp"
#include "guard.hpp"
#include "settings.hpp"
#include "shmem.hpp"

#include "poolgov/format.hpp"

namespace poolgov::pg {

namespace {

ClientAuthentication_hook_type prev_client_auth_hook = nullptr;

constexpr int64_t kUsPerSec = 1000000;

// Numeric client address as pg_stat_activity shows it; "" for a unix socket.
void client_addr_of(const Port *port, char (&out)[kAddrLen])
{
    out[0] = '\0';
    if (port->raddr.addr.ss_family != AF_INET && port->raddr.addr.ss_family != AF_INET6)
        return;
    char host[NI_MAXHOST];
    if (pg_getnameinfo_all(&port->raddr.addr, port->raddr.salen, host, sizeof(host), nullptr, 0,
                           NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return;
    clean_ipv6_addr(port->raddr.addr.ss_family, host);
    copy_text(out, host);
}

[[noreturn]] void refuse_breaker(const char *role, const char *addr, const BreakerEntry &e,
                                 int64_t open_until)
{
    ereport(FATAL, (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
                    errmsg("too many failed login attempts for role \"%s\"", role),
                    errdetail("pg_poolgov refuses logins of this role from %s until %s: %d failed "
                              "within %lld s, more than the limit of %d.",
                              addr, timestamptz_to_str(open_until), e.failures,
                              static_cast<long long>(e.open_window_us / kUsPerSec), e.open_limit),
                    errhint("Wait for the lockout (poolgov.auth_lockout) to pass; an administrator "
                            "can end it with poolgov.breaker_reset().")));
    pg_unreachable();
}

// Methods where the client proves a secret it could guess: the password
// family (password, md5, scram-sha-256) and the methods that pass a password
// on to another service (ldap, radius, pam, bsd). Peer, ident, cert, gss,
// sspi and trust check no guessable secret: their failures do not count and
// an open breaker does not refuse them (so a local user running
// "psql -U postgres" cannot lock the DBA's peer login out). Nor does oauth
// (18+): a bearer token is issued by a provider, not chosen or guessed by
// the client, and its usual failure is an expired token that the client
// refreshes, which must not lock the role out. RADIUS is gone in 19.
bool guessable_secret(const Port *port)
{
    if (port->hba == nullptr)
        return false;
    switch (port->hba->auth_method) {
    case uaPassword:
    case uaMD5:
    case uaSCRAM:
    case uaLDAP:
#if PG_VERSION_NUM < 190000
    case uaRADIUS:
#endif
    case uaPAM:
    case uaBSD:
        return true;
    default:
        return false;
    }
}

// The breaker: counts real failures (STATUS_ERROR; STATUS_EOF is a client
// that hung up, e.g. psql before asking for a password) of methods with a
// guessable secret and, while open, refuses every such attempt of the pair
// the same way whatever the password, so that a guess cannot be confirmed
// during the lockout.
void breaker_gate(const Port *port, int status, Oid role_oid, const char *client_addr)
{
    if (status == STATUS_EOF)
        return;
    const char *role = port->user_name;
    if (status == STATUS_ERROR)
        count_auth_failure(role_oid, role);
    BreakerPolicy policy = breaker_policy();
    if (policy.limit <= 0 || !guessable_secret(port))
        return;
    SharedState *st = shm.state;
    const char *key_addr = client_addr[0] ? client_addr : kBreakerLocalAddr;
    TimestampTz now = GetCurrentTimestamp();
    int64_t open_until = 0;
    BreakerEntry open{};
    FailureResult failure{FailureOutcome::Disabled, 0, 0};

    if (status == STATUS_ERROR) {
        lock_acquire(st->breaker_lock, LW_EXCLUSIVE);
        open_until = breaker_open_until(*shm.breaker, role, key_addr, now, policy, &open);
        if (open_until == 0)
            failure = breaker_record_failure(*shm.breaker, role, key_addr, OidIsValid(role_oid),
                                             now, policy);
        atomic::store(st->breaker_entries, shm.breaker->used);
        lock_release(st->breaker_lock);
    } else if (atomic::load(st->breaker_entries) > 0) {
        // A successful login only reads the table.
        lock_acquire(st->breaker_lock, LW_SHARED);
        open_until = breaker_open_until(*shm.breaker, role, key_addr, now, policy, &open);
        lock_release(st->breaker_lock);
    }

    EventFields who{role, port->database_name, MyProcPid, client_addr};
    if (failure.outcome == FailureOutcome::Opened) {
        char detail[kDetailLen];
        format_into(detail, "{} failed logins from {} within {} s; refused for {} s",
                    failure.failures, key_addr, settings::auth_failure_window,
                    settings::auth_lockout);
        log_event(EventKind::BreakerOpen, who, detail);
        ereport(LOG,
                (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
                 errmsg("pg_poolgov: login breaker opened for role \"%s\" from %s", role, key_addr),
                 errdetail("%s.", detail)));
    }
    if (open_until != 0) {
        count_breaker_refusal(role_oid, role);
        log_event(EventKind::RejectBreaker, who, "breaker open");
        refuse_breaker(role, key_addr, open, open_until);
    }
}

// The decision and its description come from the core; this only logs
// and raises what it described.
void report_decision(const LoginDecision &d, const BudgetRule &rule, const LoginInfo &login)
{
    bool reserve = d.kind == LimitKind::Reserve;
    bool refuse = d.verdict == Verdict::Refuse;
    RefusalText t =
        describe_refusal(d, &rule, LoginNames{login.role_name, login.db_name, login.client_addr});
    EventKind kind = reserve ? (refuse ? EventKind::RejectReserve : EventKind::WarnReserve)
                             : (refuse ? EventKind::RejectBudget : EventKind::WarnBudget);
    log_event(kind, EventFields{login.role_name, login.db_name, MyProcPid, login.client_addr},
              t.detail);
    if (refuse)
        ereport(FATAL, (errcode(MAKE_SQLSTATE(t.sqlstate[0], t.sqlstate[1], t.sqlstate[2],
                                              t.sqlstate[3], t.sqlstate[4])),
                        errmsg("%s", t.message), errdetail("%s", t.detail), errhint("%s", t.hint)));
    ereport(LOG,
            (errcode(MAKE_SQLSTATE(t.sqlstate[0], t.sqlstate[1], t.sqlstate[2], t.sqlstate[3],
                                   t.sqlstate[4])),
             errmsg("pg_poolgov would refuse this login: %s", t.message), errdetail("%s", t.detail),
             errhint("poolgov.enforce is \"warn\"; set it to \"on\" to refuse.")));
}

// A superuser let in over its budget from PostgreSQL's superuser reserve
// (poolgov.exempt_superusers = off): an event and a LOG line, so the DBA
// sees the reserve being used.
void report_overdraft(const LoginDecision &d, const BudgetRule &rule, const LoginInfo &login)
{
    RefusalText t =
        describe_overdraft(d, &rule, login.role_name, compat::superuser_reserved_connections());
    log_event(EventKind::SuperuserOverdraft,
              EventFields{login.role_name, login.db_name, MyProcPid, login.client_addr}, t.detail);
    ereport(LOG, (errcode(ERRCODE_WARNING), errmsg("pg_poolgov: %s", t.message),
                  errdetail("%s", t.detail), errhint("%s", t.hint)));
}

// The login decision: budgets, the reserve, then the claim of a connection
// slot. (Named apart from admission control, which admits transactions.)
// One pass: the closure (shared cache, else the catalog), then one trip
// under the main lock that decides and claims.
void govern_this_login(const Port *port, Oid role, const char *client_addr)
{
    // Not get_database_oid(): no database is selected yet (catalog_safe.hpp).
    Oid db = database_oid_safe(port->database_name);
    if (!OidIsValid(role) || !OidIsValid(db))
        return;  // PostgreSQL itself refuses the login a moment later

    Oid *priority = nullptr;
    int n_priority = priority_role_oids(&priority);
    Oid *closure = nullptr;
    int n_closure = login_closure(role, &closure);
    LoginInfo login{role,
                    db,
                    superuser_arg(role),
                    port->user_name,
                    port->database_name,
                    client_addr,
                    port->application_name,
                    priority,
                    n_priority,
                    closure,
                    n_closure};
    LoginPolicy policy = login_policy(role, 0);
    BudgetRule rule{};
    LoginDecision d = claim_connection(login, policy, &rule);
    if (d.overdraft)
        report_overdraft(d, rule, login);
    else if (d.kind != LimitKind::None)
        report_decision(d, rule, login);
}

void auth_body(Port *port, int status)
{
    char client_addr[kAddrLen];
    client_addr_of(port, client_addr);
    Oid role = get_role_oid(port->user_name, true);
    breaker_gate(port, status, role, client_addr);
    // Walsenders are replication connections, not client connections.
    if (status == STATUS_OK && !am_walsender)
        govern_this_login(port, role, client_addr);
}

void poolgov_client_auth(Port *port, int status)
{
    if (prev_client_auth_hook)
        prev_client_auth_hook(port, status);
    if (shm.state == nullptr)
        return;
    run_guarded([&] { auth_body(port, status); });
}

}  // namespace

void auth_hook_install()
{
    prev_client_auth_hook = ClientAuthentication_hook;
    ClientAuthentication_hook = poolgov_client_auth;
}

}  // namespace poolgov::pg
