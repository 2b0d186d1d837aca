#include "core/pii/matcher.hpp"

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>

namespace gdprctl::pii {

namespace {

unsigned char fold(unsigned char c) { return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c | 0x20) : c; }
bool is_word(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

}  // namespace

IdentifierMatcher::IdentifierMatcher(const std::vector<std::string>& identifiers) {
    // Byte classes: every byte that occurs in a pattern gets its own class (case folded),
    // all others share class 0. This keeps the DFA table small enough for the cache.
    for (const auto& id : identifiers)
        for (unsigned char c : id) {
            unsigned char f = fold(c);
            if (!m_class_of[f]) m_class_of[f] = static_cast<std::uint8_t>(m_classes++);
        }
    for (int c = 'A'; c <= 'Z'; ++c) m_class_of[c] = m_class_of[c | 0x20];

    // Trie.
    std::vector<std::map<std::uint32_t, std::uint32_t>> children(1);
    std::vector<std::vector<std::uint32_t>> outputs(1);
    for (std::size_t p = 0; p < identifiers.size(); ++p) {
        const auto& id = identifiers[p];
        if (id.empty()) continue;
        std::uint32_t state = 0;
        for (unsigned char c : id) {
            std::uint32_t cls = m_class_of[fold(c)];
            auto it = children[state].find(cls);
            if (it == children[state].end()) {
                children.emplace_back();
                outputs.emplace_back();
                it = children[state].emplace(cls, static_cast<std::uint32_t>(children.size() - 1)).first;
            }
            state = it->second;
        }
        outputs[state].push_back(static_cast<std::uint32_t>(p));
    }
    m_lengths.reserve(identifiers.size());
    for (const auto& id : identifiers) m_lengths.push_back(static_cast<std::uint32_t>(id.size()));

    // Breadth-first failure links, folded straight into the DFA table.
    const std::size_t states = children.size();
    m_next.assign(states * m_classes, 0);
    std::vector<std::uint32_t> failure(states, 0);
    std::deque<std::uint32_t> queue;
    for (const auto& [cls, child] : children[0]) {
        m_next[cls] = child;
        queue.push_back(child);
    }
    while (!queue.empty()) {
        std::uint32_t state = queue.front();
        queue.pop_front();
        auto& out = outputs[state];
        const auto& inherited = outputs[failure[state]];
        out.insert(out.end(), inherited.begin(), inherited.end());
        for (std::uint32_t cls = 0; cls < m_classes; ++cls) {
            auto it = children[state].find(cls);
            if (it == children[state].end()) {
                m_next[state * m_classes + cls] = m_next[failure[state] * m_classes + cls];
            } else {
                failure[it->second] = m_next[failure[state] * m_classes + cls];
                m_next[state * m_classes + cls] = it->second;
                queue.push_back(it->second);
            }
        }
    }
    m_output_start.reserve(states + 1);
    for (std::size_t s = 0; s < states; ++s) {
        m_output_start.push_back(static_cast<std::uint32_t>(m_outputs.size()));
        m_outputs.insert(m_outputs.end(), outputs[s].begin(), outputs[s].end());
    }
    m_output_start.push_back(static_cast<std::uint32_t>(m_outputs.size()));
    for (auto& target : m_next) target = target * m_classes | (outputs[target].empty() ? 0u : k_output);
}

// A '.' between word characters joins one token ("1.10.1.2.3", "bob@x.com.au", "ann.bob@x.com"),
// so a match next to such a dot is part of a longer identifier, not this one.
bool IdentifierMatcher::bounded(std::string_view text, std::size_t start, std::size_t end) const {
    auto at = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    if (start > 0) {
        if (is_word(at(start - 1))) return false;
        if (at(start - 1) == '.' && start >= 2 && is_word(at(start - 2))) return false;
    }
    if (end < text.size()) {
        if (is_word(at(end))) return false;
        if (at(end) == '.' && end + 1 < text.size() && is_word(at(end + 1))) return false;
    }
    return true;
}

std::size_t IdentifierMatcher::longest() const {
    return m_lengths.empty() ? 0 : *std::max_element(m_lengths.begin(), m_lengths.end());
}

std::size_t IdentifierMatcher::count(std::string_view text) const { return count_ending_in(text, 0, text.size()); }

// Each step of the automaton waits for the one before (a load that depends on a load), so one
// pass runs at the memory latency, not the core's speed. Four passes over four parts of the
// text, interleaved in one loop, keep four such chains in flight at once. A part is entered a
// little early (by the longest identifier), so each pass sees whole every match that ends in
// its part, and counts only those.
template <typename F>
void IdentifierMatcher::for_each_end_in(std::string_view text, std::size_t lo, std::size_t hi, F&& on_end) const {
    if (m_lengths.empty() || hi <= lo) return;
    constexpr std::size_t lanes = 4;
    const auto* data = reinterpret_cast<const unsigned char*>(text.data());
    const std::uint32_t* next = m_next.data();
    const std::uint8_t* class_of = m_class_of;
    const std::size_t lead = longest();
    std::size_t first[lanes], last[lanes], at[lanes];
    std::uint32_t row[lanes] = {};
    std::size_t parts = hi - lo < 4096 ? 1 : lanes;
    for (std::size_t k = 0; k < lanes; ++k) {
        first[k] = lo + (hi - lo) * k / parts;  // this part reports matches ending in (first, last]
        last[k] = k < parts ? lo + (hi - lo) * (k + 1) / parts : first[k];
        at[k] = k < parts ? (first[k] > lead ? first[k] - lead : 0) : first[k];
    }
    // Rare, so out of line; it takes the lane's state by value, so that the lanes' arrays do
    // not escape and the hot loop keeps them in registers.
    auto outputs_at = [ this, text, &on_end ](std::uint32_t at_row, std::size_t from, std::size_t to, std::size_t end)
        __attribute__((noinline)) {
        std::uint32_t state = at_row / m_classes;
        for (std::uint32_t o = m_output_start[state]; o < m_output_start[state + 1]; ++o) {
            std::size_t length = m_lengths[m_outputs[o]];
            if (end > from && end <= to && bounded(text, end - length, end)) on_end(end);
        }
    };
    // Inlined in the loops below, so that the four lanes' loads overlap.
    auto step = [&](std::size_t k) __attribute__((always_inline)) {
        std::uint32_t target = next[row[k] + class_of[data[at[k]]]];
        row[k] = target & ~k_output;
        ++at[k];
        if (target & k_output) [[unlikely]]
            outputs_at(row[k], first[k], last[k], at[k]);
    };
    std::size_t together = last[0] - at[0];
    for (std::size_t k = 1; k < parts; ++k) together = std::min(together, last[k] - at[k]);
    if (parts == lanes) {
        for (std::size_t i = 0; i < together; ++i) {
            step(0);
            step(1);
            step(2);
            step(3);
        }
    }
    for (std::size_t k = 0; k < parts; ++k)
        while (at[k] < last[k]) step(k);
}

std::size_t IdentifierMatcher::count_ending_in(std::string_view text, std::size_t lo, std::size_t hi) const {
    std::size_t matches = 0;
    for_each_end_in(text, lo, hi, [&](std::size_t) { ++matches; });
    return matches;
}

void IdentifierMatcher::match_ends(std::string_view text, std::vector<std::size_t>& ends) const {
    ends.clear();
    append_match_ends(text, 0, text.size(), ends);
}

void IdentifierMatcher::append_match_ends(std::string_view text, std::size_t lo, std::size_t hi,
                                          std::vector<std::size_t>& ends) const {
    auto first = static_cast<std::ptrdiff_t>(ends.size());
    for_each_end_in(text, lo, hi, [&](std::size_t end) { ends.push_back(end); });
    std::sort(ends.begin() + first, ends.end());
}

bool IdentifierMatcher::contains(std::string_view text) const { return count(text) > 0; }

std::string IdentifierMatcher::replace(std::string_view text, std::string_view with) const {
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // start, end
    for_each_match(text,
                   [&](const Match& match) { spans.emplace_back(match.offset, match.offset + length(match.pattern)); });
    std::sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first < b.first : a.second > b.second;
    });
    std::string out;
    std::size_t copied = 0;
    for (const auto& [start, end] : spans) {
        if (start < copied) continue;
        out.append(text.substr(copied, start - copied));
        out.append(with);
        copied = end;
    }
    out.append(text.substr(copied));
    return out;
}

}  // namespace gdprctl::pii
