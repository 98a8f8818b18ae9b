#include "poolgov/admission.hpp"

#include "poolgov/atomics.hpp"

#include <algorithm>

#include "poolgov/no_postgres.hpp"

namespace poolgov {

namespace {

constexpr uint32_t kQueued = static_cast<uint32_t>(AdmState::Queued);
constexpr uint32_t kRunning = static_cast<uint32_t>(AdmState::Running);
constexpr uint32_t kNone = static_cast<uint32_t>(AdmState::None);
constexpr uint8_t kHeavyNone = static_cast<uint8_t>(HeavyState::None);
constexpr uint8_t kHeavyQueued = static_cast<uint8_t>(HeavyState::Queued);
constexpr uint8_t kHeavyRunning = static_cast<uint8_t>(HeavyState::Running);
constexpr int kTopPriority = 2;

uint32_t state_of(const AdmissionEntry &e) { return atomic::load_acquire(e.state); }
void set_state(AdmissionEntry &e, uint32_t s) { atomic::store_release(e.state, s); }
uint8_t heavy_of(const AdmissionEntry &e) { return atomic::load_acquire(e.heavy); }
void set_heavy(AdmissionEntry &e, uint8_t h) { atomic::store_release(e.heavy, h); }

uint32_t load_seq(const uint32_t &c) { return atomic::load_seq_cst(c); }
void add_seq(uint32_t &c, int32_t d) { atomic::fetch_add_seq_cst(c, static_cast<uint32_t>(d)); }

// Takes one unit of `counter` if it stays within `limit`.
bool reserve(uint32_t &counter, int limit)
{
    uint32_t cur = load_seq(counter);
    while (cur < static_cast<uint32_t>(limit))
        if (atomic::compare_exchange_seq_cst(counter, cur, cur + 1))
            return true;
    return false;
}

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
           load_seq(t.counters->heavy_running) < static_cast<uint32_t>(lim.max_heavy);
}

// Could the waiter take a slot now? (Room is then reserved by grant.)
bool eligible(AdmissionTable t, const AdmissionEntry &e, const AdmissionLimits &lim)
{
    // A lane switched off (max_heavy 0) holds nobody back any more.
    bool lane_room = lim.max_heavy == 0 || heavy_has_room(t, lim);
    if (state_of(e) == kRunning)  // waits for a heavy slot only
        return heavy_of(e) == kHeavyQueued && lane_room;
    if (state_of(e) != kQueued || atomic::load(e.paused) != 0)
        return false;
    if (load_seq(t.counters->running) >= static_cast<uint32_t>(lim.max_active))
        return false;
    if (heavy_of(e) == kHeavyQueued && !lane_room)
        return false;
    return caps_have_room(t, e);
}

void record_wait(AdmissionCounters &c, const AdmissionEntry &e, int64_t now)
{
    uint64_t waited = now > e.queued_since ? static_cast<uint64_t>(now - e.queued_since) : 0;
    atomic::fetch_add(c.waited, uint64_t{1});
    atomic::fetch_add(c.wait_total_us, waited);
    if (waited > atomic::load(c.wait_max_us))
        atomic::store(c.wait_max_us, waited);
}

// Folds a plain slot waiter's wait into the recent mean (the first one
// sets it).
void record_mean_wait(AdmissionCounters &c, int64_t waited)
{
    int64_t mean = static_cast<int64_t>(atomic::load(c.wait_mean_us));
    waited = std::max<int64_t>(waited, 0);
    mean = mean == 0 ? waited : mean + (waited - mean) / kWaitMeanWeight;
    atomic::store(c.wait_mean_us, static_cast<uint64_t>(std::max<int64_t>(mean, 1)));
}

int list_of(const AdmissionEntry &e) { return std::min<int>(e.priority, kPriorityClasses - 1); }

// Appends entry i to the tail of its priority class's list: tickets grow,
// so every list stays in ticket order.
void enqueue(AdmissionTable t, int i, int64_t now)
{
    AdmissionCounters &c = *t.counters;
    AdmissionEntry &e = t.entries[i];
    int l = list_of(e);
    e.ticket = ++c.next_ticket;
    e.queued_since = now;
    e.list = static_cast<uint8_t>(l);
    e.next = 0;
    e.prev = c.tail[l];
    if (c.tail[l] != 0)
        t.entries[c.tail[l] - 1].next = static_cast<uint32_t>(i + 1);
    else
        c.head[l] = static_cast<uint32_t>(i + 1);
    c.tail[l] = static_cast<uint32_t>(i + 1);
    add_seq(c.queued, 1);
}

// Takes entry i (waiting) out of its list.
void dequeue(AdmissionTable t, int i)
{
    AdmissionCounters &c = *t.counters;
    AdmissionEntry &e = t.entries[i];
    int l = e.list;
    if (e.prev != 0)
        t.entries[e.prev - 1].next = e.next;
    else
        c.head[l] = e.next;
    if (e.next != 0)
        t.entries[e.next - 1].prev = e.prev;
    else
        c.tail[l] = e.prev;
    e.prev = e.next = 0;
    add_seq(c.queued, -1);
}

// Reserves what the waiter waits for; false if a fast-path newcomer took
// the room meanwhile (it stays queued). With `force`, past the limits.
bool grant(AdmissionTable t, int i, const AdmissionLimits &lim, int64_t now, bool force)
{
    AdmissionCounters &c = *t.counters;
    AdmissionEntry &e = t.entries[i];
    bool slot = state_of(e) == kQueued, heavy = heavy_of(e) == kHeavyQueued;
    // Waiting for a lane that was switched off: no heavy slot to take.
    bool lane = heavy && (force || lim.max_heavy > 0);
    if (!force) {
        if (slot && !reserve(c.running, lim.max_active))
            return false;
        if (lane && !reserve(c.heavy_running, lim.max_heavy)) {
            if (slot)
                add_seq(c.running, -1);
            return false;
        }
    } else {
        if (slot)
            add_seq(c.running, 1);
        if (lane)
            add_seq(c.heavy_running, 1);
    }
    dequeue(t, i);
    record_wait(c, e, now);
    if (slot) {
        atomic::fetch_add(c.admitted, uint64_t{1});
        set_state(e, kRunning);
    }
    if (heavy)
        set_heavy(e, lane ? kHeavyRunning : kHeavyNone);
    e.queued_since = 0;
    atomic::store(e.paused, uint32_t{0});
    e.was_held = 0;
    return true;
}

// The best-ranked waiter other than `self` that is eligible now, or -1:
// the best of the first eligible waiter of each list (see the header).
int best_eligible(AdmissionTable t, const AdmissionLimits &lim, int64_t now, int self)
{
    int best = -1;
    for (int l = 0; l < kPriorityClasses; ++l) {
        for (uint32_t link = t.counters->head[l]; link != 0; link = t.entries[link - 1].next) {
            int i = static_cast<int>(link - 1);
            const AdmissionEntry &e = t.entries[i];
            if (i == self || !eligible(t, e, lim))
                continue;
            if (best < 0 || outranks(e, t.entries[best], lim, now))
                best = i;
            break;
        }
    }
    return best;
}

// The waiter the next free slot goes to. FIFO's choice is the best-ranked
// waiter, the oldest of its class. Unless that one has waited longer than
// the fairness bound in force (the factor times the recent mean wait, under
// the ceiling), the most recently queued eligible waiter of the same class
// goes instead: every older waiter of the class has then waited no longer
// than that bound. Aged waiters (queued in a lower class's list),
// heavy-lane waiters and waiters a pause held keep their FIFO turn.
int next_to_serve(AdmissionTable t, const AdmissionLimits &lim, int64_t now)
{
    int best = best_eligible(t, lim, now, -1);
    int64_t bound = admission_fairness_bound_us(*t.counters, lim);
    if (best < 0 || bound <= 0)
        return best;
    const AdmissionEntry &b = t.entries[best];
    if (now - b.queued_since > bound || heavy_of(b) != kHeavyNone || b.was_held != 0 ||
        effective_priority(b, lim, now) != b.list)
        return best;
    for (uint32_t link = t.counters->tail[b.list]; link != 0; link = t.entries[link - 1].prev) {
        int i = static_cast<int>(link - 1);
        if (i == best)
            break;
        const AdmissionEntry &e = t.entries[i];
        if (state_of(e) == kQueued && heavy_of(e) == kHeavyNone && e.was_held == 0 &&
            eligible(t, e, lim))
            return i;
    }
    return best;
}

// Would a newcomer with this rank be served before every eligible waiter?
bool first_in_line(AdmissionTable t, int self, const AdmissionLimits &lim, int64_t now)
{
    int best = best_eligible(t, lim, now, self);
    return best < 0 || outranks(t.entries[self], t.entries[best], lim, now);
}

void fill_request(AdmissionEntry &e, const AdmissionRequest &req)
{
    e.priority = req.priority;
    e.overdraft = 0;
    e.n_caps = static_cast<uint8_t>(std::min<int>(req.n_caps, kMaxAdmissionCaps));
    for (int c = 0; c < e.n_caps; ++c) {
        e.cap_role[c] = req.cap_role[c];
        e.cap_limit[c] = req.cap_limit[c];
    }
    e.queued_since = 0;
    atomic::store(e.paused, req.paused);
    e.was_held = req.paused != 0;
}

}  // namespace

int64_t admission_fairness_bound_us(const AdmissionCounters &c, const AdmissionLimits &lim)
{
    if (lim.fairness_us <= 0 || lim.fairness_factor_pct <= 0)
        return std::max<int64_t>(lim.fairness_us, 0);
    int64_t mean = static_cast<int64_t>(atomic::load(c.wait_mean_us));
    // pct <= 10000 and the ceiling caps the product: no overflow below
    // INT64_MAX / 10000 us (29 years).
    mean = std::min<int64_t>(mean, lim.fairness_us);
    return std::min<int64_t>(lim.fairness_us, mean * lim.fairness_factor_pct / 100);
}

int admission_cap_usage(AdmissionTable t, uint32_t role)
{
    int n = 0;
    for (int i = 0; i < t.n; ++i) {
        const AdmissionEntry &e = t.entries[i];
        if (state_of(e) != kRunning)
            continue;
        for (int c = 0; c < e.n_caps; ++c)
            if (e.cap_role[c] == role) {
                n++;
                break;
            }
    }
    return n;
}

bool admission_enter_fast(AdmissionTable t, int i, const AdmissionRequest &req,
                          const AdmissionLimits &lim)
{
    if (req.heavy || req.n_caps > 0 || req.paused != 0)
        return false;
    return admission_take_fast(t, i, req.priority, lim.max_active);
}

bool admission_leave_fast(AdmissionTable t, int i, bool *done)
{
    *done = false;
    return admission_give_fast(t, i, done);
}

bool admission_enter(AdmissionTable t, int i, const AdmissionRequest &req,
                     const AdmissionLimits &lim, int64_t now)
{
    AdmissionEntry &e = t.entries[i];
    fill_request(e, req);
    e.ticket = 0;
    // Queue first (so that a fast leave sees us), then take the slot
    // ourselves if nobody better could.
    set_heavy(e, req.heavy ? kHeavyQueued : kHeavyNone);
    set_state(e, kQueued);
    enqueue(t, i, now);
    if (eligible(t, e, lim) && first_in_line(t, i, lim, now) && grant(t, i, lim, now, false)) {
        // Served at once: not a wait.
        atomic::fetch_add(t.counters->waited, uint64_t{0} - 1);
        return true;
    }
    return false;
}

bool admission_enter_heavy(AdmissionTable t, int i, const AdmissionLimits &lim, int64_t now)
{
    AdmissionEntry &e = t.entries[i];
    if (state_of(e) != kRunning || heavy_of(e) != kHeavyNone)
        return heavy_of(e) == kHeavyRunning;
    set_heavy(e, kHeavyQueued);
    enqueue(t, i, now);
    if (heavy_has_room(t, lim) && first_in_line(t, i, lim, now) && grant(t, i, lim, now, false)) {
        atomic::fetch_add(t.counters->waited, uint64_t{0} - 1);
        return true;
    }
    return false;
}

int admission_grant(AdmissionTable t, const AdmissionLimits &lim, int64_t now, int *granted,
                    int max)
{
    int n = 0;
    while (n < max && load_seq(t.counters->queued) > 0) {
        int best = next_to_serve(t, lim, now);
        if (best < 0)
            break;
        const AdmissionEntry &e = t.entries[best];
        bool plain = state_of(e) == kQueued && heavy_of(e) == kHeavyNone && e.was_held == 0;
        int64_t since = e.queued_since;
        if (!grant(t, best, lim, now, false))
            break;
        if (plain)
            record_mean_wait(*t.counters, now - since);
        granted[n++] = best;
    }
    return n;
}

int admission_leave_heavy(AdmissionTable t, int i, const AdmissionLimits &lim, int64_t now,
                          int *granted, int max)
{
    AdmissionEntry &e = t.entries[i];
    if (heavy_of(e) == kHeavyRunning) {
        add_seq(t.counters->heavy_running, -1);
    } else if (heavy_of(e) == kHeavyQueued && state_of(e) == kRunning) {
        dequeue(t, i);
        e.queued_since = 0;
    }
    if (state_of(e) == kRunning)
        set_heavy(e, kHeavyNone);
    return admission_grant(t, lim, now, granted, max);
}

int admission_leave(AdmissionTable t, int i, const AdmissionLimits &lim, int64_t now, int *granted,
                    int max)
{
    AdmissionEntry &e = t.entries[i];
    AdmissionCounters &c = *t.counters;
    uint32_t state = state_of(e);
    uint8_t heavy = heavy_of(e);
    if (state == kQueued) {
        dequeue(t, i);
    } else if (state == kRunning) {
        if (heavy == kHeavyRunning)
            add_seq(c.heavy_running, -1);
        else if (heavy == kHeavyQueued)
            dequeue(t, i);
    }
    set_state(e, kNone);
    set_heavy(e, kHeavyNone);
    e.n_caps = 0;
    e.overdraft = 0;
    e.queued_since = 0;
    atomic::store(e.paused, uint32_t{0});
    e.was_held = 0;
    if (state == kRunning)  // after the entry is clean: the slot is free now
        add_seq(c.running, -1);
    return admission_grant(t, lim, now, granted, max);
}

bool admission_hold(AdmissionTable t, int i, uint64_t ticket, int bit)
{
    AdmissionEntry &e = t.entries[i];
    if (state_of(e) != kQueued || e.ticket != ticket || bit < 0 || bit >= 32)
        return false;
    atomic::store(e.paused, atomic::load(e.paused) | (uint32_t{1} << bit));
    e.was_held = 1;
    return true;
}

int admission_release(AdmissionTable t, int bit, const AdmissionLimits &lim, int64_t now,
                      int *granted, int max)
{
    uint32_t mask = ~(uint32_t{1} << bit);
    for (int i = 0; i < t.n; ++i) {
        AdmissionEntry &e = t.entries[i];
        uint32_t held = atomic::load(e.paused);
        if (held != 0)
            atomic::store(e.paused, held & mask);
    }
    return admission_grant(t, lim, now, granted, max);
}

int admission_held(AdmissionTable t, int bit)
{
    int n = 0;
    for (int i = 0; i < t.n; ++i)
        if (admission_paused(t.entries[i]) && (atomic::load(t.entries[i].paused) >> bit & 1u))
            n++;
    return n;
}

bool admission_overdraft(AdmissionTable t, int i, int64_t now)
{
    AdmissionEntry &e = t.entries[i];
    if (!admission_waiting(e))
        return false;
    AdmissionLimits unused{0, 0, 0, 0, 0};
    grant(t, i, unused, now, true);
    e.overdraft = 1;
    atomic::fetch_add(t.counters->overdrafts, uint64_t{1});
    return true;
}

}  // namespace poolgov
