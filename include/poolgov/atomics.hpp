// Relaxed atomic access to plain integer fields of shared-memory structs, and
// a single-writer change counter (seqlock).
//
// Shared memory holds trivially-copyable structs only (DESIGN.md), so fields
// are plain integers and all concurrent access goes through these helpers,
// which compile to ordinary loads and stores on x86-64 and ARM64 but keep the
// C++ memory model happy (no data race on a non-atomic object).
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

inline void write_begin(ChangeCount &cc)
{
    atomic::store(cc.value, atomic::load(cc.value) + 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

inline void write_end(ChangeCount &cc)
{
    __atomic_thread_fence(__ATOMIC_RELEASE);
    atomic::store(cc.value, atomic::load(cc.value) + 1);
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
        uint32_t before = __atomic_load_n(&cc.value, __ATOMIC_ACQUIRE);
        if ((before & 1u) == 0) {
            copy();
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (atomic::load(cc.value) == before)
                return;
        }
        if (attempt >= 16)
            std::this_thread::yield();
    }
}

}  // namespace poolgov
