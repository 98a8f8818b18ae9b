#pragma once

namespace poolgov::pg {

// Errors out (42710) when a pre-existing poolgov_admin is not what the
// install script would create (see install_checks.cpp).
void check_admin_role();

}  // namespace poolgov::pg
