// The one way src/pg files include PostgreSQL: C headers inside extern "C",
// before any C++ standard header (port.h redefines snprintf and friends).
// Files outside src/pg must not include this: the Makefile compiles src/core
// without PostgreSQL's include paths, and include/poolgov/no_postgres.hpp
// stops a header that reached the core some other way.
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/elog.h"
#include "utils/timestamp.h"
}

#define POOLGOV_IN_POSTGRES 1
