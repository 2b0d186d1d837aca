#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gdprctl::pii {

enum class Detector { email, ipv4, ipv6, phone };

const char* detector_name(Detector detector);

// The first kind of personal data found in text, checked in the order e-mail, IPv4, IPv6, phone.
std::optional<Detector> detect(std::string_view text);

// Calls found(ip) with the canonical text of every IPv4/IPv6 address in text, in order
// (an X-Forwarded-For value yields each hop).
void for_each_ip(std::string_view text, const std::function<void(const std::string&)>& found);

// Canonical text of one address ("2001:DB8:0::1" -> "2001:db8::1"); nullopt when text is not one.
std::optional<std::string> canonical_ip(std::string_view text);

// The ways an address is commonly written, for literal matching: an IPv4 address as it is; an
// IPv6 address compressed (canonical), in full with leading zeros, and in full without them.
// Letters in any case match because the matcher ignores ASCII case.
std::vector<std::string> ip_text_forms(std::string_view address);

// text with every e-mail, IPv4 and IPv6 address replaced by "[email]", "[ipv4]", "[ipv6]": for
// anything that goes to a log, where personal data must never appear.
std::string redact(std::string_view text);

bool contains_email(std::string_view text);
bool contains_ipv4(std::string_view text);
bool contains_ipv6(std::string_view text);
bool contains_phone(std::string_view text);

}  // namespace gdprctl::pii
