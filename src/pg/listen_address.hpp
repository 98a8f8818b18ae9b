// poolgov.metrics_listen_address in a form bind() takes: parsed by the
// setting's check hook (settings.cpp) and by the governor's endpoint
// (governor/metrics_http.cpp), the same way.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

namespace poolgov::pg {

struct ListenAddress {
    struct sockaddr_storage sa;
    socklen_t len;
    int family;
    bool loopback;   // 127.0.0.0/8, ::1 or an IPv4-mapped 127.x
    bool v4_mapped;  // ::ffff:a.b.c.d, which bind() refuses
};

// "localhost" (127.0.0.1), "*" (0.0.0.0) or a numeric IPv4 / IPv6 address;
// never a name lookup (the governor must not block on DNS).
bool parse_listen_address(const char *text, int port, ListenAddress *out);

}  // namespace poolgov::pg
