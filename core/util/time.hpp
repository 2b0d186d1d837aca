#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gdprctl::util {

// All times inside gdprctl are unix seconds, UTC.
using UnixTime = std::int64_t;

// "2026-11-23T15:25:10Z", "2026-11-23 15:25:10", "2026-11-23T15:25:10.123+01:00", "2026-11-23".
std::optional<UnixTime> parse_iso8601(std::string_view text);
// nginx $time_local: "23/Nov/2026:15:25:10 +0000" (with or without the brackets).
std::optional<UnixTime> parse_nginx_time(std::string_view text);
// An integer in seconds or milliseconds since the epoch.
std::optional<UnixTime> parse_unix(std::string_view text, bool milliseconds);
// strptime-style pattern over text that carries no zone (taken as UTC), e.g. "%Y%m%d-%H%M%S".
std::optional<UnixTime> parse_with_pattern(std::string_view text, const std::string& pattern);

std::string format_iso8601(UnixTime t);
// strftime of t in UTC, e.g. "%Y%m%d-%H%M%S".
std::string format_utc(UnixTime t, const char* pattern);
// nginx $time_local in UTC: "23/Nov/2026:15:25:10 +0000".
std::string format_nginx_time(UnixTime t);
UnixTime now();
UnixTime days_from_civil(int year, unsigned month, unsigned day);

}  // namespace gdprctl::util
