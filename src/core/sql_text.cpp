#include "poolgov/sql_text.hpp"

#include "poolgov/no_postgres.hpp"

namespace poolgov {

std::string quote_literal(std::string_view value)
{
    std::string out;
    out.reserve(value.size() + 3);
    if (value.find('\\') != std::string_view::npos)
        out += 'E';
    out += '\'';
    for (char c : value) {
        if (c == '\'' || c == '\\')
            out += c;
        out += c;
    }
    out += '\'';
    return out;
}

}  // namespace poolgov
