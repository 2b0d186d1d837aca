#pragma once

#include "core/ropa/register.hpp"
#include "core/state/state_db.hpp"

namespace gdprctl::ropa {

// The register as the state database keeps it. Every change is one transaction: a change that
// fails leaves the register as it was.
class RegisterStore {
public:
    RegisterStore(state::StateDb& state, std::vector<std::string> known_categories);

    Register load();
    // Replaces the whole register (import).
    void replace(const Register& reg);
    // Adds an activity at the end; Error::config when the id is taken.
    void add(const Activity& activity);
    // Replaces the activity of the same id in place; Error::usage when there is none.
    void update(const Activity& activity);
    // Error::usage when there is no activity of that id.
    void remove(const std::string& id);

private:
    void write_parties(const Register& reg);
    void insert_activity(const Activity& activity, std::int64_t position);

    state::StateDb& m_state;
    std::vector<std::string> m_categories;
};

}  // namespace gdprctl::ropa
