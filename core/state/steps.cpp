#include "core/state/steps.hpp"

namespace gdprctl::state {

DurableSteps::DurableSteps(StateDb& state, Of owner, std::string id)
    : m_state(state),
      m_table(owner == Of::retention_run ? "run_steps" : "erasure_steps"),
      m_owner_column(owner == Of::retention_run ? "run_id" : "request"),
      m_id(std::move(id)) {}

bool DurableSteps::is_done(const std::string& step) {
    SQLite::Statement query(m_state.db(),
                            std::string("SELECT 1 FROM ") + m_table + " WHERE " + m_owner_column + " = ? AND step = ?");
    query.bind(1, m_id);
    query.bind(2, step);
    return query.executeStep();
}

void DurableSteps::mark_done(const std::string& step) {
    SQLite::Statement insert(m_state.db(), std::string("INSERT OR IGNORE INTO ") + m_table + " (" + m_owner_column +
                                               ", step) VALUES (?, ?)");
    insert.bind(1, m_id);
    insert.bind(2, step);
    insert.exec();
}

}  // namespace gdprctl::state
