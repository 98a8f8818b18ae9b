// Ticks of a cheap clock to nanoseconds: the arithmetic of the statement
// clock (src/pg/session/statement_clock.hpp), kept here without PostgreSQL
// so that it is unit-tested on its own.
//
// On x86-64 the statement path reads the CPU's time-stamp counter (one
// instruction, rdtsc) instead of clock_gettime(CLOCK_MONOTONIC) when that is
// safe: the kernel's own clocksource is the TSC (so the kernel found it
// invariant and synchronised across CPUs) and CPUID says the TSC is
// invariant. Its rate is measured once, in the postmaster, against
// CLOCK_MONOTONIC; every backend inherits the scale by fork. Elsewhere (other
// architectures, another clocksource, EXEC_BACKEND) ticks are nanoseconds of
// CLOCK_MONOTONIC and the scale is the identity.
//
// A scale is a 32.32 fixed-point number of nanoseconds per tick:
// ns = ticks * mult >> 32, with a 128-bit product, so that no duration a
// 64-bit tick count can hold overflows and a tick rate from 1 MHz to
// 4 THz keeps a relative error below 2^-32 per tick plus the calibration's.
#pragma once

#include <cstdint>
#include <string_view>

namespace poolgov {

struct TickScale {
    uint64_t mult;  // nanoseconds per tick << kTickShift
};

constexpr int kTickShift = 32;

// Ticks that are already nanoseconds.
constexpr TickScale kTickIdentity{uint64_t{1} << kTickShift};

inline uint64_t ticks_to_ns(uint64_t ticks, TickScale s)
{
    return static_cast<uint64_t>((static_cast<unsigned __int128>(ticks) * s.mult) >> kTickShift);
}

// Nanoseconds between two tick readings; 0 if the second is earlier (a
// clock read on another CPU may be a few ticks behind).
inline uint64_t ticks_between_ns(uint64_t start, uint64_t end, TickScale s)
{
    auto d = static_cast<int64_t>(end - start);
    return ticks_to_ns(d > 0 ? static_cast<uint64_t>(d) : 0, s);
}

// The scale of a clock that advanced `ticks` while CLOCK_MONOTONIC advanced
// `ns`. mult 0: not a plausible calibration (no ticks, no time, or a rate
// outside 1 MHz .. 4 THz): do not use that clock.
TickScale tick_scale_from(uint64_t ticks, uint64_t ns);

// May the time-stamp counter be the statement clock? `clocksource` is the
// content of /sys/devices/system/clocksource/clocksource0/current_clocksource
// (a trailing newline allowed), `invariant_tsc` CPUID 0x80000007 EDX bit 8.
bool tsc_usable(std::string_view clocksource, bool invariant_tsc);

}  // namespace poolgov
