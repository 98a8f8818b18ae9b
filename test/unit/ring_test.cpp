#include "poolgov/ring.hpp"
#include "poolgov/text.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace poolgov;

namespace {
struct Rec {
    uint64_t seq;
};
}  // namespace

TEST(Ring, KeepsNewestAndWrapsAround)
{
    RingHeader h;
    std::vector<char> data(ring_bytes(4, sizeof(Rec)));
    RingView::init(&h, data.data(), 4, sizeof(Rec));
    RingView r(&h, data.data());
    EXPECT_EQ(r.size(), 0u);
    for (uint64_t i = 0; i < 10; ++i)
        reinterpret_cast<Rec *>(r.push())->seq = i;
    EXPECT_EQ(r.written(), 10u);
    EXPECT_EQ(r.size(), 4u);
    EXPECT_EQ(r.oldest(), 6u);
    for (uint64_t s = r.oldest(); s < r.written(); ++s)
        EXPECT_EQ(reinterpret_cast<Rec *>(r.at(s))->seq, s);
}

TEST(Ring, PartiallyFilled)
{
    RingHeader h;
    std::vector<char> data(ring_bytes(8, sizeof(Rec)));
    RingView::init(&h, data.data(), 8, sizeof(Rec));
    RingView r(&h, data.data());
    for (uint64_t i = 0; i < 3; ++i)
        reinterpret_cast<Rec *>(r.push())->seq = 100 + i;
    EXPECT_EQ(r.size(), 3u);
    EXPECT_EQ(r.oldest(), 0u);
    EXPECT_EQ(reinterpret_cast<Rec *>(r.at(2))->seq, 102u);
    r.clear();
    EXPECT_EQ(r.size(), 0u);
}

TEST(Ring, ZeroCapacityDropsEverything)
{
    RingHeader h;
    char dummy = 0;
    RingView::init(&h, &dummy, 0, sizeof(Rec));
    RingView r(&h, &dummy);
    EXPECT_EQ(r.push(), nullptr);
    EXPECT_EQ(r.size(), 0u);
}

TEST(Ring, TrailingTextStride)
{
    RingHeader h;
    const uint32_t stride = sizeof(Rec) + 16;
    std::vector<char> data(ring_bytes(2, stride));
    RingView::init(&h, data.data(), 2, stride);
    RingView r(&h, data.data());
    for (int i = 0; i < 3; ++i) {
        char *p = r.push();
        copy_text(p + sizeof(Rec), 16, i == 2 ? "third record text that is long" : "x");
    }
    EXPECT_STREQ(r.at(2) + sizeof(Rec), "third record te");
    EXPECT_STREQ(r.at(1) + sizeof(Rec), "x");
}

TEST(Text, CopyTruncatesOnCharacterBoundary)
{
    char buf[6];
    copy_text(buf, "abcdefgh");
    EXPECT_STREQ(buf, "abcde");
    copy_text(buf, "abcd\xc3\xa9");  // "abcdé": é would be cut in half
    EXPECT_STREQ(buf, "abcd");
    copy_text(buf, nullptr);
    EXPECT_STREQ(buf, "");
}
