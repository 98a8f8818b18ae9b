#include "poolgov/health.hpp"
#include "poolgov/recommend.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace poolgov;

namespace {
constexpr int64_t kSec = 1000000;
constexpr int64_t kNow = 1000000 * kSec;

const HealthSettings kSettings{
    {60, 80}, {500, 2000}, {1, 5}, {10, 60}, {100, 1000}, {1, 10},
};

HistorySample sample(int64_t at, int connections = 0, int idle = 0)
{
    HistorySample h{};
    h.sampled_at = at;
    h.interval_us = kSec;
    h.tally.connections = connections;
    h.tally.idle = idle;
    h.p95_ms = -1;
    return h;
}

HealthInputs inputs(const std::vector<HistorySample> &h, int connections = 10,
                    int max_connections = 100)
{
    HealthInputs in{};
    in.now = kNow;
    in.connections = connections;
    in.max_connections = max_connections;
    in.samples = h.data();
    in.nsamples = h.size();
    return in;
}

const HealthCheck &check(const HealthReport &r, const std::string &name)
{
    for (int i = 0; i < r.n; ++i)
        if (name == r.checks[i].check)
            return r.checks[i];
    ADD_FAILURE() << "no check " << name;
    return r.checks[0];
}

// 60 one-second samples ending now.
std::vector<HistorySample> minute()
{
    std::vector<HistorySample> h;
    for (int i = 59; i >= 0; --i)
        h.push_back(sample(kNow - i * kSec));
    return h;
}
}  // namespace

TEST(Health, ClassifyAtThresholdsIsInclusive)
{
    EXPECT_EQ(health_classify(59.9, 60, 80), HealthStatus::Ok);
    EXPECT_EQ(health_classify(60, 60, 80), HealthStatus::Warning);
    EXPECT_EQ(health_classify(79.9, 60, 80), HealthStatus::Warning);
    EXPECT_EQ(health_classify(80, 60, 80), HealthStatus::Critical);
    // A warning threshold above the critical one: critical wins.
    EXPECT_EQ(health_classify(85, 90, 80), HealthStatus::Critical);
    EXPECT_EQ(health_classify(70, 90, 80), HealthStatus::Ok);
}

TEST(Health, UtilizationMovesOkWarningCriticalAndBack)
{
    std::vector<HistorySample> h;
    HealthReport r{};
    for (auto [conns, want] :
         std::vector<std::pair<int, HealthStatus>>{{10, HealthStatus::Ok},
                                                   {60, HealthStatus::Warning},
                                                   {80, HealthStatus::Critical},
                                                   {59, HealthStatus::Ok}}) {
        evaluate_health(kSettings, inputs(h, conns, 100), r);
        const HealthCheck &c = check(r, "utilization");
        EXPECT_EQ(c.status, want) << conns;
        EXPECT_DOUBLE_EQ(c.value, conns);
        EXPECT_EQ(r.worst, want);
    }
    evaluate_health(kSettings, inputs(h, 81, 100), r);
    std::string detail = check(r, "utilization").detail;
    EXPECT_NE(detail.find("81 of max_connections = 100"), std::string::npos) << detail;
    EXPECT_NE(detail.find("poolgov.health_utilization_critical"), std::string::npos) << detail;
}

TEST(Health, EveryCheckIsPresentInOrder)
{
    HealthReport r{};
    evaluate_health(kSettings, inputs({}), r);
    ASSERT_EQ(r.n, kHealthChecks);
    const char *names[] = {"utilization",     "p95_latency",    "error_ratio",
                           "slow_per_minute", "admission_wait", "breakers_open"};
    for (int i = 0; i < r.n; ++i)
        EXPECT_STREQ(r.checks[i].check, names[i]);
    // Without history nothing is judged from it.
    EXPECT_FALSE(check(r, "p95_latency").has_value);
    EXPECT_FALSE(check(r, "slow_per_minute").has_value);
    EXPECT_EQ(r.worst, HealthStatus::Ok);
}

TEST(Health, P95IsTheWorstIntervalOfTheLastMinuteOnly)
{
    auto h = minute();
    h[10].p95_ms = 700;  // 49 s ago: warning
    h[50].p95_ms = 20;
    h.insert(h.begin(), sample(kNow - 61 * kSec));
    h.front().p95_ms = 5000;  // older than a minute: ignored
    HealthReport r{};
    evaluate_health(kSettings, inputs(h), r);
    const HealthCheck &c = check(r, "p95_latency");
    EXPECT_TRUE(c.has_value);
    EXPECT_DOUBLE_EQ(c.value, 700);
    EXPECT_EQ(c.status, HealthStatus::Warning);
}

TEST(Health, ErrorRatioNeedsEnoughStatements)
{
    auto h = minute();
    h[0].statements = 5;
    h[0].errors = 5;  // 50 %, but only 10 statements
    HealthReport r{};
    evaluate_health(kSettings, inputs(h), r);
    EXPECT_DOUBLE_EQ(check(r, "error_ratio").value, 50);
    EXPECT_EQ(check(r, "error_ratio").status, HealthStatus::Ok);
    h[1].statements = 90;  // 5 errors in 100: 5 % = critical
    evaluate_health(kSettings, inputs(h), r);
    EXPECT_DOUBLE_EQ(check(r, "error_ratio").value, 5);
    EXPECT_EQ(check(r, "error_ratio").status, HealthStatus::Critical);
}

TEST(Health, SlowPerMinuteIsScaledToTheCoveredTime)
{
    std::vector<HistorySample> h;
    for (int i = 29; i >= 0; --i)
        h.push_back(sample(kNow - i * kSec));  // 30 s covered
    h[3].slow = 6;
    HealthReport r{};
    evaluate_health(kSettings, inputs(h), r);
    EXPECT_DOUBLE_EQ(check(r, "slow_per_minute").value, 12);
    EXPECT_EQ(check(r, "slow_per_minute").status, HealthStatus::Warning);
}

TEST(Health, AdmissionWaitOffIsOkAndSaysSo)
{
    auto h = minute();
    h[5].adm_waited = 2;
    h[5].adm_wait_us = 3000 * 1000;  // 1.5 s mean
    HealthReport r{};
    auto in = inputs(h);
    evaluate_health(kSettings, in, r);
    EXPECT_EQ(check(r, "admission_wait").status, HealthStatus::Ok);
    EXPECT_FALSE(check(r, "admission_wait").has_value);
    EXPECT_NE(std::string(check(r, "admission_wait").detail).find("admission control is off"),
              std::string::npos);
    in.max_active_transactions = 4;
    evaluate_health(kSettings, in, r);
    EXPECT_DOUBLE_EQ(check(r, "admission_wait").value, 1500);
    EXPECT_EQ(check(r, "admission_wait").status, HealthStatus::Critical);
    EXPECT_EQ(r.worst, HealthStatus::Critical);
}

TEST(Health, BreakersOpen)
{
    HealthReport r{};
    auto in = inputs({});
    in.breakers_open = 1;
    evaluate_health(kSettings, in, r);
    EXPECT_EQ(check(r, "breakers_open").status, HealthStatus::Warning);
    in.breakers_open = 10;
    evaluate_health(kSettings, in, r);
    EXPECT_EQ(check(r, "breakers_open").status, HealthStatus::Critical);
}

namespace {
const RecommendSettings kRec{4, false, 1, 600 * kSec};

RecommendInputs rec_inputs(const std::vector<HistorySample> &h)
{
    RecommendInputs in{};
    in.now = kNow;
    in.max_connections = 100;
    in.superuser_reserved_connections = 3;
    in.samples = h.data();
    in.nsamples = h.size();
    return in;
}

std::vector<HistorySample> history(int seconds, int connections, int idle)
{
    std::vector<HistorySample> h;
    for (int i = seconds; i >= 0; --i)
        h.push_back(sample(kNow - i * kSec, connections, idle));
    return h;
}

const Recommendation *find(const Recommendation *r, int n, const std::string &setting)
{
    for (int i = 0; i < n; ++i)
        if (setting == r[i].setting)
            return &r[i];
    return nullptr;
}
}  // namespace

TEST(Recommend, MaxActiveIsCoresTimesTwoPlusSpindles)
{
    Recommendation out[kGlobalRecommendations];
    int n = recommend_globals(kRec, rec_inputs({}), out, kGlobalRecommendations);
    auto *r = find(out, n, "poolgov.max_active_transactions");
    ASSERT_NE(r, nullptr);
    EXPECT_STREQ(r->recommended, "9");
    EXPECT_STREQ(r->current, "0 (off)");
    EXPECT_NE(std::string(r->reason).find("(4 x 2) + 1 = 9"), std::string::npos) << r->reason;
}

TEST(Recommend, LittleHistorySaysSoAndRecommendsNothing)
{
    auto h = history(300, 50, 40);  // 5 min < 10 min
    Recommendation out[kGlobalRecommendations];
    int n = recommend_globals(kRec, rec_inputs(h), out, kGlobalRecommendations);
    for (const char *s : {"max_connections", "idle connections", "slow statements"}) {
        auto *r = find(out, n, s);
        ASSERT_NE(r, nullptr) << s;
        EXPECT_STREQ(r->recommended, "") << s;
        EXPECT_NE(std::string(r->reason).find("not enough history"), std::string::npos)
            << r->reason;
        EXPECT_NE(std::string(r->reason).find("301 samples"), std::string::npos) << r->reason;
    }
}

TEST(Recommend, MaxConnectionsFromPeakWithHeadroom)
{
    auto h = history(600, 10, 0);
    h[100].tally.connections = 40;
    Recommendation out[kGlobalRecommendations];
    int n = recommend_globals(kRec, rec_inputs(h), out, kGlobalRecommendations);
    auto *r = find(out, n, "max_connections");
    ASSERT_NE(r, nullptr);
    EXPECT_STREQ(r->recommended, "53");  // 40 + 10 + 3
    EXPECT_STREQ(r->current, "100");
    EXPECT_NE(std::string(r->reason).find("peak of 40"), std::string::npos) << r->reason;
    // Low idle share, few statements: no idle row, slow row says not enough.
    EXPECT_EQ(find(out, n, "idle connections"), nullptr);
    auto *slow = find(out, n, "slow statements");
    ASSERT_NE(slow, nullptr);
    EXPECT_STREQ(slow->recommended, "");
}

// PostgreSQL 16+ keeps reserved_connections for pg_use_reserved_connections
// as well: the recommendation keeps room for them and says so.
TEST(Recommend, MaxConnectionsKeepsPostgresReservedConnections)
{
    auto h = history(600, 10, 0);
    h[100].tally.connections = 40;
    RecommendInputs in = rec_inputs(h);
    in.reserved_connections = 2;
    Recommendation out[kGlobalRecommendations];
    int n = recommend_globals(kRec, in, out, kGlobalRecommendations);
    auto *r = find(out, n, "max_connections");
    ASSERT_NE(r, nullptr);
    EXPECT_STREQ(r->recommended, "55");  // 40 + 10 + 3 + 2
    EXPECT_NE(std::string(r->reason).find(
                  "superuser_reserved_connections (3) + reserved_connections (2) = 55"),
              std::string::npos)
        << r->reason;
}

TEST(Recommend, HighIdleShareAndSlowShare)
{
    auto h = history(600, 20, 15);  // 75 % idle
    h[5].statements = 1000;
    h[5].slow = 60;  // 6 %
    Recommendation out[kGlobalRecommendations];
    int n = recommend_globals(kRec, rec_inputs(h), out, kGlobalRecommendations);
    auto *idle = find(out, n, "idle connections");
    ASSERT_NE(idle, nullptr);
    EXPECT_STREQ(idle->current, "75.0 % idle");
    EXPECT_NE(std::string(idle->reason).find("poolgov.idle_timeout"), std::string::npos);
    auto *slow = find(out, n, "slow statements");
    ASSERT_NE(slow, nullptr);
    EXPECT_STREQ(slow->current, "6.0 % slow");
    EXPECT_NE(std::string(slow->reason).find("60 of 1000"), std::string::npos) << slow->reason;
    // Few connections: the idle share is not judged.
    auto few = history(600, 2, 2);
    n = recommend_globals(kRec, rec_inputs(few), out, kGlobalRecommendations);
    EXPECT_EQ(find(out, n, "idle connections"), nullptr);
}

TEST(Recommend, RoleNearItsBudget)
{
    Recommendation r{};
    EXPECT_FALSE(recommend_role_budget({"app", 8, 10}, r));   // 80 %
    EXPECT_FALSE(recommend_role_budget({"app", 50, -1}, r));  // unlimited
    ASSERT_TRUE(recommend_role_budget({"app", 9, 10}, r));    // 90 %
    EXPECT_STREQ(r.setting, "budget of role app");
    EXPECT_STREQ(r.current, "10");
    EXPECT_STREQ(r.recommended, "12");  // 9 + ceil(2.25)
    EXPECT_NE(std::string(r.reason).find("peak of 9 connections is 90 %"), std::string::npos)
        << r.reason;
    ASSERT_TRUE(recommend_role_budget({"app", 4, 4}, r));
    EXPECT_STREQ(r.recommended, "5");
}

TEST(History, SampleCarriesIntervalCounts)
{
    Totals prev{}, cur{};
    prev.at = 10 * kSec;
    prev.epoch = cur.epoch = 1;
    cur.at = 11 * kSec;
    prev.statements = 10;
    cur.statements = 25;
    prev.errors = 1;
    cur.errors = 4;
    prev.slow = 2;
    cur.slow = 3;
    prev.adm_waited = 5;
    cur.adm_waited = 7;
    prev.adm_wait_us = 100;
    cur.adm_wait_us = 500;
    Histogram scratch{};
    HistorySample s = make_sample(prev, cur, ConnTally{}, scratch);
    EXPECT_EQ(s.interval_us, kSec);
    EXPECT_EQ(s.statements, 15u);
    EXPECT_EQ(s.errors, 3u);
    EXPECT_EQ(s.slow, 1u);
    EXPECT_EQ(s.adm_waited, 2u);
    EXPECT_EQ(s.adm_wait_us, 400u);
}
