// The governor's /metrics endpoint (metrics_http.hpp).
//
// Vocabulary: the listener is the one listening socket on
// poolgov.metrics_listen_address:poolgov.metrics_port; a client is an
// accepted connection, first Reading its request (into a fixed buffer of
// kMaxRequest bytes, decided by poolgov/http_request.hpp after every read)
// and then Writing its response (a malloc'd buffer, sent as the socket
// takes it). Every response ends the connection (Connection: close).
//
// Bounds: at most kMaxClients clients; a new connection when all are taken
// replaces the client that has been Reading the longest (so idle or
// slow-sending connections cannot lock Prometheus out), and is closed at
// once if every client is Writing. A client must send its request within
// kReadTimeoutMs of being accepted and take its response within
// kWriteTimeoutMs, else it is closed. Once the response is sent, the
// client is Draining: the write side is shut (the client reads EOF after
// the body) and whatever it still sends is read and dropped until it
// closes, at most kDrainMs: closing a socket with unread input would send
// a reset, which can destroy the end of the response before the client
// read it. Memory: kMaxClients request buffers
// (static) plus one exposition per Writing client, and a kernel send buffer
// of kSendBuffer bytes per client.
//
// Everything here runs in the governor, from plain frames (no C++ object
// with a destructor is alive when a PostgreSQL call may raise an error).
// Reading the metrics may raise an ERROR: it is caught, logged, and the
// client gets a 500; the governor goes on.
#include "postgres.hpp"

#include "governor/metrics_http.hpp"

extern "C" {
#include "pgstat.h"
#include "mb/pg_wchar.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
}

#include "compat.hpp"
#include "listen_address.hpp"
#include "settings.hpp"
#include "views/metrics.hpp"

#include "poolgov/http_request.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace poolgov::pg {

namespace {

constexpr int kMaxClients = 4;
constexpr size_t kMaxRequest = 8192;
constexpr int kReadTimeoutMs = 5000;
constexpr int kWriteTimeoutMs = 10000;
constexpr int kDrainMs = 2000;
constexpr int kRetryBindSeconds = 10;
constexpr int kBacklog = 16;
constexpr int kAcceptsPerWake = 32;
constexpr int kAcceptPauseMs = 1000;
constexpr int kSendBuffer = 64 * 1024;

enum class ClientState { Free, Reading, Writing, Draining };

struct Client {
    ClientState state;
    pgsocket fd;
    TimestampTz accepted_at;
    TimestampTz deadline;
    size_t in_len;
    char *out;  // malloc'd response
    size_t out_len;
    size_t out_sent;
};

struct Server {
    pgsocket listener;
    // The settings the listener was opened (or refused, or failed) with.
    char applied_address[256];
    int applied_port;
    bool applied_remote;
    bool configured;   // applied_* hold settings
    bool bind_failed;  // retry at retry_at
    TimestampTz retry_at;
    TimestampTz listener_paused_until;  // accept() failed for lack of descriptors
    Client clients[kMaxClients];
    WaitEventSet *set;
    bool set_stale;
    MemoryContext cxt;  // for reading the metrics; reset after each
};

Server server = {PGINVALID_SOCKET};
char request_buf[kMaxClients][kMaxRequest];

void close_client(Client &c)
{
    if (c.fd != PGINVALID_SOCKET)
        closesocket(c.fd);
    free(c.out);
    c = Client{};
    c.state = ClientState::Free;
    c.fd = PGINVALID_SOCKET;
    server.set_stale = true;
}

void close_listener()
{
    if (server.listener != PGINVALID_SOCKET) {
        closesocket(server.listener);
        server.listener = PGINVALID_SOCKET;
        server.listener_paused_until = 0;
        server.set_stale = true;
    }
}

// Opens the listener for the applied settings; logs a failure only the
// first time for these settings (quiet = a retry).
void open_listener(bool quiet)
{
    ListenAddress a;
    if (!parse_listen_address(server.applied_address, server.applied_port, &a))
        return;  // the check hook let nothing else through
    pgsocket fd = socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    bool ok = fd != PGINVALID_SOCKET &&
              setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
              (a.family != AF_INET6 ||
               setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0) &&
              bind(fd, reinterpret_cast<struct sockaddr *>(&a.sa), a.len) == 0 &&
              listen(fd, kBacklog) == 0;
    if (!ok) {
        int saved = errno;
        if (fd != PGINVALID_SOCKET)
            closesocket(fd);
        server.bind_failed = true;
        server.retry_at =
            TimestampTzPlusMilliseconds(GetCurrentTimestamp(), kRetryBindSeconds * 1000);
        if (!quiet) {
            errno = saved;
            ereport(LOG, (errcode_for_socket_access(),
                          errmsg("pg_poolgov governor: could not serve metrics on %s port %d: %m",
                                 server.applied_address, server.applied_port),
                          errdetail("It tries again every %d s and on each reload; sampling "
                                    "goes on.",
                                    kRetryBindSeconds),
                          errhint("Free the port or set poolgov.metrics_port to another one.")));
        }
        return;
    }
    server.listener = fd;
    server.bind_failed = false;
    server.set_stale = true;
    ereport(LOG, (errcode(ERRCODE_SUCCESSFUL_COMPLETION),
                  errmsg("pg_poolgov governor: serving metrics on http://%s%s%s:%d/metrics",
                         a.family == AF_INET6 ? "[" : "", server.applied_address,
                         a.family == AF_INET6 ? "]" : "", server.applied_port)));
    if (!a.loopback)
        ereport(WARNING,
                (errcode(ERRCODE_WARNING),
                 errmsg("pg_poolgov governor: the metrics endpoint on %s is reachable from "
                        "other hosts and has no authentication",
                        server.applied_address),
                 errdetail("poolgov.metrics_allow_remote is on."),
                 errhint("Restrict access with a firewall, or set "
                         "poolgov.metrics_listen_address = '127.0.0.1'.")));
}

// Reading the metrics may raise an ERROR: caught here (a plain frame), so
// the governor answers 500 and goes on. Returns a malloc'd body or nullptr.
char *read_metrics(size_t *len)
{
    MemoryContext old = MemoryContextSwitchTo(server.cxt);
    char *volatile body = nullptr;
    PG_TRY();
    {
        pgstat_clear_snapshot();  // the backend states as they are now
        body = metrics_exposition(len, PG_UTF8);
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(old);
        EmitErrorReport();
        FlushErrorState();
        LWLockReleaseAll();
        body = nullptr;
    }
    PG_END_TRY();
    MemoryContextSwitchTo(old);
    MemoryContextReset(server.cxt);
    return body;
}

// Builds the response for a decided request; the client switches to Writing.
void respond(Client &c, http::Verdict v)
{
    size_t body_len = 0;
    char *body = nullptr;
    if (v == http::Verdict::Metrics || v == http::Verdict::MetricsHead) {
        body = read_metrics(&body_len);
        if (body == nullptr)
            v = http::Verdict::ServerError;
    }
    if (body == nullptr) {
        body_len = strlen(http::error_body(v));
        body = strdup(http::error_body(v));
    }
    char head[512];
    size_t head_len = http::response_head(v, body_len, head, sizeof(head));
    size_t send_body = http::has_body(v) ? body_len : 0;
    c.out = static_cast<char *>(malloc(head_len + send_body));
    if (c.out == nullptr || body == nullptr || head_len == 0) {
        free(body);
        close_client(c);
        return;
    }
    memcpy(c.out, head, head_len);
    memcpy(c.out + head_len, body, send_body);
    free(body);
    c.out_len = head_len + send_body;
    c.out_sent = 0;
    c.state = ClientState::Writing;
    c.deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), kWriteTimeoutMs);
    server.set_stale = true;  // now waits for WRITEABLE
}

void drain_some(Client &c);

void send_some(Client &c)
{
    while (c.out_sent < c.out_len) {
        ssize_t n =
            send(c.fd, c.out + c.out_sent, c.out_len - c.out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c.out_sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;       // the socket is full: wait until it takes more
        close_client(c);  // gone (EPIPE, ECONNRESET, ...)
        return;
    }
    shutdown(c.fd, SHUT_WR);
    c.state = ClientState::Draining;
    c.deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), kDrainMs);
    server.set_stale = true;  // now waits for READABLE
    drain_some(c);            // (the client may have closed already)
}

// Reads and drops what a Draining client still sends; closes at its EOF.
void drain_some(Client &c)
{
    char scratch[1024];
    for (;;) {
        ssize_t n = recv(c.fd, scratch, sizeof(scratch), MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        close_client(c);  // EOF, or the client is gone
        return;
    }
}

void receive_some(Client &c, int index)
{
    char *buf = request_buf[index];
    bool eof = false;
    while (c.in_len < kMaxRequest) {
        ssize_t n = recv(c.fd, buf + c.in_len, kMaxRequest - c.in_len, MSG_DONTWAIT);
        if (n > 0) {
            c.in_len += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {  // reset or another error: nobody to answer
            close_client(c);
            return;
        }
        eof = true;  // the client is done sending (it may still read)
        break;
    }
    http::Verdict v = http::decide(buf, c.in_len, kMaxRequest);
    if (v == http::Verdict::Incomplete) {
        if (eof)
            close_client(c);  // closed before a whole request
        return;
    }
    respond(c, v);
    if (c.state == ClientState::Writing)
        send_some(c);
}

// A slot for a new connection: a free one, else the one Reading or
// Draining the longest (closed), else none.
int take_slot()
{
    int oldest = -1;
    for (int i = 0; i < kMaxClients; ++i) {
        const Client &c = server.clients[i];
        if (c.state == ClientState::Free)
            return i;
        if ((c.state == ClientState::Reading || c.state == ClientState::Draining) &&
            (oldest < 0 || c.accepted_at < server.clients[oldest].accepted_at))
            oldest = i;
    }
    if (oldest >= 0)
        close_client(server.clients[oldest]);
    return oldest;
}

void accept_some()
{
    for (int k = 0; k < kAcceptsPerWake; ++k) {
        pgsocket fd = accept4(server.listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == PGINVALID_SOCKET) {
            // Out of descriptors (EMFILE, ENFILE, ENOBUFS, ...): the
            // connection stays queued and the listener readable, so stop
            // watching it for a second rather than wake up in a loop.
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED) {
                server.listener_paused_until =
                    TimestampTzPlusMilliseconds(GetCurrentTimestamp(), kAcceptPauseMs);
                server.set_stale = true;
            }
            return;
        }
        int slot = take_slot();
        if (slot < 0) {
            closesocket(fd);
            continue;
        }
        // A fixed kernel send buffer: a client that stops reading holds at
        // most this much kernel memory (autotuning would grow it to MBs),
        // and the rest of its response waits here, bounded by the deadline.
        int sndbuf = kSendBuffer;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        Client &c = server.clients[slot];
        c.state = ClientState::Reading;
        c.fd = fd;
        c.accepted_at = GetCurrentTimestamp();
        c.deadline = TimestampTzPlusMilliseconds(c.accepted_at, kReadTimeoutMs);
        c.in_len = 0;
        server.set_stale = true;
        // Most requests are there already: answer without another wait.
        receive_some(c, slot);
    }
}

bool anything_open()
{
    if (server.listener != PGINVALID_SOCKET)
        return true;
    for (const Client &c : server.clients)
        if (c.state != ClientState::Free)
            return true;
    return false;
}

bool listener_paused(TimestampTz now)
{
    return server.listener_paused_until != 0 && now < server.listener_paused_until;
}

// user_data tags: the listener, or 1 + client index.
constexpr intptr_t kListenerTag = -1;

void rebuild_set()
{
    if (server.set != nullptr)
        FreeWaitEventSet(server.set);
    server.set = compat::create_wait_event_set(3 + kMaxClients);
    AddWaitEventToSet(server.set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, nullptr);
    AddWaitEventToSet(server.set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, nullptr, nullptr);
    if (server.listener != PGINVALID_SOCKET && !listener_paused(GetCurrentTimestamp()))
        AddWaitEventToSet(server.set, WL_SOCKET_READABLE, server.listener, nullptr,
                          reinterpret_cast<void *>(kListenerTag));
    for (int i = 0; i < kMaxClients; ++i) {
        const Client &c = server.clients[i];
        if (c.state == ClientState::Free)
            continue;
        uint32 events = c.state == ClientState::Writing ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE;
        AddWaitEventToSet(server.set, events, c.fd, nullptr,
                          reinterpret_cast<void *>(static_cast<intptr_t>(i + 1)));
    }
    server.set_stale = false;
}

// Closes clients past their deadline; retries a failed bind when due.
void housekeeping(TimestampTz now)
{
    for (Client &c : server.clients)
        if (c.state != ClientState::Free && now >= c.deadline)
            close_client(c);
    if (server.bind_failed && now >= server.retry_at)
        open_listener(true);
    if (server.listener_paused_until != 0 && !listener_paused(now)) {
        server.listener_paused_until = 0;  // watch it again
        server.set_stale = true;
    }
}

long cap_timeout(long timeout_ms, TimestampTz now, TimestampTz at)
{
    long ms = TimestampDifferenceMilliseconds(now, at);
    return ms < timeout_ms ? ms : timeout_ms;
}

}  // namespace

void metrics_http_configure()
{
    const char *address =
        settings::metrics_listen_address ? settings::metrics_listen_address : "127.0.0.1";
    if (server.configured && server.applied_port == settings::metrics_port &&
        server.applied_remote == settings::metrics_allow_remote &&
        strcmp(server.applied_address, address) == 0) {
        if (server.bind_failed)
            open_listener(true);  // a reload retries at once (quietly)
        return;
    }
    bool was = server.configured && server.applied_port > 0;
    close_listener();
    server.configured = true;
    server.bind_failed = false;
    server.applied_port = settings::metrics_port;
    server.applied_remote = settings::metrics_allow_remote;
    strlcpy(server.applied_address, address, sizeof(server.applied_address));
    if (server.cxt == nullptr) {  // first call
        server.cxt = AllocSetContextCreate(TopMemoryContext, "pg_poolgov metrics endpoint",
                                           ALLOCSET_DEFAULT_SIZES);
        for (Client &c : server.clients)
            c.fd = PGINVALID_SOCKET;
    }
    if (settings::metrics_port == 0) {
        if (was)
            ereport(LOG, (errcode(ERRCODE_SUCCESSFUL_COMPLETION),
                          errmsg("pg_poolgov governor: metrics endpoint closed "
                                 "(poolgov.metrics_port = 0)")));
        return;
    }
    ListenAddress a;
    if (!parse_listen_address(address, settings::metrics_port, &a))
        return;
    if (!a.loopback && !settings::metrics_allow_remote) {
        ereport(WARNING,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("pg_poolgov governor: not serving metrics on non-loopback address "
                        "\"%s\"",
                        address),
                 errdetail("The endpoint has no authentication; it listens on a loopback "
                           "address unless poolgov.metrics_allow_remote is on."),
                 errhint("Set poolgov.metrics_allow_remote = on to expose it deliberately, or "
                         "set poolgov.metrics_listen_address = '127.0.0.1'.")));
        return;
    }
    open_listener(false);
}

namespace {
// The governor's sleep between rounds shows as this wait event (17+).
uint32 governor_wait_event = 0;
}  // namespace

void metrics_http_wait(long timeout_ms)
{
    uint32 wait_event = compat::named_wait_event("PoolgovGovernor", &governor_wait_event);
    if (!anything_open() && !server.bind_failed) {
        if (server.set != nullptr) {  // closed: give its epoll descriptor back
            FreeWaitEventSet(server.set);
            server.set = nullptr;
        }
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms,
                        wait_event);
        return;
    }
    TimestampTz now = GetCurrentTimestamp();
    for (const Client &c : server.clients)
        if (c.state != ClientState::Free)
            timeout_ms = cap_timeout(timeout_ms, now, c.deadline);
    if (server.bind_failed)
        timeout_ms = cap_timeout(timeout_ms, now, server.retry_at);
    if (server.listener_paused_until != 0)
        timeout_ms = cap_timeout(timeout_ms, now, server.listener_paused_until);
    if (server.set == nullptr || server.set_stale)
        rebuild_set();
    WaitEvent events[3 + kMaxClients];
    int n = WaitEventSetWait(server.set, timeout_ms, events, lengthof(events), wait_event);
    for (int i = 0; i < n; ++i) {
        const WaitEvent &e = events[i];
        if (e.events & (WL_LATCH_SET | WL_POSTMASTER_DEATH))
            continue;
        auto tag = reinterpret_cast<intptr_t>(e.user_data);
        if (tag == kListenerTag) {
            if (server.listener == e.fd)
                accept_some();
            continue;
        }
        Client &c = server.clients[tag - 1];
        if (c.fd != e.fd)  // closed (and maybe reused) since the wait
            continue;
        if (c.state == ClientState::Reading)
            receive_some(c, static_cast<int>(tag - 1));
        else if (c.state == ClientState::Writing)
            send_some(c);
        else if (c.state == ClientState::Draining)
            drain_some(c);
    }
    housekeeping(GetCurrentTimestamp());
}

}  // namespace poolgov::pg
