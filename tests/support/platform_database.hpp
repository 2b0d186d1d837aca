#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace gdprctl::testing {

// The database the end-to-end tests give the reference platform: GDPRCTL_TEST_DB=postgres puts
// it in PostgreSQL (on this test process's own server), anything else in SQLite (platform.db).
// CTest runs every end-to-end test both ways.
bool platform_on_postgres();

// `refstack seed --dir DIR ARGS` with the platform database where platform_on_postgres() says;
// refstack's exit status, its messages in err.
int seed_reference_platform(const std::filesystem::path& dir, const std::string& args, std::string* err = nullptr);

// Copies the platform in from to to: its files and, on PostgreSQL, its database, which the
// copy's gdprctl.json then names. Throws std::runtime_error when it cannot.
void copy_platform(const std::filesystem::path& from, const std::filesystem::path& to);

// The platform database of the reference platform in dir, SQLite or PostgreSQL as its
// gdprctl.json says, for what a test does or checks beside gdprctl. Statements must be
// written so that both databases take them.
class PlatformDatabase {
public:
    explicit PlatformDatabase(const std::filesystem::path& dir);
    bool postgres() const { return !m_database.empty(); }

    // Throws std::runtime_error with the database's message on an error.
    void execute(const std::string& sql) const;
    // The first column of the first row as text; "" when there is none.
    std::string value(const std::string& query) const;
    // The rows of query as the database renders them in JSON (sqlite3 -json, json_agg): an array.
    std::string rows_json(const std::string& query) const;
    // Changes whenever a row of any table changes: the file's bytes for SQLite, every table's
    // rows for PostgreSQL.
    std::string digest() const;
    // Case-insensitive occurrences of text in the database file's bytes. SQLite only: PostgreSQL
    // keeps a table's bytes in files of its server, and old versions of rows in its write-ahead
    // log, which gdprctl does not claim to clear.
    std::uint64_t raw_occurrences(const std::string& text) const;

private:
    std::filesystem::path m_file;  // SQLite
    std::string m_database;        // PostgreSQL
};

}  // namespace gdprctl::testing
