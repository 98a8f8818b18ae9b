#include "postgres.hpp"

#include "session/statement_clock.hpp"

#if POOLGOV_TSC_CLOCK
#include <cpuid.h>
#endif
#include <cstdio>

namespace poolgov::pg {

bool clock_use_tsc = false;
TickScale clock_scale = kTickIdentity;

namespace {

uint64_t monotonic_ns()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000 + static_cast<uint64_t>(ts.tv_nsec);
}

#if POOLGOV_TSC_CLOCK
bool invariant_tsc()
{
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid_max(0x80000000, nullptr) < 0x80000007 ||
        !__get_cpuid(0x80000007, &a, &b, &c, &d))
        return false;
    return (d >> 8) & 1;
}

// The kernel's clocksource, as sysfs shows it ("" if unreadable).
void kernel_clocksource(char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f == nullptr)
        return;
    if (fgets(buf, static_cast<int>(len), f) == nullptr)
        buf[0] = '\0';
    fclose(f);
}

// One reading of both clocks, the counter read on either side of the
// clock_gettime and averaged.
void paired_reading(uint64_t &tsc, uint64_t &ns)
{
    uint64_t before = __rdtsc();
    ns = monotonic_ns();
    uint64_t after = __rdtsc();
    tsc = before + (after - before) / 2;
}
#endif

constexpr uint64_t kCalibrationNs = 5000000;  // 5 ms

}  // namespace

void statement_clock_calibrate()
{
#if POOLGOV_TSC_CLOCK
    char source[64];
    kernel_clocksource(source, sizeof(source));
    if (tsc_usable(source, invariant_tsc())) {
        uint64_t tsc0, ns0, tsc1, ns1;
        paired_reading(tsc0, ns0);
        do
            paired_reading(tsc1, ns1);
        while (ns1 - ns0 < kCalibrationNs);
        TickScale s = tick_scale_from(tsc1 - tsc0, ns1 - ns0);
        if (s.mult != 0) {
            clock_scale = s;
            clock_use_tsc = true;
            ereport(DEBUG1,
                    (errcode(ERRCODE_SUCCESSFUL_COMPLETION),
                     errmsg_internal(
                         "pg_poolgov: statement clock: time-stamp counter at %.3f MHz",
                         1e3 * static_cast<double>(tsc1 - tsc0) / static_cast<double>(ns1 - ns0))));
            return;
        }
    }
#endif
    clock_use_tsc = false;
    clock_scale = kTickIdentity;
    ereport(DEBUG1,
            (errcode(ERRCODE_SUCCESSFUL_COMPLETION),
             errmsg_internal("pg_poolgov: statement clock: clock_gettime(CLOCK_MONOTONIC)")));
}

StatementTimer statement_clock_none = {nullptr, InvalidSubTransactionId, 0};
StatementTimer *statement_clock_current = &statement_clock_none;

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
            t->ticks = 0;
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
    if (t->qd != qd)
        t = statement_clock_find(qd);
    if (t == nullptr)
        return -1;
    auto ns = static_cast<int64_t>(statement_timer_ns(t));
    *t = timers[--n_timers];
    statement_clock_current = &statement_clock_none;
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
    statement_clock_current = &statement_clock_none;
}

void statement_clock_stamp(SubTransactionId parent)
{
    for (int i = 0; i < n_timers; ++i)
        if (timers[i].subxact == InvalidSubTransactionId)
            timers[i].subxact = parent;
}

}  // namespace poolgov::pg
