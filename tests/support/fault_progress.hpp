#pragma once

#include <set>
#include <stdexcept>
#include <string>

#include "connectors/connector.hpp"

namespace gdprctl::testing {

// Remembers completed steps like the state database does, and dies (throws) on the Nth
// mark_done, after the step's work but before its mark: the worst moment to be killed.
class FaultyProgress final : public connectors::ApplyProgress {
public:
    struct Killed : std::runtime_error {
        Killed() : std::runtime_error("killed by the test") {}
    };

    explicit FaultyProgress(std::size_t die_at = 0) : m_die_at(die_at) {}
    bool is_done(const std::string& step) override { return m_done.count(step) > 0; }
    void mark_done(const std::string& step) override {
        if (m_die_at && ++m_marks == m_die_at) throw Killed();
        m_done.insert(step);
    }
    void heal() { m_die_at = 0; }
    std::size_t marks() const { return m_done.size(); }

private:
    std::size_t m_die_at;
    std::size_t m_marks = 0;
    std::set<std::string> m_done;
};

}  // namespace gdprctl::testing
