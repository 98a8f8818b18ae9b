// Idle reclamation policy: which idle sessions are over which rule, and in
// which order the governor ends idle sessions under pool pressure.
//
// Vocabulary: a *candidate* is a client connection (it holds a slot) with
// its state as PostgreSQL's backend status array showed it; an *order* is
// the decision to ask one candidate to end itself, with the rule and the
// idle threshold that the victim checks again when it receives the request
// (see src/pg/session/idle_reclaim.cpp). Rules, most specific first:
//   role      the tightest idle_timeout of the budgets that apply to the
//             session (a rule on a group covers its members; a per-database
//             rule only in that database); replaces the global timeout
//   global    poolgov.idle_timeout (0 = off)
//   pressure  client connections at or over poolgov.pressure_threshold % of
//             the connections a normal role may use: sessions idle longer
//             than poolgov.pressure_idle_timeout, low priority before normal
//             before high, longest idle first, until utilization is back
//             under the threshold. Never superusers or priority sessions.
//   manual    poolgov.terminate_idle()
//   budget    poolgov.enforce_budget(): a budget lowered below the sessions
//             it counts; the longest idle of them, until it is met
// Only sessions idle outside a transaction are candidates; idle in
// transaction is left to idle_in_transaction_session_timeout and to
// admission control (poolgov.admission_idle_timeout).
#pragma once

#include "poolgov/budgets.hpp"
#include "poolgov/text.hpp"

#include <cstdint>

namespace poolgov {

enum class ReclaimRule : uint8_t {
    None = 0,
    Role = 1,
    Global = 2,
    Pressure = 3,
    Manual = 4,
    Budget = 5
};

const char *reclaim_rule_name(ReclaimRule r);

struct ReclaimCandidate {
    int index;              // caller's handle (slot index)
    bool idle;              // state "idle" (not in a transaction, not running)
    int64_t idle_since_us;  // when it became idle (PostgreSQL microseconds)
    bool superuser;
    bool priority;            // may use the reserved slots (never ended under pressure)
    Priority priority_class;  // from its budgets: low, normal, high
    int64_t role_timeout_ms;  // tightest budget idle_timeout, -1: none
};

struct ReclaimSettings {
    int64_t global_timeout_ms;   // 0: off
    int pressure_threshold_pct;  // 0: off
    int64_t pressure_idle_timeout_ms;
    int usable_connections;  // max_connections - superuser and priority reserves
    int connections;         // client connections now
    bool exempt_superusers;  // superusers are never ended by the timeouts
};

struct ReclaimOrder {
    int index;
    ReclaimRule rule;
    int64_t threshold_ms;  // the victim must still have been idle this long
    int64_t idle_ms;       // as the decision saw it
    Priority priority_class;
};

// Connections at which pressure starts: ceil(pct * usable / 100), at least 1.
int pressure_limit(int pressure_threshold_pct, int usable_connections);

// Decides which candidates to end at `now_us`: first every session over its
// role or the global timeout, then, if the connections left are still at or
// over the pressure limit, pressure victims until they would be under it.
// `out` has room for n orders; returns how many it wrote.
int reclaim_plan(const ReclaimCandidate *c, int n, const ReclaimSettings &s, int64_t now_us,
                 ReclaimOrder *out);

// A budget counts `over` sessions more than its max_connections (the
// candidates are the sessions it counts, superusers already left out by the
// caller when they may not be ended): the `over` idle ones that have idled
// longest, never one that is active or in a transaction. Fewer when fewer
// are idle. `out` has room for n orders; returns how many it wrote.
int budget_plan(const ReclaimCandidate *c, int n, int over, int64_t now_us, ReclaimOrder *out);

// The tightest idle_timeout of the rules that apply (-1: none).
int64_t role_idle_timeout(const BudgetSet &budgets, const uint32_t *member_of, int n_member_of,
                          uint32_t db_oid);
// The lowest priority class among the rules that apply (Normal when none).
Priority role_priority_class(const BudgetSet &budgets, const uint32_t *member_of, int n_member_of,
                             uint32_t db_oid);

// The text of the FATAL the client sees, and of the LOG line / event.
struct ReclaimText {
    char message[kDetailLen];
    char detail[kDetailLen];
    char hint[kDetailLen];
};
ReclaimText describe_reclaim(ReclaimRule rule, int64_t idle_ms, int64_t threshold_ms,
                             int pressure_threshold_pct);

}  // namespace poolgov
