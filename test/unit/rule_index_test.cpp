// OidMap (the open-addressing map behind the budget rule index and the live
// counts), the budget set's index and the member pool.
#include "poolgov/budgets.hpp"
#include "poolgov/rule_index.hpp"
#include "poolgov/slots.hpp"

#include "budget_set_owner.hpp"

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
    EXPECT_FALSE(oid_map_put(t.m, 99, 1));  // one entry stays empty
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

TEST(BudgetIndex, RulesOfARoleAreFoundAndOthersNot)
{
    test::OwnedBudgetSet owned(16);
    BudgetSet &s = owned.set;
    auto add = [&](uint32_t role, uint32_t db) {
        BudgetRule &r = s.rules[s.count++];
        r = BudgetRule{};
        r.role_oid = role;
        r.db_oid = db;
    };
    add(30, 0);
    add(10, 0);
    add(30, 5);
    add(20, 0);
    add(30, 6);
    budget_set_index(s);
    std::vector<uint32_t> of30;
    for_each_rule_of(s, 30, [&](uint32_t r) { of30.push_back(r); });
    EXPECT_EQ(of30, (std::vector<uint32_t>{0, 2, 4}));  // table order within a role
    std::vector<uint32_t> of99;
    for_each_rule_of(s, 99, [&](uint32_t r) { of99.push_back(r); });
    EXPECT_TRUE(of99.empty());
    EXPECT_EQ(find_rule(s, 30, 5), 2);
    EXPECT_EQ(find_rule(s, 30, 7), -1);
    EXPECT_EQ(find_rule(s, 10, 0), 1);
    EXPECT_TRUE(has_own_rule(s, 30, 77));
    EXPECT_FALSE(has_own_rule(s, 40, 0));

    // Rebuild after a change: the old role is gone, the new one found.
    s.rules[1].role_oid = 40;
    budget_set_index(s);
    EXPECT_EQ(find_rule(s, 10, 0), -1);
    EXPECT_EQ(find_rule(s, 40, 0), 1);

    // A copy answers the same.
    test::OwnedBudgetSet copy(16);
    budget_set_copy(copy.set, s);
    EXPECT_EQ(find_rule(copy.set, 30, 6), 4);
    EXPECT_EQ(copy.set.count, 5u);
}

TEST(BudgetIndex, FullCapacityOfTenThousandRules)
{
    constexpr uint32_t kCap = 10000;
    test::OwnedBudgetSet owned(kCap);
    BudgetSet &s = owned.set;
    for (uint32_t i = 0; i < kCap; ++i) {
        BudgetRule &r = s.rules[s.count++];
        r = BudgetRule{};
        r.role_oid = 16384 + i / 2;  // two rules a role
        r.db_oid = i % 2 == 0 ? 0 : 5;
        r.max_connections = static_cast<int32_t>(i % 7);
    }
    budget_set_index(s);
    EXPECT_EQ(s.index.used, kCap / 2);
    for (uint32_t i = 0; i < kCap; ++i)
        ASSERT_EQ(find_rule(s, 16384 + i / 2, i % 2 == 0 ? 0 : 5), static_cast<int>(i));
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
