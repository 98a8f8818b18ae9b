#include "poolgov/no_postgres.hpp"
#include "poolgov/breaker.hpp"

#include <cstring>

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

BreakerEntry *victim(BreakerTable &t, int64_t now, int64_t window_us)
{
    BreakerEntry *oldest = nullptr;
    for (BreakerEntry &e : t.entries) {
        if (e.key_hash == 0)
            return &e;
        if (e.open_until != 0) {
            if (e.open_until <= now)
                return &e;  // lockout over; the sweep just has not run yet
            continue;
        }
        if (now - e.window_start > window_us)
            return &e;
        if (oldest == nullptr || e.last_failure < oldest->last_failure)
            oldest = &e;
    }
    return oldest;
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
    std::memset(&e, 0, sizeof(e));
    --t.used;
}

FailureResult breaker_record_failure(BreakerTable &t, const char *role, const char *addr,
                                     int64_t now, const BreakerPolicy &p)
{
    if (p.limit <= 0)
        return {FailureOutcome::Disabled, 0, 0};
    uint64_t h = breaker_hash(role, addr);
    BreakerEntry *e = find(t, h, role, addr);
    if (e != nullptr && e->open_until != 0) {
        if (e->open_until > now)
            return {FailureOutcome::AlreadyOpen, e->failures, e->open_until};
        breaker_free_entry(t, *e);  // lockout over: start again from zero
        e = nullptr;
    }
    if (e == nullptr) {
        e = victim(t, now, p.window_us);
        if (e == nullptr) {
            ++t.untracked;
            return {FailureOutcome::Untracked, 0, 0};
        }
        if (e->key_hash != 0)
            breaker_free_entry(t, *e);
        e->key_hash = h;
        copy_text(e->role, role);
        copy_text(e->addr, addr);
        e->window_start = now;
        ++t.used;
    }
    if (now - e->window_start > p.window_us) {
        e->window_start = now;
        e->failures = 0;
    }
    e->failures++;
    e->last_failure = now;
    if (e->failures > p.limit) {
        e->open_until = now + p.lockout_us;
        return {FailureOutcome::Opened, e->failures, e->open_until};
    }
    return {FailureOutcome::Counted, e->failures, 0};
}

int64_t breaker_open_until(const BreakerTable &t, const char *role, const char *addr,
                           int64_t now)
{
    if (t.used == 0)
        return 0;
    uint64_t h = breaker_hash(role, addr);
    for (const BreakerEntry &e : t.entries)
        if (matches(e, h, role, addr))
            return e.open_until > now ? e.open_until : 0;
    return 0;
}

}  // namespace poolgov
