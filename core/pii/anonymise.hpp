#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gdprctl::pii {

enum class AnonymiseMethod { ip_truncate, hmac, null };

// Parses "ip-truncate", "hmac", "null"; nullopt for anything else.
std::optional<AnonymiseMethod> anonymise_method(std::string_view name);

// The anonymised form of value: ip-truncate keeps an IPv4 address's /24 ("192.0.2.0") and an
// IPv6 address's /48 ("2001:db8:1::") and leaves text that is no address as it is; hmac gives
// "hmac:" and 32 hex digits of HMAC-SHA256 under key (the same person stays the same token);
// null gives nullopt (the value is removed). Idempotent: anonymising an anonymised value
// changes nothing.
std::optional<std::string> anonymise(std::string_view value, AnonymiseMethod method, const std::string& key);

// True when anonymise() would change value.
bool needs_anonymising(std::string_view value, AnonymiseMethod method, const std::string& key);

}  // namespace gdprctl::pii
