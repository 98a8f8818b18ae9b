// The per-role rollup behind poolgov.roles and poolgov.budget_usage, as
// other views need it (poolgov.recommendations).
#pragma once

#include "poolgov/recommend.hpp"

namespace poolgov::pg {

// Every role in poolgov.roles with its peak and the budget that governs it
// (its own, or the default budget); palloc'd, names point into palloc'd
// copies.
int role_budget_usage(RoleUsage **out);

}  // namespace poolgov::pg
