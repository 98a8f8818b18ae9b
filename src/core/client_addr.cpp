#include "poolgov/client_addr.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "poolgov/no_postgres.hpp"

namespace poolgov {

int addr_bits(AddrFamily f)
{
    switch (f) {
    case AddrFamily::V4:
        return 32;
    case AddrFamily::V6:
        return 128;
    default:
        return 0;
    }
}

namespace {

bool parse_numeric(const char *text, ClientAddr &out)
{
    out = ClientAddr{};
    if (std::strchr(text, ':') != nullptr) {
        if (inet_pton(AF_INET6, text, out.bytes) != 1)
            return false;
        out.family = AddrFamily::V6;
        out.prefix = 128;
        return true;
    }
    if (inet_pton(AF_INET, text, out.bytes) != 1)
        return false;
    out.family = AddrFamily::V4;
    out.prefix = 32;
    return true;
}

}  // namespace

bool parse_login_addr(const char *text, ClientAddr &out)
{
    if (text == nullptr || text[0] == '\0') {
        out = kLocalAddr;
        return true;
    }
    if (parse_numeric(text, out))
        return true;
    out = kLocalAddr;
    return false;
}

bool parse_rule_addr(const char *text, ClientAddr &out)
{
    out = kNoAddr;
    if (text == nullptr)
        return false;
    if (std::strcmp(text, "local") == 0) {
        out = kLocalAddr;
        return true;
    }
    if (std::strcmp(text, "all") == 0) {
        out = ClientAddr{AddrFamily::All, 0, {}};
        return true;
    }
    char host[kAddrLen];
    const char *slash = std::strchr(text, '/');
    size_t len = slash ? static_cast<size_t>(slash - text) : std::strlen(text);
    if (len == 0 || len >= sizeof(host))
        return false;
    std::memcpy(host, text, len);
    host[len] = '\0';
    ClientAddr a;
    if (!parse_numeric(host, a))
        return false;
    int prefix = a.prefix;
    if (slash != nullptr) {
        const char *digits = slash + 1;
        if (*digits == '\0' || std::strlen(digits) > 3)
            return false;
        for (const char *p = digits; *p; ++p)
            if (*p < '0' || *p > '9')
                return false;
        prefix = std::atoi(digits);
        if (prefix > addr_bits(a.family))
            return false;
    }
    ClientAddr masked = addr_mask(a, prefix);
    if (std::memcmp(masked.bytes, a.bytes, sizeof(a.bytes)) != 0)
        return false;  // bits right of the prefix, as cidr refuses them
    out = masked;
    return true;
}

ClientAddr addr_mask(const ClientAddr &a, int prefix)
{
    ClientAddr m{};
    m.family = a.family;
    int bits = addr_bits(a.family);
    if (prefix > bits)
        prefix = bits;
    if (prefix < 0)
        prefix = 0;
    m.prefix = static_cast<uint8_t>(prefix);
    int full = prefix / 8, rest = prefix % 8;
    std::memcpy(m.bytes, a.bytes, static_cast<size_t>(full));
    if (rest != 0)
        m.bytes[full] = static_cast<uint8_t>(a.bytes[full] & (0xFF << (8 - rest)));
    return m;
}

bool addr_in_range(const ClientAddr &a, const ClientAddr &range)
{
    switch (range.family) {
    case AddrFamily::None:
        return false;
    case AddrFamily::All:
        return true;
    case AddrFamily::Local:
        return a.family == AddrFamily::Local;
    case AddrFamily::V4:
    case AddrFamily::V6:
        if (a.family != range.family)
            return false;
        return addr_compare(addr_mask(a, range.prefix), range) == 0;
    }
    return false;
}

int addr_compare(const ClientAddr &a, const ClientAddr &b)
{
    if (a.family != b.family)
        return a.family < b.family ? -1 : 1;
    if (a.prefix != b.prefix)
        return a.prefix < b.prefix ? -1 : 1;
    int c = std::memcmp(a.bytes, b.bytes, sizeof(a.bytes));
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

void format_addr(const ClientAddr &a, char (&out)[kAddrLen])
{
    out[0] = '\0';
    switch (a.family) {
    case AddrFamily::None:
        return;
    case AddrFamily::Local:
        copy_text(out, "local");
        return;
    case AddrFamily::All:
        copy_text(out, "all");
        return;
    case AddrFamily::V4:
    case AddrFamily::V6:
        break;
    }
    char host[kAddrLen];
    if (inet_ntop(a.family == AddrFamily::V4 ? AF_INET : AF_INET6, a.bytes, host, sizeof(host)) ==
        nullptr)
        return;
    if (a.prefix == addr_bits(a.family))
        copy_text(out, host);
    else {
        char buf[kAddrLen + 8];
        std::snprintf(buf, sizeof(buf), "%s/%d", host, a.prefix);
        copy_text(out, buf);
    }
}

}  // namespace poolgov
