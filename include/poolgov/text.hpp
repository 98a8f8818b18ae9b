// Fixed-size text in plain structs: shared-memory records carry names and
// addresses as NUL-terminated char arrays, never std::string.
#pragma once

#include <cstddef>
#include <cstring>

namespace poolgov {

constexpr size_t kNameLen = 64;     // NAMEDATALEN
constexpr size_t kAddrLen = 48;     // INET6_ADDRSTRLEN + room
constexpr size_t kDetailLen = 256;  // event detail, messages

// Copies at most n-1 bytes and always terminates. Never splits a UTF-8
// sequence: a cut falls back to the last character boundary.
inline void copy_text(char *dst, size_t n, const char *src)
{
    if (n == 0)
        return;
    if (src == nullptr) {
        dst[0] = '\0';
        return;
    }
    size_t len = std::strlen(src);
    if (len >= n) {
        len = n - 1;
        while (len > 0 && (static_cast<unsigned char>(src[len]) & 0xC0) == 0x80)
            --len;
    }
    std::memcpy(dst, src, len);
    dst[len] = '\0';
}

template <size_t N>
inline void copy_text(char (&dst)[N], const char *src)
{
    copy_text(dst, N, src);
}

}  // namespace poolgov
