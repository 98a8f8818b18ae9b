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
    std::vector<SlotKey> k(8);
    std::vector<ConnSlot> s(8);
    auto use = [&](int i, uint32_t role, uint32_t db, uint32_t group) {
        k[i] = SlotKey{1, role, db, 0};
        s[i].member_of[0] = role;
        s[i].member_of[1] = group;
        s[i].n_member_of = group ? 2 : 1;
    };
    use(0, 10, 1, 50);
    use(1, 10, 2, 50);
    use(3, 11, 1, 50);
    use(5, 12, 1, 0);
    k[6].role_oid = 10;  // not in use: never counted
    SlotsView v{k.data(), s.data(), 8};
    EXPECT_EQ(count_slots(v, {}), 4);
    EXPECT_EQ(count_slots(v, {10, 0, false}), 2);
    EXPECT_EQ(count_slots(v, {10, 1, false}), 1);
    EXPECT_EQ(count_slots(v, {50, 0, true}), 3);
    EXPECT_EQ(count_slots(v, {50, 0, false}), 0);
    EXPECT_EQ(count_slots(v, {50, 1, true}), 2);
    EXPECT_EQ(count_slots(v, {0, 1, false}), 3);
    EXPECT_EQ(count_slots(v, {12, 0, true}), 1);  // own role, no groups
}

TEST(Slots, EpochResetsOwnerCountersLazily)
{
    auto slot = std::make_unique<SlotStats>(SlotStats{});
    slot->epoch = 1;
    write_begin(slot->cc);
    slot_sync_epoch(*slot, 1);
    stmt_record(slot->stmts, 1000, 1, false);
    write_end(slot->cc);

    auto out = std::make_unique<StmtCounters>();
    slot_read_stats(*slot, 1, *out);
    EXPECT_EQ(out->statements, 1u);
    slot_read_stats(*slot, 2, *out);  // a reset happened: reads as zero
    EXPECT_EQ(out->statements, 0u);

    write_begin(slot->cc);
    slot_sync_epoch(*slot, 2);
    stmt_record(slot->stmts, 1000, 1, false);
    write_end(slot->cc);
    slot_read_stats(*slot, 2, *out);
    EXPECT_EQ(out->statements, 1u);
    EXPECT_EQ(histogram_total(out->latency), 1u);
}

// One writer, several readers: every copy a reader sees is consistent
// (statement count equals the histogram total, total time matches).
TEST(Slots, ConcurrentReadersSeeConsistentCounters)
{
    auto slot = std::make_unique<SlotStats>(SlotStats{});
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
    // Write until the readers have read a good many times while writes go
    // on (on a loaded machine they may not be scheduled at first).
    uint64_t writes = 0;
    while (writes < 200000 || reads.load() < 1000) {
        write_begin(slot->cc);
        stmt_record(slot->stmts, 1000, 1, false);
        write_end(slot->cc);
        writes++;
    }
    stop = true;
    for (auto &t : readers)
        t.join();
    EXPECT_EQ(inconsistent.load(), 0);
    EXPECT_GE(reads.load(), 1000);
    EXPECT_EQ(slot->stmts.statements, writes);
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

TEST(MemberPool, StoresChainsAndGivesChunksBack)
{
    std::vector<MemberChunk> chunks(4);
    MemberPool p{};
    member_pool_init(p, chunks.data(), 4);
    EXPECT_EQ(p.free_count, 4u);
    std::vector<uint32_t> roles(248);
    for (uint32_t i = 0; i < 248; ++i)
        roles[i] = 500 + i;
    uint32_t head = member_pool_store(p, roles.data(), 150);  // 3 chunks
    ASSERT_NE(head, 0u);
    EXPECT_EQ(p.free_count, 1u);
    EXPECT_EQ(member_pool_store(p, roles.data(), 100), 0u);  // needs 2: refused whole
    EXPECT_EQ(p.free_count, 1u);

    ConnSlot s{};
    s.member_of[s.n_member_of++] = 1;
    s.member_chain = head;
    std::vector<uint32_t> all(slot_closure_length(s, p));
    ASSERT_EQ(all.size(), 151u);
    slot_closure(s, p, all.data());
    EXPECT_EQ(all[0], 1u);
    EXPECT_EQ(all[1], 500u);
    EXPECT_EQ(all[150], 649u);

    member_pool_free(p, head);
    EXPECT_EQ(p.free_count, 4u);
    EXPECT_NE(member_pool_store(p, roles.data(), 248), 0u);  // all four again
    EXPECT_EQ(p.free_count, 0u);
}
