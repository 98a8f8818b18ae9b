// Atomic access to plain integer fields of shared-memory structs, and a
// single-writer change counter (seqlock).
//
// Shared memory holds trivially-copyable structs only, so fields are plain
// integers and all concurrent access goes through these helpers, which keep
// the C++ memory model happy (no data race on a non-atomic object); the
// relaxed ones compile to ordinary loads and stores on x86-64 and ARM64.
// They are the only place in the core that names a memory order:
//   load / store / fetch_add          relaxed: counters read for reporting
//   load_acquire / store_release      publish a field and what was written
//                                     before it (a state, a flag)
//   exchange_acq_rel, fetch_add_acq_rel  read-modify-writes that do both
//   *_seq_cst                         counters several processes change and
//                                     then read each other's (the admission
//                                     fast path, see poolgov/admission.hpp)
//   fence_acquire / fence_release     around a ChangeCount's copy and write
#pragma once

#include <cstdint>
#include <thread>
#include <type_traits>

namespace poolgov::atomic {

template <class T>
inline T load(const T &field)
{
    static_assert(std::is_integral_v<T>);
    return __atomic_load_n(&field, __ATOMIC_RELAXED);
}

template <class T>
inline void store(T &field, T value)
{
    static_assert(std::is_integral_v<T>);
    __atomic_store_n(&field, value, __ATOMIC_RELAXED);
}

template <class T>
inline T fetch_add(T &field, T delta)
{
    static_assert(std::is_integral_v<T>);
    return __atomic_fetch_add(&field, delta, __ATOMIC_RELAXED);
}

template <class T>
inline T load_acquire(const T &field)
{
    static_assert(std::is_integral_v<T>);
    return __atomic_load_n(&field, __ATOMIC_ACQUIRE);
}

template <class T>
inline void store_release(T &field, T value)
{
    static_assert(std::is_integral_v<T>);
    __atomic_store_n(&field, value, __ATOMIC_RELEASE);
}

template <class T>
inline T exchange_acq_rel(T &field, T value)
{
    static_assert(std::is_integral_v<T>);
    return __atomic_exchange_n(&field, value, __ATOMIC_ACQ_REL);
}

template <class T>
inline T fetch_add_acq_rel(T &field, T delta)
{
    static_assert(std::is_integral_v<T>);
    return __atomic_fetch_add(&field, delta, __ATOMIC_ACQ_REL);
}

template <class T>
inline T load_seq_cst(const T &field)
{
    static_assert(std::is_integral_v<T>);
    return __atomic_load_n(&field, __ATOMIC_SEQ_CST);
}

template <class T>
inline T fetch_add_seq_cst(T &field, T delta)
{
    static_assert(std::is_integral_v<T>);
    return __atomic_fetch_add(&field, delta, __ATOMIC_SEQ_CST);
}

// Strong compare-and-swap; on failure `expected` receives the current value.
template <class T>
inline bool compare_exchange_seq_cst(T &field, T &expected, T desired)
{
    static_assert(std::is_integral_v<T>);
    return __atomic_compare_exchange_n(&field, &expected, desired, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

inline void fence_acquire() { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
inline void fence_release() { __atomic_thread_fence(__ATOMIC_RELEASE); }

// Single-writer add: only the owner writes the field, readers may race.
// A relaxed load + store avoids the locked read-modify-write.
template <class T>
inline void owner_add(T &field, T delta)
{
    store(field, static_cast<T>(load(field) + delta));
}

template <class T>
inline void owner_max(T &field, T value)
{
    if (value > load(field))
        store(field, value);
}

}  // namespace poolgov::atomic

namespace poolgov {

// Change counter for data written by one process and read by many (the
// pattern of PostgreSQL's st_changecount). The writer makes the count odd
// while it writes; a reader retries until it saw the same even count before
// and after copying.
struct ChangeCount {
    uint32_t value;
};
static_assert(std::is_trivially_copyable_v<ChangeCount>);  // in shared memory

inline void write_begin(ChangeCount &cc)
{
    atomic::store(cc.value, atomic::load(cc.value) + 1);
    atomic::fence_release();
}

inline void write_end(ChangeCount &cc)
{
    atomic::fence_release();
    atomic::store(cc.value, atomic::load(cc.value) + 1);
}

// The same for a writer that keeps the (odd) count between the two: one
// load of the count instead of two (the statement path).
inline uint32_t write_open(ChangeCount &cc)
{
    uint32_t odd = atomic::load(cc.value) + 1;
    atomic::store(cc.value, odd);
    atomic::fence_release();
    return odd;
}

inline void write_close(ChangeCount &cc, uint32_t odd)
{
    atomic::fence_release();
    atomic::store(cc.value, odd + 1);
}

// Copies with `copy()` (which must read through atomic::load) until the copy
// is consistent. The writer's critical section contains no waits and cannot
// end in an error, so a reader never waits long; after a few quick retries it
// yields the CPU so that a writer it preempted can finish. (A writer that dies
// mid-write crashes its backend, and the postmaster then resets every process
// sharing this memory, readers included.)
template <class Copy>
inline void read_consistent(const ChangeCount &cc, Copy copy)
{
    for (int attempt = 0;; ++attempt) {
        uint32_t before = atomic::load_acquire(cc.value);
        if ((before & 1u) == 0) {
            copy();
            atomic::fence_acquire();
            if (atomic::load(cc.value) == before)
                return;
        }
        if (attempt >= 16)
            std::this_thread::yield();
    }
}

}  // namespace poolgov
