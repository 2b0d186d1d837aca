#include "core/util/json_text.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

namespace gdprctl::util {
namespace {

// What an export or a backup writes must be exactly what nlohmann writes: the records are read
// back with it, and anyone comparing with another JSON tool sees the same bytes.
void expect_same_as_dump(const nlohmann::json& value) {
    std::string out = "prefix ";
    append_json(out, value);
    EXPECT_EQ(out, "prefix " + value.dump()) << "for " << value.dump();
}

TEST(JsonText, WritesScalarsAsDumpDoes) {
    for (const auto& value : {nlohmann::json(nullptr), nlohmann::json(true), nlohmann::json(false), nlohmann::json(0),
                              nlohmann::json(-1), nlohmann::json(std::numeric_limits<std::int64_t>::min()),
                              nlohmann::json(std::numeric_limits<std::int64_t>::max()),
                              nlohmann::json(std::numeric_limits<std::uint64_t>::max()), nlohmann::json(1.5),
                              nlohmann::json(-0.0), nlohmann::json(1e300), nlohmann::json(NAN), nlohmann::json(""),
                              nlohmann::json("viewer7@example.org"), nlohmann::json("100.64.0.1")})
        expect_same_as_dump(value);
}

TEST(JsonText, EscapesQuotesBackslashesAndControlCharactersAsDumpDoes) {
    for (const char* text : {"say \"hi\"", "C:\\streams", "line\nbreak", "tab\there", "\x01\x1f", "del\x7f",
                             "Caf\xc3\xa9 M\xc3\xbcller", "\xf0\x9f\x8e\xa5 live"})
        expect_same_as_dump(text);
}

TEST(JsonText, RefusesInvalidUtf8AsDumpDoes) {
    std::string out;
    EXPECT_THROW(append_json(out, nlohmann::json("bad \xff byte")), nlohmann::json::type_error);
    EXPECT_THROW(nlohmann::json("bad \xff byte").dump(), nlohmann::json::type_error);
}

TEST(JsonText, WritesRowsAndNestedValuesAsDumpDoes) {
    expect_same_as_dump(nlohmann::json::object());
    expect_same_as_dump(nlohmann::json::array());
    expect_same_as_dump({{"id", 7},
                         {"email", "a@b.example"},
                         {"ip", nullptr},
                         {"ratio", 0.25},
                         {"tags", {"live", "hd", 3, false}},
                         {"key with \"quote\"", {{"n\u00e9sted", nlohmann::json::array()}}}});
    expect_same_as_dump(nlohmann::json::binary({1, 2, 3}));
}

TEST(JsonText, WritesRandomStringsAsDumpDoes) {
    std::mt19937 random(20261129);
    const std::string alphabet = std::string("az09 @.,:\"\\/\n\t\x01\x7f") + "\xc3\xa9";
    for (int i = 0; i < 2000; ++i) {
        std::string text;
        auto length = random() % 12;
        while (text.size() < length) {
            auto pick = random() % (alphabet.size() - 1);
            // the two bytes of é stay together: a lone half is invalid UTF-8, tested above
            text += pick == alphabet.size() - 2 ? alphabet.substr(pick, 2) : alphabet.substr(pick, 1);
        }
        expect_same_as_dump({{text, text}, {"n", static_cast<std::int64_t>(random()) - 1000000}});
    }
}

}  // namespace
}  // namespace gdprctl::util
