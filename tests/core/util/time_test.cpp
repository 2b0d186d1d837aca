#include "core/util/time.hpp"

#include <gtest/gtest.h>

namespace gdprctl::util {
namespace {

TEST(Time, ParsesIso8601WithZonesAndFractions) {
    EXPECT_EQ(parse_iso8601("2026-11-23T15:25:10Z"), 1795447510);
    EXPECT_EQ(parse_iso8601("2026-11-23 15:25:10"), 1795447510);
    EXPECT_EQ(parse_iso8601("2026-11-23T16:25:10.123+01:00"), 1795447510);
    EXPECT_EQ(parse_iso8601("2026-11-23T10:25:10-0500"), 1795447510);
    EXPECT_EQ(parse_iso8601("2026-11-23"), 1795392000);
}

TEST(Time, RejectsWhatIsNotATime) {
    EXPECT_FALSE(parse_iso8601("2026-13-01T00:00:00Z"));
    EXPECT_FALSE(parse_iso8601("yesterday"));
    EXPECT_FALSE(parse_iso8601("2026-11-23T15:25:10 junk"));
    EXPECT_FALSE(parse_nginx_time("23/Foo/2026:15:25:10 +0000"));
    EXPECT_FALSE(parse_unix("12ab", false));
}

TEST(Time, ParsesNginxTimeLocalWithOffset) {
    EXPECT_EQ(parse_nginx_time("[23/Nov/2026:15:25:10 +0000]"), 1795447510);
    EXPECT_EQ(parse_nginx_time("23/Nov/2026:17:25:10 +0200"), 1795447510);
}

TEST(Time, ParsesUnixSecondsAndMilliseconds) {
    EXPECT_EQ(parse_unix("1795447510", false), 1795447510);
    EXPECT_EQ(parse_unix("1795447510999", true), 1795447510);
    EXPECT_EQ(parse_unix("1795447510.5", false), 1795447510);
}

TEST(Time, ParsesAPatternFromAFileName) {
    EXPECT_EQ(parse_with_pattern("20261123-152510", "%Y%m%d-%H%M%S"), 1795447510);
    EXPECT_FALSE(parse_with_pattern("2026112", "%Y%m%d-%H%M%S"));
}

TEST(Time, FormatsUtcAndNginxTimeRoundTrips) {
    EXPECT_EQ(format_iso8601(1795447510), "2026-11-23T15:25:10Z");
    EXPECT_EQ(format_nginx_time(1795447510), "23/Nov/2026:15:25:10 +0000");
    EXPECT_EQ(parse_nginx_time(format_nginx_time(1795447510)), 1795447510);
}

}  // namespace
}  // namespace gdprctl::util
