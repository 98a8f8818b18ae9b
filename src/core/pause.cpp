#include "poolgov/pause.hpp"

#include "poolgov/no_postgres.hpp"

namespace poolgov {

namespace {

void copy_scope(const PauseScope &from, PauseScope &to)
{
    to.in_force = atomic::load(from.in_force);
    to.db_oid = atomic::load(from.db_oid);
    to.role_oid = atomic::load(from.role_oid);
    to.by_role = atomic::load(from.by_role);
    to.by_pid = atomic::load(from.by_pid);
    to.unused = 0;
    to.since_us = atomic::load(from.since_us);
    to.renewed_us = atomic::load(from.renewed_us);
}

// Every write to a scope goes through here, inside the change counter.
template <class Write>
void change(PauseTable &t, Write write)
{
    write_begin(t.cc);
    write();
    atomic::fetch_add_seq_cst(t.generation, uint64_t{1});
    write_end(t.cc);
}

}  // namespace

void pause_snapshot(const PauseTable &t, PauseTable *copy)
{
    read_consistent(t.cc, [&] {
        copy->generation = atomic::load(t.generation);
        for (int k = 0; k < kMaxPauses; ++k)
            copy_scope(t.scopes[k], copy->scopes[k]);
    });
    copy->n_in_force = atomic::load(t.n_in_force);
    copy->timeout_ms = atomic::load(t.timeout_ms);
}

uint64_t pause_generation(const PauseTable &t, bool *any)
{
    uint64_t g = atomic::load_seq_cst(t.generation);
    *any = atomic::load_seq_cst(t.n_in_force) != 0;
    return g;
}

int pause_find(const PauseTable &t, uint32_t db_oid, uint32_t role_oid)
{
    for (int k = 0; k < kMaxPauses; ++k) {
        const PauseScope &s = t.scopes[k];
        if (atomic::load(s.in_force) != 0 && atomic::load(s.db_oid) == db_oid &&
            atomic::load(s.role_oid) == role_oid)
            return k;
    }
    return -1;
}

int pause_add(PauseTable &t, uint32_t db_oid, uint32_t role_oid, uint32_t by_role, int32_t by_pid,
              int64_t now, bool *added)
{
    int k = pause_find(t, db_oid, role_oid);
    *added = k < 0;
    if (k >= 0) {
        change(t, [&] { atomic::store(t.scopes[k].renewed_us, now); });
        return k;
    }
    for (k = 0; k < kMaxPauses && atomic::load(t.scopes[k].in_force) != 0; ++k) {
    }
    if (k == kMaxPauses)
        return -1;
    // The count first, then the scope (see pause_generation in the header).
    atomic::fetch_add_seq_cst(t.n_in_force, uint32_t{1});
    PauseScope &s = t.scopes[k];
    change(t, [&] {
        atomic::store(s.db_oid, db_oid);
        atomic::store(s.role_oid, role_oid);
        atomic::store(s.by_role, by_role);
        atomic::store(s.by_pid, by_pid);
        atomic::store(s.since_us, now);
        atomic::store(s.renewed_us, now);
        atomic::store(s.in_force, uint32_t{1});
    });
    atomic::fetch_add(t.pauses, uint64_t{1});
    return k;
}

bool pause_remove(PauseTable &t, int k)
{
    if (k < 0 || k >= kMaxPauses || atomic::load(t.scopes[k].in_force) == 0)
        return false;
    change(t, [&] { atomic::store(t.scopes[k].in_force, uint32_t{0}); });
    atomic::fetch_add_seq_cst(t.n_in_force, uint32_t{0} - 1);
    atomic::fetch_add(t.resumes, uint64_t{1});
    return true;
}

int pause_expired(const PauseTable &t, int64_t now, int64_t timeout_us, int *out)
{
    if (timeout_us <= 0)
        return 0;
    int n = 0;
    for (int k = 0; k < kMaxPauses; ++k) {
        const PauseScope &s = t.scopes[k];
        if (atomic::load(s.in_force) != 0 && now - atomic::load(s.renewed_us) >= timeout_us)
            out[n++] = k;
    }
    return n;
}

}  // namespace poolgov
