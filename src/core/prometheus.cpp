#include "poolgov/prometheus.hpp"

#include "poolgov/atomics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "poolgov/no_postgres.hpp"

namespace poolgov::prom {

const BucketBound kBucketBounds[kBounds] = {
    {"0.0001", 100000ULL},  {"0.00025", 250000ULL}, {"0.0005", 500000ULL},  {"0.001", 1000000ULL},
    {"0.0025", 2500000ULL}, {"0.005", 5000000ULL},  {"0.01", 10000000ULL},  {"0.025", 25000000ULL},
    {"0.05", 50000000ULL},  {"0.1", 100000000ULL},  {"0.25", 250000000ULL}, {"0.5", 500000000ULL},
    {"1", 1000000000ULL},   {"2.5", 2500000000ULL}, {"5", 5000000000ULL},   {"10", 10000000000ULL},
    {"30", 30000000000ULL}, {"60", 60000000000ULL},
};

Buckets cumulative_buckets(const Histogram &h)
{
    Buckets out{};
    uint64_t per_bound[kBounds + 1] = {};
    uint32_t hi = atomic::load(h.hi);
    uint32_t lo = hi ? atomic::load(h.lo) : 0;
    int bound = 0;
    for (uint32_t b = lo; b < hi && b < static_cast<uint32_t>(Histogram::kBuckets); ++b) {
        uint64_t n = atomic::load(h.counts[b]);
        if (n == 0)
            continue;
        // Twice the midpoint, to stay in integers.
        uint64_t mid2 = histogram_bucket_lower(static_cast<int>(b)) +
                        histogram_bucket_upper(static_cast<int>(b));
        while (bound < kBounds && mid2 > 2 * kBucketBounds[bound].ns)
            ++bound;
        per_bound[bound] += n;
    }
    uint64_t sum = 0;
    for (int i = 0; i <= kBounds; ++i) {
        sum += per_bound[i];
        out.cumulative[i] = sum;
    }
    return out;
}

std::string escape_label(std::string_view value)
{
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        switch (c) {
        case '\\':
            out += "\\\\";
            break;
        case '"':
            out += "\\\"";
            break;
        case '\n':
            out += "\\n";
            break;
        default:
            out += c;
        }
    }
    return out;
}

namespace {

void add_into(Row &dst, const Row &src)
{
    dst.connections += src.connections;
    dst.statements += src.statements;
    dst.errors += src.errors;
    dst.slow += src.slow;
    dst.rejected += src.rejected;
    dst.admitted += src.admitted;
    dst.admission_timeouts += src.admission_timeouts;
    dst.duration_seconds += src.duration_seconds;
    for (int i = 0; i <= kBounds; ++i)
        dst.buckets.cumulative[i] += src.buckets.cumulative[i];
}

// Rows that share a label (a role dropped and created again under its old
// name keeps its old entry until evicted; names the encoding cannot show
// may meet) become one row: one label set, one series.
void merge_same_labels(std::vector<Row> &rows)
{
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Row &a, const Row &b) { return a.label < b.label; });
    size_t kept = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
        if (kept > 0 && rows[kept - 1].label == rows[i].label)
            add_into(rows[kept - 1], rows[i]);
        else if (kept++ != i)
            rows[kept - 1] = std::move(rows[i]);
    }
    rows.resize(kept);
}

}  // namespace

std::vector<Row> cap_rows(std::vector<Row> rows, int max_rows)
{
    merge_same_labels(rows);
    auto by_activity = [](const Row &a, const Row &b) {
        if (a.statements != b.statements)
            return a.statements > b.statements;
        return a.label < b.label;
    };
    std::sort(rows.begin(), rows.end(), by_activity);
    bool has_other_name =
        std::any_of(rows.begin(), rows.end(), [](const Row &r) { return r.label == kOtherLabel; });
    if ((max_rows < 0 || rows.size() <= static_cast<size_t>(max_rows)) && !has_other_name)
        return rows;
    size_t keep = max_rows < 0 ? rows.size() : std::min(rows.size(), static_cast<size_t>(max_rows));
    Row other;
    other.label = std::string(kOtherLabel);
    std::vector<Row> out;
    out.reserve(keep + 1);
    for (Row &r : rows) {
        if (out.size() < keep && r.label != kOtherLabel)
            out.push_back(std::move(r));
        else
            add_into(other, r);
    }
    out.push_back(std::move(other));
    return out;
}

namespace {

class Writer {
public:
    void family(std::string_view name, std::string_view type, std::string_view help)
    {
        fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                       type);
    }
    // A family with one unlabelled sample.
    template <class V>
    void single(std::string_view name, std::string_view type, std::string_view help, V value)
    {
        family(name, type, help);
        sample(name, "", value);
    }
    template <class V>
    void sample(std::string_view name, std::string_view labels, V value)
    {
        if (labels.empty())
            fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
        else
            fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, value);
    }
    // _bucket, _sum, _count of one series; labels already escaped, may be empty.
    void histogram(std::string_view name, std::string_view labels, const Buckets &b, double sum,
                   uint64_t count)
    {
        std::string sep = labels.empty() ? "" : ",";
        for (int i = 0; i < kBounds; ++i)
            fmt::format_to(std::back_inserter(out_), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name,
                           labels, sep, kBucketBounds[i].le, b.cumulative[i]);
        fmt::format_to(std::back_inserter(out_), "{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels,
                       sep, b.cumulative[kBounds]);
        sample(fmt::format("{}_sum", name), labels, sum);
        sample(fmt::format("{}_count", name), labels, count);
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

std::string label(std::string_view key, std::string_view value)
{
    return fmt::format("{}=\"{}\"", key, escape_label(value));
}

// The families every role / database row has, with `infix` "role" or
// "database" as both the name infix and the label key.
void per_group(Writer &w, std::string_view infix, const std::vector<Row> &rows, bool role)
{
    std::vector<std::string> labels;
    labels.reserve(rows.size());
    for (const Row &r : rows)
        labels.push_back(label(infix, r.label));
    auto name = [&](std::string_view suffix) {
        return fmt::format("pg_poolgov_{}_{}", infix, suffix);
    };
    auto counter = [&](std::string_view suffix, std::string_view help, auto field) {
        std::string n = name(suffix);
        w.family(n, "counter", fmt::format(fmt::runtime(help), infix));
        for (size_t i = 0; i < rows.size(); ++i)
            w.sample(n, labels[i], rows[i].*field);
    };
    std::string n = name("connections");
    w.family(n, "gauge", fmt::format("Client connections of the {} now.", infix));
    for (size_t i = 0; i < rows.size(); ++i)
        w.sample(n, labels[i], rows[i].connections);
    counter("statements_total", "Statements the {} completed.", &Row::statements);
    counter("errors_total", "Statements of the {} that started and aborted.", &Row::errors);
    counter("slow_statements_total",
            "Statements of the {} at or over poolgov.slow_query_threshold.", &Row::slow);
    counter("rejected_total", "Logins refused for the {} by pg_poolgov.", &Row::rejected);
    if (role) {
        counter("admitted_total", "Transactions of the {} admission control let run.",
                &Row::admitted);
        counter("admission_timeouts_total",
                "Admission waits of the {} that ended in an error (53000).",
                &Row::admission_timeouts);
    }
    n = name("statement_duration_seconds");
    w.family(n, "histogram", fmt::format("Execution time of the {}'s statements.", infix));
    for (size_t i = 0; i < rows.size(); ++i)
        w.histogram(n, labels[i], rows[i].buckets, rows[i].duration_seconds, rows[i].statements);
}

}  // namespace

std::string format_metrics(const Snapshot &s)
{
    Writer w;
    w.family("pg_poolgov_connections", "gauge", "Client backends by state.");
    w.sample("pg_poolgov_connections", "state=\"active\"", s.active);
    w.sample("pg_poolgov_connections", "state=\"idle\"", s.idle);
    w.sample("pg_poolgov_connections", "state=\"idle_in_transaction\"", s.idle_in_transaction);
    w.sample("pg_poolgov_connections", "state=\"other\"", s.other);
    w.single("pg_poolgov_max_connections", "gauge", "The server's max_connections.",
             s.max_connections);
    int64_t connections = s.active + s.idle + s.idle_in_transaction + s.other;
    w.family("pg_poolgov_utilization_ratio", "gauge",
             "Client connections divided by max_connections (0 to 1).");
    w.sample("pg_poolgov_utilization_ratio", "",
             s.max_connections > 0
                 ? static_cast<double>(connections) / static_cast<double>(s.max_connections)
                 : 0.0);
    w.family("pg_poolgov_logins_total", "counter",
             "Logins pg_poolgov decided on, by result (warned: would have been refused under "
             "poolgov.enforce = on).");
    w.sample("pg_poolgov_logins_total", "result=\"accepted\"", s.accepted);
    w.sample("pg_poolgov_logins_total", "result=\"rejected_budget\"", s.rejected_budget);
    w.sample("pg_poolgov_logins_total", "result=\"rejected_reserve\"", s.rejected_reserve);
    w.sample("pg_poolgov_logins_total", "result=\"rejected_breaker\"", s.rejected_breaker);
    w.sample("pg_poolgov_logins_total", "result=\"warned\"", s.warned);
    w.single("pg_poolgov_auth_failures_total", "counter", "Failed authentications.",
             s.auth_failures);
    w.single("pg_poolgov_breakers_open", "gauge", "Login breakers refusing logins now.",
             s.breakers_open);
    w.single("pg_poolgov_statements_total", "counter", "Statements completed.", s.statements);
    w.single("pg_poolgov_errors_total", "counter", "Statements that started and aborted.",
             s.errors);
    w.single("pg_poolgov_slow_statements_total", "counter",
             "Statements at or over poolgov.slow_query_threshold.", s.slow);
    w.family("pg_poolgov_statement_duration_seconds", "histogram", "Execution time of statements.");
    w.histogram("pg_poolgov_statement_duration_seconds", "", s.buckets, s.duration_seconds,
                s.statements);
    w.single("pg_poolgov_admission_running", "gauge", "Transactions holding an admission slot now.",
             s.admission_running);
    w.single("pg_poolgov_admission_queued", "gauge", "Transactions waiting for a slot now.",
             s.admission_queued);
    w.single("pg_poolgov_admission_admitted_total", "counter",
             "Transactions admission control let run.", s.admission_admitted);
    w.single("pg_poolgov_admission_timeouts_total", "counter",
             "Admission waits that ended in an error (53000).", s.admission_timeouts);
    w.single("pg_poolgov_admission_overdrafts_total", "counter",
             "Transactions let run over the limit (they held locks others wait for).",
             s.admission_overdrafts);
    w.single("pg_poolgov_admission_waits_total", "counter",
             "Admission waits that ended with a slot.", s.admission_waits);
    w.single("pg_poolgov_admission_wait_seconds_total", "counter",
             "Total time of the admission waits that ended with a slot.", s.admission_wait_seconds);
    w.single("pg_poolgov_admission_mean_wait_seconds", "gauge",
             "The admission queue's recent mean wait (poolgov.admission_order).",
             s.admission_mean_wait_seconds);
    w.single("pg_poolgov_admission_fairness_bound_seconds", "gauge",
             "The grant order's bound in force: the longest a waiter is passed over by later "
             "waiters of its class; 0: FIFO.",
             s.admission_fairness_bound_seconds);
    w.single("pg_poolgov_idle_terminated_total", "counter", "Idle sessions pg_poolgov ended.",
             s.idle_terminated);
    w.single("pg_poolgov_pauses", "gauge", "Scopes paused now (poolgov.pause).", s.pauses);
    w.single("pg_poolgov_paused_transactions", "gauge",
             "Transactions held in the admission queue by a pause now.", s.paused_transactions);
    w.single("pg_poolgov_pauses_total", "counter", "Scopes paused by poolgov.pause().",
             s.pauses_total);
    w.single("pg_poolgov_pause_timeouts_total", "counter",
             "Pauses lifted by poolgov.pause_timeout.", s.pause_timeouts);
    w.single("pg_poolgov_pause_lock_admits_total", "counter",
             "Transactions let in past a pause because another backend waited for a lock "
             "they held.",
             s.pause_lock_admits);
    w.single("pg_poolgov_paused_admission_timeouts_total", "counter",
             "Transactions held by a pause that reached poolgov.admission_timeout (53000).",
             s.paused_admission_timeouts);
    w.family("pg_poolgov_health_status", "gauge",
             "Status of each poolgov.health() check: 0 ok, 1 warning, 2 critical.");
    for (const HealthRow &h : s.health)
        w.sample("pg_poolgov_health_status", label("check", h.check), h.status);
    per_group(w, "role", s.roles, true);
    per_group(w, "database", s.databases, false);
    return w.take();
}

}  // namespace poolgov::prom
