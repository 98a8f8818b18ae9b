#include "postgres.hpp"

#include "guard.hpp"

namespace poolgov::pg {

void raise_cxx_error(const char *what)
{
    ereport(ERROR,
            (errcode(ERRCODE_INTERNAL_ERROR), errmsg("pg_poolgov internal error: %s", what)));
    pg_unreachable();
}

}  // namespace poolgov::pg
