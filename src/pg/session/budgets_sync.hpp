// poolgov.budgets (a table in the database named by poolgov.database) is the
// source of truth; the login hook reads the copy in shared memory.
//
// - In the governed database, a statement trigger on the table refuses a
//   statement that leaves more rows than poolgov.max_budgets (54000) and
//   marks the transaction; at PRE_COMMIT the table is read once, as the
//   transaction leaves it, and the commit callback installs that set, so
//   the next login after COMMIT sees it (no reload, no restart). Abort
//   discards it. The commit also wakes the governor to re-read the
//   committed table, which reconciles concurrent changes within
//   milliseconds.
// - The governor reads the table at start, on request, periodically, and at
//   every sample on a hot standby (where replication changes the table
//   without triggers). Where the extension is absent it installs no budgets.
// - DROP EXTENSION pg_poolgov in the governed database clears the set at
//   commit, as a change of the table would (seen around DROP commands by
//   the utility hook: budgets_extension_before_drop / _after_drop).
// - Every read runs as pg_monitor (SELECT on the table, nothing more), in a
//   security-restricted operation, with search_path = pg_catalog, and names
//   pg_catalog's operators and functions explicitly.
#pragma once

#include "postgres.hpp"

#include "poolgov/budgets.hpp"

namespace poolgov::pg {

// Around a command that may drop pg_poolgov's extension (DROP of any kind,
// DROP OWNED): before it, the extension's oid when it exists in the governed
// database (else InvalidOid); after it, that oid, to notice it is gone.
Oid budgets_extension_before_drop();
void budgets_extension_after_drop(Oid extension);

// Reads the table (inside a transaction, with a snapshot) into out and
// indexes it. Returns false when the extension or table is missing in this
// database. More rows than out->capacity (poolgov.max_budgets): ERROR 54000,
// out unchanged in meaning (the caller keeps the set in force).
bool read_budget_table(BudgetSet *out);

// A budget set of poolgov.max_budgets capacity, palloc'd in the current
// memory context; and a copy of the set in force (copied under the shared
// main lock; rules, index and live counts).
BudgetSet *new_budget_set();
void free_budget_set(BudgetSet *set);
BudgetSet *copy_active_budgets();

// Installs `fresh` unless the generation moved past `expected` meanwhile
// (expected = 0: always). Logs one budget_changed event per changed rule.
bool install_budgets(const BudgetSet &fresh, uint64_t expected, const char *changed_by);
// Of this backend's last install that changed the set: its duration, and
// the part under the main lock (for the governor's DEBUG1 line).
extern double last_install_ms;
extern double last_install_locked_ms;

uint64_t current_budget_generation();
uint32_t current_budget_count();

bool in_governed_database();

}  // namespace poolgov::pg
