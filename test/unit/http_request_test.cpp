#include "poolgov/http_request.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace poolgov::http;

namespace {

constexpr size_t kMax = 8192;

Verdict of(const std::string &s, size_t max = kMax) { return decide(s.data(), s.size(), max); }

TEST(HttpRequest, GetMetrics)
{
    EXPECT_EQ(of("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"), Verdict::Metrics);
    EXPECT_EQ(of("GET /metrics HTTP/1.0\r\n\r\n"), Verdict::Metrics);
}

TEST(HttpRequest, QueryStringIsIgnored)
{
    EXPECT_EQ(of("GET /metrics?name[]=x HTTP/1.1\r\n\r\n"), Verdict::Metrics);
    EXPECT_EQ(of("GET /metrics? HTTP/1.1\r\n\r\n"), Verdict::Metrics);
    EXPECT_EQ(of("GET /other?/metrics HTTP/1.1\r\n\r\n"), Verdict::NotFound);
}

TEST(HttpRequest, Head)
{
    EXPECT_EQ(of("HEAD /metrics HTTP/1.1\r\n\r\n"), Verdict::MetricsHead);
    EXPECT_EQ(of("HEAD / HTTP/1.1\r\n\r\n"), Verdict::NotFound);
}

TEST(HttpRequest, OtherPathsAreNotFound)
{
    for (const char *path :
         {"/", "/metrics/", "/metricsx", "/Metrics", "//metrics", "*", "http://localhost/metrics"})
        EXPECT_EQ(of(std::string("GET ") + path + " HTTP/1.1\r\n\r\n"), Verdict::NotFound) << path;
}

TEST(HttpRequest, OtherMethodsAreNotAllowed)
{
    for (const char *m : {"POST", "PUT", "DELETE", "OPTIONS", "get", "TRACE", "BREW"})
        EXPECT_EQ(of(std::string(m) + " /metrics HTTP/1.1\r\n\r\n"), Verdict::NotAllowed) << m;
    // Before the path is looked at: POST /other is 405 too.
    EXPECT_EQ(of("POST /other HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), Verdict::NotAllowed);
}

TEST(HttpRequest, PartialReadsWaitForTheEmptyLine)
{
    std::string req = "GET /metrics HTTP/1.1\r\nHost: localhost:9187\r\n\r\n";
    for (size_t n = 0; n < req.size(); ++n)
        EXPECT_EQ(decide(req.data(), n, kMax), Verdict::Incomplete) << n;
    EXPECT_EQ(decide(req.data(), req.size(), kMax), Verdict::Metrics);
}

TEST(HttpRequest, BareLineFeedsAndMixedEndings)
{
    EXPECT_EQ(of("GET /metrics HTTP/1.1\nHost: x\n\n"), Verdict::Metrics);
    EXPECT_EQ(of("GET /metrics HTTP/1.1\r\nHost: x\n\r\n"), Verdict::Metrics);
    // A lone CR is not a line end: still waiting.
    EXPECT_EQ(of("GET /metrics HTTP/1.1\r\nHost: x\r\r"), Verdict::Incomplete);
}

TEST(HttpRequest, OversizeIsTooLarge)
{
    std::string req = "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(kMax, 'a');
    EXPECT_EQ(decide(req.data(), kMax, kMax), Verdict::TooLarge);
    // A request line longer than the buffer.
    std::string line = "GET /" + std::string(kMax, 'm');
    EXPECT_EQ(decide(line.data(), kMax, kMax), Verdict::TooLarge);
    // Just fits: the empty line is the last byte.
    std::string fits = "GET /metrics HTTP/1.1\r\nX: ";
    fits += std::string(kMax - fits.size() - 4, 'a') + "\r\n\r\n";
    ASSERT_EQ(fits.size(), kMax);
    EXPECT_EQ(decide(fits.data(), fits.size(), kMax), Verdict::Metrics);
}

TEST(HttpRequest, GarbageIsBadRequest)
{
    EXPECT_EQ(of("\x16\x03\x01\x02\x00"), Verdict::BadRequest);  // a TLS ClientHello
    EXPECT_EQ(of("hello\r\n"), Verdict::BadRequest);
    EXPECT_EQ(of(" GET /metrics HTTP/1.1\r\n\r\n"), Verdict::BadRequest);
    EXPECT_EQ(of("GET  /metrics HTTP/1.1\r\n\r\n"), Verdict::BadRequest);
    EXPECT_EQ(of("GET /metrics HTTP/2.0\r\n\r\n"), Verdict::BadRequest);
    EXPECT_EQ(of("GET /metrics\r\n\r\n"), Verdict::BadRequest);  // HTTP/0.9
    EXPECT_EQ(of("GET /met rics HTTP/1.1\r\n\r\n"), Verdict::BadRequest);
    EXPECT_EQ(of("GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n"), Verdict::BadRequest);
    EXPECT_EQ(of("GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n"), Verdict::BadRequest);
    EXPECT_EQ(of(std::string("GET /metrics HTTP/1.1\r\n\0x: y\r\n\r\n", 30)), Verdict::BadRequest);
    // A long run of token characters with no space is no method.
    EXPECT_EQ(of(std::string(40, 'A')), Verdict::BadRequest);
    // Garbage is recognised before the headers end, one byte at a time.
    EXPECT_EQ(of("G\x01"), Verdict::BadRequest);
}

TEST(HttpRequest, ResponseHead)
{
    char buf[512];
    size_t n = response_head(Verdict::Metrics, 1234, buf, sizeof(buf));
    ASSERT_GT(n, 0u);
    std::string head(buf, n);
    EXPECT_EQ(head,
              "HTTP/1.1 200 OK\r\n"
              "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
              "Content-Length: 1234\r\n"
              "Connection: close\r\n\r\n");
    n = response_head(Verdict::NotAllowed, 10, buf, sizeof(buf));
    head.assign(buf, n);
    EXPECT_NE(head.find("HTTP/1.1 405 Method Not Allowed\r\n"), std::string::npos);
    EXPECT_NE(head.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
    n = response_head(Verdict::TooLarge, 0, buf, sizeof(buf));
    EXPECT_EQ(std::string(buf, n).rfind("HTTP/1.1 431 ", 0), 0u);
    EXPECT_EQ(response_head(Verdict::Metrics, 1, buf, 10), 0u);  // too small
}

TEST(HttpRequest, StatusAndBodies)
{
    EXPECT_EQ(status_of(Verdict::Incomplete), 0);
    EXPECT_EQ(status_of(Verdict::ServerError), 500);
    EXPECT_FALSE(has_body(Verdict::MetricsHead));
    EXPECT_TRUE(has_body(Verdict::NotFound));
    EXPECT_STREQ(error_body(Verdict::Metrics), "");
    EXPECT_NE(std::string(error_body(Verdict::NotFound)), "");
}

}  // namespace
