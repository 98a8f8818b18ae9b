// Text formatted with fmt into fixed-size buffers: the messages, details and
// hints of plain structs (shared-memory records, decisions the PostgreSQL
// side copies into an ereport).
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <utility>

namespace poolgov {

// Formats into dst, cut at N - 1 bytes, and always terminates with a NUL;
// returns the length written (without the NUL).
template <size_t N, class... Args>
size_t format_into(char (&dst)[N], fmt::format_string<Args...> f, Args &&...args)
{
    static_assert(N > 0);
    auto out = fmt::format_to_n(dst, N - 1, f, std::forward<Args>(args)...);
    *out.out = '\0';
    return static_cast<size_t>(out.out - dst);
}

}  // namespace poolgov
