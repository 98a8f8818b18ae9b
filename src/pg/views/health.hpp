// poolgov.health(), poolgov.recommendations and poolgov.stats.health: the
// inputs gathered here, the policy in poolgov/health.hpp and recommend.hpp.
#pragma once

#include "poolgov/health.hpp"
#include "poolgov/history.hpp"
#include "poolgov/recommend.hpp"

namespace poolgov::pg {

// The worst status of poolgov.health() for a tally taken now (stats.health).
HealthStatus health_worst(const ConnTally &tally);

// poolgov.health()'s rows for a tally taken now (palloc'd); the breakers
// open now are its breakers_open check's value.
HealthReport *health_report(const ConnTally &tally);

}  // namespace poolgov::pg
