#include "postgres.hpp"

#include "session/budgets_sync.hpp"

extern "C" {
#include "access/xact.h"
#if PG_VERSION_NUM >= 190000
#include "catalog/pg_database.h"  // get_database_oid
#include "utils/lsyscache.h"      // get_database_name
#else
#include "commands/dbcommands.h"
#endif
#include "commands/extension.h"
#include "commands/trigger.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "executor/spi.h"
#include "portability/instr_time.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

#include "session/connection.hpp"
#include "events_log.hpp"
#include "locks.hpp"
#include "guard.hpp"
#include "settings.hpp"
#include "shmem.hpp"
#include "session/xact_events.hpp"

#include "poolgov/atomics.hpp"

#include "poolgov/format.hpp"

#include <cstdlib>
#include <string_view>

namespace poolgov::pg {

namespace {

// The transaction's budget changes (process-local): the trigger marks the
// transaction dirty; PRE_COMMIT reads the table once into `pending` (so that
// 10,000 statements in one transaction read it once, and the read sees what
// the transaction leaves after its savepoints); COMMIT installs it.
BudgetSet *pending = nullptr;  // in TopMemoryContext, capacity poolgov.max_budgets
bool pending_dirty = false;    // the table changed (or the extension went)
bool pending_valid = false;    // pending holds the transaction's final table
bool pending_grew = false;     // the transaction inserted rows
char pending_by[kNameLen];

uint64 count_budget_rows();

// Events for at most this many changed rules per install, then one summary
// (an install of 10,000 new rules must not flood the events ring).
constexpr int kMaxChangeEvents = 100;

// Means the same whatever the search_path and whatever objects other roles
// created: every operator and function is pg_catalog's, named explicitly
// (extract(epoch FROM ...) * 1000 would resolve "*" through the path, and a
// planted *(numeric, integer) is a better match than pg_catalog's). An
// idle_timeout is rounded up to whole milliseconds: a positive interval
// under 1 ms must not become 0, which means "none". ORDER BY
// and the casts do not look names up. read_budget_table() also pins
// search_path to pg_catalog while it runs. The columns 1.2 added
// (client_addr, per_address, the timeouts) are read through the row's
// jsonb, which yields NULL for a column an older extension version lacks,
// so one query serves 1.0, 1.1 and 1.2.
#define POOLGOV_MS(expr)                                                 \
    "pg_catalog.ceil(pg_catalog.extract('epoch'::pg_catalog.text, " expr \
    ") OPERATOR(pg_catalog.*) 1000::pg_catalog.numeric)::pg_catalog.int8"
const char *kSelect =
    "SELECT b.role_name, b.database_name, b.max_connections, b.max_active, "
    "       " POOLGOV_MS("b.idle_timeout") ", "
    "       b.priority, "
    "       j.j OPERATOR(pg_catalog.->>) 'client_addr', "
    "       (j.j OPERATOR(pg_catalog.->>) 'per_address') OPERATOR(pg_catalog.=) 'true', "
    "       " POOLGOV_MS("(j.j OPERATOR(pg_catalog.->>) 'admission_timeout')::pg_catalog.interval") ", "
    "       " POOLGOV_MS("(j.j OPERATOR(pg_catalog.->>) 'idle_in_transaction_timeout')"
                         "::pg_catalog.interval") " "
    "FROM poolgov.budgets b, LATERAL (SELECT pg_catalog.to_jsonb(b) AS j) j "
    "ORDER BY b.role_name, b.database_name NULLS FIRST, 7 NULLS FIRST, 8";
#undef POOLGOV_MS

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
           a.idle_timeout_ms == b.idle_timeout_ms && a.priority == b.priority &&
           a.admission_timeout_ms == b.admission_timeout_ms &&
           a.idle_in_transaction_timeout_ms == b.idle_in_transaction_timeout_ms;
}

const BudgetRule *rule_like(const BudgetSet &set, const BudgetRule &key)
{
    int i = find_same_rule(set, key);
    return i < 0 ? nullptr : &set.rules[i];
}

std::string_view limit_text(int32_t v, char (&buf)[16])
{
    if (v == kUnlimited)
        return "unlimited";
    return std::string_view(buf, format_into(buf, "{}", v));
}

void log_change(const BudgetRule *before, const BudgetRule *after, const char *by)
{
    const BudgetRule &r = after ? *after : *before;
    char detail[kDetailLen], a[16], b[16];
    if (after == nullptr)
        format_into(detail, "budget dropped (was {}) by {}", limit_text(before->max_connections, b),
                    by);
    else if (before == nullptr)
        format_into(detail, "budget set: max_connections {}, priority {} by {}",
                    limit_text(after->max_connections, a), priority_name(after->priority), by);
    else
        format_into(detail, "budget changed: max_connections {} -> {}, priority {} by {}",
                    limit_text(before->max_connections, b), limit_text(after->max_connections, a),
                    priority_name(after->priority), by);
    // An address rule says which one (the event's client_addr column holds
    // a connection's address, not a range).
    if (r.addr.family != AddrFamily::None) {
        char with_addr[kDetailLen];
        format_into(with_addr, "client_addr {}{}: {}", r.addr_text,
                    r.addr_scope == AddrScope::EachAddress ? " per address" : "", detail);
        copy_text(detail, with_addr);
    }
    log_event(EventKind::BudgetChanged, EventFields{r.role_name, r.db_name, MyProcPid, nullptr},
              detail);
}

void log_changes(const BudgetSet &before, const BudgetSet &after, const char *by)
{
    int logged = 0, more = 0;
    auto change = [&](const BudgetRule *old_rule, const BudgetRule *new_rule) {
        if (logged < kMaxChangeEvents) {
            log_change(old_rule, new_rule, by);
            logged++;
        } else {
            more++;
        }
    };
    for (uint32_t i = 0; i < after.count; ++i) {
        const BudgetRule *old = rule_like(before, after.rules[i]);
        if (old == nullptr || !same_rule(*old, after.rules[i]))
            change(old, &after.rules[i]);
    }
    for (uint32_t i = 0; i < before.count; ++i)
        if (rule_like(after, before.rules[i]) == nullptr)
            change(&before.rules[i], nullptr);
    if (more > 0) {
        char detail[kDetailLen];
        format_into(detail,
                    "{} more budget changes by {} not listed one by one; {} "
                    "budgets in force",
                    more, by, after.count);
        log_event(EventKind::BudgetChanged, EventFields{"", "", MyProcPid, nullptr}, detail);
    }
}

void reset_pending()
{
    pending_dirty = false;
    pending_valid = false;
    pending_grew = false;
}

BudgetSet *pending_set()
{
    if (pending == nullptr) {
        MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        pending = new_budget_set();
        MemoryContextSwitchTo(old);
    }
    return pending;
}

// PRE_COMMIT: read the table as this transaction leaves it (errors abort
// the commit, e.g. more rows than poolgov.max_budgets). COMMIT installs:
// nothing there may raise an error, install_budgets only copies memory
// under LWLocks. Either way the commit wakes the governor to re-read the
// committed table, which also brings in rows that concurrent transactions
// committed meanwhile.
}  // namespace

void budgets_xact_event(XactEvent event)
{
    switch (event) {
    case XACT_EVENT_PRE_COMMIT:
        if (pending_dirty) {
            BudgetSet *set = pending_set();
            // Portals are closed by now: the read needs a snapshot of its own.
            PushActiveSnapshot(GetTransactionSnapshot());
            // Still over capacity after deleting rows (the setting was
            // lowered): the deletion commits, the set in force stays.
            uint64 rows =
                OidIsValid(get_extension_oid("pg_poolgov", true)) ? count_budget_rows() : 0;
            if (rows > set->capacity && !pending_grew) {
                ereport(WARNING,
                        (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                         errmsg("poolgov.budgets still has more rows than pg_poolgov holds"),
                         errdetail("poolgov.budgets has %llu rows; pg_poolgov holds at most %u "
                                   "budgets (poolgov.max_budgets). The budgets in force stay.",
                                   static_cast<unsigned long long>(rows), set->capacity),
                         errhint("Drop more budgets, or raise poolgov.max_budgets (it takes "
                                 "effect at the next server start).")));
                PopActiveSnapshot();
                break;  // pending_valid stays false: COMMIT installs nothing
            }
            if (!read_budget_table(set)) {  // the extension is gone
                set->count = 0;
                budget_set_index(*set);
            }
            PopActiveSnapshot();
            pending_valid = true;
        }
        break;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
        if (pending_valid) {
            const char *failed = catch_cxx([] {
                install_budgets(*pending, 0, pending_by);
                request_governor_reload();
            });
            if (failed != nullptr) {
                request_governor_reload();
                ereport(WARNING, (errcode(ERRCODE_WARNING),
                                  errmsg("pg_poolgov: budgets will be re-read: %s", failed)));
            }
        } else if (pending_dirty) {
            request_governor_reload();
        }
        reset_pending();
        break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
        reset_pending();
        break;
    case XACT_EVENT_PRE_PREPARE:
        if (pending_dirty)
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("cannot PREPARE a transaction that changed pg_poolgov "
                                   "budgets")));
        break;
    default:
        break;
    }
}

namespace {

void mark_dirty()
{
    xact_work_flag(kXactWorkBudgets);  // PRE_COMMIT reads the table, COMMIT installs it
    pending_dirty = true;
    pending_valid = false;
    copy_text(pending_by, GetUserNameFromId(GetUserId(), true));
}

[[noreturn]] void too_many_budgets(uint64 rows, uint32_t capacity)
{
    ereport(ERROR,
            (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("too many rows in poolgov.budgets"),
             errdetail("poolgov.budgets has %llu rows; pg_poolgov holds at most %u budgets "
                       "(poolgov.max_budgets).",
                       static_cast<unsigned long long>(rows), capacity),
             errhint("Raise poolgov.max_budgets (it takes effect at the next server start), "
                     "or drop budgets with poolgov.drop_budget().")));
    pg_unreachable();
}

// What a pinned read changed, to be undone by end_pinned_read (or by the
// abort of the (sub)transaction if the read fails).
struct PinnedRead {
    Oid save_userid;
    int save_sec_context;
    int guc_level;
};

// Every read of poolgov.budgets runs as kReaderRole, in a
// security-restricted operation, with search_path = pg_catalog, inside SPI.
PinnedRead begin_pinned_read()
{
    PinnedRead p{};
    GetUserIdAndSecContext(&p.save_userid, &p.save_sec_context);
    SetUserIdAndSecContext(kReaderRole, p.save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
                                            SECURITY_RESTRICTED_OPERATION);
    p.guc_level = NewGUCNestLevel();
    (void)set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION,
                            GUC_ACTION_SAVE, true, 0, false);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "pg_poolgov: SPI_connect failed");
    return p;
}

void end_pinned_read(const PinnedRead &p)
{
    SPI_finish();
    AtEOXact_GUC(false, p.guc_level);
    SetUserIdAndSecContext(p.save_userid, p.save_sec_context);
}

// The number of rows, read the way read_budget_table reads them.
uint64 count_budget_rows()
{
    PinnedRead pinned = begin_pinned_read();
    int rc = SPI_execute("SELECT pg_catalog.count(*) FROM poolgov.budgets", true, 1);
    if (rc != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "pg_poolgov: counting poolgov.budgets failed: %s", SPI_result_code_string(rc));
    bool isnull = false;
    Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    uint64 rows = isnull ? 0 : static_cast<uint64>(DatumGetInt64(d));
    end_pinned_read(pinned);
    return rows;
}

}  // namespace

bool in_governed_database()
{
    const char *here = get_database_name(MyDatabaseId);
    return here != nullptr && settings::database != nullptr &&
           strcmp(here, settings::database) == 0;
}

bool read_budget_table(BudgetSet *out)
{
    if (!OidIsValid(get_extension_oid("pg_poolgov", true)))
        return false;
    PinnedRead pinned = begin_pinned_read();
    int rc = SPI_execute(kSelect, false, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "pg_poolgov: reading poolgov.budgets failed: %s", SPI_result_code_string(rc));
    if (SPI_processed > static_cast<uint64>(out->capacity))
        too_many_budgets(SPI_processed, out->capacity);
    out->count = 0;
    TupleDesc desc = SPI_tuptable->tupdesc;
    for (uint64 i = 0; i < SPI_processed; ++i) {
        HeapTuple tup = SPI_tuptable->vals[i];
        const char *role = SPI_getvalue(tup, desc, 1);
        const char *db = SPI_getvalue(tup, desc, 2);
        const char *addr = SPI_getvalue(tup, desc, 7);
        Oid role_oid = role ? get_role_oid(role, true) : InvalidOid;
        Oid db_oid = db ? get_database_oid(db, true) : InvalidOid;
        ClientAddr range = kNoAddr;
        // A rule for a role or database that does not exist (any more)
        // governs nobody; it stays in the table and applies again if the
        // name comes back. (A malformed address cannot pass the table's
        // check; if one did, the rule is left out the same way.)
        if ((role != nullptr && !OidIsValid(role_oid)) || (db != nullptr && !OidIsValid(db_oid)) ||
            (addr != nullptr && !parse_rule_addr(addr, range)) ||
            (role == nullptr && addr == nullptr))
            continue;
        BudgetRule &r = out->rules[out->count++];
        memset(&r, 0, sizeof(r));
        r.addr = range;
        const char *each = SPI_getvalue(tup, desc, 8);
        r.addr_scope = addr != nullptr && each != nullptr && strcmp(each, "t") == 0
                           ? AddrScope::EachAddress
                           : AddrScope::Range;
        copy_text(r.addr_text, addr ? addr : "");
        r.admission_timeout_ms = int_or(tup, desc, 9, 0);
        r.idle_in_transaction_timeout_ms = int_or(tup, desc, 10, 0);
        r.role_oid = role_oid;
        r.db_oid = db_oid;
        r.max_connections = static_cast<int32_t>(int_or(tup, desc, 3, kUnlimited));
        r.max_active = static_cast<int32_t>(int_or(tup, desc, 4, kUnlimited));
        r.idle_timeout_ms = int_or(tup, desc, 5, -1);
        r.priority = Priority::Normal;
        parse_priority(SPI_getvalue(tup, desc, 6), r.priority);
        copy_text(r.role_name, role ? role : "");
        copy_text(r.db_name, db ? db : "");
    }
    end_pinned_read(pinned);
    budget_set_index(*out);  // n log n, in this backend, before any lock
    return true;
}

BudgetSet *new_budget_set()
{
    uint32_t capacity = shm.state->budget.capacity;
    auto *set = static_cast<BudgetSet *>(palloc0(sizeof(BudgetSet)));
    void *block = MemoryContextAllocHuge(CurrentMemoryContext,
                                         budget_set_bytes(capacity, budget_pair_slots()));
    budget_set_attach(*set, block, capacity, budget_pair_slots());
    return set;
}

void free_budget_set(BudgetSet *set)
{
    pfree(set->rules);  // the start of the block
    pfree(set);
}

BudgetSet *copy_active_budgets()
{
    BudgetSet *copy = new_budget_set();
    lock_acquire(shm.state->main_lock, LW_SHARED);
    budget_set_copy(*copy, active_budgets());
    lock_release(shm.state->main_lock);
    return copy;
}

uint32_t current_budget_count()
{
    lock_acquire(shm.state->main_lock, LW_SHARED);
    uint32_t n = active_budgets().count;
    lock_release(shm.state->main_lock);
    return n;
}

uint64_t current_budget_generation()
{
    lock_acquire(shm.state->main_lock, LW_SHARED);
    uint64_t gen = active_budgets().generation;
    lock_release(shm.state->main_lock);
    return gen;
}

// The heavy part (copying and indexing up to poolgov.max_budgets rules)
// happens in the inactive bank, which no reader looks at, under the install
// lock only; the main lock is held for the recount of the live connections
// (their closures against the new index: the connections times their
// closures, not the rules) and the swap. Logins wait only for that.
double last_install_ms = 0;
double last_install_locked_ms = 0;

bool install_budgets(const BudgetSet &fresh, uint64_t expected, const char *changed_by)
{
    SharedState *st = shm.state;
    BudgetState &b = st->budget;
    lock_acquire(st->budget_install_lock, LW_EXCLUSIVE);
    uint32_t active = b.active;  // only installers change it, under this lock
    const BudgetSet &old = b.banks[active];
    if (expected != 0 && old.generation != expected) {
        lock_release(st->budget_install_lock);
        return false;
    }
    // The governor re-reads the table every 10 samples (every sample on a
    // standby): an unchanged table installs nothing and takes no main lock.
    if (fresh.count == old.count &&
        memcmp(fresh.rules, old.rules, sizeof(BudgetRule) * fresh.count) == 0) {
        lock_release(st->budget_install_lock);
        return true;
    }
    instr_time start, locked, unlocked;
    INSTR_TIME_SET_CURRENT(start);
    BudgetSet &next = b.banks[1 - active];
    budget_set_copy(next, fresh);
    budget_set_zero_counts(next);

    lock_acquire(st->main_lock, LW_EXCLUSIVE);
    INSTR_TIME_SET_CURRENT(locked);
    drain_exits();
    for (uint32_t i = 0; i < st->nslots; ++i)
        if (slot_counted(shm.slot_keys[i]))
            budget_set_count(next, shm.slots[i], b.members, +1);
    next.generation = old.generation + 1;
    atomic::store_release(b.active, 1 - active);
    uint32_t idle_rules = 0;
    for (uint32_t i = 0; i < next.count; ++i)
        idle_rules += next.rules[i].idle_in_transaction_timeout_ms > 0;
    atomic::store_release(b.idle_in_transaction_rules, idle_rules);
    atomic::store_release(b.generation, next.generation);
    lock_release(st->main_lock);
    INSTR_TIME_SET_CURRENT(unlocked);
    // No elog here: this runs in the commit callback too.
    last_install_locked_ms = INSTR_TIME_GET_MILLISEC(unlocked) - INSTR_TIME_GET_MILLISEC(locked);
    last_install_ms = INSTR_TIME_GET_MILLISEC(unlocked) - INSTR_TIME_GET_MILLISEC(start);

    // old is now the inactive bank: stable while this installer holds the
    // install lock.
    log_changes(old, next, changed_by);
    lock_release(st->budget_install_lock);
    return true;
}

// DROP EXTENSION pg_poolgov (also through DROP SCHEMA ... CASCADE or DROP
// OWNED) in the governed database: the table goes, so do the budgets. A
// change like any other: PRE_COMMIT reads what the transaction leaves (no
// extension: no budgets; a savepoint that dropped it rolled back, or a later
// CREATE EXTENSION and INSERT: that table), COMMIT installs it, abort
// forgets it. Seen around the DROP command itself (the utility hook), not
// through object_access_hook, which PostgreSQL would call at every function
// call of every statement.
Oid budgets_extension_before_drop()
{
    if (shm.state == nullptr || !in_governed_database())
        return InvalidOid;
    return get_extension_oid("pg_poolgov", true);
}

void budgets_extension_after_drop(Oid extension)
{
    // A deletion makes itself visible (CommandCounterIncrement) as it goes.
    if (OidIsValid(extension) && get_extension_oid("pg_poolgov", true) != extension)
        mark_dirty();
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
        ereport(
            WARNING,
            (errcode(ERRCODE_WARNING),
             errmsg("budgets in database \"%s\" are not enforced", get_database_name(MyDatabaseId)),
             errdetail("pg_poolgov reads budgets from database \"%s\" (poolgov.database).",
                       settings::database)));
        return (Datum)0;  // NULL (19's PointerGetDatum(nullptr) is no C++)
    }
    // Refuse the INSERT that makes the table larger than shared memory
    // holds (UPDATE, DELETE and TRUNCATE never add rows, and must stay
    // possible on a table that is over capacity, to bring it back); the
    // full read waits for PRE_COMMIT.
    auto *trigger = reinterpret_cast<TriggerData *>(fcinfo->context);
    if (TRIGGER_FIRED_BY_INSERT(trigger->tg_event)) {
        uint64 rows = count_budget_rows();
        if (rows > shm.state->budget.capacity)
            too_many_budgets(rows, shm.state->budget.capacity);
        pending_grew = true;
    }
    mark_dirty();
    return (Datum)0;
}

// Called by set_budget / drop_budget before they touch the table: refuse
// clearly when this is not the database the governor reads.
POOLGOV_SQL_FUNCTION(poolgov_require_budget_database)
{
    require_shmem();
    if (!in_governed_database())
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("pg_poolgov budgets are kept in database \"%s\"", settings::database),
                 errdetail("This is database \"%s\"; poolgov.database names the database whose "
                           "poolgov.budgets table is enforced.",
                           get_database_name(MyDatabaseId)),
                 errhint("Connect to database \"%s\" to change budgets.", settings::database)));
    PG_RETURN_VOID();
}
