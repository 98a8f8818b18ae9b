// Included last by every core source: fails the build if anything above it
// pulled a PostgreSQL header into the pure core (which must stay
// unit-testable on its own). Both builds also compile src/core without
// PostgreSQL's include paths (CMakeLists.txt, the src/core rule of the
// Makefile), so "postgres.h" is not found there in the first place; this
// catches a header reached some other way.
#pragma once

#if defined(PG_VERSION_NUM) || defined(POOLGOV_IN_POSTGRES)
#error "src/core and include/poolgov must not include PostgreSQL headers"
#endif
