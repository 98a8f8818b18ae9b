// Connection budgets and the login decision.
//
// A *budget rule* caps the connections of a role, optionally in one database.
// A rule on role R counts every connection whose login role is R or a member
// of R (transitively), so a rule on a group role caps the sum over its
// members. All rules that apply to a login must have room; the login is
// refused by the first one that has none (the tightest, see decide_login).
//
// The decision is pure: it reads the rules, their live counts and the other
// live counts, which the caller keeps still (the main lock, held exclusively
// from the decision to the claim, makes check-and-claim one atomic step). Its
// cost depends on the login's closure and the rules on those roles, not on
// the number of budgets or of connections.
#pragma once

#include "poolgov/oid_map.hpp"
#include "poolgov/slots.hpp"
#include "poolgov/text.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace poolgov {

enum class Priority : uint8_t { Low = 0, Normal = 1, High = 2 };
enum class EnforceMode : int { Off = 0, Warn = 1, On = 2 };

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
static_assert(std::is_trivially_copyable_v<BudgetRule>);  // in shared memory

// A budget set: the rules (in the order of poolgov.budgets), an index of
// them by role OID, and the live connections each rule counts. Plain data
// over arrays the owner provides (shared memory, palloc, the heap): attach
// them with budget_set_attach; copies for views use budget_set_copy.
//
// Lookups: the rules on role R are by_role[p], by_role[p + 1], ... from
// p = index[R] while their role_oid is R. So a login looks up only the roles
// of its closure, never the whole set.
struct BudgetSet {
    uint64_t generation;  // bumped on every install
    uint32_t count;
    uint32_t capacity;    // poolgov.max_budgets
    BudgetRule *rules;    // [capacity]
    uint32_t *by_role;    // [capacity] rule numbers, those of one role adjacent
    int32_t *live;        // [capacity] connections each rule counts now
    OidMap index;         // role OID -> first position in by_role
};
static_assert(std::is_trivially_copyable_v<BudgetSet>);  // in shared memory

// Bytes of the arrays of a set of this capacity (one block).
size_t budget_set_bytes(uint32_t capacity);
// Points the set at `block` (budget_set_bytes(capacity), aligned for 8
// bytes) and empties it.
void budget_set_attach(BudgetSet &s, void *block, uint32_t capacity);
// Rebuilds by_role and the index from rules[0..count) (n log n; outside the
// lock) and zeroes the live counts.
void budget_set_index(BudgetSet &s);
// Copies rules, index and live counts; dst has src's capacity.
void budget_set_copy(BudgetSet &dst, const BudgetSet &src);

// Calls f(rule number) for each rule on `role`.
template <class F>
void for_each_rule_of(const BudgetSet &s, uint32_t role, F f)
{
    const uint32_t *first = oid_map_find(s.index, role);
    if (first == nullptr)
        return;
    for (uint32_t p = *first; p < s.count && s.rules[s.by_role[p]].role_oid == role; ++p)
        f(s.by_role[p]);
}

// Calls f(rule number) for each rule that counts a connection of this
// closure (each role once) in database db_oid.
template <class F>
void for_each_applying_rule(const BudgetSet &s, const uint32_t *closure, int n, uint32_t db_oid,
                            F f)
{
    for (int i = 0; i < n; ++i)
        for_each_rule_of(s, closure[i], [&](uint32_t r) {
            if (s.rules[r].db_oid == 0 || s.rules[r].db_oid == db_oid)
                f(r);
        });
}

// Adds delta to the live count of every rule that counts this connection
// (its whole closure, in the slot and the member pool).
void budget_set_count(BudgetSet &s, const ConnSlot &slot, const MemberPool &pool, int delta);

// The rule on (role, db_oid) exactly (db_oid 0: the rule for every
// database), or -1.
int find_rule(const BudgetSet &s, uint32_t role, uint32_t db_oid);

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
    const uint32_t *member_of;  // the whole closure, role_oid first, no duplicates
    int n_member_of;
};

// Live connection counts the decision reads besides the rules' own (kept
// up to date at claim and exit under the main lock).
struct LiveCounts {
    int total;       // every tracked connection
    int role;        // connections whose login role is the request's
    int overdrafts;  // superuser connections admitted on an overdraft
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
                           const LiveCounts &live, const LoginPolicy &policy);

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
