#include "core/util/hex.hpp"

namespace gdprctl::util {

std::string to_hex(const unsigned char* bytes, std::size_t size) {
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        hex += k_digits[bytes[i] >> 4];
        hex += k_digits[bytes[i] & 15];
    }
    return hex;
}

}  // namespace gdprctl::util
