// Ending a session with a FATAL that says why. A signal or timeout handler
// that decided the session must end calls termination_arm() with a function
// that rewrites PostgreSQL's "terminating connection due to administrator
// command" (message, detail, hint, SQLSTATE) before it reaches the client
// and the server log. Used by admission control (idle in transaction with a
// slot) and idle reclamation (src/pg/idle_reclaim.cpp).
#pragma once

#include "postgres.hpp"

namespace poolgov::pg {

using TerminationRewrite = void (*)(ErrorData *edata);

// Signal-safe: remembers `rewrite`, sets ProcDiePending / InterruptPending
// and the latch, so the backend dies at its next CHECK_FOR_INTERRUPTS.
void termination_arm(TerminationRewrite rewrite);

// Installs the emit_log_hook (once, from _PG_init).
void termination_install();

}  // namespace poolgov::pg
