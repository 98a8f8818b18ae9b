#include "poolgov/closure_cache.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace poolgov;

namespace {
struct Cache {
    std::vector<uint32_t> index = std::vector<uint32_t>(kClosureEntries);
    std::vector<ClosureEntry> entries = std::vector<ClosureEntry>(kClosureEntries);
    ClosureCache view() { return ClosureCache{index.data(), entries.data()}; }
};
}  // namespace

TEST(ClosureCache, HitOnlyForTheSameGeneration)
{
    Cache c;
    uint32_t out[kMaxMemberOf];
    EXPECT_EQ(closure_lookup(c.view(), 10, 1, 0, out), -1);
    const uint32_t roles[] = {10, 20, 30};
    closure_store(c.view(), 10, 1, 5, roles, 3);
    ASSERT_EQ(closure_lookup(c.view(), 10, 1, 6, out), 3);
    EXPECT_EQ(out[0], 10u);
    EXPECT_EQ(out[2], 30u);
    // A membership change bumps the generation: every entry is stale.
    EXPECT_EQ(closure_lookup(c.view(), 10, 2, 7, out), -1);
    EXPECT_EQ(closure_lookup(c.view(), 11, 1, 7, out), -1);
}

TEST(ClosureCache, ReplacesTheSameRoleInPlace)
{
    Cache c;
    const uint32_t a[] = {10, 20};
    const uint32_t b[] = {10};
    closure_store(c.view(), 10, 1, 1, a, 2);
    closure_store(c.view(), 10, 2, 2, b, 1);
    uint32_t out[kMaxMemberOf];
    EXPECT_EQ(closure_lookup(c.view(), 10, 2, 3, out), 1);
    int copies = 0;
    for (uint32_t r : c.index)
        copies += r == 10;
    EXPECT_EQ(copies, 1);
}

TEST(ClosureCache, TooLongIsNotCached)
{
    Cache c;
    std::vector<uint32_t> many(kMaxMemberOf + 1);
    for (size_t i = 0; i < many.size(); ++i)
        many[i] = static_cast<uint32_t>(100 + i);
    closure_store(c.view(), 100, 1, 1, many.data(), static_cast<int>(many.size()));
    uint32_t out[kMaxMemberOf];
    EXPECT_EQ(closure_lookup(c.view(), 100, 1, 2, out), -1);
}

TEST(ClosureCache, FullCacheEvictsStaleThenLeastRecentlyUsed)
{
    Cache c;
    for (uint32_t r = 1; r <= kClosureEntries; ++r)
        closure_store(c.view(), r, 1, r, &r, 1);
    uint32_t out[kMaxMemberOf];
    closure_lookup(c.view(), 1, 1, 1000, out);  // role 1 is used again
    const uint32_t fresh = 9999;
    closure_store(c.view(), fresh, 1, 1001, &fresh, 1);
    EXPECT_EQ(closure_lookup(c.view(), 1, 1, 1002, out), 1);
    EXPECT_EQ(closure_lookup(c.view(), 2, 1, 1002, out), -1);  // least recently used went
    EXPECT_EQ(closure_lookup(c.view(), fresh, 1, 1002, out), 1);
    // Entries of an old generation are reused before any current one.
    const uint32_t newer = 7777;
    closure_store(c.view(), newer, 2, 1003, &newer, 1);
    EXPECT_EQ(closure_lookup(c.view(), newer, 2, 1004, out), 1);
}
