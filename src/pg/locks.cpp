// The lock-order check of assert-enabled builds (locks.hpp).
#include "postgres.hpp"

#include "locks.hpp"
#include "shmem.hpp"

namespace poolgov::pg {

#if defined(USE_ASSERT_CHECKING) || defined(POOLGOV_CHECK_LOCK_ORDER)

namespace {

struct RankedLock {
    LWLock *SharedState::*lock;
    const char *name;
};

// locks.hpp's order, outermost first.
constexpr RankedLock kOrder[] = {
    {&SharedState::budget_install_lock, "budget_install_lock"},
    {&SharedState::main_lock, "main_lock"},
    {&SharedState::breaker_lock, "breaker_lock"},
    {&SharedState::admission_lock, "admission_lock"},
    {&SharedState::events_lock, "events_lock"},
    {&SharedState::slowlog_lock, "slowlog_lock"},
    {&SharedState::history_lock, "history_lock"},
    {&SharedState::closure_lock, "closure_lock"},
};
constexpr int kLocks = sizeof(kOrder) / sizeof(kOrder[0]);

}  // namespace

void check_lock_order(LWLock *lock)
{
    SharedState *st = shm.state;
    if (st == nullptr)
        return;
    int rank = 0;
    while (rank < kLocks && st->*kOrder[rank].lock != lock)
        ++rank;
    if (rank == kLocks)
        return;  // not one of ours
    // Asked of PostgreSQL rather than tracked here: an error's cleanup
    // (LWLockReleaseAll) cannot leave a stale record behind.
    for (int later = rank; later < kLocks; ++later)
        if (LWLockHeldByMe(st->*kOrder[later].lock))
            ereport(PANIC, (errcode(ERRCODE_INTERNAL_ERROR),
                            errmsg("pg_poolgov lock order violated: %s taken while holding %s",
                                   kOrder[rank].name, kOrder[later].name)));
}

#endif

}  // namespace poolgov::pg
