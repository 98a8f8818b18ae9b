#include "guc.hpp"

#include "postgres.hpp"

extern "C" {
#include "postmaster/postmaster.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/varlena.h"
}

#include "compat.hpp"

#include "poolgov/budgets.hpp"

#include "admission.hpp"
#include "capacity.hpp"
#include "health.hpp"
#include "idle_reclaim.hpp"
#include "metrics.hpp"
#include "metrics_http.hpp"
#include "shmem.hpp"

namespace poolgov::pg::guc {

int enforce = static_cast<int>(EnforceMode::On);
int track = TRACK_TOP;
bool track_utility = true;
bool exempt_superusers = true;
int default_budget = -1;
int reserved_connections = 0;
char *priority_roles = nullptr;
int slow_query_threshold = 100;
bool log_slow_queries = false;
int slow_query_log_size = 1000;
int max_query_text = 1024;
int sample_interval = 1000;
int history_size = 3600;
int max_budgets = 1000;
int auth_failure_limit = 5;
int auth_failure_window = 30;
int auth_lockout = 30;
char *database = nullptr;

namespace {

const struct config_enum_entry enforce_options[] = {
    {"off", static_cast<int>(EnforceMode::Off), false},
    {"warn", static_cast<int>(EnforceMode::Warn), false},
    {"on", static_cast<int>(EnforceMode::On), false},
    {"true", static_cast<int>(EnforceMode::On), true},
    {"false", static_cast<int>(EnforceMode::Off), true},
    {nullptr, 0, false},
};

const struct config_enum_entry track_options[] = {
    {"none", TRACK_NONE, false},
    {"top", TRACK_TOP, false},
    {"all", TRACK_ALL, false},
    {nullptr, 0, false},
};

// The list must parse as identifiers; whether the roles exist is checked at
// login, as for other role-list settings (a missing role simply never matches).
bool check_role_list(char **newval, void **extra, GucSource source)
{
    char *raw = pstrdup(*newval);
    List *names = NIL;
    bool ok = SplitIdentifierString(raw, ',', &names);
    list_free(names);
    pfree(raw);
    if (!ok)
        GUC_check_errdetail("List syntax is invalid.");
    return ok;
}

// The slow-query view copies the whole ring into one palloc'd block, which
// PostgreSQL caps at 1 GB; keep the ring well below that. Both settings are
// read at preload, so shrink the entry count there, visibly (SHOW agrees).
constexpr uint64_t kMaxSlowLogBytes = 256ull * 1024 * 1024;

void clamp_slow_query_log()
{
    uint64_t stride = slowlog_stride();
    uint64_t wanted = static_cast<uint64_t>(slow_query_log_size) * stride;
    if (wanted <= kMaxSlowLogBytes)
        return;
    int fit = static_cast<int>(kMaxSlowLogBytes / stride);
    ereport(WARNING,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
             errmsg("poolgov.slow_query_log_size lowered from %d to %d", slow_query_log_size,
                    fit),
             errdetail("%d entries of %llu bytes (poolgov.max_query_text = %d) would take %llu "
                       "MB; the slow-query ring is capped at %llu MB.",
                       slow_query_log_size, static_cast<unsigned long long>(stride),
                       max_query_text, static_cast<unsigned long long>(wanted >> 20),
                       static_cast<unsigned long long>(kMaxSlowLogBytes >> 20)),
             errhint("Lower poolgov.slow_query_log_size or poolgov.max_query_text.")));
    char value[16];
    snprintf(value, sizeof(value), "%d", fit);
    SetConfigOption("poolgov.slow_query_log_size", value, PGC_POSTMASTER, PGC_S_OVERRIDE);
}

// poolgov.reserved_connections must leave other roles at least one slot:
// at most max_connections - superuser_reserved_connections
// - reserved_connections (16+) - 1. Those are
// PGC_POSTMASTER and already set when the library is preloaded (the
// configuration is read before shared_preload_libraries), so this holds at
// the first load and at every reload. A larger value is clamped; the
// postmaster logs one WARNING, backends clamp silently.
bool check_reserved_connections(int *newval, void **extra, GucSource source)
{
    int limit = MaxConnections - compat::reserved_by_postgres() - 1;
    if (limit < 0)
        limit = 0;
    if (*newval <= limit)
        return true;
    if (!IsUnderPostmaster)
        ereport(WARNING,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("poolgov.reserved_connections = %d is more than the server can reserve; "
                        "using %d",
                        *newval, limit),
                 compat::postgres_reserved_connections() > 0
                     ? errdetail("max_connections is %d, superuser_reserved_connections is %d "
                                 "and reserved_connections is %d, so at most %d slots can be "
                                 "kept for priority roles while one stays open to other roles.",
                                 MaxConnections, compat::superuser_reserved_connections(),
                                 compat::postgres_reserved_connections(), limit)
                     : errdetail("max_connections is %d and superuser_reserved_connections is "
                                 "%d, so at most %d slots can be kept for priority roles while "
                                 "one stays open to other roles.",
                                 MaxConnections, compat::superuser_reserved_connections(),
                                 limit),
                 errhint("Lower poolgov.reserved_connections, or raise max_connections.")));
    *newval = limit;
    return true;
}

// poolgov.database: a database name (whether it exists is the governor's
// business: it logs that once and keeps logins working).
bool check_database(char **newval, void **extra, GucSource source)
{
    size_t len = *newval == nullptr ? 0 : strlen(*newval);
    if (len == 0) {
        GUC_check_errdetail("poolgov.database must name the database whose poolgov.budgets "
                            "table the governor reads.");
        return false;
    }
    if (len >= NAMEDATALEN) {
        GUC_check_errdetail("The name is %zu bytes long, longer than %d, the longest a "
                            "database name can be.",
                            len, NAMEDATALEN - 1);
        return false;
    }
    return true;
}

}  // namespace

void define_all()
{
    DefineCustomEnumVariable(
        "poolgov.enforce", "Whether connection budgets and the priority reserve refuse logins.",
        "off: no checks; warn: log and count what on would refuse, let the login in; "
        "on: refuse.",
        &enforce, enforce, enforce_options, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomEnumVariable("poolgov.track", "Which statements pg_poolgov times.",
                             "none, top (statements sent by clients) or all (also nested "
                             "statements inside functions).",
                             &track, track, track_options, PGC_SUSET, 0, nullptr, nullptr,
                             nullptr);
    DefineCustomBoolVariable("poolgov.track_utility",
                             "Whether utility commands (DDL, COPY, ...) are timed.", nullptr,
                             &track_utility, track_utility, PGC_SUSET, 0, nullptr, nullptr,
                             nullptr);
    DefineCustomBoolVariable("poolgov.exempt_superusers",
                             "Whether superusers are exempt from budgets and the reserve.",
                             nullptr, &exempt_superusers, exempt_superusers, PGC_SIGHUP, 0,
                             nullptr, admission_assign_exempt_superusers, nullptr);
    DefineCustomIntVariable("poolgov.default_budget",
                            "Connection budget of a role that has no budget of its own.",
                            "-1 means unlimited.", &default_budget, default_budget, -1,
                            MAX_BACKENDS, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.reserved_connections",
                            "Connection slots kept for priority roles.",
                            "Counted below superuser_reserved_connections: the last N "
                            "non-superuser slots admit only priority roles.",
                            &reserved_connections, reserved_connections, 0, MAX_BACKENDS,
                            PGC_SIGHUP, 0, check_reserved_connections, nullptr, nullptr);
    DefineCustomStringVariable("poolgov.priority_roles",
                               "Roles (and members of roles) that may use the reserved slots.",
                               "Comma-separated role names.", &priority_roles, "",
                               PGC_SIGHUP, GUC_LIST_INPUT, check_role_list, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.slow_query_threshold",
                            "Statements at least this long are logged as slow.",
                            "-1 disables the slow-query log.", &slow_query_threshold,
                            slow_query_threshold, -1, INT_MAX, PGC_SUSET, GUC_UNIT_MS, nullptr,
                            nullptr, nullptr);
    DefineCustomBoolVariable("poolgov.log_slow_queries",
                             "Also write one server log line per slow statement.", nullptr,
                             &log_slow_queries, log_slow_queries, PGC_SUSET, 0, nullptr,
                             nullptr, nullptr);
    DefineCustomIntVariable("poolgov.slow_query_log_size",
                            "Slow statements kept in poolgov.slow_queries.", nullptr,
                            &slow_query_log_size, slow_query_log_size, 0, 100000,
                            PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.max_query_text",
                            "Bytes of query text kept per slow statement.", nullptr,
                            &max_query_text, max_query_text, 0, 65536, PGC_POSTMASTER,
                            GUC_UNIT_BYTE, nullptr, nullptr, nullptr);
    clamp_slow_query_log();
    DefineCustomIntVariable("poolgov.sample_interval", "Time between two governor samples.",
                            nullptr, &sample_interval, sample_interval, 10, 3600 * 1000,
                            PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    // Track S: the budget set's capacity (two copies of 184 bytes + index a
    // rule in shared memory; see docs/reference.md).
    DefineCustomIntVariable("poolgov.max_budgets",
                            "Rows of poolgov.budgets that can be enforced.",
                            "Shared memory is sized for this many budget rules at server "
                            "start; more rows are refused.",
                            &max_budgets, max_budgets, 1, 1000000, PGC_POSTMASTER, 0, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable("poolgov.history_size", "Samples kept in poolgov.history.",
                            nullptr, &history_size, history_size, 1, 1000000,
                            PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.auth_failure_limit",
                            "Failed logins per role and client address that open the breaker.",
                            "The breaker opens when failures exceed this within "
                            "poolgov.auth_failure_window; 0 disables it.",
                            &auth_failure_limit, auth_failure_limit, 0, 1000000, PGC_SIGHUP, 0,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.auth_failure_window",
                            "Window in which failed logins are counted.", nullptr,
                            &auth_failure_window, auth_failure_window, 1, 86400, PGC_SIGHUP,
                            GUC_UNIT_S, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.auth_lockout",
                            "How long an open breaker refuses logins.", nullptr, &auth_lockout,
                            auth_lockout, 1, 86400, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr,
                            nullptr);
    DefineCustomStringVariable("poolgov.database",
                               "Database whose poolgov.budgets table the governor reads.",
                               nullptr, &database, "postgres", PGC_POSTMASTER, 0,
                               check_database, nullptr, nullptr);
    admission_define_gucs();
    health_define_gucs();
    reclaim_define_gucs();
    metrics_define_gucs();  // track P
    metrics_http_define_gucs();  // track M
    capacity_define_gucs();  // track T: max_roles, max_databases
    MarkGUCPrefixReserved("poolgov");
}

}  // namespace poolgov::pg::guc
