#include "poolgov/prometheus.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace poolgov;
using namespace poolgov::prom;

namespace {

std::unique_ptr<Histogram> make() { return std::make_unique<Histogram>(Histogram{}); }

std::vector<std::string> lines_of(const std::string &text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

Row row(std::string label, uint64_t statements)
{
    Row r;
    r.label = std::move(label);
    r.statements = statements;
    r.connections = 1;
    r.errors = statements / 10;
    r.duration_seconds = 0.001 * static_cast<double>(statements);
    for (int i = 0; i <= kBounds; ++i)
        r.buckets.cumulative[i] = i >= 3 ? statements : 0;
    return r;
}

}  // namespace

TEST(Prometheus, EscapesQuotesBackslashesAndNewlines)
{
    EXPECT_EQ(escape_label("plain"), "plain");
    EXPECT_EQ(escape_label("a\"b"), "a\\\"b");
    EXPECT_EQ(escape_label("a\\b"), "a\\\\b");
    EXPECT_EQ(escape_label("a\nb"), "a\\nb");
    EXPECT_EQ(escape_label("q\"\\\n"), "q\\\"\\\\\\n");

    Snapshot s;
    s.roles.push_back(row("we\"ird\\ro\nle", 5));
    std::string text = format_metrics(s);
    EXPECT_NE(text.find("pg_poolgov_role_statements_total{role=\"we\\\"ird\\\\ro\\nle\"} 5\n"),
              std::string::npos)
        << text;
    // No raw newline inside any label set: every line is a comment or a
    // complete sample.
    for (const std::string &l : lines_of(text)) {
        ASSERT_FALSE(l.empty());
        if (l[0] != '#')
            EXPECT_EQ(l.rfind("pg_poolgov_", 0), 0u) << l;
    }
}

TEST(Prometheus, BucketsAreCumulativeAndExactAwayFromBounds)
{
    auto h = make();
    // 10 at 50 us, 20 at 300 us, 30 at 2 ms, 5 at 45 s, 1 at 2 minutes.
    for (int i = 0; i < 10; ++i)
        histogram_add(*h, 50000);
    for (int i = 0; i < 20; ++i)
        histogram_add(*h, 300000);
    for (int i = 0; i < 30; ++i)
        histogram_add(*h, 2000000);
    for (int i = 0; i < 5; ++i)
        histogram_add(*h, 45000000000ULL);
    histogram_add(*h, 120000000000ULL);
    Buckets b = cumulative_buckets(*h);
    EXPECT_EQ(b.cumulative[0], 10u);   // le 0.0001
    EXPECT_EQ(b.cumulative[1], 10u);   // le 0.00025
    EXPECT_EQ(b.cumulative[2], 30u);   // le 0.0005
    EXPECT_EQ(b.cumulative[3], 30u);   // le 0.001
    EXPECT_EQ(b.cumulative[4], 60u);   // le 0.0025
    EXPECT_EQ(b.cumulative[16], 60u);  // le 30
    EXPECT_EQ(b.cumulative[17], 65u);  // le 60
    EXPECT_EQ(b.cumulative[kBounds], 66u);
    for (int i = 1; i <= kBounds; ++i)
        EXPECT_LE(b.cumulative[i - 1], b.cumulative[i]);
}

// The documented error: a value counted under le=B is < B (1 + 1/64), a
// value not counted is >= B (1 - 1/64).
TEST(Prometheus, BucketErrorWithinOneSixtyFourth)
{
    for (int i = 0; i < kBounds; ++i) {
        double bound = static_cast<double>(kBucketBounds[i].ns);
        for (double f : {0.97, 0.98, 0.984, 0.99, 0.999, 1.0, 1.001, 1.01, 1.016, 1.02, 1.03}) {
            auto h = make();
            auto v = static_cast<uint64_t>(bound * f);
            histogram_add(*h, v);
            Buckets b = cumulative_buckets(*h);
            bool counted = b.cumulative[i] == 1;
            if (counted)
                EXPECT_LT(static_cast<double>(v), bound * (1 + 1.0 / 64)) << i << " " << f;
            else
                EXPECT_GE(static_cast<double>(v), bound * (1 - 1.0 / 64)) << i << " " << f;
            if (f <= 0.98)
                EXPECT_TRUE(counted) << i << " " << f;
            if (f >= 1.02)
                EXPECT_FALSE(counted) << i << " " << f;
        }
    }
}

TEST(Prometheus, HistogramSeriesInExposition)
{
    auto h = make();
    for (int i = 0; i < 7; ++i)
        histogram_add(*h, 3000000);  // 3 ms
    Snapshot s;
    s.statements = 7;
    s.duration_seconds = 0.021;
    s.buckets = cumulative_buckets(*h);
    std::string text = format_metrics(s);
    EXPECT_NE(text.find("pg_poolgov_statement_duration_seconds_bucket{le=\"0.0025\"} 0\n"),
              std::string::npos);
    EXPECT_NE(text.find("pg_poolgov_statement_duration_seconds_bucket{le=\"0.005\"} 7\n"),
              std::string::npos);
    EXPECT_NE(text.find("pg_poolgov_statement_duration_seconds_bucket{le=\"+Inf\"} 7\n"),
              std::string::npos);
    EXPECT_NE(text.find("pg_poolgov_statement_duration_seconds_sum 0.021\n"), std::string::npos);
    EXPECT_NE(text.find("pg_poolgov_statement_duration_seconds_count 7\n"), std::string::npos);
}

TEST(Prometheus, TenThousandRolesCappedUnderOther)
{
    std::vector<Row> rows;
    uint64_t total = 0;
    for (int i = 0; i < 10000; ++i) {
        rows.push_back(row("role" + std::to_string(i), static_cast<uint64_t>(i)));
        total += static_cast<uint64_t>(i);
    }
    std::vector<Row> capped = cap_rows(rows, 100);
    ASSERT_EQ(capped.size(), 101u);
    // The 100 busiest, busiest first, then "other".
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(capped[static_cast<size_t>(i)].label, "role" + std::to_string(9999 - i));
    const Row &other = capped.back();
    EXPECT_EQ(other.label, "other");
    uint64_t sum = 0, connections = 0, bucket_inf = 0;
    for (const Row &r : capped) {
        sum += r.statements;
        connections += r.connections;
        bucket_inf += r.buckets.cumulative[kBounds];
    }
    EXPECT_EQ(sum, total);
    EXPECT_EQ(connections, 10000u);
    EXPECT_EQ(bucket_inf, total);
    EXPECT_EQ(other.connections, 9900u);
    EXPECT_EQ(other.statements, total - (9900u + 9999u) * 100u / 2u);

    Snapshot s;
    s.roles = capped;
    std::string text = format_metrics(s);
    std::set<std::string> role_labels;
    for (const std::string &l : lines_of(text)) {
        auto at = l.find("pg_poolgov_role_connections{role=\"");
        if (at == 0)
            role_labels.insert(l.substr(0, l.find('}')));
    }
    EXPECT_EQ(role_labels.size(), 101u);
}

TEST(Prometheus, NoCapWhenFewRowsAndRealOtherMerged)
{
    std::vector<Row> rows{row("a", 1), row("b", 2)};
    std::vector<Row> same = cap_rows(rows, 100);
    ASSERT_EQ(same.size(), 2u);
    EXPECT_EQ(same[0].label, "b");
    // A role really called "other" shares the label of the summed rows.
    std::vector<Row> with_other = cap_rows({row("other", 5), row("a", 1), row("b", 2)}, 1);
    ASSERT_EQ(with_other.size(), 2u);
    EXPECT_EQ(with_other[0].label, "b");
    EXPECT_EQ(with_other[1].label, "other");
    EXPECT_EQ(with_other[1].statements, 6u);
    // A negative cap keeps every row.
    EXPECT_EQ(cap_rows(rows, -1).size(), 2u);
}

TEST(Prometheus, RowsSharingALabelBecomeOneSeries)
{
    // Role "dup" dropped and created again: two entries, one name.
    std::vector<Row> rows{row("dup", 5), row("a", 1), row("dup", 2)};
    std::vector<Row> merged = cap_rows(rows, 100);
    ASSERT_EQ(merged.size(), 2u);
    EXPECT_EQ(merged[0].label, "dup");
    EXPECT_EQ(merged[0].statements, 7u);
    EXPECT_EQ(merged[0].connections, 2u);
    EXPECT_EQ(merged[0].buckets.cumulative[kBounds], 7u);
    Snapshot s;
    s.roles = merged;
    std::string text = format_metrics(s);
    size_t series = 0;
    for (const std::string &l : lines_of(text))
        series += l.rfind("pg_poolgov_role_connections{role=\"dup\"}", 0) == 0;
    EXPECT_EQ(series, 1u);
}

// Every family: HELP then TYPE right before its first sample, names unique,
// samples of a family contiguous, counters end in _total.
TEST(Prometheus, GrantOrderGaugesCarryTheirOwnValues)
{
    Snapshot s;
    s.admission_mean_wait_seconds = 0.012;
    s.admission_fairness_bound_seconds = 0.048;
    std::string text = format_metrics(s);
    EXPECT_NE(text.find("\npg_poolgov_admission_mean_wait_seconds 0.012\n"), std::string::npos);
    EXPECT_NE(text.find("\npg_poolgov_admission_fairness_bound_seconds 0.048\n"),
              std::string::npos);
}

TEST(Prometheus, HelpAndTypeForEveryFamily)
{
    Snapshot s;
    s.health.push_back({"utilization", 1});
    s.roles.push_back(row("a", 3));
    s.databases.push_back(row("postgres", 3));
    std::string text = format_metrics(s);
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    std::map<std::string, std::string> types;
    std::string current, help_of;
    std::set<std::string> closed;
    for (const std::string &l : lines_of(text)) {
        if (l.rfind("# HELP ", 0) == 0) {
            help_of = l.substr(7, l.find(' ', 7) - 7);
            continue;
        }
        if (l.rfind("# TYPE ", 0) == 0) {
            std::string name = l.substr(7, l.find(' ', 7) - 7);
            EXPECT_EQ(name, help_of) << "TYPE without HELP right before: " << l;
            EXPECT_EQ(types.count(name), 0u) << "family twice: " << name;
            types[name] = l.substr(l.find(' ', 7) + 1);
            if (!current.empty())
                closed.insert(current);
            current = name;
            continue;
        }
        std::string series = l.substr(0, l.find_first_of("{ "));
        std::string family = series;
        if (types[current] == "histogram") {
            for (const char *suffix : {"_bucket", "_sum", "_count"}) {
                std::string sfx(suffix);
                if (series.size() > sfx.size() &&
                    series.compare(series.size() - sfx.size(), sfx.size(), sfx) == 0)
                    family = series.substr(0, series.size() - sfx.size());
            }
        }
        EXPECT_EQ(family, current) << "sample outside its family: " << l;
        EXPECT_EQ(closed.count(family), 0u) << l;
    }
    for (const auto &[name, type] : types) {
        bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
        EXPECT_EQ(type == "counter", total) << name;
    }
    for (const char *name : {"pg_poolgov_connections",
                             "pg_poolgov_max_connections",
                             "pg_poolgov_utilization_ratio",
                             "pg_poolgov_logins_total",
                             "pg_poolgov_auth_failures_total",
                             "pg_poolgov_breakers_open",
                             "pg_poolgov_statements_total",
                             "pg_poolgov_errors_total",
                             "pg_poolgov_slow_statements_total",
                             "pg_poolgov_statement_duration_seconds",
                             "pg_poolgov_admission_running",
                             "pg_poolgov_admission_queued",
                             "pg_poolgov_admission_admitted_total",
                             "pg_poolgov_admission_timeouts_total",
                             "pg_poolgov_admission_overdrafts_total",
                             "pg_poolgov_admission_waits_total",
                             "pg_poolgov_admission_wait_seconds_total",
                             "pg_poolgov_admission_mean_wait_seconds",
                             "pg_poolgov_admission_fairness_bound_seconds",
                             "pg_poolgov_idle_terminated_total",
                             "pg_poolgov_pauses",
                             "pg_poolgov_paused_transactions",
                             "pg_poolgov_pauses_total",
                             "pg_poolgov_pause_timeouts_total",
                             "pg_poolgov_pause_lock_admits_total",
                             "pg_poolgov_paused_admission_timeouts_total",
                             "pg_poolgov_health_status",
                             "pg_poolgov_role_connections",
                             "pg_poolgov_role_statements_total",
                             "pg_poolgov_role_errors_total",
                             "pg_poolgov_role_slow_statements_total",
                             "pg_poolgov_role_rejected_total",
                             "pg_poolgov_role_admitted_total",
                             "pg_poolgov_role_admission_timeouts_total",
                             "pg_poolgov_role_statement_duration_seconds",
                             "pg_poolgov_database_connections",
                             "pg_poolgov_database_statements_total",
                             "pg_poolgov_database_errors_total",
                             "pg_poolgov_database_slow_statements_total",
                             "pg_poolgov_database_rejected_total",
                             "pg_poolgov_database_statement_duration_seconds"})
        EXPECT_EQ(types.count(name), 1u) << name;
    EXPECT_EQ(types["pg_poolgov_statement_duration_seconds"], "histogram");
    EXPECT_NE(text.find("pg_poolgov_health_status{check=\"utilization\"} 1\n"), std::string::npos);
}

// docs/monitoring.md tabulates, per bound, the edge below which le=B counts
// exactly: one internal bucket edge, within 0.7 % of B for these bounds.
TEST(Prometheus, EachBoundIsAnInternalEdgeWithinPointSevenPercent)
{
    for (int i = 0; i < kBounds; ++i) {
        uint64_t bound = kBucketBounds[i].ns;
        int b = histogram_bucket(bound);
        uint64_t lo = histogram_bucket_lower(b), hi = histogram_bucket_upper(b);
        uint64_t edge = lo + hi <= 2 * bound ? hi : lo;
        auto counted = [&](uint64_t v) {
            auto h = make();
            histogram_add(*h, v);
            return cumulative_buckets(*h).cumulative[i] == 1;
        };
        EXPECT_TRUE(counted(edge - 1)) << kBucketBounds[i].le;
        EXPECT_FALSE(counted(edge)) << kBucketBounds[i].le;
        double rel = std::abs(static_cast<double>(edge) - static_cast<double>(bound)) /
                     static_cast<double>(bound);
        EXPECT_LT(rel, 0.007) << kBucketBounds[i].le;
    }
}
