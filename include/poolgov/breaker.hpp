// Login circuit breaker: failed authentications per (role name, client
// address) in a fixed table.
//
// States of an entry: *counting* (failures inside the current window) and
// *open* (logins refused until open_until). A failure that makes the count
// exceed the limit within the window opens the breaker for the lockout; when
// the lockout has passed the entry is removed (closed), so the pair starts
// from zero.
//
// Eviction, when the table is full and a new pair fails: first an entry whose
// window has passed, else the counting entry whose last failure is oldest.
// Open entries are never evicted, so cycling through addresses cannot
// release a locked-out pair; when every entry is open, the new pair is not
// tracked and `untracked` counts it.
//
// Time is passed in (microseconds), so tests drive the clock. The caller
// serialises access (an LWLock in the extension).
#pragma once

#include "poolgov/text.hpp"

#include <cstdint>

namespace poolgov {

constexpr int kBreakerEntries = 1024;

struct BreakerEntry {
    uint64_t key_hash;  // 0: free
    char role[kNameLen];
    char addr[kAddrLen];
    int64_t window_start;
    int64_t last_failure;
    int64_t open_until;  // 0: not open
    int32_t failures;    // inside the current window
};

struct BreakerTable {
    uint32_t used;       // entries with key_hash != 0
    uint64_t untracked;  // failures that found no entry
    BreakerEntry entries[kBreakerEntries];
};

struct BreakerPolicy {
    int limit;          // failures allowed per window; <= 0 disables
    int64_t window_us;
    int64_t lockout_us;
};

enum class FailureOutcome { Counted, Opened, AlreadyOpen, Untracked, Disabled };

struct FailureResult {
    FailureOutcome outcome;
    int failures;
    int64_t open_until;
};

FailureResult breaker_record_failure(BreakerTable &t, const char *role, const char *addr,
                                     int64_t now, const BreakerPolicy &p);

// open_until of the pair when its breaker is open at `now`, else 0.
int64_t breaker_open_until(const BreakerTable &t, const char *role, const char *addr,
                           int64_t now);

// Removes entries whose lockout has passed or whose window expired without
// opening; calls on_close(entry) for each lockout that ended. Returns how many
// breakers closed.
template <class OnClose>
int breaker_sweep(BreakerTable &t, int64_t now, int64_t window_us, OnClose on_close);

uint64_t breaker_hash(const char *role, const char *addr);

// ---- implementation of the template ----
void breaker_free_entry(BreakerTable &t, BreakerEntry &e);

template <class OnClose>
int breaker_sweep(BreakerTable &t, int64_t now, int64_t window_us, OnClose on_close)
{
    int closed = 0;
    for (BreakerEntry &e : t.entries) {
        if (e.key_hash == 0)
            continue;
        if (e.open_until != 0 && e.open_until <= now) {
            on_close(static_cast<const BreakerEntry &>(e));
            ++closed;
            breaker_free_entry(t, e);
        } else if (e.open_until == 0 && now - e.window_start > window_us) {
            breaker_free_entry(t, e);
        }
    }
    return closed;
}

}  // namespace poolgov
