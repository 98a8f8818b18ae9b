// Admission control: at most `max_active` transactions run at once; the rest
// wait in one queue and are handed a slot directly by the transaction that
// releases it.
//
// Vocabulary: an *entry* is one connection's admission state (one per
// connection slot, same index). It is *queued* while waiting and *running*
// while it holds a slot. A running entry may also hold (or queue for) a slot
// of the *heavy lane*, which caps transactions that run an expensive
// statement. A *cap* is a budget's max_active on a role the connection
// belongs to: the running entries that carry the same cap role count
// against it.
//
// Order: a waiter's rank is its priority class (low 0, normal 1, high 2)
// raised by one class for every `aging_us` it has waited (so a low waiter
// cannot starve), then its ticket (FIFO). A slot goes to the best-ranked
// waiter that is *eligible* (room in the lane it needs and under all its
// caps); a waiter held back only by a cap does not block those behind it.
// A newcomer runs at once only if no eligible waiter outranks it, so nobody
// barges past the queue.
//
// Within the best-ranked class, a freed slot goes to the most recently
// queued eligible waiter (its backend and its client have just run, so
// their memory is still in the CPU's caches and the scheduler's run queue),
// unless the class's oldest waiter has waited longer than the fairness bound
// in force: then the oldest goes first, so nobody is passed over by a later
// waiter of its class once it has waited longer than that bound.
//
// The bound in force follows the load: `fairness_factor_pct` / 100 times
// the queue's recent mean wait (`wait_mean_us`, an exponentially weighted
// mean over the last ~kWaitMeanWeight grants), never more than the ceiling
// `fairness_us`. In a closed loop the mean wait is fixed by the load
// (Little's law), so a bound of m times it lets about 1 - 1/m of the grants
// go newest first at any queue length, and the oldest waiters wait about m
// times the mean; a fixed bound shorter than the mean wait would be FIFO.
// Factor 0: the ceiling is the bound (fixed). Ceiling 0: strict FIFO.
// Until a mean is known (0) the order is FIFO. Waiters raised by aging,
// heavy-lane waiters and waiters that a pause held are always served
// oldest first.
//
// The queue is three FIFO lists of waiters, one per priority class, linked
// through the entries in ticket order. Within a list, an earlier waiter has
// waited at least as long, so it outranks every later one: the best waiter
// is the first eligible one of some list, and finding it looks at three
// list heads (plus any waiters held back by a cap or the heavy lane), not at
// every entry.
//
// Concurrency: the queue (entries' waiting state, tickets, the lists)
// changes only under the admission lock, which the caller holds for every
// function here except the two *_fast ones. `running`, `heavy_running` and
// `queued` are atomics: the fast path takes a slot with a compare-and-swap
// when nobody waits, and gives it back with a decrement, without the lock.
// A fast leave that then sees a waiter, and a newcomer that queued and then
// sees a free slot, both fall back to the locked grant (each side writes,
// fences, then reads the other's counter, so at least one of them sees the
// other). A newcomer that arrives in the very instant a waiter queues may
// still go first; the limits are never exceeded (slots are reserved by
// compare-and-swap everywhere), except by overdrafts.
//
// Everything here is pure: the caller passes the clock, and wakes the
// entries returned after releasing the lock.
#pragma once

#include "poolgov/atomics.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace poolgov {

enum class AdmState : uint32_t { None = 0, Queued = 1, Running = 2 };
enum class HeavyState : uint8_t { None = 0, Queued = 1, Running = 2 };

constexpr int kMaxAdmissionCaps = 4;
constexpr int kPriorityClasses = 3;

struct AdmissionEntry {
    uint32_t state;     // AdmState
    uint8_t heavy;      // HeavyState
    uint8_t priority;   // 0 low, 1 normal, 2 high
    uint8_t overdraft;  // admitted past the limit to break a lock wait
    uint8_t n_caps;
    uint32_t cap_role[kMaxAdmissionCaps];
    int32_t cap_limit[kMaxAdmissionCaps];
    uint8_t list;         // priority class of the list it waits in
    uint32_t prev, next;  // neighbours in that list: index + 1, 0 = none
    uint64_t ticket;
    int64_t queued_since;  // microseconds; 0 unless waiting
    // Queued for a slot and held by these pauses (bits of the pause table,
    // poolgov/pause.hpp): not eligible while any is set.
    uint32_t paused;
    // Was held by a pause while it waited: keeps its FIFO turn (the
    // fairness bound's newest-first order does not apply to it).
    uint32_t was_held;
};
static_assert(std::is_trivially_copyable_v<AdmissionEntry>);  // in shared memory

struct AdmissionCounters {
    // Now (atomics, see above).
    uint32_t running;
    uint32_t heavy_running;
    uint32_t queued;
    uint32_t unused;
    uint64_t next_ticket;
    // The waiters' lists by priority class (index + 1, 0 = empty), so that
    // zeroed shared memory is an empty queue. Under the admission lock.
    uint32_t head[kPriorityClasses];
    uint32_t tail[kPriorityClasses];
    // Since the last reset (atomics).
    uint64_t admitted;  // transactions that got a slot (at once or after waiting)
    uint64_t waited;    // of those, how many waited
    uint64_t timeouts;
    uint64_t overdrafts;
    uint64_t idle_ended;  // transactions ended for idling with a slot
    uint64_t wait_total_us;
    uint64_t wait_max_us;
    // The recent mean wait of plain slot waiters served by a release (not
    // heavy, not held by a pause), microseconds: an exponentially weighted
    // mean, each grant weighing 1/kWaitMeanWeight. Written under the
    // admission lock (at grants, which hold it anyway), read atomically.
    uint64_t wait_mean_us;
};
static_assert(std::is_trivially_copyable_v<AdmissionCounters>);  // in shared memory

// The settings that govern the queue. Each backend reads its own copy of a
// setting only at its next command, so a reload would not reach the
// backends waiting in the queue, nor agree between a waiter and the backend
// that hands it a slot: they are published here on every reload (by
// whichever backend or the governor reloads first; all read the same file)
// and read from here by everyone on the queue's path. Atomics.
struct alignas(8) AdmissionSettings {
    int32_t max_active;  // 0: off
    int32_t max_heavy;   // 0: no heavy lane (next to max_active: admission_limits_word)
    int32_t timeout_ms;  // 0: wait for ever
    int32_t aging_ms;    // 0: strict priority
    uint32_t exempt_superusers;
    int32_t fairness_bound_ms;    // 0: strict FIFO within a class
    int32_t fairness_factor_pct;  // the bound's multiple of the mean wait, %; 0: fixed bound
};
static_assert(std::is_trivially_copyable_v<AdmissionSettings>);  // in shared memory

// max_active and max_heavy (both >= 0) in one load: 0 when admission control
// and the heavy lane are both off (the statement path's test).
inline uint64_t admission_limits_word(const AdmissionSettings &s)
{
    static_assert(offsetof(AdmissionSettings, max_active) == 0 &&
                  offsetof(AdmissionSettings, max_heavy) == 4);
    return __atomic_load_n(reinterpret_cast<const uint64_t *>(&s), __ATOMIC_RELAXED);
}

struct AdmissionLimits {
    int max_active;                   // > 0 (admission is off at 0 and nothing here is called)
    int max_heavy;                    // 0: no heavy lane
    int64_t aging_us;                 // <= 0: strict priority
    int64_t fairness_us = 0;          // the bound's ceiling; <= 0: strict FIFO within a class
    int32_t fairness_factor_pct = 0;  // bound = min(ceiling, pct/100 x mean wait); 0: the ceiling
};

// The weight of one grant in the mean wait: 1/kWaitMeanWeight.
constexpr int64_t kWaitMeanWeight = 32;

// The fairness bound in force (see above), microseconds; 0: FIFO.
int64_t admission_fairness_bound_us(const AdmissionCounters &c, const AdmissionLimits &lim);

struct AdmissionTable {
    AdmissionCounters *counters;
    AdmissionEntry *entries;
    int n;
};

// What a transaction asks for. The caller fills priority and caps.
struct AdmissionRequest {
    bool heavy;
    uint8_t priority;
    uint8_t n_caps;
    const uint32_t *cap_role;
    const int32_t *cap_limit;
    uint32_t paused;  // pauses that hold it (poolgov/pause.hpp); 0: none
};

// Lock-free: entry `i` (state None) takes a slot if nobody waits, the
// limit has room, and it needs no heavy slot and has no caps. Of `lim` it
// reads max_active only. Returns false
// (nothing changed) otherwise; then call admission_enter under the lock.
bool admission_enter_fast(AdmissionTable t, int i, const AdmissionRequest &req,
                          const AdmissionLimits &lim);

// Lock-free: entry `i`, running with neither a heavy slot nor caps, gives
// its slot back. Returns false if it must instead call admission_leave
// under the lock (other entries), or if waiters may now be eligible: then
// call admission_grant under the lock. `done` tells which.
bool admission_leave_fast(AdmissionTable t, int i, bool *done);

// Entry `i` (state None) asks for a slot. Returns true if it runs now;
// otherwise it is queued.
bool admission_enter(AdmissionTable t, int i, const AdmissionRequest &req,
                     const AdmissionLimits &lim, int64_t now);

// Entry `i` (running without a heavy slot) asks for one. Returns true if it
// holds it now; otherwise it is queued for it.
bool admission_enter_heavy(AdmissionTable t, int i, const AdmissionLimits &lim, int64_t now);

// Hands free slots to eligible waiters, best-ranked class first (within
// it, as the fairness bound says). Writes the indexes
// granted to `granted` (at most `max`) and returns how many.
int admission_grant(AdmissionTable t, const AdmissionLimits &lim, int64_t now, int *granted,
                    int max);

// Entry `i` leaves: a running one releases its slots, a queued one leaves
// the queue (a grant that raced in is released, so never lost). Then grants
// as admission_grant does. Returns the number granted.
int admission_leave(AdmissionTable t, int i, const AdmissionLimits &lim, int64_t now, int *granted,
                    int max);

// The heavy slot alone is given back (or its wait abandoned); the entry
// keeps running. Returns the number granted.
int admission_leave_heavy(AdmissionTable t, int i, const AdmissionLimits &lim, int64_t now,
                          int *granted, int max);

// A queued entry runs now, past the limits and any pause that holds it (to
// break a wait on a lock it holds). Returns false if it was not queued.
bool admission_overdraft(AdmissionTable t, int i, int64_t now);

// A pause (bit `bit` of the pause table) now holds entry `i` too, if it is
// still queued for a slot with ticket `ticket` (the caller saw it so before
// deciding; a later queueing computed its own bits). Returns whether it did.
bool admission_hold(AdmissionTable t, int i, uint64_t ticket, int bit);

// The pause `bit` is lifted: no entry is held by it any more. Then grants
// as admission_grant does (the released waiters in queue order). Returns
// the number granted.
int admission_release(AdmissionTable t, int bit, const AdmissionLimits &lim, int64_t now,
                      int *granted, int max);

// Waiters held by pause `bit`.
int admission_held(AdmissionTable t, int bit);

// Is entry `i` held by a pause (queued for a slot with a pause bit)?
inline bool admission_paused(const AdmissionEntry &e)
{
    return atomic::load_acquire(e.state) == static_cast<uint32_t>(AdmState::Queued) &&
           atomic::load(e.paused) != 0;
}

// Is entry `i` still waiting (for a slot or for a heavy slot)?
inline bool admission_waiting(const AdmissionEntry &e)
{
    return atomic::load_acquire(e.state) == static_cast<uint32_t>(AdmState::Queued) ||
           atomic::load_acquire(e.heavy) == static_cast<uint8_t>(HeavyState::Queued);
}

// Running entries that count against cap role `role`.
int admission_cap_usage(AdmissionTable t, uint32_t role);

// The statement path's halves of admission_enter_fast and
// admission_leave_fast, inline.
//
// An entry in state None is clean but for its priority and overdraft
// flag: every way into None leaves it so (admission_leave clears it all;
// admission_give_fast releases only a running entry with no heavy slot and
// no caps, and a running entry has no queued_since, pause bits or was_held:
// grant() and admission_take_fast clear or never set them, and pauses hold
// only queued entries). So taking a slot from None writes only the four
// bytes after the state (heavy, priority, overdraft, n_caps: one store) and
// the state.
static_assert(offsetof(AdmissionEntry, state) == 0 && offsetof(AdmissionEntry, heavy) == 4 &&
              offsetof(AdmissionEntry, priority) == 5 && offsetof(AdmissionEntry, overdraft) == 6 &&
              offsetof(AdmissionEntry, n_caps) == 7 && alignof(AdmissionEntry) >= 8);

// The entry's state, heavy, priority, overdraft and n_caps in one load
// (little-endian: the state in the low 32 bits, n_caps in the top byte).
inline uint64_t admission_entry_head(const AdmissionEntry &e)
{
    return __atomic_load_n(reinterpret_cast<const uint64_t *>(&e), __ATOMIC_ACQUIRE);
}
// Running with no heavy slot (nor a wait for one) and no caps: the state,
// heavy and n_caps bytes of admission_entry_head.
constexpr uint64_t kEntryPlainMask = 0xff0000ffffffffffULL;
constexpr uint64_t kEntryPlainRunning = static_cast<uint64_t>(AdmState::Running);

// The heavy, priority, overdraft and n_caps bytes of a plain running entry
// of priority class `priority`, as admission_take_plain writes them.
constexpr uint32_t admission_plain_bytes(uint8_t priority)
{
    return static_cast<uint32_t>(priority) << 8;
}

// Entry `e` (state None), with no caps, no heavy slot and no pause, takes a
// slot if nobody waits and `max_active` has room (one compare-and-swap on
// `running`); `bytes` from admission_plain_bytes. False: nothing changed.
inline bool admission_take_plain(AdmissionCounters &c, AdmissionEntry &e, uint32_t bytes,
                                 uint32_t max_active)
{
    if (atomic::load_seq_cst(c.queued) != 0)
        return false;
    uint32_t cur = atomic::load_seq_cst(c.running);
    do {
        if (cur >= max_active)
            return false;
    } while (!atomic::compare_exchange_seq_cst(c.running, cur, cur + 1));
    __atomic_store_n(reinterpret_cast<uint32_t *>(&e.heavy), bytes, __ATOMIC_RELEASE);
    atomic::fetch_add(c.admitted, uint64_t{1});
    atomic::store_release(e.state, static_cast<uint32_t>(AdmState::Running));
    return true;
}

// Entry `i` (state None), of priority class `priority`, with no caps, no
// heavy slot and no pause: admission_take_plain.
inline bool admission_take_fast(AdmissionTable t, int i, uint8_t priority, int max_active)
{
    return admission_take_plain(*t.counters, t.entries[i], admission_plain_bytes(priority),
                                static_cast<uint32_t>(max_active));
}

// Entry `e`, running with neither a heavy slot nor caps, gives its slot
// back: true, and *done unless waiters may now be eligible (then call
// admission_grant under the lock). False: nothing changed, call
// admission_leave under the lock.
inline bool admission_give_plain(AdmissionCounters &c, AdmissionEntry &e, bool *done)
{
    if ((admission_entry_head(e) & kEntryPlainMask) != kEntryPlainRunning)
        return false;
    atomic::store_release(e.state, static_cast<uint32_t>(AdmState::None));
    // seq_cst: ordered before the read below
    atomic::fetch_add_seq_cst(c.running, static_cast<uint32_t>(-1));
    *done = atomic::load_seq_cst(c.queued) == 0;
    return true;
}

inline bool admission_give_fast(AdmissionTable t, int i, bool *done)
{
    return admission_give_plain(*t.counters, t.entries[i], done);
}

}  // namespace poolgov
