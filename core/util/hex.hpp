#pragma once

#include <cstddef>
#include <string>

namespace gdprctl::util {

// Lower-case hexadecimal text of size bytes.
std::string to_hex(const unsigned char* bytes, std::size_t size);

}  // namespace gdprctl::util
