#include "poolgov/tick_clock.hpp"

#include "poolgov/no_postgres.hpp"

namespace poolgov {

TickScale tick_scale_from(uint64_t ticks, uint64_t ns)
{
    if (ticks == 0 || ns == 0)
        return TickScale{0};
    // Rates from 1 MHz (1000 ns per tick) to 4 THz (1/4000 ns per tick).
    if (ns / ticks > 1000 || ticks / ns >= 4000)
        return TickScale{0};
    unsigned __int128 mult = (static_cast<unsigned __int128>(ns) << kTickShift) / ticks;
    return TickScale{static_cast<uint64_t>(mult)};
}

bool tsc_usable(std::string_view clocksource, bool invariant_tsc)
{
    while (!clocksource.empty() &&
           (clocksource.back() == '\n' || clocksource.back() == ' ' || clocksource.back() == '\0'))
        clocksource.remove_suffix(1);
    return invariant_tsc && clocksource == "tsc";
}

}  // namespace poolgov
