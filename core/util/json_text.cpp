#include "core/util/json_text.hpp"

#include <charconv>
#include <cstdint>
#include <string_view>

namespace gdprctl::util {

namespace {

bool is_plain_ascii(std::string_view text) {
    for (unsigned char c : text)
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return false;
    return true;
}

void append_string(std::string& out, const std::string& text) {
    if (!is_plain_ascii(text)) {
        out += nlohmann::json(text).dump();
        return;
    }
    out += '"';
    out += text;
    out += '"';
}

template <typename Integer>
void append_integer(std::string& out, Integer value) {
    char digits[24];
    out.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

}  // namespace

void append_json(std::string& out, const nlohmann::json& value) {
    using Type = nlohmann::json::value_t;
    switch (value.type()) {
        case Type::null:
            out += "null";
            return;
        case Type::boolean:
            out += value.get<bool>() ? "true" : "false";
            return;
        case Type::number_integer:
            return append_integer(out, value.get<std::int64_t>());
        case Type::number_unsigned:
            return append_integer(out, value.get<std::uint64_t>());
        case Type::string:
            return append_string(out, value.get_ref<const std::string&>());
        case Type::object: {
            out += '{';
            for (auto it = value.begin(); it != value.end(); ++it) {
                if (it != value.begin()) out += ',';
                append_string(out, it.key());
                out += ':';
                append_json(out, it.value());
            }
            out += '}';
            return;
        }
        case Type::array: {
            out += '[';
            for (auto it = value.begin(); it != value.end(); ++it) {
                if (it != value.begin()) out += ',';
                append_json(out, *it);
            }
            out += ']';
            return;
        }
        default:
            out += value.dump();
    }
}

}  // namespace gdprctl::util
