#pragma once

#include <string>
#include <string_view>

namespace gdprctl::util {

// Text made safe inside HTML or XML, as element content or a quoted attribute: & < > " ' are
// escaped, and control characters XML 1.0 forbids (all below 0x20 but tab, LF and CR) become
// spaces, since not even a character reference may carry them.
std::string markup_escape(std::string_view text);

// Text that cannot steer a terminal, for a field nobody authenticated (a container's tenant, a
// file name): control characters (C0, DEL, C1) become \n, \t, \r or \xNN, bytes that are not
// UTF-8 become \xNN, bidirectional overrides become \u{NNNN}, and a backslash becomes \\, so
// the escaped text is unambiguous and stays on one line.
std::string printable(std::string_view text);

// The same for whole messages and reports printed to a terminal: line breaks and tabs are
// kept, backslashes left as they are; everything else printable() escapes is escaped.
std::string terminal_text(std::string_view text);

}  // namespace gdprctl::util
