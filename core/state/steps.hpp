#pragma once

#include <string>

#include "connectors/connector.hpp"
#include "core/state/state_db.hpp"

namespace gdprctl::state {

// The durable steps of one retention run or erasure request, in the state database: what a
// killed run already did, so that the next one neither repeats nor skips it.
class DurableSteps final : public connectors::ApplyProgress {
public:
    enum class Of { retention_run, erasure_request };

    DurableSteps(StateDb& state, Of owner, std::string id);
    bool is_done(const std::string& step) override;
    void mark_done(const std::string& step) override;

private:
    StateDb& m_state;
    const char* m_table;
    const char* m_owner_column;
    std::string m_id;
};

}  // namespace gdprctl::state
