// Login circuit breaker: failed authentications per (role name, client
// address) in a fixed table.
//
// States of an entry: *counting* (failures inside the current window) and
// *open* (logins refused until opened_at + lockout). A failure that makes the
// count exceed the limit within the window opens the breaker; when the
// lockout has passed the entry is removed (closed), so the pair starts from
// zero. The policy (limit, window, lockout) is passed to every call, so a
// changed setting applies to open breakers at once: limit <= 0 turns the
// breaker off (nothing is refused, the sweep clears the table), and the end
// of a lockout is always opened_at + the current lockout.
//
// Role names that match no role ("unknown") take at most
// kBreakerUnknownEntries entries, so invented names cannot crowd real roles
// out. When a pair needs a new entry and none is free or expired:
//   - a real role evicts, in this order, the counting unknown entry with the
//     oldest last failure, the open unknown entry whose lockout ends first,
//     the counting real-role entry with the oldest last failure, and last the
//     open real-role entry whose lockout ends first. A real role is always
//     tracked.
//   - an unknown name evicts the counting unknown entry with the oldest last
//     failure; when every unknown entry is open (or the quota is not full but
//     the rest of the table holds real roles), the failure is not tracked
//     (`untracked`). No password can succeed for a role that does not exist,
//     so nothing is lost but the lockout message for that name.
// `evicted` counts entries removed before their window or lockout ended.
//
// Time is passed in (microseconds), so tests drive the clock. The caller
// serialises access (an LWLock in the extension).
#pragma once

#include "poolgov/text.hpp"

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace poolgov {

constexpr int kBreakerEntries = 1024;
constexpr int kBreakerUnknownEntries = 256;

// The address half of the key of a login without a client address (a unix
// socket). poolgov.breakers shows such an entry's client_addr as NULL;
// poolgov.breaker_reset takes this name for it.
inline constexpr char kBreakerLocalAddr[] = "local";

// The address key of a login from client_addr ("" or null: a unix socket).
inline const char *breaker_key_addr(const char *client_addr)
{
    return client_addr != nullptr && client_addr[0] != '\0' ? client_addr : kBreakerLocalAddr;
}

// The client address an address key stands for: null for a unix socket.
inline const char *breaker_client_addr(const char *key_addr)
{
    return std::strcmp(key_addr, kBreakerLocalAddr) == 0 ? nullptr : key_addr;
}

struct BreakerEntry {
    uint64_t key_hash;  // 0: free
    char role[kNameLen];
    char addr[kAddrLen];
    int64_t window_start;  // first failure of the current window
    int64_t last_failure;
    int64_t opened_at;       // 0: not open
    int64_t open_window_us;  // the window in force when it opened (for messages)
    int32_t failures;        // inside the current window
    int32_t open_limit;      // the limit in force when it opened (for messages)
    bool known_role;         // the name matched a role when the entry was made
};
static_assert(std::is_trivially_copyable_v<BreakerEntry>);  // in shared memory

struct BreakerTable {
    uint32_t used;          // entries with key_hash != 0
    uint32_t unknown_used;  // of those, with known_role == false
    uint64_t untracked;     // failures that found no entry
    uint64_t evicted;       // entries evicted before their window or lockout ended
    BreakerEntry entries[kBreakerEntries];
};
static_assert(std::is_trivially_copyable_v<BreakerTable>);  // in shared memory

struct BreakerPolicy {
    int limit;  // failures allowed per window; <= 0 disables
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
                                     bool known_role, int64_t now, const BreakerPolicy &p);

// End of the entry's lockout under policy p; 0 if it is not open or the
// breaker is off.
int64_t breaker_open_until(const BreakerEntry &e, const BreakerPolicy &p);

// open_until of the pair when its breaker is open at `now`, else 0; with
// `out`, copies the open entry there.
int64_t breaker_open_until(const BreakerTable &t, const char *role, const char *addr, int64_t now,
                           const BreakerPolicy &p, BreakerEntry *out = nullptr);

// Removes the entries of `role` (nullptr: any) from `addr` (nullptr: any);
// returns how many, and in *open how many of them were open.
int breaker_clear(BreakerTable &t, const char *role, const char *addr, int64_t now,
                  const BreakerPolicy &p, int *open);

// Removes entries whose lockout has passed or whose window expired without
// opening, and every entry when the breaker is off; calls on_close(entry)
// for each open entry removed. Returns how many breakers closed.
template <class OnClose>
int breaker_sweep(BreakerTable &t, int64_t now, const BreakerPolicy &p, OnClose on_close);

uint64_t breaker_hash(const char *role, const char *addr);

// ---- implementation of the template ----
void breaker_free_entry(BreakerTable &t, BreakerEntry &e);
bool breaker_expired(const BreakerEntry &e, int64_t now, const BreakerPolicy &p);

template <class OnClose>
int breaker_sweep(BreakerTable &t, int64_t now, const BreakerPolicy &p, OnClose on_close)
{
    int closed = 0;
    if (t.used == 0)
        return 0;
    for (BreakerEntry &e : t.entries) {
        if (e.key_hash == 0)
            continue;
        if (p.limit > 0 && !breaker_expired(e, now, p))
            continue;
        if (e.opened_at != 0) {
            on_close(static_cast<const BreakerEntry &>(e));
            ++closed;
        }
        breaker_free_entry(t, e);
    }
    return closed;
}

}  // namespace poolgov
