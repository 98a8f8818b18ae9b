// The per-role / per-database counter table: hash index (insert, find,
// collisions, backward-shift deletion), clock eviction, full table.
#include "poolgov/entry_table.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

using namespace poolgov;

namespace {

bool never_live(uint32_t, const void *) { return false; }
bool odd_live(uint32_t oid, const void *) { return oid % 2 == 1; }
bool in_set(uint32_t oid, const void *ctx)
{
    return static_cast<const std::set<uint32_t> *>(ctx)->count(oid) > 0;
}

struct Table {
    explicit Table(uint32_t cap)
        : index(entry_index_size(cap)), oids(cap), e(cap), st(cap)
    {
        entry_table_init(view(), cap);
    }
    EntryTable view() { return EntryTable{&h, index.data(), oids.data(), e.data(), st.data()}; }
    // Every key in use is found at its own entry; no index slot points
    // outside the used range or twice at one entry.
    void check() const
    {
        std::set<uint32_t> seen;
        for (uint32_t s = 0; s < h.index_size; ++s)
            if (index[s] != 0) {
                ASSERT_LE(index[s], h.used);
                ASSERT_TRUE(seen.insert(index[s]).second);
            }
        ASSERT_EQ(seen.size(), h.used);
        auto *self = const_cast<Table *>(this);
        for (uint32_t i = 0; i < h.used; ++i)
            ASSERT_EQ(entry_find(self->view(), oids[i]), static_cast<int>(i));
    }
    EntryTableHeader h{};
    std::vector<uint32_t> index;
    std::vector<uint32_t> oids;
    std::vector<CounterEntry> e;
    std::vector<StmtCounters> st;
};

}  // namespace

TEST(EntryTable, IndexIsAPowerOfTwoAtLeastTwiceTheCapacity)
{
    EXPECT_EQ(entry_index_size(1), 8u);
    EXPECT_EQ(entry_index_size(100), 256u);
    EXPECT_EQ(entry_index_size(1000), 2048u);
    EXPECT_EQ(entry_index_size(10000), 32768u);
    EXPECT_EQ(entry_index_size(16384), 32768u);
}

TEST(EntryTable, InsertFindAndOidZeroIsNeverAKey)
{
    Table t(4);
    EXPECT_EQ(entry_find(t.view(), 7), -1);
    EXPECT_EQ(entry_get(t.view(), 7, "seven", 1, never_live, nullptr), 0);
    EXPECT_EQ(entry_get(t.view(), 9, "nine", 2, never_live, nullptr), 1);
    EXPECT_EQ(entry_get(t.view(), 7, nullptr, 3, never_live, nullptr), 0);  // found again
    EXPECT_EQ(t.h.used, 2u);
    EXPECT_STREQ(t.e[0].name, "seven");  // a null name keeps the old one
    EXPECT_EQ(t.e[0].last_seen, 3);
    EXPECT_EQ(entry_find(t.view(), 0), -1);
    EXPECT_EQ(entry_get(t.view(), 0, "x", 4, never_live, nullptr), -1);
    EXPECT_EQ(entry_find(t.view(), 8), -1);
    t.check();
}

// Keys that share a home slot probe onward; deleting the first of a run
// (by eviction) must leave the others reachable (backward shift).
TEST(EntryTable, CollidingKeysStayReachableAfterEviction)
{
    Table t(4);  // index of 8 slots
    uint32_t home = entry_home(t.view(), 1000);
    std::vector<uint32_t> same;
    for (uint32_t oid = 1001; same.size() < 3; ++oid)
        if (entry_home(t.view(), oid) == home)
            same.push_back(oid);
    ASSERT_EQ(entry_get(t.view(), 1000, "a", 1, never_live, nullptr), 0);
    for (uint32_t oid : same)
        ASSERT_GE(entry_get(t.view(), oid, "b", 2, never_live, nullptr), 0);
    EXPECT_EQ(t.index[home], 1u);  // the first key sits at home, the rest after it
    t.check();
    // Full: clear the reference bits so that the hand takes entry 0 (oid 1000).
    for (auto &e : t.e)
        e.referenced = 0;
    int i = entry_get(t.view(), 5, "new", 3, never_live, nullptr);
    EXPECT_EQ(i, 0);
    EXPECT_EQ(t.h.evicted, 1u);
    EXPECT_EQ(entry_find(t.view(), 1000), -1);
    for (uint32_t oid : same)
        EXPECT_GE(entry_find(t.view(), oid), 0) << oid;
    EXPECT_NE(t.index[home], 0u);  // shifted back into the hole
    t.check();
}

TEST(EntryTable, ClockGivesASecondChanceToEntriesUsedSinceTheHandPassed)
{
    Table t(4);
    for (uint32_t oid = 1; oid <= 4; ++oid)
        ASSERT_EQ(entry_get(t.view(), oid, "r", oid, never_live, nullptr),
                  static_cast<int>(oid - 1));
    stmt_record(t.st[0], 5, 1, false);
    // First eviction: every bit is set, the hand clears them all and comes
    // back to entry 0.
    EXPECT_EQ(entry_get(t.view(), 10, "ten", 10, never_live, nullptr), 0);
    EXPECT_EQ(t.st[0].statements, 0u);  // the new entry does not inherit stats
    EXPECT_EQ(t.e[0].oid, 10u);
    EXPECT_EQ(t.e[0].accepted, 0u);
    // oid 2 (entry 1) is used again: the hand skips it and takes entry 2.
    t.e[entry_get(t.view(), 2, nullptr, 11, never_live, nullptr)].accepted = 7;
    EXPECT_EQ(entry_get(t.view(), 11, "eleven", 12, never_live, nullptr), 2);
    EXPECT_EQ(entry_find(t.view(), 3), -1);
    EXPECT_EQ(t.e[entry_find(t.view(), 2)].accepted, 7u);
    EXPECT_EQ(t.h.evicted, 2u);
    t.check();
}

TEST(EntryTable, EntriesWithLiveConnectionsAreNeverEvicted)
{
    Table t(2);
    entry_get(t.view(), 1, "a", 1, odd_live, nullptr);
    entry_get(t.view(), 3, "b", 2, odd_live, nullptr);
    EXPECT_EQ(entry_get(t.view(), 4, "c", 3, odd_live, nullptr), -1);  // full of live
    EXPECT_EQ(t.h.evicted, 0u);
    EXPECT_EQ(t.h.untracked, 1u);
    EXPECT_GE(entry_find(t.view(), 1), 0);
    EXPECT_GE(entry_find(t.view(), 3), 0);
    EXPECT_EQ(entry_find(t.view(), 4), -1);
    // One idle among live ones is the victim, wherever the hand is.
    Table u(3);
    entry_get(u.view(), 1, "a", 1, odd_live, nullptr);
    entry_get(u.view(), 2, "b", 1, odd_live, nullptr);
    entry_get(u.view(), 3, "c", 1, odd_live, nullptr);
    EXPECT_EQ(entry_get(u.view(), 5, "e", 2, odd_live, nullptr), 1);
    EXPECT_EQ(entry_find(u.view(), 2), -1);
    u.check();
}

TEST(EntryTable, ResetKeepsKeysZeroesCounters)
{
    Table t(2);
    int i = entry_get(t.view(), 5, "five", 1, never_live, nullptr);
    t.e[i].accepted = 3;
    t.e[i].rejected = 2;
    stmt_record(t.st[i], 10, 1, false);
    entry_reset_all(t.view());
    EXPECT_EQ(t.e[i].oid, 5u);
    EXPECT_EQ(t.oids[i], 5u);
    EXPECT_STREQ(t.e[i].name, "five");
    EXPECT_EQ(t.e[i].accepted, 0u);
    EXPECT_EQ(t.st[i].statements, 0u);
    EXPECT_EQ(histogram_total(t.st[i].latency), 0u);
    EXPECT_EQ(entry_find(t.view(), 5), i);
}

// Random churn against a reference model: the table holds exactly the keys
// the model says, each found at its entry; live keys are never evicted; the
// eviction counter matches; probing never crosses more than a bounded run.
TEST(EntryTable, RandomChurnMatchesAReferenceModel)
{
    std::mt19937 rng(12345);
    for (uint32_t cap : {1u, 2u, 7u, 64u, 1000u}) {
        Table t(cap);
        std::set<uint32_t> live;
        std::set<uint32_t> present;
        uint64_t evictions = 0, untracked = 0;
        std::uniform_int_distribution<uint32_t> key(1, cap * 3);
        for (int step = 0; step < 20000; ++step) {
            uint32_t oid = key(rng);
            if (rng() % 10 == 0) {  // connections come and go
                if (present.count(oid) && !live.erase(oid))
                    live.insert(oid);
                continue;
            }
            bool had = present.count(oid) > 0;
            bool full = present.size() == cap;
            bool all_live = live.size() == present.size();
            int i = entry_get(t.view(), oid, "k", step, in_set, &live);
            if (had) {
                ASSERT_GE(i, 0);
            } else if (full && all_live) {
                ASSERT_EQ(i, -1);
                ++untracked;
            } else {
                ASSERT_GE(i, 0);
                if (full) {
                    ++evictions;
                    // The victim is one of the keys that were present and idle.
                    uint32_t gone = 0;
                    for (uint32_t k : present)
                        if (entry_find(t.view(), k) < 0)
                            gone = k;
                    ASSERT_NE(gone, 0u);
                    ASSERT_EQ(live.count(gone), 0u) << "evicted a live key";
                    present.erase(gone);
                }
                present.insert(oid);
            }
            ASSERT_EQ(t.h.evicted, evictions);
            ASSERT_EQ(t.h.untracked, untracked);
            ASSERT_EQ(t.h.used, present.size());
            if (step % 997 == 0)
                t.check();
        }
        t.check();
        for (uint32_t k = 1; k <= cap * 3; ++k)
            ASSERT_EQ(entry_find(t.view(), k) >= 0, present.count(k) > 0) << k;
    }
}

TEST(EntryTable, TenThousandEntriesAllFound)
{
    Table t(10000);
    for (uint32_t oid = 16384; oid < 16384 + 10000; ++oid)
        ASSERT_EQ(entry_get(t.view(), oid, "r", 1, never_live, nullptr),
                  static_cast<int>(oid - 16384));
    EXPECT_EQ(t.h.used, 10000u);
    t.check();
    EXPECT_EQ(entry_get(t.view(), 99999, "x", 2, odd_live, nullptr) >= 0, true);
    EXPECT_EQ(t.h.evicted, 1u);
    t.check();
}

// The views copy 10,000 rows of 11 kB: only the header of each copy is
// zeroed, and merges must zero the buckets they bring into range.
TEST(StmtCounters, MergeIntoAHeaderOnlyResetCopyOverGarbage)
{
    auto src = std::make_unique<StmtCounters>();
    auto more = std::make_unique<StmtCounters>();
    auto want = std::make_unique<StmtCounters>();
    for (uint64_t ns : {1000ull, 5000000ull, 70000000ull})
        stmt_record(*src, ns, 1, false);
    for (uint64_t ns : {10ull, 2000000000ull})  // below and above src's range
        stmt_record(*more, ns, 2, true);
    stmt_merge(*want, *src);
    stmt_merge(*want, *more);

    auto dst = std::make_unique<StmtCounters>();
    std::memset(dst.get(), 0xAB, sizeof(StmtCounters));
    stmt_reset_header(*dst);
    EXPECT_EQ(dst->statements, 0u);
    EXPECT_EQ(histogram_total(dst->latency), 0u);
    stmt_merge(*dst, *src);
    stmt_merge(*dst, *more);
    EXPECT_EQ(dst->statements, 5u);
    EXPECT_EQ(dst->rows, 7u);
    EXPECT_EQ(dst->slow, 2u);
    EXPECT_EQ(histogram_total(dst->latency), 5u);
    ASSERT_EQ(dst->latency.lo, want->latency.lo);
    ASSERT_EQ(dst->latency.hi, want->latency.hi);
    for (uint32_t i = want->latency.lo; i < want->latency.hi; ++i)
        ASSERT_EQ(dst->latency.counts[i], want->latency.counts[i]) << i;
    StmtSummary a = stmt_summarize(*dst), b = stmt_summarize(*want);
    EXPECT_EQ(a.p50_ms, b.p50_ms);
    EXPECT_EQ(a.p99_ms, b.p99_ms);
}
