// format_into: fmt into a fixed buffer, cut at its end, always terminated.
#include "poolgov/format.hpp"

#include <gtest/gtest.h>

#include <cstring>

using namespace poolgov;

TEST(FormatInto, FitsTruncatesAndAlwaysTerminates)
{
    char buf[8];
    std::memset(buf, 'x', sizeof(buf));
    EXPECT_EQ(format_into(buf, "{} of {}", 3, 5), 6u);
    EXPECT_STREQ(buf, "3 of 5");
    EXPECT_EQ(format_into(buf, "role \"{}\"", "application"), 7u);  // 7 bytes + NUL
    EXPECT_STREQ(buf, "role \"a");
    EXPECT_EQ(format_into(buf, ""), 0u);
    EXPECT_STREQ(buf, "");
    char one[1] = {'x'};
    EXPECT_EQ(format_into(one, "{}", 12345), 0u);  // room for the NUL only
    EXPECT_EQ(one[0], '\0');
}
