// Reading the live connections: our slots (identity and counters) joined by
// pid with PostgreSQL's backend status array, which supplies the state
// (active / idle / idle in transaction), state_since and the current query,
// exactly as pg_stat_activity shows them.
#pragma once

#include "postgres.hpp"

#include "backend_states.hpp"

#include "poolgov/admission.hpp"
#include "poolgov/history.hpp"
#include "poolgov/slots.hpp"

namespace poolgov::pg {

struct LiveConnection {
    ConnSlot slot;
    StmtCounters stmts;
    int index;           // slot index
    AdmissionEntry adm;  // filled by copy_admission_entries
};

// Copies of the slots in use with their counters (palloc'd, in slot order).
int copy_live_connections(LiveConnection **out);

// Fills each copy's admission entry, at one instant.
void copy_admission_entries(LiveConnection *conns, int n);

// none | running | heavy | overdraft | queued | queued_heavy
const char *admission_name(const AdmissionEntry &e);

}  // namespace poolgov::pg
