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

struct LoginInfo {
    Oid role_oid;
    Oid db_oid;
    bool superuser;
    bool listed_priority;
    const char *role_name;
    const char *db_name;
    const char *client_addr;
    const char *application_name;
    const Oid *closure;  // role_oid first, then every role it belongs to
    int n_closure;
};

// Decides and, unless refused, claims this backend's slot and registers the
// exit callback that releases it. Refusals are counted here; the caller
// reports them. Never errors while holding the lock.
// rule_copy receives the refusing rule (LimitKind::Budget), for the message.
LoginDecision claim_connection(const LoginInfo &login, const LoginPolicy &policy,
                               BudgetRule *rule_copy);

// The role and every role it is a member of, directly or not (palloc'd).
int role_closure(Oid role, Oid **out);

// Counts of entries for the auth-failure path (role may be unknown).
void count_auth_failure(Oid role_oid, const char *role_name);
void count_breaker_refusal(Oid role_oid, const char *role_name);

bool role_has_connections(uint32_t oid, const void *);
bool database_has_connections(uint32_t oid, const void *);

}  // namespace poolgov::pg
