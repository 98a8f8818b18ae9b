// Reading the live connections: our slots (identity and counters) joined by
// pid with PostgreSQL's backend status array, which supplies the state
// (active / idle / idle in transaction), state_since and the current query,
// exactly as pg_stat_activity shows them.
#pragma once

#include "postgres.hpp"

extern "C" {
#include "utils/backend_status.h"
}

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

// The backend status of a pid in this transaction's pgstat snapshot (the same
// snapshot pg_stat_activity reads), or null.
class BackendIndex {
public:
    void build();
    const PgBackendStatus *find(int pid) const;

private:
    struct Entry {
        int pid;
        const PgBackendStatus *status;
    };
    static int compare_pid(const void *a, const void *b);
    Entry *entries_ = nullptr;
    int n_ = 0;
};

ConnState state_of(const PgBackendStatus *be);
const char *state_name(const PgBackendStatus *be);

// Does the current user see other roles' activity details?
bool can_see_details_of(Oid role);

}  // namespace poolgov::pg
