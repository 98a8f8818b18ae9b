#pragma once

namespace poolgov::pg {
void auth_hook_install();
}
