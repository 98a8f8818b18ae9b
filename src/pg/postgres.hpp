// The one way src/pg files include PostgreSQL: C headers inside extern "C",
// before any C++ standard header (port.h redefines snprintf and friends).
// Files outside src/pg must not include this (see the static_assert in
// include/poolgov/no_postgres.hpp).
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
