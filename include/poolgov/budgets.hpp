// Connection budgets and the login decision.
//
// A *budget rule* caps the connections of a role, optionally in one database
// and/or from one client address range. A rule on role R counts every
// connection whose login role is R or a member of R (transitively), so a
// rule on a group role caps the sum over its members. A rule with an address
// and no role (role_oid 0) counts every role's connections from there.
//
// Address rules (docs/budgets.md, "Budgets per client address") have two
// scopes:
//   - AddrScope::Range: one count for the whole range ("at most 50 from
//     10.1.2.0/24": the 50 are shared by every address in it);
//   - AddrScope::EachAddress: a count per address inside the range ("role
//     app at most 20 from any one address": client_addr 'all', per address).
//
// All rules that apply to a login must have room; the login is refused by
// the tightest one that has none. Which rules apply, which one refuses,
// which one a view shows as governing, and which rule's timeouts hold, are
// all answered by one function, govern_login; decide_login and the views
// ask it.
//
// The decision is pure: it reads the rules, their live counts and the other
// live counts, which the caller keeps still (the main lock, held exclusively
// from the decision to the claim, makes check-and-claim one atomic step). Its
// cost depends on the login's closure and the rules on those roles, not on
// the number of budgets or of connections.
#pragma once

#include "poolgov/client_addr.hpp"
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

enum class AddrScope : uint8_t {
    Range = 0,        // one count for every address of the range together
    EachAddress = 1,  // a count for each address of the range by itself
};

struct BudgetRule {
    uint32_t role_oid;        // 0: every role (only with an address)
    uint32_t db_oid;          // 0: every database
    int32_t max_connections;  // kUnlimited: no cap
    int32_t max_active;       // kUnlimited: no cap (stored for admission control)
    int64_t idle_timeout_ms;  // -1: none (stored for the governor)
    // Per-budget timeouts, milliseconds; 0: not set (the global setting
    // holds). The most specific applying rule that sets one wins.
    int64_t admission_timeout_ms;
    int64_t idle_in_transaction_timeout_ms;
    Priority priority;
    AddrScope addr_scope;      // meaningful when addr.family != None
    ClientAddr addr;           // family None: the rule does not look at addresses
    char role_name[kNameLen];  // "" when role_oid == 0
    char db_name[kNameLen];    // "" when db_oid == 0
    char addr_text[kAddrLen];  // the address as in poolgov.budgets, "" when none
};
static_assert(std::is_trivially_copyable_v<BudgetRule>);  // in shared memory

// Live counts of per-address rules: (rule, address) -> connections, an
// open-addressing table with backward-shift deletion (as OidMap), so a
// lookup walks only its own run.
struct AddrCountEntry {
    uint32_t rule_plus1;  // 0: empty
    int32_t count;
    ClientAddr addr;
};
static_assert(std::is_trivially_copyable_v<AddrCountEntry>);  // in shared memory

// A budget set: the rules (in the order of poolgov.budgets), indexes of them
// by role OID and by client address, and the live connections each rule
// counts. Plain data over arrays the owner provides (shared memory, palloc,
// the heap): attach them with budget_set_attach; copies for views use
// budget_set_copy.
//
// Lookups never scan the set:
//   - rules without an address: the rules on role R are by_role[p],
//     by_role[p + 1], ... from p = index[R] while their role_oid is R;
//   - rules with an address: by_addr[0..n_addr) sorted by (address range,
//     role OID). A login from address A looks, for each prefix length that
//     some rule of A's family uses (prefixes_v4/v6, at most 33 or 129), at
//     the range A masked to that length (binary search), and inside it at
//     the roles of its closure and role 0 (binary search each). The cost
//     grows with the prefix lengths in use and log(rules), not with the
//     number of address rules.
struct BudgetSet {
    uint64_t generation;  // bumped on every install
    uint32_t count;
    uint32_t capacity;        // poolgov.max_budgets
    BudgetRule *rules;        // [capacity]
    uint32_t *by_role;        // [capacity] rules without address, those of one role adjacent
    int32_t *live;            // [capacity] connections each rule counts now (a
                              // per-address rule: the sum over its addresses)
    OidMap index;             // role OID -> first position in by_role
    uint32_t n_role;          // rules in by_role
    uint32_t n_addr;          // rules in by_addr
    uint32_t *by_addr;        // [capacity] rules with an address, sorted (see above)
    uint64_t prefixes_v4[1];  // bit p: an IPv4 rule of prefix length p
    uint64_t prefixes_v6[3];  // bit p: an IPv6 rule of prefix length p
    uint8_t has_local;        // some rule names 'local'
    uint8_t has_all;          // some rule names 'all'
    uint32_t pair_capacity;   // a power of two
    uint32_t pairs_used;
    uint64_t pairs_overflowed;  // connections a per-address rule could not count (table full)
    AddrCountEntry *pairs;      // [pair_capacity] per-address live counts
};
static_assert(std::is_trivially_copyable_v<BudgetSet>);  // in shared memory

// Bytes of the arrays of a set of this capacity (one block). pair_slots:
// how many (per-address rule, address) counts it holds at most (0: as many
// as the capacity); a connection takes one for each per-address rule that
// counts it.
size_t budget_set_bytes(uint32_t capacity, uint32_t pair_slots = 0);
// Points the set at `block` (budget_set_bytes(capacity, pair_slots),
// aligned for 8 bytes) and empties it.
void budget_set_attach(BudgetSet &s, void *block, uint32_t capacity, uint32_t pair_slots = 0);
// Rebuilds by_role, by_addr and the indexes from rules[0..count) (n log n;
// outside the lock) and zeroes the live counts.
void budget_set_index(BudgetSet &s);
// Zeroes the live counts (before a recount from the slots).
void budget_set_zero_counts(BudgetSet &s);
// Copies rules, indexes and live counts; dst has src's capacity (its
// per-address table may differ in size, then it holds what fits).
void budget_set_copy(BudgetSet &dst, const BudgetSet &src);

// Calls f(rule number) for each rule on `role` that names no address.
template <class F>
void for_each_rule_of(const BudgetSet &s, uint32_t role, F f)
{
    const uint32_t *first = oid_map_find(s.index, role);
    if (first == nullptr)
        return;
    for (uint32_t p = *first; p < s.n_role && s.rules[s.by_role[p]].role_oid == role; ++p)
        f(s.by_role[p]);
}

// The positions [lo, hi) in by_addr of the rules on exactly this range
// (and, with role != kAnyRole, this role).
constexpr uint32_t kAnyRole = 0xFFFFFFFFu;
void addr_rules_at(const BudgetSet &s, const ClientAddr &range, uint32_t role, uint32_t &lo,
                   uint32_t &hi);

// Calls f(range) for each address range that some rule names and that holds
// `addr` (a login's address; None: no range).
template <class F>
void for_each_range_holding(const BudgetSet &s, const ClientAddr &addr, F f)
{
    if (s.n_addr == 0 || addr.family == AddrFamily::None)
        return;
    if (s.has_all)
        f(ClientAddr{AddrFamily::All, 0, {}});
    if (addr.family == AddrFamily::Local) {
        if (s.has_local)
            f(kLocalAddr);
        return;
    }
    const uint64_t *bits = addr.family == AddrFamily::V4 ? s.prefixes_v4 : s.prefixes_v6;
    int max = addr_bits(addr.family);
    for (int p = 0; p <= max; ++p)
        if (bits[p / 64] >> (p % 64) & 1)
            f(addr_mask(addr, p));
}

// Calls f(rule number) for each rule that counts a connection of role
// login_role with these roles (each once; `roles(g)` calls g(role) for the
// closure) in database db_oid (0: only rules for every database) from
// address addr (None: only rules without an address).
template <class Roles, class F>
void for_each_rule_counting(const BudgetSet &s, Roles roles, uint32_t db_oid,
                            const ClientAddr &addr, F f)
{
    auto db_ok = [&](uint32_t r) { return s.rules[r].db_oid == 0 || s.rules[r].db_oid == db_oid; };
    roles([&](uint32_t role) {
        for_each_rule_of(s, role, [&](uint32_t r) {
            if (db_ok(r))
                f(r);
        });
    });
    for_each_range_holding(s, addr, [&](const ClientAddr &range) {
        uint32_t lo, hi;
        addr_rules_at(s, range, kAnyRole, lo, hi);
        if (lo == hi)
            return;
        auto at_role = [&](uint32_t role) {
            uint32_t a, b;
            addr_rules_at(s, range, role, a, b);
            for (uint32_t p = a; p < b; ++p)
                if (db_ok(s.by_addr[p]))
                    f(s.by_addr[p]);
        };
        at_role(0);
        roles(at_role);
    });
}

// Calls f(rule number) for each rule that counts a connection of this
// closure (each role once, closure[0] the login role) in database db_oid
// from address addr (default: rules without an address only).
template <class F>
void for_each_applying_rule(const BudgetSet &s, const uint32_t *closure, int n, uint32_t db_oid,
                            const ClientAddr &addr, F f)
{
    for_each_rule_counting(
        s,
        [&](auto g) {
            for (int i = 0; i < n; ++i)
                g(closure[i]);
        },
        db_oid, addr, f);
}
template <class F>
void for_each_applying_rule(const BudgetSet &s, const uint32_t *closure, int n, uint32_t db_oid,
                            F f)
{
    for_each_applying_rule(s, closure, n, db_oid, kNoAddr, f);
}

// Adds delta to the live count of every rule that counts this connection
// (its whole closure, in the slot and the member pool; its address).
void budget_set_count(BudgetSet &s, const ConnSlot &slot, const MemberPool &pool, int delta);

// The connections a rule counts for a login from addr: the per-address
// count of (rule, addr) for an EachAddress rule, else live[rule].
int rule_count(const BudgetSet &s, uint32_t rule, const ClientAddr &addr);

// The rule on (role, db_oid) exactly (db_oid 0: the rule for every
// database) without an address, or -1.
int find_rule(const BudgetSet &s, uint32_t role, uint32_t db_oid);
// The rule with the key of `key` (role, database, address, scope), or -1.
int find_same_rule(const BudgetSet &s, const BudgetRule &key);

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
    bool listed_priority;       // named (directly or via membership) in poolgov.priority_roles
    const uint32_t *member_of;  // the whole closure, role_oid first, no duplicates
    int n_member_of;
    ClientAddr addr = kLocalAddr;  // the client's address (Local: a unix socket)
};

// How specific a rule is for a login of login_role; the more specific rule
// wins every tie, everywhere (refusals, views, timeouts). Compared in this
// order: a rule for one database over a rule for every database; a rule on
// the login role itself over one on a group, over one on no role (address
// only); then by address: per address (one address) or 'local' over a range,
// a longer prefix over a shorter one, any address rule over 'all', 'all'
// over none. Ties left after that go to the rule first in poolgov.budgets
// order (role name, database, address).
int rule_specificity(const BudgetRule &r, uint32_t login_role);

// Which rules govern one login (or one role, for the views): the one
// function that everything asks, so a view, a check and a refusal can never
// disagree.
struct Governance {
    int applying;  // rules that count this login
    int refusing;  // the tightest rule without room (the one a refusal names), or -1
    int refusing_current;
    int tightest;  // the tightest capped rule, room or not (ties: specificity,
                   // order); the most specific rule when none is capped; -1 when none apply
    int tightest_current;
    bool own_rule;                         // an applying rule names the login role itself
    bool high_priority;                    // an applying rule has priority high
    bool low_priority;                     // an applying rule has priority low
    int admission_timeout_rule;            // the most specific rule that sets it, or -1
    int idle_in_transaction_timeout_rule;  // likewise
    int64_t admission_timeout_ms;          // 0: not set (the global setting holds)
    int64_t idle_in_transaction_timeout_ms;

    // What a view shows as the rule that governs: the refusing rule while
    // there is one, else the tightest.
    int governing() const { return refusing >= 0 ? refusing : tightest; }
    int governing_current() const { return refusing >= 0 ? refusing_current : tightest_current; }
};

// The rules for a login of role_oid with this closure (role_oid first) in
// database db_oid from address addr. For a role-wide answer (the views'
// poolgov.roles), db_oid 0 and addr kNoAddr: only rules for every database
// and without an address.
Governance govern_login(const BudgetSet &budgets, uint32_t role_oid, const uint32_t *closure,
                        int n_closure, uint32_t db_oid, const ClientAddr &addr);

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
    bool priority;  // may use the reserved slots
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

// True when some rule without an address names this role itself (for
// every database or for db).
bool has_own_rule(const BudgetSet &budgets, uint32_t role_oid, uint32_t db_oid);

// What kind of rule decides: "role", "group", "database", "address",
// "default", "reserve", or "" (LimitKind::None).
const char *decision_kind(const LoginDecision &d, const BudgetRule *rule, uint32_t login_role);

// The message texts of a refusal (or of a warning in dry-run mode), with
// the SQLSTATE the refusal carries (53300 too_many_connections).
struct RefusalText {
    char sqlstate[6];
    char message[kDetailLen];
    char detail[kDetailLen];
    char hint[kDetailLen];
};
// Who is logging in, for the texts.
struct LoginNames {
    const char *role;
    const char *database;
    const char *client_addr;  // numeric text, "" or null for a unix socket
};
// `rule` is the rule d.rule points at (LimitKind::Budget), copied by the caller.
RefusalText describe_refusal(const LoginDecision &d, const BudgetRule *rule,
                             const LoginNames &login);
RefusalText describe_refusal(const LoginDecision &d, const BudgetRule *rule, const char *role_name);

// A rule as messages name it: "role r in database d from client_addr a",
// with only the parts the rule has.
struct RuleName {
    char text[kDetailLen];
};
RuleName describe_rule(const BudgetRule &r);

// The LOG text when a superuser is admitted on an overdraft.
RefusalText describe_overdraft(const LoginDecision &d, const BudgetRule *rule,
                               const char *role_name, int superuser_reserve);

const char *priority_name(Priority p);
bool parse_priority(const char *text, Priority &out);

}  // namespace poolgov
