// Connection budgets and the login decision.
//
// A *budget rule* caps the connections of a role, optionally in one database.
// A rule on role R counts every connection whose login role is R or a member
// of R (transitively), so a rule on a group role caps the sum over its
// members. All rules that apply to a login must have room; the login is
// refused by the first one that has none (the tightest, see decide_login).
//
// The decision is pure: it reads the rules and the live slots, which the
// caller keeps still (the main lock, held exclusively from the decision to the
// claim, makes check-and-claim one atomic step).
#pragma once

#include "poolgov/slots.hpp"
#include "poolgov/text.hpp"

#include <cstdint>

namespace poolgov {

enum class Priority : uint8_t { Low = 0, Normal = 1, High = 2 };
enum class EnforceMode : int { Off = 0, Warn = 1, On = 2 };

constexpr int kMaxBudgets = 256;
constexpr int32_t kUnlimited = -1;

struct BudgetRule {
    uint32_t role_oid;
    uint32_t db_oid;           // 0: every database
    int32_t max_connections;   // kUnlimited: no cap
    int32_t max_active;        // kUnlimited: no cap (stored for admission control)
    int64_t idle_timeout_ms;   // -1: none (stored for the governor)
    Priority priority;
    char role_name[kNameLen];
    char db_name[kNameLen];    // "" when db_oid == 0
};

struct BudgetSet {
    uint64_t generation;  // bumped on every install
    uint32_t count;
    BudgetRule rules[kMaxBudgets];
};

inline bool rule_applies(const BudgetRule &r, const uint32_t *member_of, int n_member_of,
                         uint32_t db_oid)
{
    if (r.db_oid != 0 && r.db_oid != db_oid)
        return false;
    for (int i = 0; i < n_member_of; ++i)
        if (member_of[i] == r.role_oid)
            return true;
    return false;
}

struct LoginRequest {
    uint32_t role_oid;
    uint32_t db_oid;
    bool superuser;
    bool listed_priority;  // named (directly or via membership) in poolgov.priority_roles
    const uint32_t *member_of;
    int n_member_of;
};

struct LoginPolicy {
    EnforceMode mode;
    bool exempt_superusers;
    int default_budget;      // -1: unlimited
    bool reserve_exhausted;  // only reserved slots are free (computed by the caller)
    int reserve_limit;       // slots open to non-priority roles, for the message
    // PostgreSQL's superuser_reserved_connections: with exempt_superusers off,
    // a superuser that a budget would refuse is admitted while fewer than this
    // many connections hold such an overdraft (0: no overdraft).
    int superuser_reserve;
};

enum class Verdict { Allow, Warn, Refuse };
enum class LimitKind { None, Budget, DefaultBudget, Reserve };

struct LoginDecision {
    Verdict verdict;
    LimitKind kind;  // what would refuse (None when nothing would)
    int rule;        // index into BudgetSet::rules for LimitKind::Budget
    int current;     // connections already counted against the limit
    int limit;
    bool priority;   // may use the reserved slots
    // A superuser admitted over the budget (kind, current, limit) from the
    // superuser reserve; overdrafts_in_use counts the others, before this one.
    bool overdraft;
    int overdrafts_in_use;
};

// Superuser overdraft (poolgov.exempt_superusers = off, enforce = on): a
// superuser that a budget or poolgov.default_budget would refuse is admitted
// anyway while fewer than policy.superuser_reserve live connections hold an
// overdraft (ConnSlot::overdraft); it then holds one until it ends. So
// PostgreSQL's superuser_reserved_connections stay reachable whatever the
// budgets say.
LoginDecision decide_login(const LoginRequest &req, const BudgetSet &budgets,
                           const SlotsView &slots, const LoginPolicy &policy);

// True when some rule names this role itself (for every database or for db).
bool has_own_rule(const BudgetSet &budgets, uint32_t role_oid, uint32_t db_oid);

// The message texts of a refusal (or of a warning in dry-run mode).
struct RefusalText {
    char message[kDetailLen];
    char detail[kDetailLen];
    char hint[kDetailLen];
};
// `rule` is the rule d.rule points at (LimitKind::Budget), copied by the caller.
RefusalText describe_refusal(const LoginDecision &d, const BudgetRule *rule,
                             const char *role_name);

// The LOG text when a superuser is admitted on an overdraft.
RefusalText describe_overdraft(const LoginDecision &d, const BudgetRule *rule,
                               const char *role_name, int superuser_reserve);

const char *priority_name(Priority p);
bool parse_priority(const char *text, Priority &out);

}  // namespace poolgov
