#include "poolgov/breaker.hpp"

#include <climits>
#include <cstring>

#include "poolgov/no_postgres.hpp"

namespace poolgov {

namespace {

// FNV-1a over role, a separator and address; 0 is reserved for "free".
uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; ++s) {
        h ^= static_cast<unsigned char>(*s);
        h *= 1099511628211ULL;
    }
    return h;
}

bool matches(const BreakerEntry &e, uint64_t h, const char *role, const char *addr)
{
    return e.key_hash == h && std::strncmp(e.role, role, kNameLen - 1) == 0 &&
           std::strncmp(e.addr, addr, kAddrLen - 1) == 0;
}

BreakerEntry *find(BreakerTable &t, uint64_t h, const char *role, const char *addr)
{
    if (t.used == 0)
        return nullptr;
    for (BreakerEntry &e : t.entries)
        if (matches(e, h, role, addr))
            return &e;
    return nullptr;
}

// The entry a new pair takes (see the header for the order), or nullptr.
// *evicting: the entry was still counting or open.
BreakerEntry *victim(BreakerTable &t, bool known, int64_t now, const BreakerPolicy &p,
                     bool *evicting)
{
    bool unknown_full = !known && t.unknown_used >= kBreakerUnknownEntries;
    BreakerEntry *best = nullptr;
    int best_rank = INT_MAX;
    int64_t best_key = 0;
    for (BreakerEntry &e : t.entries) {
        if (e.key_hash == 0) {
            if (unknown_full)
                continue;
            *evicting = false;
            return &e;
        }
        if (unknown_full && e.known_role)
            continue;
        if (breaker_expired(e, now, p)) {
            *evicting = false;
            return &e;
        }
        int rank;
        int64_t key;
        bool open = e.opened_at != 0;
        if (!e.known_role && !open) {
            rank = 0;
            key = e.last_failure;
        } else if (!known) {
            continue;  // unknown names evict only counting unknown entries
        } else if (!e.known_role) {
            rank = 1;
            key = breaker_open_until(e, p);
        } else if (!open) {
            rank = 2;
            key = e.last_failure;
        } else {
            rank = 3;
            key = breaker_open_until(e, p);
        }
        if (rank < best_rank || (rank == best_rank && key < best_key)) {
            best = &e;
            best_rank = rank;
            best_key = key;
        }
    }
    *evicting = best != nullptr;
    return best;
}

}  // namespace

uint64_t breaker_hash(const char *role, const char *addr)
{
    uint64_t h = fnv1a(14695981039346656037ULL, role);
    h = fnv1a(h ^ 0xff, addr);
    return h == 0 ? 1 : h;
}

void breaker_free_entry(BreakerTable &t, BreakerEntry &e)
{
    if (e.key_hash == 0)
        return;
    if (!e.known_role)
        --t.unknown_used;
    std::memset(&e, 0, sizeof(e));
    --t.used;
}

bool breaker_expired(const BreakerEntry &e, int64_t now, const BreakerPolicy &p)
{
    if (e.opened_at != 0)
        return e.opened_at + p.lockout_us <= now;
    return now - e.window_start > p.window_us;
}

int64_t breaker_open_until(const BreakerEntry &e, const BreakerPolicy &p)
{
    if (p.limit <= 0 || e.key_hash == 0 || e.opened_at == 0)
        return 0;
    return e.opened_at + p.lockout_us;
}

FailureResult breaker_record_failure(BreakerTable &t, const char *role, const char *addr,
                                     bool known_role, int64_t now, const BreakerPolicy &p)
{
    if (p.limit <= 0)
        return {FailureOutcome::Disabled, 0, 0};
    uint64_t h = breaker_hash(role, addr);
    BreakerEntry *e = find(t, h, role, addr);
    if (e != nullptr && e->opened_at != 0) {
        int64_t until = breaker_open_until(*e, p);
        if (until > now)
            return {FailureOutcome::AlreadyOpen, e->failures, until};
        breaker_free_entry(t, *e);  // lockout over: start again from zero
        e = nullptr;
    }
    if (e == nullptr) {
        bool evicting = false;
        e = victim(t, known_role, now, p, &evicting);
        if (e == nullptr) {
            ++t.untracked;
            return {FailureOutcome::Untracked, 0, 0};
        }
        if (evicting)
            ++t.evicted;
        breaker_free_entry(t, *e);
        e->key_hash = h;
        copy_text(e->role, role);
        copy_text(e->addr, addr);
        e->window_start = now;
        e->known_role = known_role;
        ++t.used;
        if (!known_role)
            ++t.unknown_used;
    }
    if (now - e->window_start > p.window_us) {
        e->window_start = now;
        e->failures = 0;
    }
    e->failures++;
    e->last_failure = now;
    if (e->failures > p.limit) {
        e->opened_at = now;
        e->open_limit = p.limit;
        e->open_window_us = p.window_us;
        return {FailureOutcome::Opened, e->failures, breaker_open_until(*e, p)};
    }
    return {FailureOutcome::Counted, e->failures, 0};
}

int64_t breaker_open_until(const BreakerTable &t, const char *role, const char *addr, int64_t now,
                           const BreakerPolicy &p, BreakerEntry *out)
{
    if (t.used == 0 || p.limit <= 0)
        return 0;
    uint64_t h = breaker_hash(role, addr);
    for (const BreakerEntry &e : t.entries) {
        if (!matches(e, h, role, addr))
            continue;
        int64_t until = breaker_open_until(e, p);
        if (until <= now)
            return 0;
        if (out != nullptr)
            *out = e;
        return until;
    }
    return 0;
}

int breaker_clear(BreakerTable &t, const char *role, const char *addr, int64_t now,
                  const BreakerPolicy &p, int *open)
{
    int n = 0;
    *open = 0;
    if (t.used == 0)
        return 0;
    for (BreakerEntry &e : t.entries) {
        if (e.key_hash == 0)
            continue;
        if (role != nullptr && std::strncmp(e.role, role, kNameLen - 1) != 0)
            continue;
        if (addr != nullptr && std::strncmp(e.addr, addr, kAddrLen - 1) != 0)
            continue;
        if (breaker_open_until(e, p) > now)
            ++*open;
        breaker_free_entry(t, e);
        ++n;
    }
    return n;
}

}  // namespace poolgov
