// A SQL interval argument in whole milliseconds, as the management functions
// take their waits and thresholds: a month counts 30 days and a day 24
// hours (PostgreSQL's own interval comparison does the same), and the
// result saturates instead of overflowing.
#pragma once

#include "postgres.hpp"

extern "C" {
#include "datatype/timestamp.h"
}

#include <cstdint>

namespace poolgov::pg {

inline int64_t interval_ms(const Interval *iv)
{
    __int128 us = static_cast<__int128>(iv->time) + static_cast<__int128>(iv->day) * USECS_PER_DAY +
                  static_cast<__int128>(iv->month) * DAYS_PER_MONTH * USECS_PER_DAY;
    __int128 ms = us / 1000;
    if (ms > INT64_MAX)
        return INT64_MAX;
    if (ms < INT64_MIN)
        return INT64_MIN;
    return static_cast<int64_t>(ms);
}

}  // namespace poolgov::pg
