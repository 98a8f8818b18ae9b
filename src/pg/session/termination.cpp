#include "postgres.hpp"

#include "session/termination.hpp"

extern "C" {
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/elog.h"
}

namespace poolgov::pg {

namespace {

emit_log_hook_type prev_emit_log_hook = nullptr;
volatile TerminationRewrite armed = nullptr;

// Rewrites the FATAL of the termination we asked for (the first FATAL
// after arming), then hands the report on.
void emit_log(ErrorData *edata)
{
    TerminationRewrite rewrite = armed;
    if (rewrite != nullptr && edata->elevel == FATAL) {
        armed = nullptr;
        rewrite(edata);
    }
    if (prev_emit_log_hook)
        prev_emit_log_hook(edata);
}

}  // namespace

void termination_arm(TerminationRewrite rewrite)
{
    armed = rewrite;
    ProcDiePending = true;
    InterruptPending = true;
    SetLatch(MyLatch);
}

void termination_install()
{
    prev_emit_log_hook = emit_log_hook;
    emit_log_hook = emit_log;
}

}  // namespace poolgov::pg
