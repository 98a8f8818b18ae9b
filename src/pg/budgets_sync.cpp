#include "postgres.hpp"

#include "budgets_sync.hpp"

extern "C" {
#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "executor/spi.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
}

#include "events_log.hpp"
#include "guard.hpp"
#include "guc.hpp"
#include "shmem.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <string_view>

namespace poolgov::pg {

namespace {

// The transaction's pending budget set (process-local).
BudgetSet pending;
bool pending_valid = false;
bool pending_stale = false;  // a savepoint that changed budgets rolled back
int pending_level = 0;
char pending_by[kNameLen];

BudgetSet previous;  // scratch for the change events

// Means the same whatever the search_path and whatever objects other roles
// created: every operator and function is pg_catalog's, named explicitly
// (extract(epoch FROM ...) * 1000 would resolve "*" through the path, and a
// planted *(numeric, integer) is a better match than pg_catalog's). ORDER BY
// and the casts do not look names up. read_budget_table() also pins
// search_path to pg_catalog while it runs.
const char *kSelect =
    "SELECT b.role_name, b.database_name, b.max_connections, b.max_active, "
    "       (pg_catalog.extract('epoch'::pg_catalog.text, b.idle_timeout) "
    "          OPERATOR(pg_catalog.*) 1000::pg_catalog.numeric)::pg_catalog.int8, "
    "       b.priority "
    "FROM poolgov.budgets b ORDER BY b.role_name, b.database_name NULLS FIRST";

// The role that reads the table: it has SELECT on poolgov.budgets (granted
// by the install script) and USAGE on schema poolgov (PUBLIC), and nothing
// a superuser has. The governor is connected as the bootstrap superuser and
// the trigger runs as whoever changed the table; neither needs more.
constexpr Oid kReaderRole = ROLE_PG_MONITOR;

int64_t int_or(HeapTuple tup, TupleDesc desc, int col, int64_t missing)
{
    char *v = SPI_getvalue(tup, desc, col);
    return v == nullptr ? missing : strtoll(v, nullptr, 10);
}

void request_governor_reload()
{
    SharedState *st = shm.state;
    atomic::store(st->budget_reload_requested, uint32_t{1});
    Latch *latch = st->governor_latch;
    if (latch != nullptr)
        SetLatch(latch);
}

bool same_rule(const BudgetRule &a, const BudgetRule &b)
{
    return a.max_connections == b.max_connections && a.max_active == b.max_active &&
           a.idle_timeout_ms == b.idle_timeout_ms && a.priority == b.priority;
}

const BudgetRule *find_rule(const BudgetSet &set, const BudgetRule &key)
{
    for (uint32_t i = 0; i < set.count; ++i)
        if (set.rules[i].role_oid == key.role_oid && set.rules[i].db_oid == key.db_oid)
            return &set.rules[i];
    return nullptr;
}

std::string_view limit_text(int32_t v, char (&buf)[16])
{
    if (v == kUnlimited)
        return "unlimited";
    auto out = fmt::format_to_n(buf, sizeof(buf) - 1, "{}", v);
    return std::string_view(buf, out.size);
}

void log_change(const BudgetRule *before, const BudgetRule *after, const char *by)
{
    const BudgetRule &r = after ? *after : *before;
    char detail[kDetailLen], a[16], b[16];
    fmt::format_to_n_result<char *> out;
    if (after == nullptr)
        out = fmt::format_to_n(detail, sizeof(detail) - 1, "budget dropped (was {}) by {}",
                               limit_text(before->max_connections, b), by);
    else if (before == nullptr)
        out = fmt::format_to_n(detail, sizeof(detail) - 1,
                               "budget set: max_connections {}, priority {} by {}",
                               limit_text(after->max_connections, a),
                               priority_name(after->priority), by);
    else
        out = fmt::format_to_n(detail, sizeof(detail) - 1,
                               "budget changed: max_connections {} -> {}, priority {} by {}",
                               limit_text(before->max_connections, b),
                               limit_text(after->max_connections, a),
                               priority_name(after->priority), by);
    *out.out = '\0';
    log_event(EventKind::BudgetChanged, EventFields{r.role_name, r.db_name, MyProcPid, nullptr},
              detail);
}

void log_changes(const BudgetSet &before, const BudgetSet &after, const char *by)
{
    for (uint32_t i = 0; i < after.count; ++i) {
        const BudgetRule *old = find_rule(before, after.rules[i]);
        if (old == nullptr || !same_rule(*old, after.rules[i]))
            log_change(old, &after.rules[i], by);
    }
    for (uint32_t i = 0; i < before.count; ++i)
        if (find_rule(after, before.rules[i]) == nullptr)
            log_change(&before.rules[i], nullptr, by);
}

void reset_pending()
{
    pending_valid = false;
    pending_stale = false;
    pending_level = 0;
}

// Commit installs, abort forgets. Nothing here may raise an error after
// commit: install_budgets only copies memory under an LWLock.
void on_xact(XactEvent event, void *)
{
    switch (event) {
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
        if (pending_valid) {
            // Install what this transaction read, so the next login sees it
            // at once; then have the governor re-read the committed table,
            // which also brings in rows that concurrent transactions
            // committed meanwhile (each read the table without the others'
            // uncommitted rows).
            const char *failed = catch_cxx([] {
                if (!pending_stale)
                    install_budgets(pending, 0, pending_by);
                request_governor_reload();
            });
            if (failed != nullptr) {
                request_governor_reload();
                ereport(WARNING, (errmsg("pg_poolgov: budgets will be re-read: %s", failed)));
            }
        }
        reset_pending();
        break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
        reset_pending();
        break;
    case XACT_EVENT_PRE_PREPARE:
        if (pending_valid)
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("cannot PREPARE a transaction that changed pg_poolgov "
                                   "budgets")));
        break;
    default:
        break;
    }
}

void on_subxact(SubXactEvent event, SubTransactionId, SubTransactionId, void *)
{
    if (event == SUBXACT_EVENT_ABORT_SUB && pending_valid &&
        GetCurrentTransactionNestLevel() <= pending_level)
        pending_stale = true;
}

object_access_hook_type prev_object_access_hook = nullptr;

// DROP EXTENSION pg_poolgov (also through DROP SCHEMA ... CASCADE) in the
// governed database: the table goes, so do the budgets. Pending like any
// change of the table: installed (empty) at commit, forgotten on abort or
// when a savepoint that dropped it rolls back (the commit then has the
// governor re-read). A later CREATE EXTENSION and INSERT in the same
// transaction fire the trigger, which replaces this pending set.
void drop_extension_body(Oid extension)
{
    if (shm.state == nullptr || extension != get_extension_oid("pg_poolgov", true) ||
        !in_governed_database())
        return;
    memset(&pending, 0, offsetof(BudgetSet, rules));
    pending_valid = true;
    pending_stale = false;
    pending_level = GetCurrentTransactionNestLevel();
    copy_text(pending_by, GetUserNameFromId(GetUserId(), true));
}

void on_object_access(ObjectAccessType access, Oid class_id, Oid object_id, int sub_id,
                      void *arg)
{
    if (prev_object_access_hook)
        prev_object_access_hook(access, class_id, object_id, sub_id, arg);
    if (access == OAT_DROP && class_id == ExtensionRelationId)
        run_guarded([object_id] { drop_extension_body(object_id); });
}

}  // namespace

bool in_governed_database()
{
    const char *here = get_database_name(MyDatabaseId);
    return here != nullptr && guc::database != nullptr && strcmp(here, guc::database) == 0;
}

bool read_budget_table(BudgetSet *out)
{
    if (!OidIsValid(get_extension_oid("pg_poolgov", true)))
        return false;
    // Read as kReaderRole, in a security-restricted operation, with
    // search_path = pg_catalog; both are undone below, or by the abort of
    // the (sub)transaction if the read fails.
    Oid save_userid;
    int save_sec_context;
    GetUserIdAndSecContext(&save_userid, &save_sec_context);
    SetUserIdAndSecContext(kReaderRole, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
                                            SECURITY_RESTRICTED_OPERATION);
    int guc_level = NewGUCNestLevel();
    (void) set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION,
                             GUC_ACTION_SAVE, true, 0, false);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "pg_poolgov: SPI_connect failed");
    int rc = SPI_execute(kSelect, false, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "pg_poolgov: reading poolgov.budgets failed: %s", SPI_result_code_string(rc));
    if (SPI_processed > static_cast<uint64>(kMaxBudgets))
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("too many pg_poolgov budgets: %llu",
                               static_cast<unsigned long long>(SPI_processed)),
                        errdetail("At most %d rows of poolgov.budgets are supported.",
                                  kMaxBudgets)));
    memset(out, 0, offsetof(BudgetSet, rules));
    TupleDesc desc = SPI_tuptable->tupdesc;
    for (uint64 i = 0; i < SPI_processed; ++i) {
        HeapTuple tup = SPI_tuptable->vals[i];
        const char *role = SPI_getvalue(tup, desc, 1);
        const char *db = SPI_getvalue(tup, desc, 2);
        Oid role_oid = get_role_oid(role, true);
        Oid db_oid = db ? get_database_oid(db, true) : InvalidOid;
        // A rule for a role or database that does not exist (any more)
        // governs nobody; it stays in the table and applies again if the
        // name comes back.
        if (!OidIsValid(role_oid) || (db != nullptr && !OidIsValid(db_oid)))
            continue;
        BudgetRule &r = out->rules[out->count++];
        memset(&r, 0, sizeof(r));
        r.role_oid = role_oid;
        r.db_oid = db_oid;
        r.max_connections = static_cast<int32_t>(int_or(tup, desc, 3, kUnlimited));
        r.max_active = static_cast<int32_t>(int_or(tup, desc, 4, kUnlimited));
        r.idle_timeout_ms = int_or(tup, desc, 5, -1);
        r.priority = Priority::Normal;
        parse_priority(SPI_getvalue(tup, desc, 6), r.priority);
        copy_text(r.role_name, role);
        copy_text(r.db_name, db ? db : "");
    }
    SPI_finish();
    AtEOXact_GUC(false, guc_level);
    SetUserIdAndSecContext(save_userid, save_sec_context);
    return true;
}

uint32_t current_budget_count()
{
    LWLockAcquire(shm.state->main_lock, LW_SHARED);
    uint32_t n = shm.budgets->count;
    LWLockRelease(shm.state->main_lock);
    return n;
}

uint64_t current_budget_generation()
{
    LWLockAcquire(shm.state->main_lock, LW_SHARED);
    uint64_t gen = shm.budgets->generation;
    LWLockRelease(shm.state->main_lock);
    return gen;
}

bool install_budgets(const BudgetSet &fresh, uint64_t expected, const char *changed_by)
{
    SharedState *st = shm.state;
    LWLockAcquire(st->main_lock, LW_EXCLUSIVE);
    if (expected != 0 && shm.budgets->generation != expected) {
        LWLockRelease(st->main_lock);
        return false;
    }
    memcpy(&previous, shm.budgets, offsetof(BudgetSet, rules) +
                                        sizeof(BudgetRule) * shm.budgets->count);
    uint64_t gen = shm.budgets->generation + 1;
    memcpy(shm.budgets, &fresh, offsetof(BudgetSet, rules) + sizeof(BudgetRule) * fresh.count);
    shm.budgets->generation = gen;
    LWLockRelease(st->main_lock);
    log_changes(previous, fresh, changed_by);
    return true;
}

void budgets_sync_install()
{
    RegisterXactCallback(on_xact, nullptr);
    RegisterSubXactCallback(on_subxact, nullptr);
    prev_object_access_hook = object_access_hook;
    object_access_hook = on_object_access;
}

}  // namespace poolgov::pg

using namespace poolgov;
using namespace poolgov::pg;

// Statement trigger on poolgov.budgets.
POOLGOV_SQL_FUNCTION(poolgov_budgets_changed)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("poolgov._budgets_changed() must be called as a trigger")));
    require_shmem();
    if (!in_governed_database()) {
        ereport(WARNING,
                (errcode(ERRCODE_WARNING),
                 errmsg("budgets in database \"%s\" are not enforced",
                        get_database_name(MyDatabaseId)),
                 errdetail("pg_poolgov reads budgets from database \"%s\" (poolgov.database).",
                           guc::database)));
        return PointerGetDatum(nullptr);
    }
    read_budget_table(&pending);
    pending_valid = true;
    pending_stale = false;
    pending_level = GetCurrentTransactionNestLevel();
    copy_text(pending_by, GetUserNameFromId(GetUserId(), true));
    return PointerGetDatum(nullptr);
}

// Called by set_budget / drop_budget before they touch the table: refuse
// clearly when this is not the database the governor reads.
POOLGOV_SQL_FUNCTION(poolgov_require_budget_database)
{
    require_shmem();
    if (!in_governed_database())
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("pg_poolgov budgets are kept in database \"%s\"", guc::database),
                 errdetail("This is database \"%s\"; poolgov.database names the database whose "
                           "poolgov.budgets table is enforced.",
                           get_database_name(MyDatabaseId)),
                 errhint("Connect to database \"%s\" to change budgets.", guc::database)));
    PG_RETURN_VOID();
}
