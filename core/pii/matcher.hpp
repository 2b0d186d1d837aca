#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gdprctl::pii {

// Finds any of a fixed set of identifiers (IP addresses, e-mails, user ids, stream keys) in
// text, in one pass, whatever their number: an Aho-Corasick automaton compiled to a DFA over
// byte classes. ASCII letters match case-insensitively (e-mail addresses are compared that
// way). A match counts only when it is word-bounded: "10.1.2.3" does not match inside
// "10.1.2.34" nor "user:7" inside "user:77". Thread-safe for concurrent searches once built.
class IdentifierMatcher {
public:
    explicit IdentifierMatcher(const std::vector<std::string>& identifiers);

    struct Match {
        std::size_t pattern;  // index into the identifiers given
        std::size_t offset;   // byte offset of the match in the text
    };

    // Calls on_match for every bounded match; returns how many there were.
    template <typename F>
    std::size_t for_each_match(std::string_view text, F&& on_match) const;
    std::size_t count(std::string_view text) const;
    bool contains(std::string_view text) const;

    std::size_t size() const { return m_lengths.size(); }
    std::size_t length(std::size_t pattern) const { return m_lengths[pattern]; }
    std::size_t longest() const;
    // Bytes on either side of a match that decide whether it is bounded.
    static constexpr std::size_t k_context = 2;
    bool empty() const { return m_lengths.empty(); }

private:
    bool bounded(std::string_view text, std::size_t start, std::size_t end) const;

    std::uint8_t m_class_of[256] = {};
    std::uint32_t m_classes = 1;
    std::vector<std::uint32_t> m_next;          // state * m_classes + class -> state
    std::vector<std::uint32_t> m_output_start;  // per state: range into m_outputs
    std::vector<std::uint32_t> m_outputs;       // pattern indices, longest first
    std::vector<std::uint32_t> m_lengths;
};

template <typename F>
std::size_t IdentifierMatcher::for_each_match(std::string_view text, F&& on_match) const {
    if (m_lengths.empty()) return 0;
    const auto* data = reinterpret_cast<const unsigned char*>(text.data());
    std::uint32_t state = 0;
    std::size_t matches = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        state = m_next[state * m_classes + m_class_of[data[i]]];
        std::uint32_t begin = m_output_start[state], end = m_output_start[state + 1];
        for (std::uint32_t k = begin; k < end; ++k) {
            std::uint32_t pattern = m_outputs[k];
            std::size_t start = i + 1 - m_lengths[pattern];
            if (!bounded(text, start, i + 1)) continue;
            ++matches;
            on_match(Match{pattern, start});
        }
    }
    return matches;
}

}  // namespace gdprctl::pii
