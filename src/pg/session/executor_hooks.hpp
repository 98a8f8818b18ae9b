#pragma once

namespace poolgov::pg {
void executor_hooks_install();
}
