// poolgov.admission_order (one row): the grant order's bound in force and
// the recent mean wait it follows (policy: poolgov/admission.hpp; why:
// docs/admission.md, "Order within a class"). Read without the admission
// lock: each figure is one aligned word that grants store whole, and the
// row is a glance at a moving queue, not a snapshot of it.
#include "postgres.hpp"

#include "guard.hpp"
#include "session/admission.hpp"
#include "shmem.hpp"
#include "views/row_builder.hpp"

using namespace poolgov;
using namespace poolgov::pg;

POOLGOV_SQL_FUNCTION(poolgov_admission_order)
{
    require_shmem();
    const AdmissionCounters &counters = *shm.admission.counters;
    AdmissionLimits lim = admission_limits();
    auto mean_us = static_cast<int64_t>(atomic::load(counters.wait_mean_us));
    int64_t bound_us = admission_fairness_bound_us(counters, lim);

    RowBuilder row(fcinfo);
    row.float8(static_cast<double>(mean_us) / 1000.0)
        .float8(static_cast<double>(bound_us) / 1000.0)
        .float8(static_cast<double>(lim.fairness_factor_pct) / 100.0)
        .int4(static_cast<int32>(lim.fairness_us / 1000));
    row.emit();
    return (Datum)0;
}
