#include "poolgov/closure_cache.hpp"

#include <gtest/gtest.h>

#include <map>
#include <vector>

using namespace poolgov;

namespace {
struct Cache {
    OidMap header{};
    std::vector<OidMapEntry> index = std::vector<OidMapEntry>(closure_index_capacity());
    std::vector<uint32_t> role_of = std::vector<uint32_t>(kClosureEntries);
    std::vector<ClosureEntry> entries = std::vector<ClosureEntry>(kClosureEntries);
    ClosureCache cache;
    Cache() : cache(closure_cache_attach(&header, index.data(), role_of.data(), entries.data()))
    {
        closure_cache_init(cache);
    }
    const ClosureCache &view() const { return cache; }
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
    // One entry for the role: nothing else was taken.
    EXPECT_EQ(c.header.used, 1u);
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
    // Evicted roles leave the index: it never holds more keys than entries.
    EXPECT_LE(c.header.used, static_cast<uint32_t>(kClosureEntries));
}

// Against a reference model: random stores and lookups of a few hundred
// roles over a few generations; a hit always returns the closure last stored
// for that role under the current generation, and every role stored under
// the current generation since the cache last had to evict is still there.
TEST(ClosureCache, AgreesWithAReferenceModel)
{
    Cache c;
    std::map<uint32_t, std::vector<uint32_t>> stored;  // current generation
    uint64_t generation = 1;
    uint32_t seed = 12345;
    auto next = [&seed] { return seed = seed * 1103515245u + 12345u; };
    uint32_t out[kMaxMemberOf];
    for (int step = 0; step < 20000; ++step) {
        uint32_t role = 1 + (next() >> 8) % 400;
        uint32_t op = (next() >> 8) % 100;
        if (op < 2) {
            ++generation;
            stored.clear();
        } else if (op < 40) {
            std::vector<uint32_t> roles{role};
            for (uint32_t k = (next() >> 8) % 5; k > 0; --k)
                roles.push_back(1000 + (next() >> 8) % 50);
            if (stored.size() >= static_cast<size_t>(kClosureEntries) && !stored.count(role))
                stored.clear();  // an eviction may drop any of them: start over
            closure_store(c.view(), role, generation, step, roles.data(),
                          static_cast<int>(roles.size()));
            stored[role] = roles;
        } else {
            int n = closure_lookup(c.view(), role, generation, step, out);
            auto it = stored.find(role);
            if (it != stored.end()) {
                ASSERT_EQ(n, static_cast<int>(it->second.size())) << "step " << step;
                EXPECT_EQ(std::vector<uint32_t>(out, out + n), it->second);
            } else if (n >= 0) {
                EXPECT_EQ(out[0], role);  // an older store this generation
            }
        }
    }
}
