// The raw-byte rescan reads files in 4 MiB blocks and, for large files, one byte range per
// thread: every match must be counted exactly once wherever the cuts fall.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <string>

#include "connectors/connector.hpp"
#include "core/error.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::connectors {
namespace {

using testing::TempDir;

// Random text of IP-like words, with the pattern planted at positions that straddle every
// block and range boundary, and near-misses (a longer address) next to them.
std::string text_with_matches_across_cuts(std::size_t size, const std::string& planted) {
    std::mt19937 random(7);
    std::string text;
    text.reserve(size + 64);
    while (text.size() < size)
        text += std::to_string(random() % 250) + "." + std::to_string(random() % 250) + " " +
                (random() % 7 == 0 ? planted + "4 " : "");
    // Start offsets around each 4 MiB cut: wholly before it (by 3, 2, 1 and 0 bytes of
    // context), straddling it, and starting on or just after it.
    const long n = static_cast<long>(planted.size());
    const long offsets[] = {-n - 3, -n - 2, -n - 1, -n, -n / 2, -1, 0, 1};
    for (std::size_t cut = 1; cut < 10; ++cut) {
        long at = static_cast<long>(cut * (4u << 20)) + offsets[cut % std::size(offsets)];
        if (static_cast<std::size_t>(at) + planted.size() + 1 >= text.size()) break;
        text.replace(static_cast<std::size_t>(at - 1), planted.size() + 2, " " + planted + " ");
    }
    return text;
}

TEST(RawBytes, EveryMatchIsCountedOnceWhereverTheBlocksAndRangesAreCut) {
    TempDir dir;
    const std::string planted = "10.77.1.2";
    auto text = text_with_matches_across_cuts(40u << 20, planted);
    std::ofstream(dir / "big.log", std::ios::binary) << text;
    pii::IdentifierMatcher matcher({planted});
    auto expected = matcher.count(text);
    ASSERT_GE(expected, 9u);
    for (unsigned threads : {1u, 2u, 3u, 7u}) {
        std::uint64_t bytes = 0;
        EXPECT_EQ(count_in_raw_bytes(dir / "big.log", matcher, bytes, threads), expected) << threads << " threads";
        EXPECT_EQ(bytes, text.size());
    }
}

TEST(RawBytes, FindsEveryMatchEndAndNewlineOnceWhereverTheBlocksAndRangesAreCut) {
    TempDir dir;
    const std::string planted = "10.77.1.2";
    auto text = text_with_matches_across_cuts(40u << 20, planted);
    for (std::size_t i = 0; i < text.size(); i += 97)
        if (text[i] == ' ') text[i] = '\n';
    pii::IdentifierMatcher matcher({planted});
    std::vector<std::uint64_t> expected_ends;
    matcher.for_each_match(text, [&](const pii::IdentifierMatcher::Match& match) {
        expected_ends.push_back(match.offset + planted.size());
    });
    auto newlines = static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n'));
    for (bool terminated : {false, true}) {
        if (terminated) text += "\n";
        std::ofstream(dir / "big.log", std::ios::binary | std::ios::trunc) << text;
        for (unsigned threads : {1u, 2u, 3u, 7u}) {
            auto found = find_in_raw_bytes(dir / "big.log", matcher, threads);
            EXPECT_EQ(found.match_ends, expected_ends) << threads << " threads";
            EXPECT_EQ(found.newlines, newlines + terminated) << threads << " threads";
            EXPECT_EQ(found.lines(), newlines + 1) << threads << " threads";
            EXPECT_EQ(found.size, text.size());
            EXPECT_EQ(found.ends_in_newline, terminated);
        }
    }
}

TEST(RawBytes, AMissingFileHoldsNothingAndAnUnreadableOneIsAnError) {
    TempDir dir;
    pii::IdentifierMatcher matcher({"ann@example.org"});
    std::uint64_t bytes = 0;
    EXPECT_EQ(count_in_raw_bytes(dir / "absent.db-wal", matcher, bytes), 0u);
    std::filesystem::create_directory(dir / "a-directory");
    EXPECT_ANY_THROW(count_in_raw_bytes(dir / "a-directory", matcher, bytes));
    EXPECT_THROW(find_in_raw_bytes(dir / "absent.log", matcher, 1), Error);
}

}  // namespace
}  // namespace gdprctl::connectors

namespace gdprctl::connectors {
namespace {

// An object read from a bucket arrives in pieces of any size: each match counts once, bounded
// as in the whole text, wherever the pieces are cut.
TEST(StreamingMatchCounter, CountsAsTheWholeTextDoesWhereverThePiecesAreCut) {
    pii::IdentifierMatcher identifiers({"192.0.2.1", "ann@example.org"});
    std::string text;
    for (int i = 0; i < 300; ++i)
        text += (i % 3 == 0   ? "192.0.2.1 "
                 : i % 3 == 1 ? "192.0.2.10 "
                              : "mail ann@example.org, ") +
                std::string(i % 7, ' ');
    auto whole = identifiers.count(text);
    ASSERT_EQ(whole, 200u);
    for (std::size_t piece : {1u, 2u, 5u, 9u, 64u, 4096u}) {
        StreamingMatchCounter counter(identifiers);
        for (std::size_t at = 0; at < text.size(); at += piece) counter.feed(std::string_view(text).substr(at, piece));
        EXPECT_EQ(counter.finish(), whole) << "pieces of " << piece;
    }
}

}  // namespace
}  // namespace gdprctl::connectors
