#include "poolgov/reclaim.hpp"

#include "poolgov/format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "poolgov/no_postgres.hpp"

namespace poolgov {

namespace {

constexpr int64_t kUsPerMs = 1000;

int64_t idle_ms_of(const ReclaimCandidate &c, int64_t now_us)
{
    return now_us > c.idle_since_us ? (now_us - c.idle_since_us) / kUsPerMs : 0;
}

// "1.5 s", "90 s", "12 min 5 s": what a person reads in a message.
std::string human(int64_t ms)
{
    if (ms < 10000)
        return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
    int64_t s = ms / 1000;
    if (s < 120)
        return fmt::format("{} s", s);
    if (s < 7200)
        return fmt::format("{} min {} s", s / 60, s % 60);
    return fmt::format("{} h {} min", s / 3600, (s % 3600) / 60);
}

}  // namespace

const char *reclaim_rule_name(ReclaimRule r)
{
    switch (r) {
    case ReclaimRule::Role:
        return "role idle_timeout";
    case ReclaimRule::Global:
        return "poolgov.idle_timeout";
    case ReclaimRule::Pressure:
        return "pool pressure";
    case ReclaimRule::Manual:
        return "poolgov.terminate_idle()";
    case ReclaimRule::Budget:
        return "poolgov.enforce_budget()";
    case ReclaimRule::None:
        break;
    }
    return "none";
}

int pressure_limit(int pct, int usable)
{
    if (usable < 1)
        usable = 1;
    int64_t limit = (static_cast<int64_t>(pct) * usable + 99) / 100;
    return static_cast<int>(std::max<int64_t>(limit, 1));
}

int reclaim_plan(const ReclaimCandidate *c, int n, const ReclaimSettings &s, int64_t now_us,
                 ReclaimOrder *out)
{
    int k = 0;
    // Timeouts: the role's own (replaces the global one), else the global.
    for (int i = 0; i < n; ++i) {
        const ReclaimCandidate &x = c[i];
        if (!x.idle || (x.superuser && s.exempt_superusers))
            continue;
        int64_t idle = idle_ms_of(x, now_us);
        if (x.role_timeout_ms >= 0) {
            if (x.role_timeout_ms > 0 && idle >= x.role_timeout_ms)
                out[k++] = ReclaimOrder{x.index, ReclaimRule::Role, x.role_timeout_ms, idle,
                                        x.priority_class};
        } else if (s.global_timeout_ms > 0 && idle >= s.global_timeout_ms) {
            out[k++] = ReclaimOrder{x.index, ReclaimRule::Global, s.global_timeout_ms, idle,
                                    x.priority_class};
        }
    }
    if (s.pressure_threshold_pct <= 0)
        return k;
    int limit = pressure_limit(s.pressure_threshold_pct, s.usable_connections);
    int left = s.connections - k;
    if (left < limit)
        return k;
    int need = left - limit + 1;  // back under the threshold
    int first = k;
    for (int i = 0; i < n; ++i) {
        const ReclaimCandidate &x = c[i];
        if (!x.idle || x.superuser || x.priority)
            continue;
        int64_t idle = idle_ms_of(x, now_us);
        // Over a timeout already (ordered above): not a second time.
        bool timed_out = (x.role_timeout_ms > 0 && idle >= x.role_timeout_ms) ||
                         (x.role_timeout_ms < 0 && s.global_timeout_ms > 0 &&
                          idle >= s.global_timeout_ms && !(x.superuser && s.exempt_superusers));
        if (timed_out || idle < s.pressure_idle_timeout_ms)
            continue;
        out[k++] = ReclaimOrder{x.index, ReclaimRule::Pressure, s.pressure_idle_timeout_ms, idle,
                                x.priority_class};
    }
    // Low before normal before high; longest idle first within a class.
    std::stable_sort(out + first, out + k, [](const ReclaimOrder &a, const ReclaimOrder &b) {
        if (a.priority_class != b.priority_class)
            return a.priority_class < b.priority_class;
        return a.idle_ms > b.idle_ms;
    });
    return std::min(k, first + need);
}

int budget_plan(const ReclaimCandidate *c, int n, int over, int64_t now_us, ReclaimOrder *out)
{
    if (over <= 0)
        return 0;
    int k = 0;
    for (int i = 0; i < n; ++i) {
        const ReclaimCandidate &x = c[i];
        if (x.idle)
            out[k++] = ReclaimOrder{x.index, ReclaimRule::Budget, 0, idle_ms_of(x, now_us),
                                    x.priority_class};
    }
    // Longest idle first; equal idle times in the caller's order.
    std::stable_sort(out, out + k, [](const ReclaimOrder &a, const ReclaimOrder &b) {
        return a.idle_ms > b.idle_ms;
    });
    return std::min(k, over);
}

int64_t role_idle_timeout(const BudgetSet &budgets, const uint32_t *member_of, int n_member_of,
                          uint32_t db_oid)
{
    int64_t best = -1;
    for_each_applying_rule(budgets, member_of, n_member_of, db_oid, [&](uint32_t i) {
        const BudgetRule &r = budgets.rules[i];
        if (r.idle_timeout_ms >= 0 && (best < 0 || r.idle_timeout_ms < best))
            best = r.idle_timeout_ms;
    });
    return best;
}

Priority role_priority_class(const BudgetSet &budgets, const uint32_t *member_of, int n_member_of,
                             uint32_t db_oid)
{
    bool any = false;
    Priority p = Priority::High;
    for_each_applying_rule(budgets, member_of, n_member_of, db_oid, [&](uint32_t i) {
        any = true;
        p = std::min(p, budgets.rules[i].priority);
    });
    return any ? p : Priority::Normal;
}

ReclaimText describe_reclaim(ReclaimRule rule, int64_t idle_ms, int64_t threshold_ms,
                             int pressure_threshold_pct)
{
    ReclaimText t{};
    std::string idle = human(idle_ms), limit = human(threshold_ms);
    switch (rule) {
    case ReclaimRule::Role:
        format_into(t.message,
                    "terminating connection: pg_poolgov ended this session after {} idle "
                    "(idle_timeout of its budget)",
                    idle);
        format_into(t.detail,
                    "The session was idle for {} ms; its budget in poolgov.budgets allows "
                    "{} ms ({}).",
                    idle_ms, threshold_ms, limit);
        format_into(t.hint,
                    "Reconnect when needed; the idle_timeout column of poolgov.budgets "
                    "(poolgov.set_budget) sets how long a session of this role may idle.");
        break;
    case ReclaimRule::Global:
        format_into(t.message,
                    "terminating connection: pg_poolgov ended this session after {} idle "
                    "(poolgov.idle_timeout)",
                    idle);
        format_into(t.detail, "The session was idle for {} ms; poolgov.idle_timeout is {} ms.",
                    idle_ms, threshold_ms);
        format_into(t.hint,
                    "Reconnect when needed; poolgov.idle_timeout sets how long any session "
                    "may idle (0 turns it off).");
        break;
    case ReclaimRule::Pressure:
        format_into(t.message,
                    "terminating connection: pg_poolgov ended this session after {} idle "
                    "to relieve connection pressure",
                    idle);
        format_into(t.detail,
                    "The session was idle for {} ms (poolgov.pressure_idle_timeout is {} ms) "
                    "while client connections were at or above {}% of those a normal role "
                    "may use (poolgov.pressure_threshold).",
                    idle_ms, threshold_ms, pressure_threshold_pct);
        format_into(t.hint,
                    "Use a connection pooler or fewer idle connections; "
                    "poolgov.pressure_threshold and poolgov.pressure_idle_timeout tune this.");
        break;
    case ReclaimRule::Budget:
        format_into(t.message,
                    "terminating connection: pg_poolgov ended this session after {} idle to "
                    "bring its role back under its connection budget",
                    idle);
        format_into(t.detail,
                    "The session was idle for {} ms; the budget's max_connections was "
                    "lowered below the sessions it counts, and an administrator ended the "
                    "longest idle of them with poolgov.enforce_budget().",
                    idle_ms);
        format_into(t.hint,
                    "Reconnect when needed; the budget may refuse the login while it "
                    "is full.");
        break;
    case ReclaimRule::Manual:
    case ReclaimRule::None:
        format_into(t.message,
                    "terminating connection: pg_poolgov ended this session after {} idle "
                    "(poolgov.terminate_idle)",
                    idle);
        format_into(t.detail,
                    "The session was idle for {} ms; an administrator ended sessions idle "
                    "longer than {} ms with poolgov.terminate_idle().",
                    idle_ms, threshold_ms);
        format_into(t.hint, "Reconnect when needed.");
        break;
    }
    return t;
}

}  // namespace poolgov
