#include "core/ropa/store.hpp"

#include <SQLiteCpp/Transaction.h>

#include "core/error.hpp"

namespace gdprctl::ropa {

namespace {

std::vector<std::string> activity_ids(SQLite::Database& db) {
    std::vector<std::string> ids;
    SQLite::Statement query(db, "SELECT id FROM register_activities ORDER BY position");
    while (query.executeStep()) ids.push_back(query.getColumn(0).getString());
    return ids;
}

[[noreturn]] void no_such_activity(SQLite::Database& db, const std::string& id) {
    auto ids = activity_ids(db);
    std::string hint = ids.empty() ? "the register is empty: add or import activities first"
                                   : "'gdprctl register list' shows the activity ids";
    throw Error::usage("the register has no activity \"" + id + "\"", hint);
}

}  // namespace

RegisterStore::RegisterStore(state::StateDb& state, std::vector<std::string> known_categories)
    : m_state(state), m_categories(std::move(known_categories)) {}

Register RegisterStore::load() {
    auto& db = m_state.db();
    Register reg;
    nlohmann::json parties = nlohmann::json::object();
    SQLite::Statement party_query(db, "SELECT part, body FROM register_parties");
    while (party_query.executeStep())
        parties[party_query.getColumn(0).getString()] = nlohmann::json::parse(party_query.getColumn(1).getString());
    nlohmann::json document = parties;
    document["activities"] = nlohmann::json::array();
    SQLite::Statement query(db, "SELECT body FROM register_activities ORDER BY position");
    while (query.executeStep()) document["activities"].push_back(nlohmann::json::parse(query.getColumn(0).getString()));
    // Stored bodies went through the same reader on the way in; reading them back through it
    // again keeps one definition of the model. Categories are not re-checked: a category the
    // config no longer declares is drift for 'register validate' to report, not a load error.
    std::vector<std::string> categories = m_categories;
    for (const auto& activity : document["activities"])
        for (const auto& category : activity.value("categories", nlohmann::json::array()))
            if (category.is_string()) categories.push_back(category.get<std::string>());
    return register_from_json(document, "state.db register", categories);
}

void RegisterStore::write_parties(const Register& reg) {
    auto& db = m_state.db();
    auto json = register_to_json(reg);
    db.exec("DELETE FROM register_parties");
    SQLite::Statement insert(db, "INSERT INTO register_parties (part, body) VALUES (?, ?)");
    for (const char* part : {"controller", "processor", "controllers_served"}) {
        insert.bind(1, part);
        insert.bind(2, json[part].dump());
        insert.exec();
        insert.reset();
    }
}

void RegisterStore::insert_activity(const Activity& activity, std::int64_t position) {
    SQLite::Statement insert(m_state.db(), "INSERT INTO register_activities (id, position, body) VALUES (?, ?, ?)");
    insert.bind(1, activity.id);
    insert.bind(2, position);
    insert.bind(3, activity_to_json(activity).dump());
    insert.exec();
}

void RegisterStore::replace(const Register& reg) {
    SQLite::Transaction transaction(m_state.db());
    write_parties(reg);
    m_state.db().exec("DELETE FROM register_activities");
    std::int64_t position = 0;
    for (const auto& activity : reg.activities) insert_activity(activity, position++);
    transaction.commit();
}

void RegisterStore::add(const Activity& activity) {
    auto& db = m_state.db();
    SQLite::Transaction transaction(db);
    SQLite::Statement exists(db, "SELECT 1 FROM register_activities WHERE id = ?");
    exists.bind(1, activity.id);
    if (exists.executeStep())
        throw Error::config("the register already has an activity \"" + activity.id + "\"",
                            "choose another id, or change it with 'gdprctl register edit " + activity.id + "'");
    std::int64_t position = db.execAndGet("SELECT COALESCE(MAX(position) + 1, 0) FROM register_activities").getInt64();
    insert_activity(activity, position);
    transaction.commit();
}

void RegisterStore::update(const Activity& activity) {
    auto& db = m_state.db();
    SQLite::Transaction transaction(db);
    SQLite::Statement update(db, "UPDATE register_activities SET body = ? WHERE id = ?");
    update.bind(1, activity_to_json(activity).dump());
    update.bind(2, activity.id);
    if (update.exec() == 0) no_such_activity(db, activity.id);
    transaction.commit();
}

void RegisterStore::remove(const std::string& id) {
    auto& db = m_state.db();
    SQLite::Transaction transaction(db);
    SQLite::Statement remove(db, "DELETE FROM register_activities WHERE id = ?");
    remove.bind(1, id);
    if (remove.exec() == 0) no_such_activity(db, id);
    transaction.commit();
}

}  // namespace gdprctl::ropa
