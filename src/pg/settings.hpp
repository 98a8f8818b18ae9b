// Every poolgov.* setting: one variable each, in one namespace, in the order
// of docs/reference.md ("Settings"), group by group. settings.cpp defines
// them (define_settings(), called once from _PG_init) with their check and
// assign hooks. Contexts follow what a change affects: shared-memory sizes
// and the governor's database are PGC_POSTMASTER, login policy and worker
// tunables PGC_SIGHUP, per-session tracking PGC_SUSET.
//
// The queue's settings (max_active_transactions, max_heavy_transactions,
// admission_timeout, admission_aging, admission_fairness_bound,
// exempt_superusers) are also published
// in shared memory by their assign hooks, because a waiter must see the
// value of the latest reload, not its own (AdmissionSettings in
// poolgov/admission.hpp); read those through shared memory, not from here.
#pragma once

namespace poolgov::pg::settings {

// Logins and budgets.
extern int enforce;  // poolgov::EnforceMode
extern bool exempt_superusers;
extern int default_budget;        // connections; -1: unlimited
extern int reserved_connections;  // connections
extern char *priority_roles;      // comma-separated role names
extern char *database;            // whose poolgov.budgets the governor enforces

// Statements.
enum Track { TRACK_NONE = 0, TRACK_TOP = 1, TRACK_ALL = 2 };
extern int track;  // Track
// Called by track's assign hook with the new value (the session's
// statement path keeps a pointer that says "tracked" in one load).
extern void (*track_assigned)(int track);
extern bool track_utility;
extern int slow_query_threshold;  // ms; -1: off
// slow_query_threshold in nanoseconds, UINT64_MAX when off: one comparison
// per statement (kept by the setting's assign hook).
extern uint64_t slow_query_threshold_ns;
extern bool log_slow_queries;
extern int slow_query_log_size;  // entries (restart)
extern int max_query_text;       // bytes (restart)

// The governor.
extern int sample_interval;  // ms
extern int history_size;     // samples (restart)

// The login breaker.
extern int auth_failure_limit;   // failures; 0: breaker off
extern int auth_failure_window;  // s
extern int auth_lockout;         // s

// Admission control.
extern int max_active_transactions;       // 0: off
extern int admission_timeout;             // ms; 0: wait for ever
extern double heavy_cost;                 // plan cost units
extern int max_heavy_transactions;        // 0: no heavy lane
extern int admission_idle_timeout;        // ms; 0: off
extern int admission_aging;               // ms; 0: strict priority
extern int admission_fairness_bound;      // ms, the ceiling; 0: strict FIFO within a class
extern double admission_fairness_factor;  // x the recent mean wait; 0: the bound is fixed
extern int pause_timeout;                 // ms; a pause older than this is lifted

// Idle reclamation.
extern int idle_timeout;           // ms; 0: off
extern int pressure_threshold;     // percent of the connections a normal role may use; 0: off
extern int pressure_idle_timeout;  // ms
extern int debug_reclaim_delay;    // ms; a test aid, hidden from SHOW ALL

// Health checks and recommendations.
extern double utilization_warning, utilization_critical;          // percent
extern int p95_latency_warning, p95_latency_critical;             // ms
extern double error_ratio_warning, error_ratio_critical;          // percent
extern double slow_per_minute_warning, slow_per_minute_critical;  // per minute
extern int admission_wait_warning, admission_wait_critical;       // ms
extern int breakers_open_warning, breakers_open_critical;         // entries
extern int cpu_cores;                                             // 0: CPUs online
extern int effective_spindles;
extern int recommend_min_history;  // s

// Capacity of the shared tables (restart).
extern int max_budgets;    // budget rules
extern int max_roles;      // entries of poolgov.roles
extern int max_databases;  // entries of poolgov.databases

// Metrics.
extern int metrics_max_roles;         // label values
extern int metrics_port;              // 0: nothing listens
extern char *metrics_listen_address;  // numeric, localhost or *
extern bool metrics_allow_remote;

// Defines every setting above (from _PG_init, in the postmaster and in
// every backend that loads the library without preloading it).
void define_settings();

// Shared memory is new (postmaster start, crash restart): publish the
// queue's settings there (AdmissionSettings).
void publish_admission_settings();

}  // namespace poolgov::pg::settings
