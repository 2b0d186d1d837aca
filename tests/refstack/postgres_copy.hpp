#pragma once

#include <filesystem>
#include <string>

namespace gdprctl::refstack {

// Where `refstack seed --db postgres` writes the platform database.
struct PostgresTarget {
    std::string connection;               // libpq connection string or URI; empty: libpq's PG* defaults
    std::filesystem::path password_file;  // empty: PGPASSWORD or PGPASSFILE, as libpq reads them
};

// Replaces the platform's tables in the target database with the rows of the seeded SQLite
// database, typed as a PostgreSQL platform types them (timestamptz, inet, identity keys,
// enforced foreign keys), in one transaction. Throws std::runtime_error naming what failed.
void copy_platform_database(const std::filesystem::path& sqlite_file, const PostgresTarget& target);

}  // namespace gdprctl::refstack
