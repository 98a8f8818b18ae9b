// Per-budget idle_in_transaction_timeout: a session that sits idle in a
// transaction block longer than the timeout of its budget (the most
// specific rule that sets one, by the core's govern_login) is ended, as
// PostgreSQL's idle_in_transaction_session_timeout ends it, with a message
// that names the budget. Works whether admission control is on or off.
// (The budget's admission_timeout is applied by admission control,
// session/admission.cpp.)
#pragma once

#include "postgres.hpp"

#include "shmem.hpp"

namespace poolgov::pg {

extern bool budget_idle_armed;  // this backend's timer may be running
void budget_idle_disarm();

// A top-level statement starts: the session is not idle.
inline void budget_idle_statement_started()
{
    if (budget_idle_armed)
        budget_idle_disarm();
}
// A top-level statement ended: arm the timer if the session stays in a
// transaction block and its budget sets a timeout. Nothing to do (one load)
// while no budget rule sets an idle_in_transaction_timeout.
void budget_idle_statement_check();
inline void budget_idle_statement_done()
{
    if (shm.state != nullptr && atomic::load(shm.state->budget.idle_in_transaction_rules) != 0)
        [[unlikely]]
        budget_idle_statement_check();
}

}  // namespace poolgov::pg
