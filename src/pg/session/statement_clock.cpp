#include "postgres.hpp"

#include "session/statement_clock.hpp"

namespace poolgov::pg {

namespace {

struct Timer {
    const QueryDesc *qd;
    SubTransactionId subxact;  // where the statement started
    double seconds;
};

// Top-level statements open at once: usually one, a few with portals.
constexpr int kTimers = 8;
Timer timers[kTimers];
int n_timers = 0;

Timer *find(const QueryDesc *qd)
{
    for (int i = 0; i < n_timers; ++i)
        if (timers[i].qd == qd)
            return &timers[i];
    return nullptr;
}

}  // namespace

bool statement_clock_start(const QueryDesc *qd)
{
    if (Timer *t = find(qd)) {
        t->seconds = 0;
        return true;
    }
    if (n_timers == kTimers)
        return false;
    timers[n_timers++] = Timer{qd, GetCurrentSubTransactionId(), 0.0};
    return true;
}

double *statement_clock_of(const QueryDesc *qd)
{
    Timer *t = n_timers > 0 ? find(qd) : nullptr;
    return t ? &t->seconds : nullptr;
}

double statement_clock_stop(const QueryDesc *qd)
{
    Timer *t = find(qd);
    if (t == nullptr)
        return -1.0;
    double seconds = t->seconds;
    *t = timers[--n_timers];
    return seconds;
}

// Subtransaction ids grow within a transaction: the ones at or after `from`
// are the aborted subtransaction and its children.
void statement_clock_forget(SubTransactionId from)
{
    int kept = 0;
    for (int i = 0; i < n_timers; ++i)
        if (from != InvalidSubTransactionId && timers[i].subxact < from)
            timers[kept++] = timers[i];
    n_timers = kept;
}

}  // namespace poolgov::pg
