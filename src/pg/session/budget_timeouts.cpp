#include "postgres.hpp"

#include "session/budget_timeouts.hpp"

extern "C" {
#include "access/xact.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/backend_status.h"
#include "utils/timeout.h"
}

#include "events_log.hpp"
#include "session/connection.hpp"
#include "session/termination.hpp"
#include "locks.hpp"
#include "shmem.hpp"

#include "poolgov/atomics.hpp"

#include "poolgov/format.hpp"

#include <algorithm>

namespace poolgov::pg {

namespace {

bool registered = false;
TimeoutId timeout_id;

// What this connection's budgets say, recomputed when the budgets change.
struct IdleProfile {
    uint64_t generation;
    int64_t timeout_ms;       // 0: none
    char budget[kDetailLen];  // the rule, for the message
};
IdleProfile idle = {~uint64_t{0}, 0, {}};

void refresh()
{
    const BudgetState &b = shm.state->budget;
    uint64_t gen = std::max(atomic::load_acquire(b.banks[0].generation),
                            atomic::load_acquire(b.banks[1].generation));
    if (gen == idle.generation)
        return;
    // Our own slot and pool chain change only when we exit: read unlocked.
    int n = slot_closure_length(*my_slot, b.members);
    auto *closure = static_cast<uint32_t *>(palloc(sizeof(uint32_t) * (n + 1)));
    slot_closure(*my_slot, b.members, closure);
    ClientAddr addr;
    (void)parse_login_addr(my_slot->client_addr, addr);
    IdleProfile p{};
    lock_acquire(shm.state->main_lock, LW_SHARED);
    const BudgetSet &set = active_budgets();
    p.generation = set.generation;
    Governance g = govern_login(set, my_slot->role_oid, closure, n, my_slot->db_oid, addr);
    if (g.idle_in_transaction_timeout_rule >= 0) {
        const BudgetRule &r = set.rules[g.idle_in_transaction_timeout_rule];
        p.timeout_ms = g.idle_in_transaction_timeout_ms;
        copy_text(p.budget, describe_rule(r).text);
    }
    lock_release(shm.state->main_lock);
    pfree(closure);
    idle = p;
}

void rewrite_fatal(ErrorData *edata)
{
    edata->sqlerrcode = ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT;
    edata->message = pstrdup(
        "terminating connection due to the idle-in-transaction timeout of "
        "its pg_poolgov budget");
    edata->detail = psprintf(
        "The session was idle in a transaction for %lld ms; the budget for "
        "%s allows %lld ms (idle_in_transaction_timeout).",
        static_cast<long long>(idle.timeout_ms), idle.budget,
        static_cast<long long>(idle.timeout_ms));
    edata->hint = pstrdup(
        "Commit or roll back promptly; poolgov.set_budget_rule() sets a "
        "budget's idle_in_transaction_timeout.");
    if (my_slot != nullptr) {
        char detail[kDetailLen];
        format_into(detail,
                    "idle in transaction for {} ms: idle_in_transaction_timeout of the "
                    "budget for {}",
                    idle.timeout_ms, idle.budget);
        log_event(
            EventKind::TerminateIdle,
            EventFields{my_slot->role_name, my_slot->db_name, MyProcPid, my_slot->client_addr},
            detail);
    }
}

// Timeout handler (signal context): only if still idle in the transaction.
void on_timeout()
{
    if (MyBEEntry != nullptr && (MyBEEntry->st_state == STATE_IDLEINTRANSACTION ||
                                 MyBEEntry->st_state == STATE_IDLEINTRANSACTION_ABORTED))
        termination_arm(rewrite_fatal);
    else
        SetLatch(MyLatch);
}

}  // namespace

bool budget_idle_armed = false;

void budget_idle_disarm()
{
    budget_idle_armed = false;
    if (registered && get_timeout_active(timeout_id))
        disable_timeout(timeout_id, false);
}

void budget_idle_statement_check()
{
    if (my_slot == nullptr || shm.state == nullptr || !IsTransactionBlock())
        return;
    refresh();
    if (idle.timeout_ms <= 0)
        return;
    if (!registered) {
        timeout_id = RegisterTimeout(USER_TIMEOUT, on_timeout);
        registered = true;
    }
    enable_timeout_after(timeout_id,
                         static_cast<int>(std::min<int64_t>(idle.timeout_ms, INT32_MAX)));
    budget_idle_armed = true;
}

}  // namespace poolgov::pg
