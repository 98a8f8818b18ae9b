// The per-role / per-database counter table, tested by what it does, never
// by where its index puts a key: each key is found at its own entry, a new
// entry starts from zero, the clock gives a second chance and never takes an
// entry with live connections, a full table of live entries tracks nothing
// new, reset keeps the keys. Random churn is checked against a reference
// model (std::unordered_map plus a plain clock) after every operation.
#include "poolgov/entry_table.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>
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
    explicit Table(uint32_t cap) : index(entry_index_capacity(cap)), e(cap), st(cap)
    {
        entry_table_init(view(), index.data(), cap);
    }
    EntryTable view() { return EntryTable{&h, e.data(), st.data()}; }
    EntryTableHeader h{};
    std::vector<OidMapEntry> index;
    std::vector<CounterEntry> e;
    std::vector<StmtCounters> st;
};

// What the table must hold, computed the plain way: the key of each entry
// in creation order, the reference bits and the hand of the clock, and an
// std::unordered_map from key to entry. `accepted` is a counter the test
// bumps through the table, to see that each key keeps its own counters and
// that a new entry starts from zero.
struct Model {
    explicit Model(uint32_t cap) : capacity(cap) {}

    int get(uint32_t oid, const std::set<uint32_t> &live)
    {
        if (oid == 0)
            return -1;
        int i;
        auto it = where.find(oid);
        if (it != where.end()) {
            i = it->second;
        } else if (keys.size() < capacity) {
            i = static_cast<int>(keys.size());
            keys.push_back(oid);
            referenced.push_back(false);
            accepted.push_back(0);
        } else {
            i = victim(live);
            if (i < 0) {
                ++untracked;
                return -1;
            }
            where.erase(keys[i]);
            last_evicted = keys[i];
            keys[i] = oid;
            accepted[i] = 0;
            ++evicted;
        }
        where[oid] = i;
        referenced[i] = true;
        return i;
    }
    int find(uint32_t oid) const
    {
        auto it = where.find(oid);
        return it == where.end() ? -1 : it->second;
    }
    // Second chance: skip (and clear) a reference bit, never take a key
    // with live connections, give up after two rounds.
    int victim(const std::set<uint32_t> &live)
    {
        auto n = static_cast<uint32_t>(keys.size());
        for (uint32_t step = 0; step < 2 * n; ++step) {
            uint32_t i = hand;
            hand = (hand + 1) % n;
            if (referenced[i]) {
                referenced[i] = false;
                continue;
            }
            if (live.count(keys[i]) == 0)
                return static_cast<int>(i);
        }
        return -1;
    }

    uint32_t capacity;
    std::vector<uint32_t> keys;
    std::vector<bool> referenced;
    std::vector<uint64_t> accepted;
    uint32_t hand = 0;
    std::unordered_map<uint32_t, int> where;
    uint64_t evicted = 0, untracked = 0;
    uint32_t last_evicted = 0;
};

// The table answers as the model does: the same keys at the same entries,
// every key of `probe` found exactly when the model has it, the same clock
// bits, counters and statistics.
void expect_same(Table &t, const Model &m, const std::set<uint32_t> &probe)
{
    ASSERT_EQ(t.h.used, m.keys.size());
    ASSERT_EQ(t.h.evicted, m.evicted);
    ASSERT_EQ(t.h.untracked, m.untracked);
    for (uint32_t i = 0; i < t.h.used; ++i) {
        ASSERT_EQ(t.e[i].oid, m.keys[i]) << "entry " << i;
        ASSERT_EQ(entry_find(t.view(), m.keys[i]), static_cast<int>(i)) << "key " << m.keys[i];
        ASSERT_EQ(t.e[i].referenced != 0, m.referenced[i]) << "entry " << i;
        ASSERT_EQ(t.e[i].accepted, m.accepted[i]) << "entry " << i;
    }
    for (uint32_t k : probe)
        ASSERT_EQ(entry_find(t.view(), k), m.find(k)) << "key " << k;
    ASSERT_EQ(entry_find(t.view(), 0), -1);
}

// One entry_get on both (the table's answer, the model's); a login counted
// on both.
std::pair<int, int> get_both(Table &t, Model &m, uint32_t oid, const std::set<uint32_t> &live,
                             int64_t now)
{
    int i = entry_get(t.view(), oid, "k", now, in_set, &live);
    int want = m.get(oid, live);
    if (i >= 0 && i == want) {
        ++t.e[i].accepted;
        ++m.accepted[i];
    }
    return {i, want};
}

}  // namespace

// The index keeps its load at or below one half even when the table is
// full, so a lookup stays short at any capacity.
TEST(EntryTable, IndexKeepsTheLoadAtMostHalfWhenFull)
{
    for (uint32_t cap : {1u, 4u, 100u, 1000u, 10000u, 16384u}) {
        uint32_t n = entry_index_capacity(cap);
        EXPECT_EQ(n & (n - 1), 0u) << cap;
        EXPECT_GT(n, 2 * cap);
        EXPECT_EQ(n, oid_map_capacity_for(cap));
    }
    Table t(100);
    for (uint32_t oid = 1; oid <= 100; ++oid)
        ASSERT_GE(entry_get(t.view(), oid, "r", 1, never_live, nullptr), 0);
    EXPECT_EQ(t.h.index.used, 100u);
    EXPECT_GT(t.h.index.capacity, 200u);
}

TEST(EntryTable, InsertFindAndOidZeroIsNeverAKey)
{
    Table t(4);
    Model m(4);
    std::set<uint32_t> none;
    EXPECT_EQ(entry_find(t.view(), 7), -1);
    EXPECT_EQ(entry_get(t.view(), 7, "seven", 1, never_live, nullptr), 0);
    EXPECT_EQ(entry_get(t.view(), 9, "nine", 2, never_live, nullptr), 1);
    EXPECT_EQ(entry_get(t.view(), 7, nullptr, 3, never_live, nullptr), 0);  // found again
    m.get(7, none);
    m.get(9, none);
    m.get(7, none);
    EXPECT_EQ(t.h.used, 2u);
    EXPECT_STREQ(t.e[0].name, "seven");  // a null name keeps the old one
    EXPECT_EQ(t.e[0].last_seen, 3);
    EXPECT_EQ(entry_find(t.view(), 0), -1);
    EXPECT_EQ(entry_get(t.view(), 0, "x", 4, never_live, nullptr), -1);
    EXPECT_EQ(entry_find(t.view(), 8), -1);
    expect_same(t, m, {7, 8, 9});
}

// Evicting any entry leaves every other key reachable at its own entry,
// wherever the index put them. The index is not visible, so this tries
// many key sets: four keys in an index of 16 share a home or a run in about
// a third of the sets, which covers runs, their wrap-around at the end of
// the index and the eviction of each position in them.
TEST(EntryTable, EvictionLeavesEveryOtherKeyReachable)
{
    std::mt19937 rng(7);
    std::uniform_int_distribution<uint32_t> any_oid(1, 0xFFFFFFFFu);
    for (int set = 0; set < 2000; ++set) {
        Table t(4);
        Model m(4);
        std::set<uint32_t> none, probe;
        while (m.keys.size() < 4) {
            uint32_t oid = set % 2 == 0 ? any_oid(rng) : 16384 + rng() % 64;
            auto [got, want] = get_both(t, m, oid, none, 1);
            ASSERT_EQ(got, want);
            probe.insert(oid);
        }
        // The hand starts at a random entry: clear the reference bits the
        // way a first sweep would, then evict through every position.
        for (uint32_t i = 0; i < 4; ++i) {
            t.e[i].referenced = 0;
            m.referenced[i] = false;
        }
        for (int round = 0; round < 6; ++round) {
            uint32_t oid = 100000 + static_cast<uint32_t>(set * 8 + round);
            auto [got, want] = get_both(t, m, oid, none, 2 + round);
            ASSERT_EQ(got, want);
            ASSERT_GE(got, 0);
            probe.insert(oid);
            expect_same(t, m, probe);
            if (HasFatalFailure())
                return;
        }
    }
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
    EXPECT_EQ(entry_find(t.view(), 1), -1);
    EXPECT_EQ(t.e[entry_find(t.view(), 2)].accepted, 7u);
    EXPECT_EQ(entry_find(t.view(), 4), 3);
    EXPECT_EQ(entry_find(t.view(), 10), 0);
    EXPECT_EQ(entry_find(t.view(), 11), 2);
    EXPECT_EQ(t.h.evicted, 2u);
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
    EXPECT_EQ(entry_find(u.view(), 1), 0);
    EXPECT_EQ(entry_find(u.view(), 3), 2);
    EXPECT_EQ(entry_find(u.view(), 5), 1);
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
    EXPECT_STREQ(t.e[i].name, "five");
    EXPECT_EQ(t.e[i].accepted, 0u);
    EXPECT_EQ(t.st[i].statements, 0u);
    EXPECT_EQ(histogram_total(t.st[i].latency), 0u);
    EXPECT_EQ(entry_find(t.view(), 5), i);
}

// Random operations against the reference model, compared after every
// one: entry_get of a known key (lookup, marks it used), of a new key
// (insert; in a full table, eviction, which deletes the victim's key from
// the index), entry_find (lookup without marking), connections coming and
// going (which entries may be evicted), statements recorded in an entry
// (a new entry must not inherit them). Keys are dense (consecutive OIDs,
// as a server hands them out) or spread over all 32 bits.
TEST(EntryTable, RandomOperationsMatchAReferenceModel)
{
    std::mt19937 rng(12345);
    for (uint32_t cap : {1u, 2u, 7u, 64u, 1000u}) {
        SCOPED_TRACE(cap);
        Table t(cap);
        Model m(cap);
        std::set<uint32_t> live, probe;
        std::unordered_map<uint32_t, uint64_t> statements;  // by key, since its entry was made
        std::uniform_int_distribution<uint32_t> dense(16384, 16384 + cap * 3);
        std::uniform_int_distribution<uint32_t> spread(1, 0xFFFFFFFFu);
        for (int step = 0; step < 20000; ++step) {
            uint32_t oid = rng() % 8 == 0 ? spread(rng) : dense(rng);
            probe.insert(oid);
            switch (rng() % 10) {
            case 0:  // a connection of a known key comes or goes
            case 1:
                if (m.find(oid) >= 0 && live.erase(oid) == 0)
                    live.insert(oid);
                break;
            case 2:  // lookup without marking
                ASSERT_EQ(entry_find(t.view(), oid), m.find(oid)) << "key " << oid;
                break;
            case 3:  // a statement of a known key ends
                if (int i = m.find(oid); i >= 0) {
                    stmt_record(t.st[i], 1000, 1, false);
                    ++statements[oid];
                }
                break;
            default: {  // a login: lookup or insert (and perhaps evict)
                bool had = m.find(oid) >= 0;
                auto [got, want] = get_both(t, m, oid, live, step);
                ASSERT_EQ(got, want) << "key " << oid << " at step " << step;
                if (!had && got >= 0)
                    statements[oid] = 0;  // a new entry starts from zero
                break;
            }
            }
            // A key that left the model (evicted) loses its statements.
            if (m.last_evicted != 0) {
                statements.erase(m.last_evicted);
                ASSERT_EQ(live.count(m.last_evicted), 0u) << "evicted a live key";
            }
            // Every step: all entries, the key just used and the one just
            // evicted; now and then every key seen so far.
            std::set<uint32_t> now{oid, m.last_evicted};
            m.last_evicted = 0;
            expect_same(t, m, step % 500 == 0 ? probe : now);
            if (step % 500 == 0)
                for (const auto &[key, n] : statements)
                    ASSERT_EQ(t.st[m.find(key)].statements, n) << "key " << key;
            if (HasFatalFailure())
                return;
        }
        expect_same(t, m, probe);
        EXPECT_GT(m.evicted, 0u);
        if (cap <= 2)
            EXPECT_GT(m.untracked, 0u) << "a table full of live entries was never reached";
    }
}

TEST(EntryTable, TenThousandEntriesAllFound)
{
    Table t(10000);
    Model m(10000);
    std::set<uint32_t> none, probe;
    for (uint32_t oid = 16384; oid < 16384 + 10000; ++oid) {
        auto [got, want] = get_both(t, m, oid, none, 1);
        ASSERT_EQ(got, want);
        ASSERT_EQ(got, static_cast<int>(oid - 16384));
        probe.insert(oid);
    }
    EXPECT_EQ(t.h.used, 10000u);
    probe.insert(99999);
    expect_same(t, m, probe);
    EXPECT_EQ(entry_get(t.view(), 99999, "x", 2, odd_live, nullptr) >= 0, true);
    EXPECT_EQ(t.h.evicted, 1u);
    int found = 0;
    for (uint32_t k : probe)
        found += entry_find(t.view(), k) >= 0;
    EXPECT_EQ(found, 10000);
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
