// The login breaker's policy as the settings say now. Every use (the login
// check, the governor's sweep, the views, breaker_reset) reads it afresh, so
// a reload reaches breakers that are already open.
#pragma once

#include "settings.hpp"
#include "poolgov/breaker.hpp"

namespace poolgov::pg {

inline BreakerPolicy breaker_policy()
{
    constexpr int64_t kUsPerSec = 1000000;
    return BreakerPolicy{settings::auth_failure_limit, settings::auth_failure_window * kUsPerSec,
                         settings::auth_lockout * kUsPerSec};
}

}  // namespace poolgov::pg
