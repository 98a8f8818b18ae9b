// This backend's connection slot: the login decision and claim (under the
// main lock, one atomic step), the two-step release at exit, and the
// membership closure that budgets count by.
#pragma once

#include "postgres.hpp"

#include "poolgov/budgets.hpp"

namespace poolgov::pg {

// Set once the slot is claimed; null in walsenders, workers, refused logins,
// and once the backend has started to exit.
extern ConnSlot *my_slot;
// my_slot's counters (stats_of(my_slot)), set and cleared with it: the
// statement path's one load.
extern SlotStats *my_slot_stats;
// my_slot_stats while poolgov.track is not none, else null: the statement
// path's one test for "a tracked client backend". Kept by
// tracked_stats_refresh (at login, at exit, and by track's assign hook).
extern SlotStats *tracked_stats;
void tracked_stats_refresh(int track);

struct LoginInfo {
    Oid role_oid;
    Oid db_oid;
    bool superuser;
    const char *role_name;
    const char *db_name;
    const char *client_addr;
    const char *application_name;
    const Oid *priority_roles;  // roles named in poolgov.priority_roles
    int n_priority_roles;
    // role_oid first, then every role it belongs to (login_closure).
    const Oid *closure;
    int n_closure;
};

// The membership closure of role: from the shared cache (under
// closure_lock, not the main lock), else walked through the syscache and
// remembered. palloc'd.
int login_closure(Oid role, Oid **out);

// Decides and, unless refused, claims this backend's slot and registers the
// exit callbacks that release it, under the main lock taken once. Refusals
// are counted here; the caller reports them. Never errors while holding the
// lock. rule_copy receives the refusing rule (LimitKind::Budget), for the
// message.
LoginDecision claim_connection(const LoginInfo &login, const LoginPolicy &policy,
                               BudgetRule *rule_copy);

// The same decision with no claim and no count (poolgov.check_login).
LoginDecision peek_login(const LoginInfo &login, const LoginPolicy &policy, BudgetRule *rule_copy);

// What a login decision needs besides the login itself, as the auth hook
// builds it. extra_procs: process slots the login does not hold yet (1 for
// check_login, whose login would take one; 0 at authentication).
LoginPolicy login_policy(Oid role, int extra_procs);
// OIDs of the roles named in poolgov.priority_roles (palloc'd).
int priority_role_oids(Oid **out);

// Under the main lock held exclusively: takes connections whose owners
// exited out of the live counts (see connection.cpp).
void drain_exits();

// Makes cached membership closures stale when pg_auth_members changes.
void membership_cache_install();
uint64_t membership_generation();

// The role and every role it is a member of, directly or not (palloc'd).
int role_closure(Oid role, Oid **out);

// Counts of entries for the auth-failure path (role may be unknown).
void count_auth_failure(Oid role_oid, const char *role_name);
void count_breaker_refusal(Oid role_oid, const char *role_name);

bool role_has_connections(uint32_t oid, const void *);
bool database_has_connections(uint32_t oid, const void *);

}  // namespace poolgov::pg
