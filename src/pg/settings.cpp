// Every poolgov.* setting (settings.hpp): the variables, their check and
// assign hooks, and define_settings(), which defines them group by group in
// the order of docs/reference.md.
#include "postgres.hpp"

#include "settings.hpp"

extern "C" {
#include "postmaster/postmaster.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/varlena.h"
}

#include "compat.hpp"
#include "listen_address.hpp"
#include "shmem.hpp"

#include "poolgov/atomics.hpp"
#include "poolgov/budgets.hpp"

#include <climits>

namespace poolgov::pg::settings {

int enforce = static_cast<int>(EnforceMode::On);
bool exempt_superusers = true;
int default_budget = -1;
int reserved_connections = 0;
char *priority_roles = nullptr;
char *database = nullptr;

int track = TRACK_TOP;
bool track_utility = true;
int slow_query_threshold = 100;
uint64_t slow_query_threshold_ns = 100 * uint64_t{1000000};
void (*track_assigned)(int) = nullptr;
bool log_slow_queries = false;
int slow_query_log_size = 1000;
int max_query_text = 1024;

int sample_interval = 1000;
int history_size = 3600;

int auth_failure_limit = 5;
int auth_failure_window = 30;
int auth_lockout = 30;

int max_active_transactions = 0;
int admission_timeout = 30000;
double heavy_cost = 100000.0;
int max_heavy_transactions = 0;
int admission_idle_timeout = 60000;
int admission_aging = 5000;
int admission_fairness_bound = 1000;
double admission_fairness_factor = 2.0;
int pause_timeout = 600000;

int idle_timeout = 0;
int pressure_threshold = 90;
int pressure_idle_timeout = 60000;
// Test aid (hidden, superuser): poolgov.terminate_idle() waits this long
// between choosing its victims and asking them, so a test can make a chosen
// session active meanwhile and check that it declines.
int debug_reclaim_delay = 0;

double utilization_warning = 60, utilization_critical = 80;
int p95_latency_warning = 500, p95_latency_critical = 2000;
double error_ratio_warning = 1, error_ratio_critical = 5;
double slow_per_minute_warning = 10, slow_per_minute_critical = 60;
int admission_wait_warning = 100, admission_wait_critical = 1000;
int breakers_open_warning = 1, breakers_open_critical = 10;
int cpu_cores = 0;
int effective_spindles = 1;
int recommend_min_history = 600;

int max_budgets = 1000;
int max_roles = 1000;
int max_databases = 100;

int metrics_max_roles = 100;
int metrics_port = 0;
char *metrics_listen_address = nullptr;
bool metrics_allow_remote = false;

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
             errmsg("poolgov.slow_query_log_size lowered from %d to %d", slow_query_log_size, fit),
             errdetail("%d entries of %llu bytes (poolgov.max_query_text = %d) would take %llu "
                       "MB; the slow-query ring is capped at %llu MB.",
                       slow_query_log_size, static_cast<unsigned long long>(stride), max_query_text,
                       static_cast<unsigned long long>(wanted >> 20),
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
                                 MaxConnections, compat::superuser_reserved_connections(), limit),
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
        GUC_check_errdetail(
            "poolgov.database must name the database whose poolgov.budgets "
            "table the governor reads.");
        return false;
    }
    if (len >= NAMEDATALEN) {
        GUC_check_errdetail(
            "The name is %zu bytes long, longer than %d, the longest a "
            "database name can be.",
            len, NAMEDATALEN - 1);
        return false;
    }
    return true;
}

// The queue's settings in shared memory. A backend's reload publishes; the
// postmaster's does not (it keeps out of shared memory), and its values are
// published when the segment is made (publish_admission_settings).
AdmissionSettings &published() { return shm.state->admission_settings; }
bool can_publish() { return IsUnderPostmaster && shm.state != nullptr; }

template <int32_t AdmissionSettings::*Field>
void assign_published(int v, void *)
{
    if (can_publish())
        atomic::store(published().*Field, static_cast<int32_t>(v));
}

// Published in hundredths, so that every reader loads one integer.
int32_t factor_pct(double v) { return static_cast<int32_t>(v * 100.0 + 0.5); }

void assign_fairness_factor(double v, void *)
{
    if (can_publish())
        atomic::store(published().fairness_factor_pct, factor_pct(v));
}

// Read by the governor, which lifts expired pauses, and by waiters.
void assign_pause_timeout(int v, void *)
{
    if (can_publish())
        atomic::store(shm.state->pauses.timeout_ms, static_cast<int32_t>(v));
}

void assign_exempt_superusers(bool v, void *)
{
    if (can_publish())
        atomic::store(published().exempt_superusers, static_cast<uint32_t>(v));
}

bool check_listen_address(char **newval, void **extra, GucSource source)
{
    ListenAddress a;
    if (*newval != nullptr && parse_listen_address(*newval, 0, &a)) {
        if (!a.v4_mapped)
            return true;
        // bind() refuses it (EINVAL): say so now, not in a retry loop.
        GUC_check_errdetail(
            "poolgov.metrics_listen_address \"%s\" is an IPv4-mapped IPv6 "
            "address, which cannot be listened on.",
            *newval);
        GUC_check_errhint("Use the IPv4 address itself, e.g. '127.0.0.1'.");
        return false;
    }
    GUC_check_errdetail(
        "poolgov.metrics_listen_address must be a numeric IPv4 or IPv6 "
        "address, \"localhost\" or \"*\".");
    return false;
}

void define_threshold(const char *name, const char *what, double *warning, double *critical,
                      double max)
{
    char wname[96], cname[96];
    snprintf(wname, sizeof(wname), "poolgov.health_%s_warning", name);
    snprintf(cname, sizeof(cname), "poolgov.health_%s_critical", name);
    DefineCustomRealVariable(wname, what, "poolgov.health() reports a warning at or above it.",
                             warning, *warning, 0.0, max, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomRealVariable(cname, what, "poolgov.health() reports critical at or above it.",
                             critical, *critical, 0.0, max, PGC_SIGHUP, 0, nullptr, nullptr,
                             nullptr);
}

void define_threshold(const char *name, const char *what, int *warning, int *critical, int min,
                      int flags)
{
    char wname[96], cname[96];
    snprintf(wname, sizeof(wname), "poolgov.health_%s_warning", name);
    snprintf(cname, sizeof(cname), "poolgov.health_%s_critical", name);
    DefineCustomIntVariable(wname, what, "poolgov.health() reports a warning at or above it.",
                            warning, *warning, min, INT_MAX, PGC_SIGHUP, flags, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable(cname, what, "poolgov.health() reports critical at or above it.",
                            critical, *critical, min, INT_MAX, PGC_SIGHUP, flags, nullptr, nullptr,
                            nullptr);
}

void define_login_settings()
{
    DefineCustomEnumVariable(
        "poolgov.enforce", "Whether connection budgets and the priority reserve refuse logins.",
        "off: no checks; warn: log and count what on would refuse, let the login in; "
        "on: refuse.",
        &enforce, enforce, enforce_options, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("poolgov.exempt_superusers",
                             "Whether superusers are exempt from budgets and the reserve.", nullptr,
                             &exempt_superusers, exempt_superusers, PGC_SIGHUP, 0, nullptr,
                             assign_exempt_superusers, nullptr);
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
                               "Comma-separated role names.", &priority_roles, "", PGC_SIGHUP,
                               GUC_LIST_INPUT, check_role_list, nullptr, nullptr);
    DefineCustomStringVariable(
        "poolgov.database", "Database whose poolgov.budgets table the governor reads.", nullptr,
        &database, "postgres", PGC_POSTMASTER, 0, check_database, nullptr, nullptr);
}

void assign_track(int v, void *)
{
    if (track_assigned != nullptr)
        track_assigned(v);
}

void assign_slow_query_threshold(int v, void *)
{
    slow_query_threshold_ns = v >= 0 ? static_cast<uint64_t>(v) * 1000000 : UINT64_MAX;
}

void define_statement_settings()
{
    DefineCustomEnumVariable("poolgov.track", "Which statements pg_poolgov times.",
                             "none, top (statements sent by clients) or all (also nested "
                             "statements inside functions).",
                             &track, track, track_options, PGC_SUSET, 0, nullptr, assign_track,
                             nullptr);
    DefineCustomBoolVariable(
        "poolgov.track_utility", "Whether utility commands (DDL, COPY, ...) are timed.", nullptr,
        &track_utility, track_utility, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "poolgov.slow_query_threshold", "Statements at least this long are logged as slow.",
        "-1 disables the slow-query log.", &slow_query_threshold, slow_query_threshold, -1, INT_MAX,
        PGC_SUSET, GUC_UNIT_MS, nullptr, assign_slow_query_threshold, nullptr);
    DefineCustomBoolVariable(
        "poolgov.log_slow_queries", "Also write one server log line per slow statement.", nullptr,
        &log_slow_queries, log_slow_queries, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.slow_query_log_size",
                            "Slow statements kept in poolgov.slow_queries.", nullptr,
                            &slow_query_log_size, slow_query_log_size, 0, 100000, PGC_POSTMASTER, 0,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.max_query_text",
                            "Bytes of query text kept per slow statement.", nullptr,
                            &max_query_text, max_query_text, 0, 65536, PGC_POSTMASTER,
                            GUC_UNIT_BYTE, nullptr, nullptr, nullptr);
    clamp_slow_query_log();
}

void define_governor_settings()
{
    DefineCustomIntVariable("poolgov.sample_interval", "Time between two governor samples.",
                            nullptr, &sample_interval, sample_interval, 10, 3600 * 1000, PGC_SIGHUP,
                            GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.history_size", "Samples kept in poolgov.history.", nullptr,
                            &history_size, history_size, 1, 1000000, PGC_POSTMASTER, 0, nullptr,
                            nullptr, nullptr);
}

void define_breaker_settings()
{
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
    DefineCustomIntVariable("poolgov.auth_lockout", "How long an open breaker refuses logins.",
                            nullptr, &auth_lockout, auth_lockout, 1, 86400, PGC_SIGHUP, GUC_UNIT_S,
                            nullptr, nullptr, nullptr);
}

void define_admission_settings()
{
    DefineCustomIntVariable("poolgov.max_active_transactions",
                            "Transactions that may run at once; the others wait.",
                            "0 turns admission control off.", &max_active_transactions,
                            max_active_transactions, 0, MAX_BACKENDS, PGC_SIGHUP, 0, nullptr,
                            assign_published<&AdmissionSettings::max_active>, nullptr);
    DefineCustomIntVariable(
        "poolgov.admission_timeout", "Longest wait for a transaction slot before an error.",
        "0 waits for ever.", &admission_timeout, admission_timeout, 0, INT_MAX, PGC_SIGHUP,
        GUC_UNIT_MS, nullptr, assign_published<&AdmissionSettings::timeout_ms>, nullptr);
    DefineCustomRealVariable(
        "poolgov.heavy_cost", "Plan cost from which a statement needs a heavy-lane slot.", nullptr,
        &heavy_cost, heavy_cost, 0.0, 1e300, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.max_heavy_transactions",
                            "Transactions with a heavy statement that may run at once.",
                            "0: no heavy lane.", &max_heavy_transactions, max_heavy_transactions, 0,
                            MAX_BACKENDS, PGC_SIGHUP, 0, nullptr,
                            assign_published<&AdmissionSettings::max_heavy>, nullptr);
    DefineCustomIntVariable("poolgov.admission_idle_timeout",
                            "Ends a session idle in its transaction this long while holding a "
                            "transaction slot.",
                            "0 turns it off.", &admission_idle_timeout, admission_idle_timeout, 0,
                            INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "poolgov.admission_aging", "Waiting this long raises a waiter by one priority class.",
        "0: strict priority.", &admission_aging, admission_aging, 0, INT_MAX, PGC_SIGHUP,
        GUC_UNIT_MS, nullptr, assign_published<&AdmissionSettings::aging_ms>, nullptr);
    DefineCustomIntVariable("poolgov.admission_fairness_bound",
                            "Longest a waiter can be passed over by later waiters of its "
                            "priority class.",
                            "A freed slot goes to the most recently queued waiter unless the "
                            "oldest has waited poolgov.admission_fairness_factor times the "
                            "recent mean wait, or this long. 0: strict FIFO.",
                            &admission_fairness_bound, admission_fairness_bound, 0, INT_MAX,
                            PGC_SIGHUP, GUC_UNIT_MS, nullptr,
                            assign_published<&AdmissionSettings::fairness_bound_ms>, nullptr);
    DefineCustomRealVariable("poolgov.admission_fairness_factor",
                             "The fairness bound in force, as a multiple of the queue's recent "
                             "mean wait.",
                             "Never more than poolgov.admission_fairness_bound. 0: that bound "
                             "alone, fixed.",
                             &admission_fairness_factor, admission_fairness_factor, 0.0, 100.0,
                             PGC_SIGHUP, 0, nullptr, assign_fairness_factor, nullptr);
    DefineCustomIntVariable("poolgov.pause_timeout",
                            "Lifts a pause (poolgov.pause) this long after it was last "
                            "requested.",
                            "A forgotten pause cannot hold an application for ever.",
                            &pause_timeout, pause_timeout, 1000, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS,
                            nullptr, assign_pause_timeout, nullptr);
}

void define_idle_settings()
{
    DefineCustomIntVariable("poolgov.idle_timeout",
                            "Ends a client session idle (outside a transaction) this long.",
                            "0 turns it off. A role's idle_timeout in poolgov.budgets replaces "
                            "it for that role.",
                            &idle_timeout, idle_timeout, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.pressure_threshold",
                            "Share of the connections a normal role may use at which the "
                            "governor ends idle sessions.",
                            "Percent of max_connections - superuser_reserved_connections - "
                            "poolgov.reserved_connections; 0 turns it off.",
                            &pressure_threshold, pressure_threshold, 0, 100, PGC_SIGHUP, 0, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable("poolgov.pressure_idle_timeout",
                            "Under pressure, sessions idle this long may be ended.", nullptr,
                            &pressure_idle_timeout, pressure_idle_timeout, 0, INT_MAX, PGC_SIGHUP,
                            GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.debug_reclaim_delay",
                            "Test aid: delay between choosing idle sessions and asking them "
                            "to end in poolgov.terminate_idle().",
                            nullptr, &debug_reclaim_delay, 0, 0, 60000, PGC_SUSET,
                            GUC_UNIT_MS | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, nullptr, nullptr,
                            nullptr);
}

void define_health_settings()
{
    define_threshold("utilization", "Client connections in percent of max_connections.",
                     &utilization_warning, &utilization_critical, 100.0);
    define_threshold("p95_latency", "Highest per-sample p95 statement latency in the last minute.",
                     &p95_latency_warning, &p95_latency_critical, 0, GUC_UNIT_MS);
    define_threshold("error_ratio", "Failed statements in percent, last minute.",
                     &error_ratio_warning, &error_ratio_critical, 100.0);
    define_threshold("slow_per_minute", "Slow statements per minute, last minute.",
                     &slow_per_minute_warning, &slow_per_minute_critical, 1e9);
    define_threshold("admission_wait", "Mean admission wait in the last minute.",
                     &admission_wait_warning, &admission_wait_critical, 0, GUC_UNIT_MS);
    define_threshold("breakers_open", "Login breakers open.", &breakers_open_warning,
                     &breakers_open_critical, 1, 0);
    DefineCustomIntVariable("poolgov.cpu_cores", "CPU cores poolgov.recommendations counts.",
                            "0 uses the number of CPUs online.", &cpu_cores, cpu_cores, 0, 65536,
                            PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.effective_spindles",
                            "Disks that can work in parallel, for poolgov.recommendations.",
                            "(cores x 2) + effective spindles is the recommended "
                            "poolgov.max_active_transactions.",
                            &effective_spindles, effective_spindles, 0, 10000, PGC_SIGHUP, 0,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.recommend_min_history",
                            "History needed before recommendations are made from it.", nullptr,
                            &recommend_min_history, recommend_min_history, 1, 30 * 86400,
                            PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
}

// Upper bounds keep the segment under ~1 GB per table (11 kB a role or
// database entry; see docs/reference.md for a budget rule's bytes).
void define_capacity_settings()
{
    DefineCustomIntVariable("poolgov.max_budgets", "Rows of poolgov.budgets that can be enforced.",
                            "Shared memory is sized for this many budget rules at server "
                            "start; more rows are refused.",
                            &max_budgets, max_budgets, 1, 1000000, PGC_POSTMASTER, 0, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable(
        "poolgov.max_roles", "Roles whose counters poolgov.roles keeps.",
        "When full, a new role evicts the counters of a role without live connections "
        "(counted in poolgov.capacity). Each entry takes about 11 kB of shared memory.",
        &max_roles, max_roles, 1, 100000, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "poolgov.max_databases", "Databases whose counters poolgov.databases keeps.",
        "When full, a new database evicts the counters of a database without live "
        "connections (counted in poolgov.capacity). Each entry takes about 11 kB of shared "
        "memory.",
        &max_databases, max_databases, 1, 100000, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
}

void define_metrics_settings()
{
    DefineCustomIntVariable(
        "poolgov.metrics_max_roles",
        "Role (and database) label values in poolgov.metrics(); the rest are summed under "
        "\"other\".",
        "The roles with the most statements keep their own series.", &metrics_max_roles,
        metrics_max_roles, 1, 100000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("poolgov.metrics_port",
                            "TCP port of the governor's Prometheus /metrics endpoint.",
                            "0 means nothing listens.", &metrics_port, metrics_port, 0, 65535,
                            PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("poolgov.metrics_listen_address",
                               "Address the /metrics endpoint listens on.",
                               "A numeric IPv4 or IPv6 address, localhost or *. Non-loopback "
                               "addresses also need poolgov.metrics_allow_remote.",
                               &metrics_listen_address, "127.0.0.1", PGC_SIGHUP, 0,
                               check_listen_address, nullptr, nullptr);
    DefineCustomBoolVariable("poolgov.metrics_allow_remote",
                             "Lets the /metrics endpoint listen on a non-loopback address.",
                             "The endpoint has no authentication.", &metrics_allow_remote,
                             metrics_allow_remote, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
}

}  // namespace

void define_settings()
{
    define_login_settings();
    define_statement_settings();
    define_governor_settings();
    define_breaker_settings();
    define_admission_settings();
    define_idle_settings();
    define_health_settings();
    define_capacity_settings();
    define_metrics_settings();
    MarkGUCPrefixReserved("poolgov");
}

void publish_admission_settings()
{
    AdmissionSettings &s = published();
    atomic::store(s.max_active, static_cast<int32_t>(max_active_transactions));
    atomic::store(s.max_heavy, static_cast<int32_t>(max_heavy_transactions));
    atomic::store(s.timeout_ms, static_cast<int32_t>(admission_timeout));
    atomic::store(s.aging_ms, static_cast<int32_t>(admission_aging));
    atomic::store(s.fairness_bound_ms, static_cast<int32_t>(admission_fairness_bound));
    atomic::store(s.fairness_factor_pct, factor_pct(admission_fairness_factor));
    atomic::store(s.exempt_superusers, static_cast<uint32_t>(exempt_superusers));
    atomic::store(shm.state->pauses.timeout_ms, static_cast<int32_t>(pause_timeout));
}

}  // namespace poolgov::pg::settings
