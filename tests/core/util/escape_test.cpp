#include "core/util/escape.hpp"

#include <gtest/gtest.h>

namespace gdprctl::util {
namespace {

TEST(Printable, NothingThatSteersATerminalGetsThrough) {
    // OSC title, bell, CSI clear screen, a fake second line, C1 CSI (U+009B), DEL.
    EXPECT_EQ(printable("\x1b]0;pwned\x07\nfake\x1b[2J\xc2\x9b"
                        "1m\x7f"),
              "\\x1b]0;pwned\\x07\\nfake\\x1b[2J\\xc2\\x9b1m\\x7f");
    EXPECT_EQ(printable("a\tb\rc\\d"), "a\\tb\\rc\\\\d");
    EXPECT_EQ(printable("evil\xe2\x80\xaeright"), "evil\\u{202e}right") << "bidirectional override";
}

TEST(Printable, UnicodeTextStaysAndBytesThatAreNotUtf8AreShownAsBytes) {
    EXPECT_EQ(printable("café-müller 東京 🎥"), "café-müller 東京 🎥");
    EXPECT_EQ(printable("\xff\xfe"), "\\xff\\xfe");
    EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf") << "an overlong '/'";
    EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80") << "a surrogate";
    EXPECT_EQ(printable("caf\xc3"), "caf\\xc3") << "cut inside a character";
}

TEST(TerminalText, KeepsLinesAndTabsOfAReportButNoEscapeSequence) {
    EXPECT_EQ(terminal_text("Backups:\n\tacme\x1b[31m C:\\dir\n"), "Backups:\n\tacme\\x1b[31m C:\\dir\n");
}

}  // namespace
}  // namespace gdprctl::util
