#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gdprctl::util {

// Lower-case hexadecimal text of size bytes.
std::string to_hex(const unsigned char* bytes, std::size_t size);

// The bytes of hexadecimal text (either case); nullopt when it is not an even number of hex digits.
std::optional<std::vector<unsigned char>> from_hex(std::string_view hex);

// Standard base64 (RFC 4648, with padding, no line breaks), as `base64 -d` reads it.
std::string to_base64(const unsigned char* bytes, std::size_t size);
// nullopt when text is not base64.
std::optional<std::vector<unsigned char>> from_base64(std::string_view text);

}  // namespace gdprctl::util
