#include "core/state/state_db.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.hpp"

namespace gdprctl::state {
namespace {

// A state database as version 5 left it: an erasure request with a durable step, and a CHECK
// that knows no 'failed'.
void write_version_5(const std::filesystem::path& dir) {
    { StateDb current(dir); }
    SQLite::Database db((dir / "state.db").string(), SQLite::OPEN_READWRITE);
    db.exec(
        "PRAGMA foreign_keys = OFF; DROP TABLE erasures; DROP TABLE subject_requests; DROP TABLE breaches;"
        "CREATE TABLE erasures (id TEXT PRIMARY KEY, created TEXT NOT NULL, updated TEXT NOT NULL,"
        "  kind TEXT NOT NULL CHECK (kind IN ('tenant', 'subject')), tenant TEXT,"
        "  status TEXT NOT NULL CHECK (status IN ('applying', 'residue', 'verified')), plan TEXT,"
        "  sealed_identifiers BLOB, markers TEXT, report TEXT, certificate TEXT);"
        "INSERT INTO erasures (id, created, updated, kind, status, plan) VALUES"
        "  ('er-1', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z', 'subject', 'applying', '{}');"
        "INSERT INTO erasure_steps VALUES ('er-1', 'db: the erasure''s transaction');"
        "PRAGMA user_version = 5;");
}

TEST(StateDb, Version5MigratesKeepingRequestsAndTheirStepsAndAcceptsFailed) {
    testing::TempDir dir;
    write_version_5(dir.path());
    StateDb state(dir.path());
    EXPECT_EQ(state.schema_version(), StateDb::current_schema_version());
    EXPECT_EQ(state.db().execAndGet("SELECT status || ' ' || plan FROM erasures WHERE id = 'er-1'").getString(),
              "applying {}");
    EXPECT_EQ(state.db().execAndGet("SELECT count(*) FROM erasure_steps WHERE request = 'er-1'").getInt(), 1);
    state.db().exec("UPDATE erasures SET status = 'failed' WHERE id = 'er-1'");
    EXPECT_THROW(state.db().exec("UPDATE erasures SET status = 'lost' WHERE id = 'er-1'"), SQLite::Exception);
    // Version 7's tables came with the migration.
    EXPECT_EQ(state.db().execAndGet("SELECT count(*) FROM subject_requests").getInt(), 0);
    EXPECT_EQ(state.db().execAndGet("SELECT count(*) FROM breaches").getInt(), 0);
    // The children's keys are enforced again after migrating.
    EXPECT_THROW(state.db().exec("INSERT INTO erasure_steps VALUES ('er-none', 'x')"), SQLite::Exception);
}

}  // namespace
}  // namespace gdprctl::state
