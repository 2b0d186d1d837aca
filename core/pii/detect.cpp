#include "core/pii/detect.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <cstdio>
#include <algorithm>
#include <utility>
#include <vector>

namespace gdprctl::pii {

namespace {

bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
bool is_hex(unsigned char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
bool is_word(unsigned char c) { return is_digit(c) || is_alpha(c) || c == '_'; }
bool is_email_local(unsigned char c) { return is_word(c) || c == '.' || c == '%' || c == '+' || c == '-' || c >= 0x80; }
bool is_email_domain(unsigned char c) { return is_digit(c) || is_alpha(c) || c == '-' || c == '.' || c >= 0x80; }

// Parses a dotted quad starting at pos; returns its length or 0.
std::size_t ipv4_length_at(std::string_view text, std::size_t pos) {
    std::size_t i = pos;
    for (int octet = 0; octet < 4; ++octet) {
        if (octet > 0) {
            if (i >= text.size() || text[i] != '.') return 0;
            ++i;
        }
        std::size_t start = i;
        int value = 0;
        while (i < text.size() && is_digit(text[i]) && i - start < 3) value = value * 10 + (text[i++] - '0');
        if (i == start || value > 255) return 0;
        if (i < text.size() && is_digit(text[i])) return 0;
    }
    // "1.2.3.4.5" is a version number or an OID, not an address.
    if (i + 1 < text.size() && text[i] == '.' && is_digit(text[i + 1])) return 0;
    if (i < text.size() && is_word(text[i])) return 0;
    return i - pos;
}

bool ipv4_boundary_before(std::string_view text, std::size_t pos) {
    if (pos == 0) return true;
    unsigned char c = text[pos - 1];
    return !is_word(c) && !(c == '.' && pos >= 2 && is_digit(text[pos - 2]));
}

template <typename F>
void scan_ipv4(std::string_view text, F&& found) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (!is_digit(text[i]) || !ipv4_boundary_before(text, i)) continue;
        if (std::size_t n = ipv4_length_at(text, i)) {
            if (!found(text.substr(i, n))) return;
            i += n;
        }
    }
}

bool is_ipv6_char(unsigned char c) { return is_hex(c) || c == ':' || c == '.'; }

template <typename F>
void scan_ipv6(std::string_view text, F&& found) {
    std::size_t i = 0;
    while (i < text.size()) {
        if (!is_ipv6_char(text[i])) {
            ++i;
            continue;
        }
        std::size_t start = i;
        while (i < text.size() && is_ipv6_char(text[i])) ++i;
        std::string_view run = text.substr(start, i - start);
        while (!run.empty() && run.back() == '.') run.remove_suffix(1);
        std::size_t colons = 0;
        for (char c : run) colons += c == ':';
        if (colons < 2 || (start > 0 && is_word(text[start - 1]))) continue;
        if (auto canonical = canonical_ip(run); canonical && std::strchr(canonical->c_str(), ':')) {
            if (!found(run)) return;
        }
    }
}

// The extent [left, right) of the e-mail address around the '@' at `at`, or nullopt.
std::optional<std::pair<std::size_t, std::size_t>> email_extent(std::string_view text, std::size_t at) {
    std::size_t left = at;
    while (left > 0 && is_email_local(text[left - 1])) --left;
    if (left == at) return std::nullopt;
    std::size_t right = at + 1, last_dot = 0;
    while (right < text.size() && is_email_domain(text[right])) {
        if (text[right] == '.') last_dot = right;
        ++right;
    }
    while (right > at + 1 && text[right - 1] == '.') --right;
    if (last_dot == 0 || last_dot >= right || last_dot == at + 1) return std::nullopt;
    std::size_t tld = 0;
    for (std::size_t k = last_dot + 1; k < right; ++k) {
        if (!is_alpha(text[k]) && static_cast<unsigned char>(text[k]) < 0x80) return std::nullopt;
        ++tld;
    }
    if (tld < 2) return std::nullopt;
    return std::make_pair(left, right);
}

bool email_at(std::string_view text, std::size_t at) { return email_extent(text, at).has_value(); }

// Replaces each [begin, end) span reported by find(text, add) with its label.
template <typename Finder>
std::string replace_spans(std::string_view text, const char* label, Finder&& find) {
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    find(text, [&](std::size_t begin, std::size_t end) { spans.emplace_back(begin, end); });
    std::string out;
    std::size_t pos = 0;
    for (const auto& [begin, end] : spans) {
        if (begin < pos) continue;
        out.append(text.substr(pos, begin - pos));
        out += label;
        pos = end;
    }
    out.append(text.substr(pos));
    return out;
}

}  // namespace

const char* detector_name(Detector detector) {
    switch (detector) {
        case Detector::email:
            return "email";
        case Detector::ipv4:
            return "ipv4";
        case Detector::ipv6:
            return "ipv6";
        case Detector::phone:
            return "phone";
    }
    return "?";
}

std::optional<std::string> canonical_ip(std::string_view text) {
    if (text.empty() || text.size() > 45) return std::nullopt;
    char input[64];
    std::memcpy(input, text.data(), text.size());
    input[text.size()] = '\0';
    unsigned char bytes[16];
    char output[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, input, bytes) == 1) return std::string(inet_ntop(AF_INET, bytes, output, sizeof output));
    if (inet_pton(AF_INET6, input, bytes) == 1) return std::string(inet_ntop(AF_INET6, bytes, output, sizeof output));
    return std::nullopt;
}

std::string redact(std::string_view text) {
    auto offset_of = [](std::string_view whole, std::string_view part) {
        return static_cast<std::size_t>(part.data() - whole.data());
    };
    std::string out = replace_spans(text, "[email]", [](std::string_view t, auto add) {
        for (std::size_t at = t.find('@'); at != std::string_view::npos; at = t.find('@', at + 1))
            if (auto extent = email_extent(t, at)) add(extent->first, extent->second);
    });
    out = replace_spans(out, "[ipv4]", [&](std::string_view t, auto add) {
        scan_ipv4(t, [&](std::string_view ip) {
            add(offset_of(t, ip), offset_of(t, ip) + ip.size());
            return true;
        });
    });
    return replace_spans(out, "[ipv6]", [&](std::string_view t, auto add) {
        scan_ipv6(t, [&](std::string_view ip) {
            add(offset_of(t, ip), offset_of(t, ip) + ip.size());
            return true;
        });
    });
}

bool contains_email(std::string_view text) {
    for (std::size_t at = text.find('@'); at != std::string_view::npos; at = text.find('@', at + 1))
        if (email_at(text, at)) return true;
    return false;
}

bool contains_ipv4(std::string_view text) {
    bool any = false;
    scan_ipv4(text, [&](std::string_view) { return !(any = true); });
    return any;
}

bool contains_ipv6(std::string_view text) {
    if (text.find(':') == std::string_view::npos) return false;
    bool any = false;
    scan_ipv6(text, [&](std::string_view) { return !(any = true); });
    return any;
}

// International format only ("+49 30 1234567", "+1-555-010-9999"): bare digit runs are far more
// often ids, counts and prices than phone numbers.
bool contains_phone(std::string_view text) {
    for (std::size_t plus = text.find('+'); plus != std::string_view::npos; plus = text.find('+', plus + 1)) {
        if (plus > 0 && is_word(text[plus - 1])) continue;
        std::size_t digits = 0, i = plus + 1;
        char previous = '+';
        while (i < text.size()) {
            char c = text[i];
            if (is_digit(c))
                ++digits;
            else if ((c == ' ' || c == '-' || c == '(' || c == ')') && is_digit(previous)) { /* separator */
            } else
                break;
            previous = c;
            ++i;
        }
        if (i < text.size() && is_word(text[i])) continue;
        if (digits >= 8 && digits <= 15) return true;
    }
    return false;
}

std::optional<Detector> detect(std::string_view text) {
    if (contains_email(text)) return Detector::email;
    if (contains_ipv4(text)) return Detector::ipv4;
    if (contains_ipv6(text)) return Detector::ipv6;
    if (contains_phone(text)) return Detector::phone;
    return std::nullopt;
}

void for_each_ip(std::string_view text, const std::function<void(const std::string&)>& found) {
    scan_ipv4(text, [&](std::string_view ip) {
        found(std::string(ip));
        return true;
    });
    if (text.find(':') == std::string_view::npos) return;
    scan_ipv6(text, [&](std::string_view ip) {
        if (auto canonical = canonical_ip(ip)) found(*canonical);
        return true;
    });
}

std::vector<std::string> ip_text_forms(std::string_view address) {
    auto canonical = canonical_ip(address);
    if (!canonical) return {std::string(address)};
    std::vector<std::string> forms{*canonical};
    unsigned char bytes[16];
    if (inet_pton(AF_INET6, canonical->c_str(), bytes) != 1) return forms;
    char padded[40], plain[40];
    std::size_t p = 0, q = 0;
    for (int group = 0; group < 8; ++group) {
        unsigned value = static_cast<unsigned>(bytes[2 * group] << 8 | bytes[2 * group + 1]);
        p += static_cast<std::size_t>(std::snprintf(padded + p, sizeof padded - p, group ? ":%04x" : "%04x", value));
        q += static_cast<std::size_t>(std::snprintf(plain + q, sizeof plain - q, group ? ":%x" : "%x", value));
    }
    for (const auto& form : {std::string(padded, p), std::string(plain, q)})
        if (std::find(forms.begin(), forms.end(), form) == forms.end()) forms.push_back(form);
    return forms;
}

}  // namespace gdprctl::pii
