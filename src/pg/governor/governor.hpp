#pragma once

namespace poolgov::pg {
void governor_register();
void governor_main();
}  // namespace poolgov::pg
