#include "postgres.hpp"

#include "session/statement_clock.hpp"

namespace poolgov::pg {

StatementTimer *statement_clock_current = nullptr;

// Top-level statements open at once: usually one, a few with portals
// (cursors fetched in turn). With one open, it is timers[0] and current.
StatementTimer statement_clock_timers[kStatementTimers];
int statement_clock_n = 0;

namespace {

constexpr int kTimers = kStatementTimers;
StatementTimer (&timers)[kTimers] = statement_clock_timers;
int &n_timers = statement_clock_n;

}  // namespace

StatementTimer *statement_clock_find(const QueryDesc *qd)
{
    for (int i = 0; i < n_timers; ++i)
        if (timers[i].qd == qd)
            return statement_clock_current = &timers[i];
    return nullptr;
}

bool statement_clock_start_slow(const QueryDesc *qd)
{
    if (n_timers > 0) {
        if (StatementTimer *t = statement_clock_find(qd)) {
            t->subxact = InvalidSubTransactionId;
            t->ns = 0;
            return true;
        }
        if (n_timers == kTimers)
            return false;
    }
    StatementTimer *t = &timers[n_timers++];
    *t = StatementTimer{qd, InvalidSubTransactionId, 0};
    statement_clock_current = t;
    return true;
}

int64_t statement_clock_stop_slow(const QueryDesc *qd)
{
    StatementTimer *t = statement_clock_current;
    if (t == nullptr || t->qd != qd)
        t = statement_clock_find(qd);
    if (t == nullptr)
        return -1;
    int64_t ns = t->ns;
    *t = timers[--n_timers];
    statement_clock_current = nullptr;
    return ns;
}

// Subtransaction ids grow within a transaction: the ones at or after `from`
// are the aborted subtransaction and its children. A timer not stamped
// started after the last subtransaction start, so inside the aborted one
// (any subtransaction begun after it started stamped it with its parent,
// which the abort of a later subtransaction keeps).
void statement_clock_forget(SubTransactionId from)
{
    int kept = 0;
    for (int i = 0; i < n_timers; ++i)
        if (from != InvalidSubTransactionId && timers[i].subxact != InvalidSubTransactionId &&
            timers[i].subxact < from)
            timers[kept++] = timers[i];
    n_timers = kept;
    statement_clock_current = nullptr;
}

void statement_clock_stamp(SubTransactionId parent)
{
    for (int i = 0; i < n_timers; ++i)
        if (timers[i].subxact == InvalidSubTransactionId)
            timers[i].subxact = parent;
}

}  // namespace poolgov::pg
