// poolgov.* configuration parameters. Contexts follow what a change affects:
// shared-memory sizes and the governor's database are PGC_POSTMASTER, login
// policy and worker tunables PGC_SIGHUP, per-session tracking PGC_SUSET.
#pragma once

namespace poolgov::pg::guc {

enum Track { TRACK_NONE = 0, TRACK_TOP = 1, TRACK_ALL = 2 };

extern int enforce;               // poolgov::EnforceMode
extern int track;                 // Track
extern bool track_utility;
extern bool exempt_superusers;
extern int default_budget;        // -1: unlimited
extern int reserved_connections;
extern char *priority_roles;
extern int slow_query_threshold;  // ms; -1: off
extern bool log_slow_queries;
extern int slow_query_log_size;   // entries
extern int max_query_text;        // bytes
extern int sample_interval;       // ms
extern int history_size;          // samples
extern int max_budgets;           // rules the budget set holds (track S)
extern int auth_failure_limit;    // failures; 0: breaker off
extern int auth_failure_window;   // s
extern int auth_lockout;          // s
extern char *database;

void define_all();

}  // namespace poolgov::pg::guc
