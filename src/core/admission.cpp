#include "poolgov/admission.hpp"

#include "poolgov/no_postgres.hpp"

#include <algorithm>

namespace poolgov {

namespace {

constexpr uint32_t kQueued = static_cast<uint32_t>(AdmState::Queued);
constexpr uint32_t kRunning = static_cast<uint32_t>(AdmState::Running);
constexpr uint32_t kNone = static_cast<uint32_t>(AdmState::None);
constexpr uint8_t kHeavyNone = static_cast<uint8_t>(HeavyState::None);
constexpr uint8_t kHeavyQueued = static_cast<uint8_t>(HeavyState::Queued);
constexpr uint8_t kHeavyRunning = static_cast<uint8_t>(HeavyState::Running);
constexpr int kTopPriority = 2;

int effective_priority(const AdmissionEntry &e, const AdmissionLimits &lim, int64_t now)
{
    int p = e.priority;
    if (lim.aging_us > 0 && e.queued_since > 0 && now > e.queued_since)
        p += static_cast<int>(std::min<int64_t>((now - e.queued_since) / lim.aging_us, 2));
    return std::min(p, kTopPriority);
}

// a outranks b.
bool outranks(const AdmissionEntry &a, const AdmissionEntry &b, const AdmissionLimits &lim,
              int64_t now)
{
    int pa = effective_priority(a, lim, now), pb = effective_priority(b, lim, now);
    return pa != pb ? pa > pb : a.ticket < b.ticket;
}

bool caps_have_room(AdmissionTable t, const AdmissionEntry &e)
{
    for (int c = 0; c < e.n_caps; ++c)
        if (admission_cap_usage(t, e.cap_role[c]) >= e.cap_limit[c])
            return false;
    return true;
}

bool heavy_has_room(AdmissionTable t, const AdmissionLimits &lim)
{
    return lim.max_heavy > 0 &&
           t.counters->heavy_running < static_cast<uint32_t>(lim.max_heavy);
}

// Could the waiter take a slot now?
bool eligible(AdmissionTable t, const AdmissionEntry &e, const AdmissionLimits &lim)
{
    if (e.state == kRunning)  // waits for a heavy slot only
        return e.heavy == kHeavyQueued && heavy_has_room(t, lim);
    if (e.state != kQueued)
        return false;
    if (t.counters->running >= static_cast<uint32_t>(lim.max_active))
        return false;
    if (e.heavy == kHeavyQueued && !heavy_has_room(t, lim))
        return false;
    return caps_have_room(t, e);
}

void record_wait(AdmissionCounters &c, const AdmissionEntry &e, int64_t now)
{
    uint64_t waited = now > e.queued_since ? static_cast<uint64_t>(now - e.queued_since) : 0;
    c.waited++;
    c.wait_total_us += waited;
    c.wait_max_us = std::max(c.wait_max_us, waited);
}

// A waiter gets what it waits for.
void grant(AdmissionTable t, AdmissionEntry &e, int64_t now)
{
    AdmissionCounters &c = *t.counters;
    c.queued--;
    record_wait(c, e, now);
    if (e.state == kQueued) {
        e.state = kRunning;
        e.running_since = now;
        c.running++;
        c.admitted++;
    }
    if (e.heavy == kHeavyQueued) {
        e.heavy = kHeavyRunning;
        c.heavy_running++;
    }
    e.queued_since = 0;
}

void enqueue(AdmissionTable t, AdmissionEntry &e, int64_t now)
{
    e.ticket = ++t.counters->next_ticket;
    e.queued_since = now;
    t.counters->queued++;
}

// The best-ranked waiter other than `self` that is eligible now, or -1.
int best_eligible(AdmissionTable t, const AdmissionLimits &lim, int64_t now, int self)
{
    int best = -1;
    for (int i = 0; i < t.n; ++i) {
        const AdmissionEntry &e = t.entries[i];
        if (i == self || !admission_waiting(e) || !eligible(t, e, lim))
            continue;
        if (best < 0 || outranks(e, t.entries[best], lim, now))
            best = i;
    }
    return best;
}

// Would a newcomer with this rank be served before every eligible waiter?
bool first_in_line(AdmissionTable t, int self, const AdmissionLimits &lim, int64_t now)
{
    int best = best_eligible(t, lim, now, self);
    return best < 0 || outranks(t.entries[self], t.entries[best], lim, now);
}

}  // namespace

int admission_cap_usage(AdmissionTable t, uint32_t role)
{
    int n = 0;
    for (int i = 0; i < t.n; ++i) {
        const AdmissionEntry &e = t.entries[i];
        if (e.state != kRunning)
            continue;
        for (int c = 0; c < e.n_caps; ++c)
            if (e.cap_role[c] == role) {
                n++;
                break;
            }
    }
    return n;
}

bool admission_enter(AdmissionTable t, int i, const AdmissionRequest &req,
                     const AdmissionLimits &lim, int64_t now)
{
    AdmissionEntry &e = t.entries[i];
    e = AdmissionEntry{};
    e.priority = req.priority;
    e.n_caps = static_cast<uint8_t>(std::min<int>(req.n_caps, kMaxAdmissionCaps));
    for (int c = 0; c < e.n_caps; ++c) {
        e.cap_role[c] = req.cap_role[c];
        e.cap_limit[c] = req.cap_limit[c];
    }
    // Rank as a waiter would, then run at once if nobody better could.
    e.state = kQueued;
    e.heavy = req.heavy ? kHeavyQueued : kHeavyNone;
    e.ticket = t.counters->next_ticket + 1;
    e.queued_since = now;
    // Nobody waiting (the common case) means nobody to be fair to: no scan.
    if (eligible(t, e, lim) && (t.counters->queued == 0 || first_in_line(t, i, lim, now))) {
        t.counters->next_ticket++;
        e.state = kRunning;
        e.running_since = now;
        e.queued_since = 0;
        t.counters->running++;
        t.counters->admitted++;
        if (req.heavy) {
            e.heavy = kHeavyRunning;
            t.counters->heavy_running++;
        }
        return true;
    }
    enqueue(t, e, now);
    return false;
}

bool admission_enter_heavy(AdmissionTable t, int i, const AdmissionLimits &lim, int64_t now)
{
    AdmissionEntry &e = t.entries[i];
    if (e.state != kRunning || e.heavy != kHeavyNone)
        return e.heavy == kHeavyRunning;
    e.heavy = kHeavyQueued;
    e.ticket = t.counters->next_ticket + 1;
    e.queued_since = now;
    if (heavy_has_room(t, lim) && (t.counters->queued == 0 || first_in_line(t, i, lim, now))) {
        t.counters->next_ticket++;
        e.heavy = kHeavyRunning;
        e.queued_since = 0;
        t.counters->heavy_running++;
        return true;
    }
    enqueue(t, e, now);
    return false;
}

int admission_grant(AdmissionTable t, const AdmissionLimits &lim, int64_t now, int *granted,
                    int max)
{
    int n = 0;
    while (n < max && t.counters->queued > 0) {
        int best = best_eligible(t, lim, now, -1);
        if (best < 0)
            break;
        grant(t, t.entries[best], now);
        granted[n++] = best;
    }
    return n;
}

int admission_leave_heavy(AdmissionTable t, int i, const AdmissionLimits &lim, int64_t now,
                          int *granted, int max)
{
    AdmissionEntry &e = t.entries[i];
    if (e.heavy == kHeavyRunning)
        t.counters->heavy_running--;
    else if (e.heavy == kHeavyQueued && e.state == kRunning) {
        t.counters->queued--;
        e.queued_since = 0;
    }
    if (e.state == kRunning)
        e.heavy = kHeavyNone;
    return admission_grant(t, lim, now, granted, max);
}

int admission_leave(AdmissionTable t, int i, const AdmissionLimits &lim, int64_t now,
                    int *granted, int max)
{
    AdmissionEntry &e = t.entries[i];
    AdmissionCounters &c = *t.counters;
    if (e.state == kQueued) {
        c.queued--;
    } else if (e.state == kRunning) {
        c.running--;
        if (e.heavy == kHeavyRunning)
            c.heavy_running--;
        else if (e.heavy == kHeavyQueued)
            c.queued--;
    }
    e = AdmissionEntry{};
    e.state = kNone;
    return admission_grant(t, lim, now, granted, max);
}

bool admission_overdraft(AdmissionTable t, int i, int64_t now)
{
    AdmissionEntry &e = t.entries[i];
    if (!admission_waiting(e))
        return false;
    grant(t, e, now);
    e.overdraft = 1;
    t.counters->overdrafts++;
    return true;
}

}  // namespace poolgov
