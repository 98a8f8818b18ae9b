// Client addresses and address ranges, as budgets name them.
//
// A login comes from an IPv4 address, an IPv6 address, or a unix socket
// ("local", as pg_hba.conf calls it). A budget rule may name:
//   - "local"            unix-socket logins;
//   - "all"              every login, whatever its address (TCP or local);
//   - an address         "10.1.2.3", "2001:db8::7" (a range of one address);
//   - a CIDR range       "10.1.2.0/24", "2001:db8::/32" (bits right of the
//                        prefix must be zero, as PostgreSQL's cidr type
//                        demands).
// An IPv4 address is not in an IPv6 range and the other way round
// (::ffff:10.1.2.3 is an IPv6 address), as in pg_hba.conf.
//
// Plain data (in shared memory inside BudgetRule); no PostgreSQL headers.
#pragma once

#include "poolgov/text.hpp"

#include <cstdint>
#include <type_traits>

namespace poolgov {

enum class AddrFamily : uint8_t { None = 0, Local = 1, V4 = 2, V6 = 3, All = 4 };

// An address (prefix == all bits) or a range. For a login, Local or V4/V6
// with the full prefix; for a rule, None (no address: the rule does not look
// at addresses), Local, All (prefix 0) or a masked V4/V6 range.
struct ClientAddr {
    AddrFamily family;
    uint8_t prefix;     // bits of bytes that count: 32 (V4), 128 (V6), 0 otherwise
    uint8_t bytes[16];  // network order; V4 uses bytes[0..4); zero beyond the prefix
};
static_assert(std::is_trivially_copyable_v<ClientAddr>);  // in shared memory

inline constexpr ClientAddr kNoAddr{AddrFamily::None, 0, {}};
inline constexpr ClientAddr kLocalAddr{AddrFamily::Local, 0, {}};

// The bits of an address of this family (32, 128; 0 for the others).
int addr_bits(AddrFamily f);

// A login's address from its numeric text ("" or null: a unix socket).
// False (out = Local) when the text is no numeric IPv4 or IPv6 address.
bool parse_login_addr(const char *text, ClientAddr &out);

// A rule's address form ("local", "all", an address, a CIDR range).
// False when the text is none of them or has bits set right of the prefix.
bool parse_rule_addr(const char *text, ClientAddr &out);

// Whether the login address `a` is inside the rule's range `range`.
bool addr_in_range(const ClientAddr &a, const ClientAddr &range);

// `a` with the bits right of `prefix` cleared (family and prefix set).
ClientAddr addr_mask(const ClientAddr &a, int prefix);

// Total order: family, prefix, bytes (memcmp-like; -1, 0, 1).
int addr_compare(const ClientAddr &a, const ClientAddr &b);

// The canonical text: "local", "all", "10.1.2.3", "10.1.2.0/24",
// "2001:db8::/32"; "" for None. A single address has no "/n".
void format_addr(const ClientAddr &a, char (&out)[kAddrLen]);

}  // namespace poolgov
