#include "core/util/time.hpp"

#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>

namespace gdprctl::util {

namespace {

bool read_digits(std::string_view text, std::size_t pos, std::size_t count, int& out) {
    if (pos + count > text.size()) return false;
    int value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        char c = text[i];
        if (c < '0' || c > '9') return false;
        value = value * 10 + (c - '0');
    }
    out = value;
    return true;
}

bool valid_civil(int year, int month, int day, int hour, int minute, int second) {
    return year >= 1970 && month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour >= 0 && hour <= 23 &&
           minute >= 0 && minute <= 59 && second >= 0 && second <= 60;
}

UnixTime to_unix(int year, int month, int day, int hour, int minute, int second) {
    return days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 + hour * 3600 +
           minute * 60 + second;
}

// Parses "+hh:mm", "+hhmm", "Z" or nothing; returns the offset east of UTC in seconds.
std::optional<int> parse_zone(std::string_view rest) {
    if (rest.empty() || rest == "Z" || rest == "z") return 0;
    if (rest[0] != '+' && rest[0] != '-') return std::nullopt;
    int hours = 0, minutes = 0;
    if (!read_digits(rest, 1, 2, hours)) return std::nullopt;
    std::size_t mpos = (rest.size() > 3 && rest[3] == ':') ? 4 : 3;
    if (rest.size() > 3 && !read_digits(rest, mpos, 2, minutes)) return std::nullopt;
    int offset = hours * 3600 + minutes * 60;
    return rest[0] == '-' ? -offset : offset;
}

int month_from_abbrev(std::string_view m) {
    static constexpr const char* k_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; ++i)
        if (m == k_months[i]) return i + 1;
    return 0;
}

}  // namespace

// Howard Hinnant's days_from_civil: exact for the proleptic Gregorian calendar.
UnixTime days_from_civil(int year, unsigned month, unsigned day) {
    year -= month <= 2;
    const int era = (year >= 0 ? year : year - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(year - era * 400);
    const unsigned doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return static_cast<UnixTime>(era) * 146097 + static_cast<UnixTime>(doe) - 719468;
}

std::optional<UnixTime> parse_iso8601(std::string_view text) {
    int year, month, day, hour = 0, minute = 0, second = 0;
    if (!read_digits(text, 0, 4, year) || text.size() < 10 || text[4] != '-' || !read_digits(text, 5, 2, month) ||
        text[7] != '-' || !read_digits(text, 8, 2, day))
        return std::nullopt;
    std::size_t pos = 10;
    if (text.size() > 10) {
        if (text[10] != 'T' && text[10] != ' ' && text[10] != 't') return std::nullopt;
        if (!read_digits(text, 11, 2, hour) || text.size() < 16 || text[13] != ':' || !read_digits(text, 14, 2, minute))
            return std::nullopt;
        pos = 16;
        if (text.size() > 16 && text[16] == ':') {
            if (!read_digits(text, 17, 2, second)) return std::nullopt;
            pos = 19;
        }
        if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
            ++pos;
            while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
        }
    }
    if (!valid_civil(year, month, day, hour, minute, second)) return std::nullopt;
    auto zone = parse_zone(text.substr(pos));
    if (!zone) return std::nullopt;
    return to_unix(year, month, day, hour, minute, second) - *zone;
}

std::optional<UnixTime> parse_nginx_time(std::string_view text) {
    if (!text.empty() && text.front() == '[') text.remove_prefix(1);
    if (!text.empty() && text.back() == ']') text.remove_suffix(1);
    // dd/Mon/yyyy:hh:mm:ss +zzzz
    if (text.size() < 26 || text[2] != '/' || text[6] != '/' || text[11] != ':' || text[20] != ' ') return std::nullopt;
    int day, year, hour, minute, second;
    int month = month_from_abbrev(text.substr(3, 3));
    if (!month || !read_digits(text, 0, 2, day) || !read_digits(text, 7, 4, year) || !read_digits(text, 12, 2, hour) ||
        !read_digits(text, 15, 2, minute) || !read_digits(text, 18, 2, second))
        return std::nullopt;
    if (!valid_civil(year, month, day, hour, minute, second)) return std::nullopt;
    auto zone = parse_zone(text.substr(21));
    if (!zone) return std::nullopt;
    return to_unix(year, month, day, hour, minute, second) - *zone;
}

std::optional<UnixTime> parse_unix(std::string_view text, bool milliseconds) {
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end == text.data()) return std::nullopt;
    // A fractional part ("1700000000.123") is allowed and ignored.
    if (end != text.data() + text.size() && *end != '.') return std::nullopt;
    return milliseconds ? value / 1000 : value;
}

std::optional<UnixTime> parse_with_pattern(std::string_view text, const std::string& pattern) {
    std::string copy(text);
    std::tm tm{};
    const char* end = strptime(copy.c_str(), pattern.c_str(), &tm);
    if (!end || *end != '\0') return std::nullopt;
    if (!valid_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday ? tm.tm_mday : 1, tm.tm_hour, tm.tm_min, tm.tm_sec))
        return std::nullopt;
    return to_unix(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday ? tm.tm_mday : 1, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string format_utc(UnixTime t, const char* pattern) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buffer[64];
    // %b is locale-dependent; gdprctl never calls setlocale, so it stays "C" (English months).
    std::strftime(buffer, sizeof buffer, pattern, &tm);
    return buffer;
}

std::string format_iso8601(UnixTime t) { return format_utc(t, "%Y-%m-%dT%H:%M:%SZ"); }

std::string format_nginx_time(UnixTime t) { return format_utc(t, "%d/%b/%Y:%H:%M:%S +0000"); }

UnixTime now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace gdprctl::util
