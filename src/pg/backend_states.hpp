// The state of a client backend, read from PostgreSQL's backend status
// array the way pg_stat_activity reads it: by the views, the governor's
// sample and idle reclamation alike.
#pragma once

#include "postgres.hpp"

extern "C" {
#include "utils/backend_status.h"
}

#include "poolgov/history.hpp"

namespace poolgov::pg {

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

}  // namespace poolgov::pg
