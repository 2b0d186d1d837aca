#include "core/state/state_db.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "core/util/time.hpp"

namespace gdprctl::state {

namespace {

// Each entry moves the schema from version i to i + 1. Never edit a shipped entry: add one.
const char* const k_migrations[] = {
    // 1: the journal, and the meta table that anchors its head.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE journal ("
    "  seq INTEGER PRIMARY KEY,"
    "  time TEXT NOT NULL,"
    "  command TEXT NOT NULL,"
    "  selector TEXT NOT NULL,"
    "  sources TEXT NOT NULL,"
    "  counts TEXT NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL);",
    // 2: retention runs (the plan they carry out, fixed at start) and their durable steps.
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  command TEXT NOT NULL,"
    "  started TEXT NOT NULL,"
    "  plan TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('running', 'done')),"
    "  finished TEXT);"
    "CREATE TABLE run_steps (run_id INTEGER NOT NULL REFERENCES runs(id), step TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, step));",
    // 3: the keystore (keys wrapped by the master key), the keys destroyed (so a backup can
    // say "shredded" rather than "corrupt"), and the erasure ledger that restores re-apply.
    "CREATE TABLE keys ("
    "  id TEXT PRIMARY KEY,"
    "  tenant TEXT NOT NULL,"
    "  purpose TEXT NOT NULL CHECK (purpose IN ('data', 'recipient')),"
    "  created TEXT NOT NULL,"
    "  wrapped BLOB NOT NULL,"
    "  public_key BLOB);"
    "CREATE UNIQUE INDEX keys_per_tenant ON keys (tenant, purpose);"
    "CREATE TABLE destroyed_keys ("
    "  id TEXT PRIMARY KEY,"
    "  tenant TEXT NOT NULL,"
    "  purpose TEXT NOT NULL,"
    "  created TEXT NOT NULL,"
    "  destroyed TEXT NOT NULL);"
    "CREATE TABLE erasure_ledger ("
    "  id INTEGER PRIMARY KEY,"
    "  time TEXT NOT NULL,"
    "  tenant TEXT,"
    "  subject_hash TEXT,"
    "  CHECK (tenant IS NOT NULL OR subject_hash IS NOT NULL));",
    // 4: the register of processing activities (Art. 30): the parties it names, and one row per
    // activity in the order the register lists them. Bodies are the canonical JSON of the model.
    "CREATE TABLE register_parties (part TEXT PRIMARY KEY, body TEXT NOT NULL);"
    "CREATE TABLE register_activities ("
    "  id TEXT PRIMARY KEY,"
    "  position INTEGER NOT NULL,"
    "  body TEXT NOT NULL);",
    // 5: erasure requests. `plan` holds the identifiers while the request runs (so a killed
    // run resumes) and is emptied once it is done; the identifiers kept for a later rescan are
    // sealed under a key derived from the platform key. `certificate` is the signed proof.
    "CREATE TABLE erasures ("
    "  id TEXT PRIMARY KEY,"
    "  created TEXT NOT NULL,"
    "  updated TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('tenant', 'subject')),"
    "  tenant TEXT,"
    "  status TEXT NOT NULL CHECK (status IN ('applying', 'residue', 'verified')),"
    "  plan TEXT,"
    "  sealed_identifiers BLOB,"
    "  markers TEXT,"
    "  report TEXT,"
    "  certificate TEXT);"
    "CREATE TABLE erasure_steps (request TEXT NOT NULL REFERENCES erasures(id), step TEXT NOT NULL,"
    "  PRIMARY KEY (request, step));",
    // 6: an erasure request may end 'failed' (it says what was done, and the next one may run).
    // SQLite cannot change a CHECK: the table is rebuilt, as its documentation describes.
    "CREATE TABLE erasures_6 ("
    "  id TEXT PRIMARY KEY,"
    "  created TEXT NOT NULL,"
    "  updated TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('tenant', 'subject')),"
    "  tenant TEXT,"
    "  status TEXT NOT NULL CHECK (status IN ('applying', 'failed', 'residue', 'verified')),"
    "  plan TEXT,"
    "  sealed_identifiers BLOB,"
    "  markers TEXT,"
    "  report TEXT,"
    "  certificate TEXT);"
    "INSERT INTO erasures_6 SELECT * FROM erasures;"
    "DROP TABLE erasures;"
    "ALTER TABLE erasures_6 RENAME TO erasures;",
    // 7: data subject requests and personal-data breaches. A body is the canonical JSON of the
    // record (it names no person); a request's identifiers are sealed under the platform key.
    "CREATE TABLE subject_requests ("
    "  id TEXT PRIMARY KEY,"
    "  received TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  sealed_subjects BLOB NOT NULL);"
    "CREATE TABLE breaches ("
    "  id TEXT PRIMARY KEY,"
    "  aware_at TEXT NOT NULL,"
    "  body TEXT NOT NULL);",
};

void create_private_file(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw Error::runtime("cannot create " + path.string() + ": " + std::strerror(errno));
    ::close(fd);
}

}  // namespace

StateDb::StateDb(const std::filesystem::path& state_dir) {
    util::ensure_private_directory(state_dir);
    auto path = state_dir / "state.db";
    try {
        // SQLite would create the file with the process umask; it holds personal data's
        // history, so create it 0600 first (SQLite gives its -journal/-wal files the same mode).
        if (!std::filesystem::exists(path)) create_private_file(path);
        m_db = std::make_unique<SQLite::Database>(path.string(), SQLite::OPEN_READWRITE);
        m_db->setBusyTimeout(10000);
        m_db->exec("PRAGMA foreign_keys = ON");
        // WAL with synchronous=NORMAL: a commit survives a killed process (what resumable runs
        // need) without an fsync per progress mark; power loss may drop the last marks, never
        // corrupt the database.
        m_db->exec("PRAGMA journal_mode = WAL");
        m_db->exec("PRAGMA synchronous = NORMAL");
        migrate();
    } catch (const SQLite::Exception& e) {
        throw Error::runtime("state database " + path.string() + ": " + e.what(),
                             "check the state directory; a corrupt state.db can be restored from backup");
    }
}

int StateDb::current_schema_version() { return static_cast<int>(std::size(k_migrations)); }

int StateDb::schema_version() { return m_db->execAndGet("PRAGMA user_version").getInt(); }

void StateDb::migrate() {
    int version = schema_version();
    if (version > current_schema_version())
        throw Error::runtime("state database has schema version " + std::to_string(version) +
                                 ", newer than this gdprctl (" + std::to_string(current_schema_version()) + ")",
                             "upgrade gdprctl; the state directory was written by a newer version");
    if (version == current_schema_version()) return;
    // A migration that rebuilds a table must not have its children's keys checked half way; they
    // are checked before each commit instead (SQLite's procedure for schema changes).
    m_db->exec("PRAGMA foreign_keys = OFF");
    for (; version < current_schema_version(); ++version) {
        SQLite::Transaction transaction(*m_db);
        m_db->exec(k_migrations[version]);
        SQLite::Statement broken(*m_db, "PRAGMA foreign_key_check");
        if (broken.executeStep())
            throw Error::integrity("state database: migration " + std::to_string(version + 1) +
                                   " would break a reference in table " + broken.getColumn(0).getString());
        m_db->exec("PRAGMA user_version = " + std::to_string(version + 1));
        transaction.commit();
    }
    m_db->exec("PRAGMA foreign_keys = ON");
}

std::string next_yearly_id(StateDb& state, const std::string& table, const std::string& prefix, std::int64_t now) {
    auto year_prefix = prefix + "-" + util::format_utc(now, "%Y") + "-";
    SQLite::Statement count(state.db(), "SELECT COUNT(*) FROM " + table + " WHERE id LIKE ? || '%'");
    count.bind(1, year_prefix);
    count.executeStep();
    auto number = std::to_string(count.getColumn(0).getInt64() + 1);
    return year_prefix + std::string(number.size() < 4 ? 4 - number.size() : 0, '0') + number;
}

std::optional<nlohmann::json> find_body(StateDb& state, const std::string& table, const std::string& id) {
    SQLite::Statement query(state.db(), "SELECT body FROM " + table + " WHERE id = ?");
    query.bind(1, id);
    if (!query.executeStep()) return std::nullopt;
    return nlohmann::json::parse(query.getColumn(0).getString());
}

std::vector<nlohmann::json> all_bodies(StateDb& state, const std::string& table, const std::string& order_by) {
    SQLite::Statement query(state.db(), "SELECT body FROM " + table + " ORDER BY " + order_by);
    std::vector<nlohmann::json> bodies;
    while (query.executeStep()) bodies.push_back(nlohmann::json::parse(query.getColumn(0).getString()));
    return bodies;
}

void update_body(StateDb& state, const std::string& table, const std::string& id, const nlohmann::json& body) {
    SQLite::Statement update(state.db(), "UPDATE " + table + " SET body = ? WHERE id = ?");
    update.bind(1, body.dump());
    update.bind(2, id);
    update.exec();
}

}  // namespace gdprctl::state
