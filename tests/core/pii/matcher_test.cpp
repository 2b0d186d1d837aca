#include "core/pii/matcher.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gdprctl::pii {
namespace {

TEST(IdentifierMatcher, FindsEveryIdentifierInOnePass) {
    IdentifierMatcher matcher({"10.1.2.3", "ann@example.org", "user-42"});
    EXPECT_EQ(matcher.count("10.1.2.3 - ann@example.org [x] user-42 10.1.2.3"), 4u);
}

TEST(IdentifierMatcher, MatchesAreWordBounded) {
    IdentifierMatcher matcher({"10.1.2.3", "ann@example.org"});
    EXPECT_EQ(matcher.count("10.1.2.34"), 0u);
    EXPECT_EQ(matcher.count("110.1.2.3"), 0u);
    EXPECT_EQ(matcher.count("1.10.1.2.3"), 0u);
    EXPECT_EQ(matcher.count("10.1.2.3.4"), 0u);
    EXPECT_EQ(matcher.count("joann@example.org"), 0u);
    EXPECT_EQ(matcher.count("ann@example.org.au"), 0u);
    EXPECT_EQ(matcher.count("ip=10.1.2.3;"), 1u);
    EXPECT_EQ(matcher.count("<ann@example.org>."), 1u);
}

TEST(IdentifierMatcher, EmailsMatchCaseInsensitively) {
    IdentifierMatcher matcher({"ann@example.org"});
    EXPECT_TRUE(matcher.contains("From: Ann@Example.ORG"));
}

TEST(IdentifierMatcher, OverlappingIdentifiersAreAllReported) {
    IdentifierMatcher matcher({"ann@example.org", "example.org"});
    std::vector<std::size_t> found;
    matcher.for_each_match("ann@example.org", [&](const IdentifierMatcher::Match& m) { found.push_back(m.pattern); });
    // "example.org" inside the address is preceded by '@', a boundary: both are reported.
    EXPECT_EQ(found.size(), 2u);
}

TEST(IdentifierMatcher, CountingInInterleavedPartsFindsEachMatchOnce) {
    // Matches everywhere, across the four parts' borders wherever they fall.
    std::string text;
    for (int i = 0; text.size() < 50000; ++i)
        text += (i % 3 ? "10.1.2.3 " : "x10.1.2.34 ") + std::string(i % 7, 'a') + (i % 5 ? " ann@example.org" : "");
    IdentifierMatcher matcher({"10.1.2.3", "ann@example.org", "example.org"});
    std::size_t serial = matcher.for_each_match(text, [](const IdentifierMatcher::Match&) {});
    for (std::size_t cut = 0; cut < 64; ++cut) {
        auto piece = std::string_view(text).substr(cut);
        EXPECT_EQ(matcher.count(piece), matcher.for_each_match(piece, [](const IdentifierMatcher::Match&) {}));
    }
    EXPECT_EQ(matcher.count(text), serial);
    std::size_t third = text.size() / 3;
    EXPECT_EQ(matcher.count_ending_in(text, 0, third) + matcher.count_ending_in(text, third, 2 * third) +
                  matcher.count_ending_in(text, 2 * third, text.size()),
              serial);
}

TEST(IdentifierMatcher, ScalesToThousandsOfIdentifiers) {
    std::vector<std::string> ids;
    for (int i = 0; i < 2000; ++i)
        ids.push_back("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".9");
    IdentifierMatcher matcher(ids);
    std::string text;
    for (int i = 0; i < 2000; i += 7) text += "x " + ids[static_cast<std::size_t>(i)] + " y\n";
    EXPECT_EQ(matcher.count(text), 286u);
    EXPECT_EQ(matcher.count("10.0.0.99 10.7.208.9"), 0u);
}

TEST(IdentifierMatcher, EmptyMatcherMatchesNothing) {
    IdentifierMatcher matcher({});
    EXPECT_TRUE(matcher.empty());
    EXPECT_EQ(matcher.count("anything"), 0u);
}

}  // namespace
}  // namespace gdprctl::pii
