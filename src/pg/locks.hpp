// Taking and releasing pg_poolgov's LWLocks. Every acquisition goes through
// lock_acquire so that the lock order can be checked.
//
// The lock order, outermost first. A backend that holds one of these locks
// may take only locks further down the list, and never holds one across an
// ereport or a wait:
//   budget_install_lock  (an installer of a budget set, governor or a
//                         budgets trigger, around its swap under main_lock)
//   main_lock            (slots, counter tables, budget set)
//   breaker_lock         (the login breaker table)
//   admission_lock       (the admission queue)
//   events_lock          (the events ring)
//   slowlog_lock         (the slow-query ring)
//   history_lock         (the history ring)
//   closure_lock         (the closure cache: a login looks its closure up
//                         before it takes main_lock, and takes nothing while
//                         holding it)
// Builds with assertions (USE_ASSERT_CHECKING, or POOLGOV_CHECK_LOCK_ORDER,
// which scripts/test sets) check the order at every acquisition and PANIC
// on a violation, naming both locks; other builds take the lock directly.
// PostgreSQL's own locks (lock-manager partitions) pass through unchecked.
#pragma once

#include "postgres.hpp"

namespace poolgov::pg {

#if defined(USE_ASSERT_CHECKING) || defined(POOLGOV_CHECK_LOCK_ORDER)
void check_lock_order(LWLock *lock);
#else
inline void check_lock_order(LWLock *) {}
#endif

inline void lock_acquire(LWLock *lock, LWLockMode mode)
{
    check_lock_order(lock);
    LWLockAcquire(lock, mode);
}

inline void lock_release(LWLock *lock) { LWLockRelease(lock); }

}  // namespace poolgov::pg
