#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>
#include <string>

namespace gdprctl::state {

// The state database (<state dir>/state.db): everything gdprctl itself remembers. Opening it
// creates the directory (0700) and the file (0600) when missing and brings the schema up to
// the current version inside one transaction per migration.
class StateDb {
public:
    explicit StateDb(const std::filesystem::path& state_dir);

    SQLite::Database& db() { return *m_db; }
    int schema_version();
    static int current_schema_version();

private:
    void migrate();
    std::unique_ptr<SQLite::Database> m_db;
};

// "rq-2026-0007": prefix, the year of now (UTC), and one more than the ids of that year in
// table's id column, four digits at least. Short enough to say on the phone; call it inside the
// transaction that inserts the row.
std::string next_yearly_id(StateDb& state, const std::string& table, const std::string& prefix, std::int64_t now);

// Tables that keep each record as one JSON body beside its id (subject_requests, breaches).
std::optional<nlohmann::json> find_body(StateDb& state, const std::string& table, const std::string& id);
// Every body of table, ordered by order_by (column names).
std::vector<nlohmann::json> all_bodies(StateDb& state, const std::string& table, const std::string& order_by);
void update_body(StateDb& state, const std::string& table, const std::string& id, const nlohmann::json& body);

}  // namespace gdprctl::state
