#include "postgres.hpp"

#include "listen_address.hpp"

#include <arpa/inet.h>
#include <cstring>

namespace poolgov::pg {

bool parse_listen_address(const char *text, int port, ListenAddress *out)
{
    memset(out, 0, sizeof(*out));
    const char *numeric = text;
    if (pg_strcasecmp(text, "localhost") == 0)
        numeric = "127.0.0.1";
    else if (strcmp(text, "*") == 0)
        numeric = "0.0.0.0";
    auto *v4 = reinterpret_cast<struct sockaddr_in *>(&out->sa);
    auto *v6 = reinterpret_cast<struct sockaddr_in6 *>(&out->sa);
    if (inet_pton(AF_INET, numeric, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(port));
        out->len = sizeof(*v4);
        out->family = AF_INET;
        out->loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
        return true;
    }
    if (inet_pton(AF_INET6, numeric, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        out->len = sizeof(*v6);
        out->family = AF_INET6;
        const uint8_t *b = v6->sin6_addr.s6_addr;
        out->v4_mapped = IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr);
        out->loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) || (out->v4_mapped && b[12] == 127);
        return true;
    }
    return false;
}

}  // namespace poolgov::pg
