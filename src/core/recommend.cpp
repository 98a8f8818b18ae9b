#include "poolgov/recommend.hpp"

#include "poolgov/format.hpp"

#include <fmt/format.h>

#include <cmath>

#include "poolgov/no_postgres.hpp"

namespace poolgov {

namespace {

// "2 h 5 min", "3 min 20 s", "42 s"
struct Duration {
    char text[48];
};
Duration duration(int64_t us)
{
    Duration d{};
    int64_t s = us / 1000000;
    if (s >= 3600)
        format_into(d.text, "{} h {} min", s / 3600, (s % 3600) / 60);
    else if (s >= 60)
        format_into(d.text, "{} min {} s", s / 60, s % 60);
    else
        format_into(d.text, "{} s", s);
    return d;
}

Recommendation &next(Recommendation *out, int &n)
{
    Recommendation &r = out[n++];
    r = Recommendation{};
    return r;
}

void not_enough_history(Recommendation &r, const RecommendSettings &s, const HistorySpan &h)
{
    r.recommended[0] = '\0';
    format_into(r.reason,
                "not enough history: poolgov.history spans {} ({} samples), this rule needs {} "
                "(poolgov.recommend_min_history)",
                duration(h.span_us).text, h.samples, duration(s.min_history_us).text);
}

}  // namespace

HistorySpan summarize_history(const HistorySample *samples, size_t n)
{
    HistorySpan h{};
    double connections = 0, idle_share = 0;
    int with_connections = 0;
    for (size_t i = 0; i < n; ++i) {
        const HistorySample &s = samples[i];
        h.samples++;
        if (s.tally.connections > h.peak_connections)
            h.peak_connections = s.tally.connections;
        connections += s.tally.connections;
        if (s.tally.connections > 0) {
            idle_share += 100.0 * s.tally.idle / s.tally.connections;
            with_connections++;
        }
        h.statements += s.statements;
        h.slow += s.slow;
    }
    if (n > 1 && samples[n - 1].sampled_at > samples[0].sampled_at)
        h.span_us = samples[n - 1].sampled_at - samples[0].sampled_at;
    h.mean_connections = n > 0 ? connections / static_cast<double>(n) : 0.0;
    h.mean_idle_share = with_connections > 0 ? idle_share / with_connections : 0.0;
    return h;
}

int recommend_globals(const RecommendSettings &s, const RecommendInputs &in, Recommendation *out,
                      int room)
{
    int n = 0;
    if (room < kGlobalRecommendations)
        return 0;
    HistorySpan h = summarize_history(in.samples, in.nsamples);
    bool enough = h.samples > 1 && h.span_us >= s.min_history_us;

    {
        Recommendation &r = next(out, n);
        format_into(r.setting, "poolgov.max_active_transactions");
        if (in.max_active_transactions > 0)
            format_into(r.current, "{}", in.max_active_transactions);
        else
            format_into(r.current, "0 (off)");
        int cores = s.cores > 0 ? s.cores : 1;
        int value = cores * 2 + s.spindles;
        format_into(r.recommended, "{}", value);
        format_into(r.reason,
                    "(cores x 2) + effective spindles = ({} x 2) + {} = {}; cores: {}, spindles: "
                    "poolgov.effective_spindles; transactions beyond this only queue for CPU and "
                    "disk",
                    cores, s.spindles, value,
                    s.cores_from_setting ? "poolgov.cpu_cores"
                                         : "CPUs online (set poolgov.cpu_cores to override)");
    }
    {
        Recommendation &r = next(out, n);
        format_into(r.setting, "max_connections");
        format_into(r.current, "{}", in.max_connections);
        if (!enough) {
            not_enough_history(r, s, h);
        } else {
            int headroom = static_cast<int>(
                std::ceil(static_cast<double>(h.peak_connections) * kConnectionHeadroom));
            if (headroom < 1)
                headroom = 1;
            int value = h.peak_connections + headroom + in.superuser_reserved_connections +
                        in.reserved_connections;
            format_into(r.recommended, "{}", value);
            if (in.reserved_connections > 0)
                format_into(r.reason,
                            "peak of {} client connections in {} of history ({} samples); peak + "
                            "{:g} % headroom ({}) + superuser_reserved_connections ({}) + "
                            "reserved_connections ({}) = {}",
                            h.peak_connections, duration(h.span_us).text, h.samples,
                            kConnectionHeadroom * 100, headroom, in.superuser_reserved_connections,
                            in.reserved_connections, value);
            else
                format_into(r.reason,
                            "peak of {} client connections in {} of history ({} samples); peak + "
                            "{:g} % headroom ({}) + superuser_reserved_connections ({}) = {}",
                            h.peak_connections, duration(h.span_us).text, h.samples,
                            kConnectionHeadroom * 100, headroom, in.superuser_reserved_connections,
                            value);
        }
    }
    if (!enough) {
        Recommendation &r = next(out, n);
        format_into(r.setting, "idle connections");
        not_enough_history(r, s, h);
    } else if (h.mean_connections >= kIdleMinConnections && h.mean_idle_share >= kIdleShareHigh) {
        Recommendation &r = next(out, n);
        format_into(r.setting, "idle connections");
        format_into(r.current, "{:.1f} % idle", h.mean_idle_share);
        format_into(r.recommended, "idle timeouts or a pooler");
        format_into(r.reason,
                    "on average {:.1f} % of {:.1f} client connections were idle over {} of history "
                    "({} samples), at or above {:g} %: set poolgov.idle_timeout or idle_timeout in "
                    "poolgov.budgets, or put a pooler (e.g. PgBouncer) in front",
                    h.mean_idle_share, h.mean_connections, duration(h.span_us).text, h.samples,
                    kIdleShareHigh);
    }
    if (!enough) {
        Recommendation &r = next(out, n);
        format_into(r.setting, "slow statements");
        not_enough_history(r, s, h);
    } else if (h.statements < kSlowMinStatements) {
        Recommendation &r = next(out, n);
        format_into(r.setting, "slow statements");
        format_into(r.reason, "not enough statements: {} in {} of history, this rule needs {}",
                    h.statements, duration(h.span_us).text, kSlowMinStatements);
    } else {
        double share = 100.0 * static_cast<double>(h.slow) / static_cast<double>(h.statements);
        if (share >= kSlowShareHigh) {
            Recommendation &r = next(out, n);
            format_into(r.setting, "slow statements");
            format_into(r.current, "{:.1f} % slow", share);
            format_into(r.recommended, "tune the slow statements");
            format_into(r.reason,
                        "{} of {} statements ({:.1f} %) in {} of history were slow, at or above "
                        "{:g} %: see poolgov.slow_queries (index or rewrite them), or raise "
                        "poolgov.slow_query_threshold if it is set too low",
                        h.slow, h.statements, share, duration(h.span_us).text, kSlowShareHigh);
        }
    }
    return n;
}

bool recommend_role_budget(const RoleUsage &u, Recommendation &r)
{
    if (u.budget <= 0 || u.peak_connections <= 0)
        return false;
    double share = static_cast<double>(u.peak_connections) / u.budget;
    if (share < kBudgetNearShare)
        return false;
    r = Recommendation{};
    int64_t headroom = static_cast<int64_t>(
        std::ceil(static_cast<double>(u.peak_connections) * kConnectionHeadroom));
    if (headroom < 1)
        headroom = 1;
    int64_t value = u.peak_connections + headroom;
    if (value <= u.budget)
        value = u.budget + 1;
    format_into(r.setting, "budget of role {}", u.role);
    format_into(r.current, "{}", u.budget);
    format_into(r.recommended, "{}", value);
    format_into(r.reason,
                "peak of {} connections is {:.0f} % of its budget of {} (at or above {:g} %): "
                "raise it with poolgov.set_budget (peak + {:g} % headroom = {}) or find out why "
                "it holds so many (poolgov.connections)",
                u.peak_connections, share * 100, u.budget, kBudgetNearShare * 100,
                kConnectionHeadroom * 100, value);
    return true;
}

}  // namespace poolgov
