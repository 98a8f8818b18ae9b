#include "poolgov/tick_clock.hpp"

#include <gtest/gtest.h>

#include <cstdint>

using namespace poolgov;

TEST(TickClock, IdentityKeepsNanoseconds)
{
    EXPECT_EQ(ticks_to_ns(0, kTickIdentity), 0u);
    EXPECT_EQ(ticks_to_ns(1, kTickIdentity), 1u);
    EXPECT_EQ(ticks_to_ns(123456789012345ull, kTickIdentity), 123456789012345ull);
    EXPECT_EQ(ticks_to_ns(UINT64_MAX, kTickIdentity), UINT64_MAX);
}

TEST(TickClock, ScaleOfACalibration)
{
    // 3 GHz: 3e9 ticks in one second.
    TickScale s = tick_scale_from(3000000000ull, 1000000000ull);
    ASSERT_NE(s.mult, 0u);
    EXPECT_EQ(ticks_to_ns(3000000000ull, s), 999999999u);  // truncated, never above
    EXPECT_NEAR(static_cast<double>(ticks_to_ns(3000000000ull, s)), 1e9, 1.0);
    // 0.2 s of a 2.1 GHz counter, calibrated over 5 ms.
    TickScale t = tick_scale_from(10500000ull, 5000000ull);
    EXPECT_NEAR(static_cast<double>(ticks_to_ns(420000000ull, t)), 2e8, 1.0);
    // A day of ticks does not overflow (the product is 128 bits).
    uint64_t day = 86400ull * 3000000000ull;
    EXPECT_NEAR(static_cast<double>(ticks_to_ns(day, s)), 86400e9, 86400e9 * 1e-9);
    // A counter slower than the clock (100 MHz: 10 ns per tick).
    TickScale slow = tick_scale_from(1000000ull, 10000000ull);
    EXPECT_EQ(ticks_to_ns(7, slow), 70u);
    // Calibrating nanoseconds against themselves gives the identity.
    EXPECT_EQ(tick_scale_from(5000000ull, 5000000ull).mult, kTickIdentity.mult);
}

TEST(TickClock, ImplausibleCalibrationsAreRefused)
{
    EXPECT_EQ(tick_scale_from(0, 5000000).mult, 0u);
    EXPECT_EQ(tick_scale_from(5000000, 0).mult, 0u);
    EXPECT_EQ(tick_scale_from(1, 5000000).mult, 0u);                  // 200 Hz
    EXPECT_EQ(tick_scale_from(5000000ull * 5000, 5000000).mult, 0u);  // 5 THz
    EXPECT_NE(tick_scale_from(5000, 5000000).mult, 0u);               // 1 MHz
}

TEST(TickClock, BetweenNeverNegative)
{
    TickScale s = tick_scale_from(3000000000ull, 1000000000ull);
    EXPECT_EQ(ticks_between_ns(1000, 1000, s), 0u);
    EXPECT_EQ(ticks_between_ns(1000, 990, s), 0u);  // read on a CPU a little behind
    EXPECT_EQ(ticks_between_ns(1000, 4000, s), 999u);
    // Wrapping of the counter itself: still the forward distance.
    EXPECT_EQ(ticks_between_ns(UINT64_MAX - 2, 2, kTickIdentity), 5u);
}

TEST(TickClock, TscOnlyWhenTheKernelUsesIt)
{
    EXPECT_TRUE(tsc_usable("tsc\n", true));
    EXPECT_TRUE(tsc_usable("tsc", true));
    EXPECT_FALSE(tsc_usable("tsc\n", false));
    EXPECT_FALSE(tsc_usable("kvm-clock\n", true));
    EXPECT_FALSE(tsc_usable("hpet\n", true));
    EXPECT_FALSE(tsc_usable("", true));
    EXPECT_FALSE(tsc_usable("tsc-early\n", true));
}
