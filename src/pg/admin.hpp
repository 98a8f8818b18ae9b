#pragma once

#include "postgres.hpp"

namespace poolgov::pg {
// Superusers and members of poolgov_admin; otherwise ERROR 42501.
void require_admin(const char *action);
}
