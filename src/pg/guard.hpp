// The C++ / PostgreSQL boundary (DESIGN.md).
//
// PostgreSQL -> C++: every extern "C" entry point runs its body through
// run_guarded(). A C++ exception is caught there, its message copied into a
// static buffer, and only after the try block has been left (no C++ object
// alive) is it raised as a PostgreSQL ERROR.
//
// C++ -> PostgreSQL: the core never calls PostgreSQL, and src/pg frames that
// call functions which may ereport hold only trivially destructible objects,
// so a longjmp through them skips no destructor.
#pragma once

#include "postgres.hpp"

#include <exception>
#include <type_traits>

namespace poolgov::pg {

// Copies what() into a static buffer; returns it, or nullptr if fn returned.
template <class Fn>
const char *catch_cxx(Fn &&fn) noexcept
{
    static char message[512];
    try {
        fn();
        return nullptr;
    } catch (const std::exception &e) {
        strlcpy(message, e.what(), sizeof(message));
    } catch (...) {
        strlcpy(message, "unknown C++ exception", sizeof(message));
    }
    return message;
}

[[noreturn]] void raise_cxx_error(const char *what);

template <class Fn>
void run_guarded(Fn &&fn)
{
    static_assert(std::is_trivially_destructible_v<std::decay_t<Fn>>,
                  "a guarded body must not own objects with destructors");
    const char *failed = catch_cxx(fn);
    if (failed != nullptr)
        raise_cxx_error(failed);
}

}  // namespace poolgov::pg

// Defines an SQL-callable function whose body is guarded:
//   POOLGOV_SQL_FUNCTION(poolgov_reset) { ...; return result; }
#define POOLGOV_SQL_FUNCTION(name)                                       \
    static Datum name##_body(FunctionCallInfo fcinfo);                   \
    extern "C" {                                                         \
    PG_FUNCTION_INFO_V1(name);                                           \
    }                                                                    \
    extern "C" PGDLLEXPORT Datum name(PG_FUNCTION_ARGS)                  \
    {                                                                    \
        Datum result = (Datum)0;                                         \
        poolgov::pg::run_guarded([&] { result = name##_body(fcinfo); }); \
        return result;                                                   \
    }                                                                    \
    static Datum name##_body(FunctionCallInfo fcinfo)
