#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace gdprctl::util {

// A compiled PCRE2 pattern (JIT where available). std::regex is far too slow for per-line use
// on gigabytes of logs and recurses on long input; PCRE2 runs in tens of nanoseconds a line.
// Not thread-safe: matches reuse one match-data block; give each thread its own Regex.
class Regex {
public:
    // Throws std::invalid_argument with PCRE2's message and offset when pattern does not compile.
    explicit Regex(const std::string& pattern);
    ~Regex();
    Regex(Regex&&) noexcept;
    Regex& operator=(Regex&&) noexcept;

    // The first capture group (or the whole match when the pattern has none); nullopt on no match.
    std::optional<std::string_view> first_group(std::string_view text) const;
    bool matches(std::string_view text) const;
    const std::string& pattern() const { return m_pattern; }

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
    std::string m_pattern;
};

}  // namespace gdprctl::util
