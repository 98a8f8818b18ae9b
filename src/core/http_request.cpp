#include "poolgov/http_request.hpp"

#include <cstdio>
#include <cstring>
#include <string_view>

#include "poolgov/no_postgres.hpp"

namespace poolgov::http {

namespace {

using std::string_view;

bool is_tchar(char c)
{
    // RFC 9110 token characters.
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// A line without its terminator (CRLF or LF); false if no terminator yet.
bool next_line(string_view rest, string_view &line, size_t &consumed)
{
    size_t nl = rest.find('\n');
    if (nl == string_view::npos)
        return false;
    consumed = nl + 1;
    line = rest.substr(0, nl);
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    return true;
}

struct RequestLine {
    bool ok;
    string_view method, target;
};

RequestLine parse_request_line(string_view line)
{
    RequestLine r{false, {}, {}};
    size_t sp1 = line.find(' ');
    if (sp1 == string_view::npos || sp1 == 0)
        return r;
    size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == string_view::npos || sp2 == sp1 + 1)
        return r;
    string_view method = line.substr(0, sp1);
    string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    string_view version = line.substr(sp2 + 1);
    for (char c : method)
        if (!is_tchar(c))
            return r;
    for (char c : target)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return r;
    if (version != "HTTP/1.1" && version != "HTTP/1.0")
        return r;
    r.ok = true;
    r.method = method;
    r.target = target;
    return r;
}

// Checks what can be checked of a request line not yet ended: the method so
// far is made of token characters and is followed by a space soon enough.
bool plausible_prefix(string_view partial)
{
    size_t sp = partial.find(' ');
    string_view method = partial.substr(0, sp);
    if (sp == 0)
        return false;
    for (char c : method)
        if (!is_tchar(c))
            return false;
    return sp != string_view::npos || method.size() <= 32;
}

bool header_line_ok(string_view line)
{
    size_t colon = line.find(':');
    if (colon == string_view::npos || colon == 0)
        return false;
    for (char c : line.substr(0, colon))
        if (!is_tchar(c))
            return false;
    return true;
}

Verdict route(string_view method, string_view target)
{
    bool head = method == "HEAD";
    if (method != "GET" && !head)
        return Verdict::NotAllowed;
    string_view path = target.substr(0, target.find('?'));
    if (path != "/metrics")
        return Verdict::NotFound;
    return head ? Verdict::MetricsHead : Verdict::Metrics;
}

}  // namespace

Verdict decide(const char *buf, size_t len, size_t max) noexcept
{
    string_view rest(buf, len);
    string_view line;
    size_t used = 0;
    if (!next_line(rest, line, used)) {
        if (!plausible_prefix(rest))
            return Verdict::BadRequest;
        return len >= max ? Verdict::TooLarge : Verdict::Incomplete;
    }
    RequestLine rl = parse_request_line(line);
    if (!rl.ok)
        return Verdict::BadRequest;
    rest.remove_prefix(used);
    for (;;) {
        if (!next_line(rest, line, used))
            return len >= max ? Verdict::TooLarge : Verdict::Incomplete;
        rest.remove_prefix(used);
        if (line.empty())
            return route(rl.method, rl.target);
        if (!header_line_ok(line))
            return Verdict::BadRequest;
    }
}

int status_of(Verdict v) noexcept
{
    switch (v) {
    case Verdict::Incomplete:
        return 0;
    case Verdict::Metrics:
    case Verdict::MetricsHead:
        return 200;
    case Verdict::NotFound:
        return 404;
    case Verdict::NotAllowed:
        return 405;
    case Verdict::BadRequest:
        return 400;
    case Verdict::TooLarge:
        return 431;
    case Verdict::ServerError:
        return 500;
    }
    return 500;
}

bool has_body(Verdict v) noexcept { return v != Verdict::MetricsHead && v != Verdict::Incomplete; }

const char *error_body(Verdict v) noexcept
{
    switch (v) {
    case Verdict::NotFound:
        return "not found: pg_poolgov serves only /metrics\n";
    case Verdict::NotAllowed:
        return "method not allowed: use GET or HEAD\n";
    case Verdict::BadRequest:
        return "bad request\n";
    case Verdict::TooLarge:
        return "request header fields too large\n";
    case Verdict::ServerError:
        return "could not read the metrics: see the server log\n";
    default:
        return "";
    }
}

size_t response_head(Verdict v, size_t content_length, char *out, size_t cap) noexcept
{
    const char *reason = "Internal Server Error";
    switch (status_of(v)) {
    case 200:
        reason = "OK";
        break;
    case 400:
        reason = "Bad Request";
        break;
    case 404:
        reason = "Not Found";
        break;
    case 405:
        reason = "Method Not Allowed";
        break;
    case 431:
        reason = "Request Header Fields Too Large";
        break;
    }
    bool ok = status_of(v) == 200;
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "%s"
                     "Connection: close\r\n"
                     "\r\n",
                     status_of(v), reason, ok ? kMetricsContentType : "text/plain; charset=utf-8",
                     content_length, v == Verdict::NotAllowed ? "Allow: GET, HEAD\r\n" : "");
    if (n < 0 || static_cast<size_t>(n) >= cap)
        return 0;
    return static_cast<size_t>(n);
}

}  // namespace poolgov::http
