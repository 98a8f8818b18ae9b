// The governor's opt-in /metrics endpoint (poolgov.metrics_port > 0): a
// small non-blocking HTTP server inside the governor's loop. The governor
// sleeps in metrics_http_wait() -- one wait on its latch and the endpoint's
// sockets together, with the timeout to its next sample -- so a client can
// never delay sampling by more than the time it takes to build one
// exposition. docs/monitoring.md describes the limits.
#pragma once

namespace poolgov::pg {

// Governor only. Applies poolgov.metrics_* (at start and after each reload):
// opens, closes or moves the listening socket when they changed.
void metrics_http_configure();

// Governor only. Waits up to timeout_ms for the latch or an endpoint socket,
// serves what is ready, and returns (as WaitLatch with WL_LATCH_SET |
// WL_TIMEOUT | WL_EXIT_ON_PM_DEATH would; the caller resets the latch).
void metrics_http_wait(long timeout_ms);

}  // namespace poolgov::pg
