#include "core/pii/detect.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace gdprctl::pii {
namespace {

TEST(Detect, FindsEmailsIncludingInternationalOnes) {
    EXPECT_TRUE(contains_email("contact: ann.lee+tv@example.org, thanks"));
    EXPECT_TRUE(contains_email("jürgen.groß@exämple.de"));
    EXPECT_FALSE(contains_email("@handle and user@localhost"));
    EXPECT_FALSE(contains_email("price 3@5.00"));
}

TEST(Detect, FindsIpv4ButNotVersionNumbers) {
    EXPECT_TRUE(contains_ipv4("client 192.0.2.14 connected"));
    EXPECT_FALSE(contains_ipv4("version 1.2.3.4.5"));
    EXPECT_FALSE(contains_ipv4("999.1.1.1"));
    EXPECT_FALSE(contains_ipv4("build 10.20.30"));
}

TEST(Detect, FindsIpv6ButNotClockTimes) {
    EXPECT_TRUE(contains_ipv6("from 2001:db8::1 via proxy"));
    EXPECT_TRUE(contains_ipv6("fe80::1ff:fe23:4567:890a"));
    EXPECT_FALSE(contains_ipv6("at 15:25:10 sharp"));
}

TEST(Detect, FindsInternationalPhoneNumbersOnly) {
    EXPECT_TRUE(contains_phone("call +49 30 5550123"));
    EXPECT_TRUE(contains_phone("+1-555-010-9999"));
    EXPECT_FALSE(contains_phone("order 4930555012345"));
    EXPECT_FALSE(contains_phone("+12"));
}

TEST(Detect, ReportsTheFirstDetector) {
    EXPECT_EQ(detect("a@example.org from 192.0.2.1"), Detector::email);
    EXPECT_EQ(detect("from 192.0.2.1"), Detector::ipv4);
    EXPECT_EQ(detect("nothing here"), std::nullopt);
}

TEST(Detect, ForEachIpYieldsEveryForwardedHopCanonically) {
    std::vector<std::string> ips;
    for_each_ip("192.0.2.1, 2001:DB8:0::5, 198.51.100.7", [&](const std::string& ip) { ips.push_back(ip); });
    EXPECT_EQ(ips, (std::vector<std::string>{"192.0.2.1", "198.51.100.7", "2001:db8::5"}));
}

TEST(Detect, CanonicalIpRejectsNonAddresses) {
    EXPECT_EQ(canonical_ip("2001:0DB8::0001"), "2001:db8::1");
    EXPECT_FALSE(canonical_ip("example.org"));
}

TEST(Detect, RedactRemovesEveryIdentifierAndKeepsTheRest) {
    EXPECT_EQ(redact("reading /data/ann@example.org/x.log from 192.0.2.1 and 2001:db8::1, at 15:25:10"),
              "reading /data/[email]/x.log from [ipv4] and [ipv6], at 15:25:10");
    EXPECT_EQ(redact("source \"web\": 12 records"), "source \"web\": 12 records");
}

}  // namespace
}  // namespace gdprctl::pii
