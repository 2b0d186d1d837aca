#include "core/util/escape.hpp"

#include <cstdio>

namespace gdprctl::util {

namespace {

// Length of the UTF-8 sequence at text[i] and its code point; 0 when the bytes there are not
// well-formed UTF-8 (overlong forms, surrogates and values above U+10FFFF included).
std::size_t utf8_sequence(std::string_view text, std::size_t i, char32_t& code) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    unsigned char lead = byte(i);
    std::size_t length = lead < 0x80           ? 1
                         : (lead >> 5) == 0x6  ? 2
                         : (lead >> 4) == 0xe  ? 3
                         : (lead >> 3) == 0x1e ? 4
                                               : 0;
    if (length == 0 || i + length > text.size()) return 0;
    code = length == 1 ? lead : lead & (0x7f >> length);
    for (std::size_t k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80) return 0;
        code = (code << 6) | (byte(i + k) & 0x3f);
    }
    static constexpr char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < smallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
    return length;
}

bool bidirectional_override(char32_t code) {
    return (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069) || code == 0x200e ||
           code == 0x200f || code == 0x061c;
}

void append_hex_byte(std::string& out, unsigned char byte) {
    static constexpr char digits[] = "0123456789abcdef";
    out += "\\x";
    out += digits[byte >> 4];
    out += digits[byte & 0xf];
}

std::string escape_for_terminal(std::string_view text, bool keep_lines) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        char32_t code = 0;
        auto length = utf8_sequence(text, i, code);
        if (length == 0) {
            append_hex_byte(out, static_cast<unsigned char>(text[i]));
            ++i;
            continue;
        }
        if (code == '\n' || code == '\t') {
            if (keep_lines)
                out += static_cast<char>(code);
            else
                out += code == '\n' ? "\\n" : "\\t";
        } else if (code == '\r') {
            out += "\\r";
        } else if (code < 0x20 || code == 0x7f) {
            append_hex_byte(out, static_cast<unsigned char>(code));
        } else if (code >= 0x80 && code <= 0x9f) {
            for (std::size_t k = 0; k < length; ++k) append_hex_byte(out, static_cast<unsigned char>(text[i + k]));
        } else if (bidirectional_override(code)) {
            char buffer[16];
            std::snprintf(buffer, sizeof buffer, "\\u{%04x}", static_cast<unsigned>(code));
            out += buffer;
        } else if (code == '\\' && !keep_lines) {
            out += "\\\\";
        } else {
            out.append(text.substr(i, length));
        }
        i += length;
    }
    return out;
}

}  // namespace

std::string printable(std::string_view text) { return escape_for_terminal(text, false); }

std::string terminal_text(std::string_view text) { return escape_for_terminal(text, true); }

std::string markup_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += (c < 0x20 && c != '\t' && c != '\n' && c != '\r') ? ' ' : static_cast<char>(c);
        }
    }
    return out;
}

}  // namespace gdprctl::util
