// OidMap, the open-addressing map behind the budget rule index, the live
// counts and the counter tables' index.
#include "poolgov/oid_map.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

using namespace poolgov;

namespace {

struct Map {
    std::vector<OidMapEntry> storage;
    OidMap m{};
    explicit Map(uint32_t capacity) : storage(capacity)
    {
        oid_map_init(m, storage.data(), capacity);
    }
};

}  // namespace

TEST(OidMap, CapacityKeepsLoadAtMostHalf)
{
    EXPECT_EQ(oid_map_capacity_for(0), 8u);
    EXPECT_EQ(oid_map_capacity_for(4), 16u);
    EXPECT_EQ(oid_map_capacity_for(10000), 32768u);
    for (uint32_t n : {1u, 7u, 100u, 5000u, 100000u}) {
        uint32_t c = oid_map_capacity_for(n);
        EXPECT_EQ(c & (c - 1), 0u);
        EXPECT_GT(c, 2 * n);
    }
}

TEST(OidMap, InsertFindReplaceErase)
{
    Map t(16);
    EXPECT_EQ(oid_map_find(t.m, 5), nullptr);
    EXPECT_TRUE(oid_map_put(t.m, 5, 50));
    EXPECT_TRUE(oid_map_put(t.m, 6, 60));
    ASSERT_NE(oid_map_find(t.m, 5), nullptr);
    EXPECT_EQ(*oid_map_find(t.m, 5), 50u);
    EXPECT_TRUE(oid_map_put(t.m, 5, 55));  // replace
    EXPECT_EQ(*oid_map_find(t.m, 5), 55u);
    EXPECT_EQ(t.m.used, 2u);
    EXPECT_TRUE(oid_map_erase(t.m, 5));
    EXPECT_FALSE(oid_map_erase(t.m, 5));
    EXPECT_EQ(oid_map_find(t.m, 5), nullptr);
    EXPECT_EQ(*oid_map_find(t.m, 6), 60u);
    EXPECT_EQ(t.m.used, 1u);
    EXPECT_FALSE(oid_map_put(t.m, 0, 1));  // 0 is the empty key
}

TEST(OidMap, FullMapRefusesNewKeysButKeepsOldOnes)
{
    Map t(8);
    for (uint32_t k = 1; k <= 7; ++k)
        EXPECT_TRUE(oid_map_put(t.m, k * 1000, k));
    EXPECT_FALSE(oid_map_put(t.m, 99, 1));      // one entry stays empty
    EXPECT_EQ(oid_map_find(t.m, 99), nullptr);  // and lookups still end
    EXPECT_TRUE(oid_map_put(t.m, 3000, 33));    // replacing still works
    for (uint32_t k = 1; k <= 7; ++k)
        EXPECT_NE(oid_map_find(t.m, k * 1000), nullptr);
    EXPECT_FALSE(oid_map_add(t.m, 99, 1));
}

// Every key hashes somewhere in a tiny table, so runs collide and wrap
// around; random inserts and erases against std::map.
TEST(OidMap, CollisionsAndDeletionAgainstStdMap)
{
    std::mt19937 rng(3);
    for (uint32_t capacity : {8u, 16u, 64u, 1024u}) {
        Map t(capacity);
        std::map<uint32_t, uint32_t> want;
        for (int step = 0; step < 20000; ++step) {
            uint32_t key = 1 + rng() % (capacity * 2);
            if (rng() % 3 == 0) {
                EXPECT_EQ(oid_map_erase(t.m, key), want.erase(key) == 1);
            } else if (want.size() + 1 < capacity || want.count(key)) {
                uint32_t v = rng();
                ASSERT_TRUE(oid_map_put(t.m, key, v));
                want[key] = v;
            }
            if (step % 97 == 0) {
                ASSERT_EQ(t.m.used, want.size());
                for (uint32_t k = 1; k <= capacity * 2; ++k) {
                    const uint32_t *v = oid_map_find(t.m, k);
                    auto it = want.find(k);
                    ASSERT_EQ(v != nullptr, it != want.end()) << "key " << k;
                    if (v != nullptr)
                        ASSERT_EQ(*v, it->second);
                }
            }
        }
    }
}

TEST(OidMap, CountersInsertAtFirstAndVanishAtZero)
{
    Map t(16);
    EXPECT_TRUE(oid_map_add(t.m, 7, 1));
    EXPECT_TRUE(oid_map_add(t.m, 7, 1));
    EXPECT_EQ(oid_map_count(t.m, 7), 2u);
    EXPECT_TRUE(oid_map_add(t.m, 7, -1));
    EXPECT_TRUE(oid_map_add(t.m, 7, -1));
    EXPECT_EQ(oid_map_count(t.m, 7), 0u);
    EXPECT_EQ(t.m.used, 0u);
    EXPECT_TRUE(oid_map_add(t.m, 8, -1));  // never below zero, never inserted
    EXPECT_EQ(t.m.used, 0u);
}
