#include "poolgov/entry_table.hpp"
#include "poolgov/history.hpp"
#include "poolgov/slots.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

using namespace poolgov;

TEST(Slots, CountByRoleDatabaseAndMembership)
{
    std::vector<ConnSlot> s(8);
    auto use = [&](int i, uint32_t role, uint32_t db, uint32_t group) {
        s[i].in_use = 1;
        s[i].role_oid = role;
        s[i].db_oid = db;
        s[i].member_of[0] = role;
        s[i].member_of[1] = group;
        s[i].n_member_of = group ? 2 : 1;
    };
    use(0, 10, 1, 50);
    use(1, 10, 2, 50);
    use(3, 11, 1, 50);
    use(5, 12, 1, 0);
    s[6].role_oid = 10;  // not in use: never counted
    EXPECT_EQ(count_slots(s.data(), 8, {}), 4);
    EXPECT_EQ(count_slots(s.data(), 8, {10, 0, false}), 2);
    EXPECT_EQ(count_slots(s.data(), 8, {10, 1, false}), 1);
    EXPECT_EQ(count_slots(s.data(), 8, {50, 0, true}), 3);
    EXPECT_EQ(count_slots(s.data(), 8, {50, 0, false}), 0);
    EXPECT_EQ(count_slots(s.data(), 8, {50, 1, true}), 2);
    EXPECT_EQ(count_slots(s.data(), 8, {0, 1, false}), 3);
}

TEST(Slots, EpochResetsOwnerCountersLazily)
{
    auto slot = std::make_unique<ConnSlot>(ConnSlot{});
    slot->stats_epoch = 1;
    write_begin(slot->stats_cc);
    slot_sync_epoch(*slot, 1);
    stmt_record(slot->stmts, 1000, 1, false);
    write_end(slot->stats_cc);

    auto out = std::make_unique<StmtCounters>();
    slot_read_stats(*slot, 1, *out);
    EXPECT_EQ(out->statements, 1u);
    slot_read_stats(*slot, 2, *out);  // a reset happened: reads as zero
    EXPECT_EQ(out->statements, 0u);

    write_begin(slot->stats_cc);
    slot_sync_epoch(*slot, 2);
    stmt_record(slot->stmts, 1000, 1, false);
    write_end(slot->stats_cc);
    slot_read_stats(*slot, 2, *out);
    EXPECT_EQ(out->statements, 1u);
    EXPECT_EQ(histogram_total(out->latency), 1u);
}

// One writer, several readers: every copy a reader sees is consistent
// (statement count equals the histogram total, total time matches).
TEST(Slots, ConcurrentReadersSeeConsistentCounters)
{
    auto slot = std::make_unique<ConnSlot>(ConnSlot{});
    std::atomic<bool> stop{false};
    std::atomic<int> inconsistent{0};
    std::atomic<long> reads{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r)
        readers.emplace_back([&] {
            auto copy = std::make_unique<StmtCounters>();
            while (!stop.load()) {
                slot_read_stats(*slot, 0, *copy);
                if (histogram_total(copy->latency) != copy->statements ||
                    copy->total_ns != copy->statements * 1000)
                    inconsistent++;
                reads++;
            }
        });
    for (int i = 0; i < 200000; ++i) {
        write_begin(slot->stats_cc);
        stmt_record(slot->stmts, 1000, 1, false);
        write_end(slot->stats_cc);
    }
    stop = true;
    for (auto &t : readers)
        t.join();
    EXPECT_EQ(inconsistent.load(), 0);
    EXPECT_GT(reads.load(), 0);
    EXPECT_EQ(slot->stmts.statements, 200000u);
}

namespace {
bool never_live(uint32_t, const void *) { return false; }
bool odd_live(uint32_t oid, const void *) { return oid % 2 == 1; }
}  // namespace

TEST(EntryTable, FindOrCreateAndEvictLeastRecentIdle)
{
    constexpr uint32_t cap = 4;
    std::vector<CounterEntry> e(cap);
    EntryTableHeader h{cap, 0};
    for (uint32_t oid = 1; oid <= 4; ++oid)
        ASSERT_NE(entry_get(h, e.data(), oid, "r", 100 + oid, never_live, nullptr), nullptr);
    entry_get(h, e.data(), 1, "r1", 200, never_live, nullptr)->accepted = 7;  // 1 is fresh now
    CounterEntry *n = entry_get(h, e.data(), 9, "nine", 300, never_live, nullptr);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(h.evicted, 1u);
    EXPECT_EQ(entry_find(e.data(), cap, 2), nullptr);  // oldest idle entry went
    EXPECT_EQ(entry_find(e.data(), cap, 1)->accepted, 7u);
    EXPECT_STREQ(entry_find(e.data(), cap, 1)->name, "r1");
}

TEST(EntryTable, EntriesWithLiveConnectionsAreKept)
{
    constexpr uint32_t cap = 2;
    std::vector<CounterEntry> e(cap);
    EntryTableHeader h{cap, 0};
    entry_get(h, e.data(), 1, "a", 1, odd_live, nullptr);
    entry_get(h, e.data(), 3, "b", 2, odd_live, nullptr);
    EXPECT_EQ(entry_get(h, e.data(), 4, "c", 3, odd_live, nullptr), nullptr);
    EXPECT_NE(entry_find(e.data(), cap, 1), nullptr);
}

TEST(EntryTable, ResetKeepsKeysZeroesCounters)
{
    std::vector<CounterEntry> e(2);
    EntryTableHeader h{2, 0};
    CounterEntry *a = entry_get(h, e.data(), 5, "five", 1, never_live, nullptr);
    a->accepted = 3;
    a->rejected = 2;
    stmt_record(a->retired, 10, 1, false);
    entry_reset_all(e.data(), 2);
    EXPECT_EQ(a->oid, 5u);
    EXPECT_STREQ(a->name, "five");
    EXPECT_EQ(a->accepted, 0u);
    EXPECT_EQ(a->retired.statements, 0u);
    EXPECT_EQ(histogram_total(a->retired.latency), 0u);
}

TEST(History, IntervalRatesAndPercentile)
{
    auto prev = std::make_unique<Totals>(Totals{});
    auto cur = std::make_unique<Totals>(Totals{});
    auto scratch = std::make_unique<Histogram>();
    prev->at = 1000000;
    prev->statements = 100;
    prev->rejected = 2;
    for (int i = 0; i < 100; ++i)
        histogram_add(prev->latency, 1000000);  // 1 ms, before the interval
    *cur = *prev;
    cur->at = 3000000;  // two seconds later
    cur->statements = 300;
    cur->rejected = 5;
    for (int i = 0; i < 200; ++i)
        histogram_add(cur->latency, 50000000);  // 50 ms inside the interval
    cur->max_ns = 50000000;
    ConnTally t{3, 1, 2, 0};
    HistorySample s = make_sample(*prev, *cur, t, *scratch);
    EXPECT_EQ(s.sampled_at, 3000000);
    EXPECT_DOUBLE_EQ(s.statements_per_s, 100.0);
    EXPECT_EQ(s.rejected, 3u);
    EXPECT_NEAR(s.p95_ms, 50.0, 50.0 / 64);
    EXPECT_EQ(s.tally.idle, 2);
}

TEST(History, ResetBetweenSamplesStartsFromZero)
{
    auto prev = std::make_unique<Totals>(Totals{});
    auto cur = std::make_unique<Totals>(Totals{});
    auto scratch = std::make_unique<Histogram>();
    prev->at = 1000000;
    prev->epoch = 1;
    prev->statements = 1000;
    cur->at = 2000000;
    cur->epoch = 2;
    cur->statements = 10;
    HistorySample s = make_sample(*prev, *cur, ConnTally{}, *scratch);
    EXPECT_DOUBLE_EQ(s.statements_per_s, 10.0);
    EXPECT_LT(s.p95_ms, 0);
}

TEST(History, TallyCountsStates)
{
    ConnTally t{};
    tally_add(t, ConnState::Active);
    tally_add(t, ConnState::Idle);
    tally_add(t, ConnState::IdleInTransaction);
    tally_add(t, ConnState::Unknown);
    EXPECT_EQ(t.connections, 4);
    EXPECT_EQ(t.active + t.idle + t.idle_in_transaction, 3);
}
