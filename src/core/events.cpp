#include "poolgov/events.hpp"

#include "poolgov/no_postgres.hpp"

namespace poolgov {

const char *event_kind_name(EventKind k)
{
    switch (k) {
    case EventKind::RejectBudget:
        return "reject_budget";
    case EventKind::WarnBudget:
        return "warn_budget";
    case EventKind::RejectReserve:
        return "reject_reserve";
    case EventKind::WarnReserve:
        return "warn_reserve";
    case EventKind::RejectBreaker:
        return "reject_breaker";
    case EventKind::BreakerOpen:
        return "breaker_open";
    case EventKind::BreakerClose:
        return "breaker_close";
    case EventKind::BudgetChanged:
        return "budget_changed";
    case EventKind::AdmissionTimeout:
        return "admission_timeout";
    case EventKind::AdmissionOverdraft:
        return "admission_overdraft";
    case EventKind::AdmissionIdle:
        return "admission_idle";
    case EventKind::BreakerReset:
        return "breaker_reset";
    case EventKind::SuperuserOverdraft:
        return "superuser_overdraft";
    case EventKind::TerminateIdle:
        return "terminate_idle";
    case EventKind::Pause:
        return "pause";
    case EventKind::Resume:
        return "resume";
    }
    return "unknown";
}

}  // namespace poolgov
