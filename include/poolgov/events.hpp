// Governance events (poolgov.events) and slow statements (poolgov.slow_queries):
// plain records kept in shared-memory rings.
#pragma once

#include "poolgov/text.hpp"

#include <cstdint>
#include <type_traits>

namespace poolgov {

enum class EventKind : uint8_t {
    RejectBudget,
    WarnBudget,
    RejectReserve,
    WarnReserve,
    RejectBreaker,
    BreakerOpen,
    BreakerClose,
    BudgetChanged,
    AdmissionTimeout,
    AdmissionOverdraft,
    AdmissionIdle,
    BreakerReset,
    SuperuserOverdraft,  // a superuser admitted over its budget (superuser reserve)
    TerminateIdle,       // pg_poolgov ended an idle session (idle reclamation)
    Pause,               // poolgov.pause() paused a scope
    Resume,              // a pause was lifted (poolgov.resume() or poolgov.pause_timeout)
};

const char *event_kind_name(EventKind k);

constexpr uint32_t kEventLogSize = 1024;

struct EventRecord {
    int64_t at;  // PostgreSQL timestamp
    EventKind kind;
    int32_t pid;
    char role[kNameLen];
    char database[kNameLen];
    char client_addr[kAddrLen];  // "" = none or unix socket
    char detail[kDetailLen];
};
static_assert(std::is_trivially_copyable_v<EventRecord>);  // in shared memory

// One slow statement; `query_len` bytes of text follow the struct in the ring.
struct SlowQueryRecord {
    int64_t finished_at;
    int32_t pid;
    uint32_t role_oid;
    double duration_ms;
    double plan_cost;  // negative: no plan (utility statement)
    uint64_t rows;
    uint64_t queryid;
    char role[kNameLen];
    char database[kNameLen];
    char application_name[kNameLen];
    char client_addr[kAddrLen];
    uint32_t query_len;
};
static_assert(std::is_trivially_copyable_v<SlowQueryRecord>);  // in shared memory

}  // namespace poolgov
