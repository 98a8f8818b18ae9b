// poolgov.connections: one row per client connection, masked like
// pg_stat_activity for readers without the privileges of the row's role
// (or pg_read_all_stats).
#include "postgres.hpp"

#include "views/activity.hpp"
#include "privileges.hpp"
#include "guard.hpp"
#include "views/row_builder.hpp"
#include "shmem.hpp"

using namespace poolgov;
using namespace poolgov::pg;

POOLGOV_SQL_FUNCTION(poolgov_connections)
{
    require_shmem();
    LiveConnection *conns = nullptr;
    int n = copy_live_connections(&conns);
    copy_admission_entries(conns, n);
    BackendIndex index;
    index.build();

    RowBuilder row(fcinfo);
    for (int i = 0; i < n; ++i) {
        const ConnSlot &s = conns[i].slot;
        const PgBackendStatus *be = index.find(s.pid);
        bool visible = can_see_details_of(s.role_oid);
        const char *app = be && be->st_appname ? be->st_appname : s.application_name;
        row.int4(s.pid).name(s.role_name).name(s.db_name);
        if (!visible) {
            row.null().text(app).null().null().null().null().null().null().text(
                "<insufficient privilege>");
            row.null().null();  // admission, queued_since
            row.emit();
            continue;
        }
        StmtSummary sum = stmt_summarize(conns[i].stmts);
        row.inet(s.client_addr)
            .text(app)
            .timestamptz(s.backend_start)
            .text(state_name(be))
            .timestamptz(be ? be->st_state_start_timestamp : 0)
            .int8(static_cast<int64>(sum.statements))
            .float8(sum.total_ms)
            .timestamptz(be ? be->st_activity_start_timestamp : 0)
            .text(be ? pgstat_clip_activity(be->st_activity_raw) : nullptr)
            .text(admission_name(conns[i].adm))
            .timestamptz(conns[i].adm.queued_since);
        row.emit();
    }
    return (Datum)0;
}
