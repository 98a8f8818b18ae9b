// poolgov.events and poolgov.slow_queries: copies of the rings, masked for
// readers without the privileges of the row's role (or pg_read_all_stats).
//
// Events about failed logins (breaker_open, reject_breaker, breaker_close,
// breaker_reset) carry a role name as the client typed it (an invented name, or a password
// typed into the user-name field) and the client's address: to a reader who
// may not see that role's details, their role and database read NULL too.
// Every masked event shows client_addr NULL and detail
// '<insufficient privilege>'.
#include "postgres.hpp"

#include "views/activity.hpp"
#include "privileges.hpp"
#include "guard.hpp"
#include "views/ring_copy.hpp"
#include "views/row_builder.hpp"
#include "shmem.hpp"

extern "C" {
#include "utils/acl.h"
}

#include "poolgov/events.hpp"

using namespace poolgov;
using namespace poolgov::pg;

namespace {

bool about_failed_login(EventKind k)
{
    return k == EventKind::BreakerOpen || k == EventKind::RejectBreaker ||
           k == EventKind::BreakerClose || k == EventKind::BreakerReset;
}

}  // namespace

POOLGOV_SQL_FUNCTION(poolgov_events)
{
    require_shmem();
    RowBuilder row(fcinfo);
    for_each_ring_record<EventRecord>(
        shm.state->events_lock, &shm.state->events, shm.events, [&](const EventRecord &e) {
            bool visible = can_see_details_of(e.role[0] ? get_role_oid(e.role, true) : InvalidOid);
            bool hide_names = !visible && about_failed_login(e.kind);
            row.timestamptz(e.at).text(event_kind_name(e.kind));
            if (hide_names)
                row.null().null();
            else
                row.name(e.role[0] ? e.role : nullptr).name(e.database[0] ? e.database : nullptr);
            row.int4(e.pid);
            if (visible)
                row.inet(e.client_addr).text(e.detail);
            else
                row.null().text("<insufficient privilege>");
            row.emit();
        });
    return (Datum)0;
}

POOLGOV_SQL_FUNCTION(poolgov_slow_queries)
{
    require_shmem();
    RowBuilder row(fcinfo);
    for_each_ring_record<SlowQueryRecord>(
        shm.state->slowlog_lock, &shm.state->slowlog, shm.slowlog, [&](const SlowQueryRecord &q) {
            bool visible = can_see_details_of(q.role_oid);
            row.timestamptz(q.finished_at)
                .int4(q.pid)
                .name(q.role)
                .name(q.database)
                .float8(q.duration_ms)
                .float8_or_null(q.plan_cost)
                .int8(static_cast<int64>(q.rows));
            if (visible && q.queryid != 0)
                row.int8(static_cast<int64>(q.queryid));
            else
                row.null();
            row.text(q.application_name);
            if (visible)
                row.inet(q.client_addr).text(reinterpret_cast<const char *>(&q + 1));
            else
                row.null().text("<insufficient privilege>");
            row.emit();
        });
    return (Datum)0;
}
