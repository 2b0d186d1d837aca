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
    // Bounded matches whose last byte is at index lo..hi-1 (end offset in (lo, hi]); the text
    // around that range is the context that decides their bounds.
    std::size_t count_ending_in(std::string_view text, std::size_t lo, std::size_t hi) const;
    // The end offsets of every bounded match in text, in increasing order.
    void match_ends(std::string_view text, std::vector<std::size_t>& ends) const;
    // Appends to ends, in increasing order, the end offsets of the bounded matches ending in
    // (lo, hi]; as for count_ending_in, the text around that range decides their bounds.
    void append_match_ends(std::string_view text, std::size_t lo, std::size_t hi, std::vector<std::size_t>& ends) const;
    bool contains(std::string_view text) const;
    // text with every bounded match replaced by with; of overlapping matches, the first and
    // longest goes.
    std::string replace(std::string_view text, std::string_view with) const;

    std::size_t size() const { return m_lengths.size(); }
    std::size_t length(std::size_t pattern) const { return m_lengths[pattern]; }
    std::size_t longest() const;
    // Bytes on either side of a match that decide whether it is bounded.
    static constexpr std::size_t k_context = 2;
    bool empty() const { return m_lengths.empty(); }

private:
    bool bounded(std::string_view text, std::size_t start, std::size_t end) const;
    // Calls on_end(end) for every bounded match ending in (lo, hi], in no particular order:
    // four parts of the range are scanned interleaved (see matcher.cpp).
    template <typename F>
    void for_each_end_in(std::string_view text, std::size_t lo, std::size_t hi, F&& on_end) const;

    // A transition's target is stored as the offset of its row (state * m_classes), so the
    // hot loop needs no multiplication, with k_output set when the state ends a pattern, so
    // it needs no second lookup for the common byte that ends none.
    static constexpr std::uint32_t k_output = 0x80000000u;

    std::uint8_t m_class_of[256] = {};
    std::uint32_t m_classes = 1;
    std::vector<std::uint32_t> m_next;          // row offset + class -> target row offset | k_output
    std::vector<std::uint32_t> m_output_start;  // per state: range into m_outputs
    std::vector<std::uint32_t> m_outputs;       // pattern indices, longest first
    std::vector<std::uint32_t> m_lengths;
};

template <typename F>
std::size_t IdentifierMatcher::for_each_match(std::string_view text, F&& on_match) const {
    if (m_lengths.empty()) return 0;
    const auto* data = reinterpret_cast<const unsigned char*>(text.data());
    const std::uint32_t* next = m_next.data();
    const std::uint8_t* class_of = m_class_of;
    std::uint32_t row = 0;
    std::size_t matches = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        std::uint32_t target = next[row + class_of[data[i]]];
        row = target & ~k_output;
        if (!(target & k_output)) [[likely]]
            continue;
        std::uint32_t state = row / m_classes;
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
