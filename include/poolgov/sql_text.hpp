// SQL text built by the core (hints that show a statement to run).
#pragma once

#include <string>
#include <string_view>

namespace poolgov {

// The value as an SQL string literal, exactly as PostgreSQL's quote_literal()
// writes it: enclosed in single quotes, every ' and \ doubled, and prefixed
// with E when the value contains a backslash (so that the literal means the
// same whatever standard_conforming_strings is).
std::string quote_literal(std::string_view value);

}  // namespace poolgov
