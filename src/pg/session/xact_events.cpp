// The one transaction callback (see xact_events.hpp).
#include "postgres.hpp"

#include "session/xact_events.hpp"

namespace poolgov::pg {

uint32_t xact_work = 0;
bool xact_gate_passed = false;
LocalTransactionId xact_block_lxid = 0;  // InvalidLocalTransactionId

namespace {

void dispatch(XactEvent event)
{
    admission_xact_event(event);
    budgets_xact_event(event);
    statements_xact_event(event);
}

// At PRE_COMMIT only the budget table has work (admission control and the
// statement path act at COMMIT, ABORT and PREPARE).
__attribute__((noinline)) void on_xact_work(XactEvent event)
{
    if (event == XACT_EVENT_PRE_COMMIT) {
        if (xact_work & kXactWorkBudgets)
            budgets_xact_event(event);
        return;
    }
    if (event == XACT_EVENT_COMMIT) {
        uint32_t work = xact_work;
        if (work & kXactWorkAdmission)
            admission_xact_event(event);
        if (work & kXactWorkBudgets)
            budgets_xact_event(event);
        if (work & kXactWorkStatements)
            statements_xact_event(event);
    } else {
        dispatch(event);
    }
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE) {
        xact_work = 0;
        xact_gate_passed = false;
    }
}

// The statement path's case first: a commit with nothing flagged.
// PRE_COMMIT has work only for the budget table.
void on_xact(XactEvent event, void *)
{
    if (event == XACT_EVENT_PRE_COMMIT) {
        if ((xact_work & kXactWorkBudgets) == 0)
            return;
    } else if (event == XACT_EVENT_COMMIT) {
        xact_gate_passed = false;
        if (xact_work == 0)
            return;
        if (xact_work == kXactWorkAdmission) {  // the slot goes back, nothing else
            xact_work = 0;
            admission_commit();
            return;
        }
    }
    on_xact_work(event);
}

}  // namespace

void xact_events_install() { RegisterXactCallback(on_xact, nullptr); }

}  // namespace poolgov::pg
