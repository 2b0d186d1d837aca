#pragma once

#include <string>
#include <string_view>

namespace gdprctl::util {

// Text made safe inside HTML or XML, as element content or a quoted attribute: & < > " ' are
// escaped, and control characters XML 1.0 forbids (all below 0x20 but tab, LF and CR) become
// spaces, since not even a character reference may carry them.
std::string markup_escape(std::string_view text);

}  // namespace gdprctl::util
