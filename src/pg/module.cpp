// pg_poolgov: module initialisation. Read this file as the table of contents:
// everything the extension installs into the server is listed here.
#include "postgres.hpp"

#include "session/admission.hpp"
#include "session/auth_hook.hpp"
#include "session/budgets_sync.hpp"
#include "session/connection.hpp"
#include "session/executor_hooks.hpp"
#include "session/statement_clock.hpp"
#include "governor/governor.hpp"
#include "guard.hpp"
#include "settings.hpp"
#include "session/install_checks.hpp"
#include "shmem.hpp"
#include "session/termination.hpp"
#include "session/xact_events.hpp"

// POOLGOV_VERSION: default_version of pg_poolgov.control (the Makefile
// passes it). From 18 on, pg_get_loaded_modules() shows it with the name.
#ifndef POOLGOV_VERSION
#error "POOLGOV_VERSION is not defined: build with the Makefile"
#endif

extern "C" {
#if PG_VERSION_NUM >= 180000
PG_MODULE_MAGIC_EXT(.name = "pg_poolgov", .version = POOLGOV_VERSION);
#else
PG_MODULE_MAGIC;
#endif
PGDLLEXPORT void _PG_init(void);
}

void _PG_init(void)
{
    // Shared memory, hooks and the worker exist only when preloaded; a plain
    // LOAD (or CREATE EXTENSION without the preload) gets the SQL functions,
    // which then report that the preload is missing.
    if (!process_shared_preload_libraries_in_progress)
        return;

    poolgov::pg::settings::define_settings();  // every poolgov.* setting
    poolgov::pg::shmem_install_hooks();        // request + startup of shared memory
    poolgov::pg::auth_hook_install();          // breaker, budgets, slot claim at login
    poolgov::pg::membership_cache_install();   // role closures shared across logins
    poolgov::pg::statement_clock_calibrate();  // the statement clock: TSC or clock_gettime
    poolgov::pg::executor_hooks_install();     // statement timing, slow-query log
    poolgov::pg::xact_events_install();  // one transaction callback: slots back, budgets installed
    poolgov::pg::termination_install();  // FATALs that say why pg_poolgov ended a session
    poolgov::pg::governor_register();    // sampling, breaker sweep, budget reload, idle reclamation
}

using namespace poolgov::pg;

// Called first by the install script: CREATE EXTENSION fails without the
// preload, and over a poolgov_admin role that someone else made.
POOLGOV_SQL_FUNCTION(poolgov_require_preload)
{
    require_shmem();
    check_admin_role();
    PG_RETURN_VOID();
}
