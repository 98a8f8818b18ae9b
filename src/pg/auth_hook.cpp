// ClientAuthentication_hook: the login circuit breaker, then the budget and
// reserve decision, then the claim of this backend's connection slot.
//
// PostgreSQL calls the hook at the end of ClientAuthentication(), after the
// password exchange, on success and on failure; not for pg_hba "reject"
// lines. The backend already holds a process slot here, so every refusal is
// immediate (FATAL), never a wait.
#include "postgres.hpp"

#include "auth_hook.hpp"

extern "C" {
#include "commands/dbcommands.h"
#include "common/ip.h"
#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "postmaster/postmaster.h"
#include "replication/walsender.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/varlena.h"
}

#include "catalog_safe.hpp"
#include "connection.hpp"
#include "events_log.hpp"
#include "guard.hpp"
#include "guc.hpp"
#include "shmem.hpp"

#include <fmt/format.h>

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

// OIDs of the roles named in poolgov.priority_roles (names that match no
// role are ignored, as a list setting must be valid before roles exist).
int priority_role_oids(Oid **out)
{
    *out = nullptr;
    if (guc::priority_roles == nullptr || guc::priority_roles[0] == '\0')
        return 0;
    char *raw = pstrdup(guc::priority_roles);
    List *names = NIL;
    int n = 0;
    if (SplitIdentifierString(raw, ',', &names) && names != NIL) {
        *out = static_cast<Oid *>(palloc(sizeof(Oid) * list_length(names)));
        ListCell *lc;
        foreach (lc, names) {
            Oid r = get_role_oid(static_cast<const char *>(lfirst(lc)), true);
            if (OidIsValid(r))
                (*out)[n++] = r;
        }
    }
    list_free(names);
    pfree(raw);
    return n;
}

// Only the reserved slots (PostgreSQL's superuser reserve plus ours) are free.
bool reserve_exhausted()
{
    return guc::reserved_connections > 0 &&
           !HaveNFreeProcs(ReservedBackends + guc::reserved_connections);
}

[[noreturn]] void refuse_breaker(const char *role, const char *addr, int64_t open_until)
{
    ereport(FATAL,
            (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
             errmsg("too many failed login attempts for role \"%s\"", role),
             errdetail("pg_poolgov refuses logins of this role from %s until %s: more than %d "
                       "failed within %d s.",
                       addr, timestamptz_to_str(open_until), guc::auth_failure_limit,
                       guc::auth_failure_window),
             errhint("Wait for the lockout (poolgov.auth_lockout) to pass.")));
    pg_unreachable();
}

// The breaker: counts real failures (STATUS_ERROR; STATUS_EOF is a client
// that hung up, e.g. psql before asking for a password) and, while open,
// refuses every attempt of the pair the same way whatever the password, so
// that a guess cannot be confirmed during the lockout.
void breaker_gate(const Port *port, int status, Oid role_oid, const char *client_addr)
{
    if (status == STATUS_EOF)
        return;
    SharedState *st = shm.state;
    const char *role = port->user_name;
    const char *key_addr = client_addr[0] ? client_addr : "local";
    BreakerPolicy policy{guc::auth_failure_limit, guc::auth_failure_window * kUsPerSec,
                         guc::auth_lockout * kUsPerSec};
    TimestampTz now = GetCurrentTimestamp();
    int64_t open_until = 0;
    FailureResult failure{FailureOutcome::Disabled, 0, 0};

    if (status == STATUS_ERROR || atomic::load(st->breaker_entries) > 0) {
        LWLockAcquire(st->breaker_lock, LW_EXCLUSIVE);
        open_until = breaker_open_until(*shm.breaker, role, key_addr, now);
        if (open_until == 0 && status == STATUS_ERROR)
            failure = breaker_record_failure(*shm.breaker, role, key_addr, now, policy);
        atomic::store(st->breaker_entries, shm.breaker->used);
        LWLockRelease(st->breaker_lock);
    }
    if (status == STATUS_ERROR)
        count_auth_failure(role_oid, role);

    EventFields who{role, port->database_name, MyProcPid, client_addr};
    if (failure.outcome == FailureOutcome::Opened) {
        char detail[kDetailLen];
        auto out = fmt::format_to_n(detail, sizeof(detail) - 1,
                                    "{} failed logins from {} within {} s; refused for {} s",
                                    failure.failures, key_addr, guc::auth_failure_window,
                                    guc::auth_lockout);
        *out.out = '\0';
        log_event(EventKind::BreakerOpen, who, detail);
        ereport(LOG, (errmsg("pg_poolgov: login breaker opened for role \"%s\" from %s", role,
                             key_addr),
                      errdetail("%s.", detail)));
    }
    if (open_until != 0) {
        count_breaker_refusal(role_oid, role);
        log_event(EventKind::RejectBreaker, who, "breaker open");
        refuse_breaker(role, key_addr, open_until);
    }
}

void report_decision(const LoginDecision &d, const BudgetRule &rule, const LoginInfo &login)
{
    bool reserve = d.kind == LimitKind::Reserve;
    bool refuse = d.verdict == Verdict::Refuse;
    RefusalText t = describe_refusal(d, &rule, login.role_name);
    EventKind kind = reserve ? (refuse ? EventKind::RejectReserve : EventKind::WarnReserve)
                             : (refuse ? EventKind::RejectBudget : EventKind::WarnBudget);
    log_event(kind, EventFields{login.role_name, login.db_name, MyProcPid, login.client_addr},
              t.detail);
    if (refuse)
        ereport(FATAL, (errcode(ERRCODE_TOO_MANY_CONNECTIONS), errmsg("%s", t.message),
                        errdetail("%s", t.detail), errhint("%s", t.hint)));
    ereport(LOG, (errmsg("pg_poolgov would refuse this login: %s", t.message),
                  errdetail("%s", t.detail),
                  errhint("poolgov.enforce is \"warn\"; set it to \"on\" to refuse.")));
}

void admit(const Port *port, Oid role, const char *client_addr)
{
    // Not get_database_oid(): no database is selected yet (catalog_safe.hpp).
    Oid db = database_oid_safe(port->database_name);
    if (!OidIsValid(role) || !OidIsValid(db))
        return;  // PostgreSQL itself refuses the login a moment later

    Oid *priority = nullptr;
    int n_priority = priority_role_oids(&priority);
    LoginInfo login{role,
                    db,
                    superuser_arg(role),
                    port->user_name,
                    port->database_name,
                    client_addr,
                    port->application_name,
                    priority,
                    n_priority,
                    nullptr,
                    0,
                    0};
    LoginPolicy policy{static_cast<EnforceMode>(guc::enforce), guc::exempt_superusers,
                       guc::default_budget, reserve_exhausted(),
                       MaxConnections - ReservedBackends - guc::reserved_connections};
    BudgetRule rule{};
    ClaimResult claim = claim_connection(login, policy, &rule);
    if (claim.needs_closure) {
        // Not in the shared cache: walk pg_auth_members, then claim again.
        Oid *closure = nullptr;
        login.closure_generation = membership_generation();
        login.n_closure = role_closure(role, &closure);
        login.closure = closure;
        claim = claim_connection(login, policy, &rule);
    }
    if (claim.decision.kind != LimitKind::None)
        report_decision(claim.decision, rule, login);
}

void auth_body(Port *port, int status)
{
    char client_addr[kAddrLen];
    client_addr_of(port, client_addr);
    Oid role = get_role_oid(port->user_name, true);
    breaker_gate(port, status, role, client_addr);
    // Walsenders are replication connections, not client connections.
    if (status == STATUS_OK && !am_walsender)
        admit(port, role, client_addr);
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
