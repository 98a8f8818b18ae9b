// Appends governance events to the poolgov.events ring.
#pragma once

#include "postgres.hpp"

#include "poolgov/events.hpp"

namespace poolgov::pg {

struct EventFields {
    const char *role = nullptr;
    const char *database = nullptr;
    int pid = 0;
    const char *client_addr = nullptr;
};

// Takes events_lock briefly; never errors.
void log_event(EventKind kind, const EventFields &who, const char *detail);

}  // namespace poolgov::pg
