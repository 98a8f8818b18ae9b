// Included by every core source: fails the build if a PostgreSQL header was
// pulled into the pure core (which must stay unit-testable on its own).
#pragma once

#if defined(PG_VERSION_NUM) || defined(POOLGOV_IN_POSTGRES)
#error "src/core and include/poolgov must not include PostgreSQL headers"
#endif
