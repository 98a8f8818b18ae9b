// The request side of the governor's /metrics endpoint (src/pg/governor/metrics_http.cpp),
// kept pure so it is unit-tested: decide() looks at the bytes a client has
// sent so far and says whether to wait for more or which response to send;
// response_head() writes the status line and headers.
//
// What is accepted: one HTTP/1.0 or HTTP/1.1 request line
// "METHOD SP target SP HTTP/1.x", header lines "name: value", then an empty
// line; lines end in CRLF or a bare LF. A body is never read (GET and HEAD
// have none; other methods get 405 before it matters). The whole request,
// request line and headers, must fit in `max` bytes.
#pragma once

#include <cstddef>

namespace poolgov::http {

enum class Verdict {
    Incomplete,   // wait for more bytes
    Metrics,      // 200: GET /metrics (or /metrics?...)
    MetricsHead,  // 200 without a body: HEAD /metrics
    NotFound,     // 404: GET or HEAD of another path
    NotAllowed,   // 405: another method (with Allow: GET, HEAD)
    BadRequest,   // 400: not an HTTP/1.x request
    TooLarge,     // 431: no end of headers within max bytes
    ServerError,  // 500: never from decide(); the server could not read the metrics
};

// Looks at buf[0, len). `max` is the size of the receive buffer: a request
// that has not ended when len reaches max is TooLarge. A request line that
// is already wrong is BadRequest at once, without waiting for the headers.
Verdict decide(const char *buf, size_t len, size_t max) noexcept;

// The status code a verdict answers with (0 for Incomplete).
int status_of(Verdict v) noexcept;

// Whether the response carries a body (HEAD does not; errors carry a short
// text explaining the status).
bool has_body(Verdict v) noexcept;

// The short body of an error response ("not found\n", ...); empty for 200.
const char *error_body(Verdict v) noexcept;

// Writes the status line and headers (Content-Type, Content-Length,
// Connection: close, Allow on 405) ending in the empty line into out[0, cap);
// returns the length, or 0 if cap is too small.
size_t response_head(Verdict v, size_t content_length, char *out, size_t cap) noexcept;

// The Content-Type of the exposition (Prometheus text format 0.0.4).
constexpr const char *kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace poolgov::http
