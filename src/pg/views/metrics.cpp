// poolgov.metrics(). Two phases, so no C++ object is alive while PostgreSQL
// may raise an error: (1) copy everything into palloc'd plain data through
// the read model, the same calls poolgov.stats, .roles, .databases and
// .health() make; (2) format it in C++ into a malloc'd buffer (no
// PostgreSQL call there); then copy that into the text result.
#include "postgres.hpp"

extern "C" {
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "postmaster/postmaster.h"
#include "utils/builtins.h"
#include "utils/guc.h"
}

#include "guard.hpp"
#include "views/health.hpp"
#include "views/metrics.hpp"
#include "views/read_model.hpp"
#include "views/row_builder.hpp"
#include "session/admission.hpp"
#include "settings.hpp"
#include "shmem.hpp"

#include "poolgov/prometheus.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

using namespace poolgov;
using namespace poolgov::pg;

namespace poolgov::pg {

}  // namespace poolgov::pg

namespace {

// Everything phase 1 copies: plain, palloc'd.
struct MetricsInput {
    ReadModel model;
    HealthReport *health;
    int max_connections;
    int max_rows;
};

prom::Row to_row(const char *label, const CounterEntry &e, const StmtCounters &c, int connections)
{
    prom::Row r;
    r.label = label;
    r.connections = static_cast<uint64_t>(connections);
    r.statements = c.statements;
    r.errors = c.errors;
    r.slow = c.slow;
    r.rejected = e.rejected;
    r.admitted = c.admitted;
    r.admission_timeouts = c.admission_timeouts;
    r.duration_seconds = static_cast<double>(c.total_ns) / 1e9;
    r.buckets = prom::cumulative_buckets(c.latency);
    return r;
}

std::vector<prom::Row> rows_of(const Rollup &r, const char *const *labels, int max_rows)
{
    std::vector<prom::Row> rows;
    rows.reserve(static_cast<size_t>(r.n));
    for (int i = 0; i < r.n; ++i)
        rows.push_back(to_row(labels[i], r.entries[i], r.stats[i], r.connections[i]));
    return prom::cap_rows(std::move(rows), max_rows);
}

// Phase 2: C++ only. Returns a malloc'd copy of the exposition (the caller
// frees it); throws std::bad_alloc like any C++ allocation.
char *format(const MetricsInput &in, const char *const *role_labels, const char *const *db_labels,
             size_t *len)
{
    const GlobalRead &g = *in.model.global;
    const LoginCounters &l = in.model.logins;
    prom::Snapshot s;
    s.active = g.tally.active;
    s.idle = g.tally.idle;
    s.idle_in_transaction = g.tally.idle_in_transaction;
    s.other = g.tally.connections - g.tally.active - g.tally.idle - g.tally.idle_in_transaction;
    s.max_connections = in.max_connections;
    s.accepted = l.accepted;
    s.rejected_budget = l.rejected_budget;
    s.rejected_reserve = l.rejected_reserve;
    s.rejected_breaker = l.rejected_breaker;
    s.warned = l.warned;
    s.auth_failures = l.auth_failures;
    s.statements = g.all.statements;
    s.errors = g.all.errors;
    s.slow = g.all.slow;
    s.duration_seconds = static_cast<double>(g.all.total_ns) / 1e9;
    s.buckets = prom::cumulative_buckets(g.all.latency);
    s.admission_running = g.tally.admission_running;
    s.admission_queued = g.tally.admission_queued;
    s.admission_admitted = g.adm.admitted;
    s.admission_timeouts = g.adm.timeouts;
    s.admission_overdrafts = g.adm.overdrafts;
    s.admission_waits = g.adm.waited;
    s.admission_wait_seconds = static_cast<double>(g.adm.wait_total_us) / 1e6;
    s.admission_mean_wait_seconds = static_cast<double>(g.adm.wait_mean_us) / 1e6;
    s.admission_fairness_bound_seconds =
        static_cast<double>(admission_fairness_bound_us(g.adm, admission_limits())) / 1e6;
    s.idle_terminated = l.idle_terminated;
    s.pauses = g.pauses_in_force;
    s.paused_transactions = g.paused_transactions;
    s.pauses_total = g.pauses_total;
    s.pause_timeouts = g.pause_timeouts;
    s.pause_lock_admits = g.pause_lock_admits;
    s.paused_admission_timeouts = g.paused_admission_timeouts;
    for (int i = 0; i < in.health->n; ++i) {
        const HealthCheck &c = in.health->checks[i];
        s.health.push_back({c.check, static_cast<int>(c.status)});
        if (strcmp(c.check, "breakers_open") == 0 && c.has_value)
            s.breakers_open = static_cast<int64_t>(c.value);
    }
    s.roles = rows_of(in.model.roles, role_labels, in.max_rows);
    s.databases = rows_of(in.model.databases, db_labels, in.max_rows);
    std::string text = prom::format_metrics(s);
    char *out = static_cast<char *>(malloc(text.size() + 1));
    if (out == nullptr)
        throw std::bad_alloc();
    memcpy(out, text.data(), text.size() + 1);
    *len = text.size();
    return out;
}

// Names recorded at login are the client's bytes, before any encoding was
// chosen. A label must be valid text, and two names must not become one
// label: a byte that does not start a valid character is written \xNN
// (where the views show '?', which would give "caf\xe9" and "caf\xe8" the
// one label "caf?").
const char *label_text(const char *s, int encoding)
{
    int len = static_cast<int>(strlen(s));
    if (pg_verify_mbstr(encoding, s, len, true))
        return s;
    StringInfoData out;
    initStringInfo(&out);
    for (int i = 0; i < len;) {
        int n = IS_HIGHBIT_SET(s[i]) ? pg_encoding_verifymbchar(encoding, s + i, len - i) : 1;
        if (n <= 0) {
            appendStringInfo(&out, "\\x%02x", static_cast<unsigned char>(s[i]));
            n = 1;
        } else {
            appendBinaryStringInfo(&out, s + i, n);
        }
        i += n;
    }
    return out.data;
}

const char **labels_of(const Rollup &r, int encoding)
{
    auto **labels = static_cast<const char **>(palloc(sizeof(char *) * (r.n + 1)));
    for (int i = 0; i < r.n; ++i)
        labels[i] = label_text(r.entries[i].name, encoding);
    return labels;
}

}  // namespace

namespace poolgov::pg {

char *metrics_exposition(size_t *len, int label_encoding)
{
    MetricsInput in{};
    in.model = read_model();
    in.health = health_report(in.model.global->tally);
    in.max_connections = MaxConnections;
    in.max_rows = settings::metrics_max_roles;
    const char **role_labels = labels_of(in.model.roles, label_encoding);
    const char **db_labels = labels_of(in.model.databases, label_encoding);

    char *body = nullptr;
    const char *failed = catch_cxx([&] { body = format(in, role_labels, db_labels, len); });
    if (failed != nullptr)
        raise_cxx_error(failed);
    return body;
}

}  // namespace poolgov::pg

POOLGOV_SQL_FUNCTION(poolgov_metrics)
{
    require_shmem();
    size_t len = 0;
    char *body = metrics_exposition(&len, GetDatabaseEncoding());
    // No C++ object alive from here: copy the malloc'd body into the text
    // result and free it before anything can raise an error.
    auto *result = static_cast<text *>(palloc_extended(VARHDRSZ + len, MCXT_ALLOC_NO_OOM));
    if (result != nullptr) {
        SET_VARSIZE(result, VARHDRSZ + len);
        memcpy(VARDATA(result), body, len);
    }
    free(body);
    if (result == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
                        errmsg("out of memory for the output of poolgov.metrics()"),
                        errdetail("The exposition is %zu bytes.", len),
                        errhint("Lower poolgov.metrics_max_roles.")));
    PG_RETURN_TEXT_P(result);
}
