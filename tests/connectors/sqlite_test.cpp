// The sqlite connector where SQLite's own state matters: a writer killed mid-transaction.
#include <gtest/gtest.h>

#include "tests/support/store_fixtures.hpp"

namespace gdprctl::testing {
namespace {

TEST(SqliteConnector, AReadAfterAWriterWasKilledMidTransactionSeesTheDatabaseAsBefore) {
    auto fixture = make_fixture("sqlite");
    auto before = records_by_tenant(fixture->open()->inventory({}, {}));
    auto db = (fixture->dir() / "app.db").string();
    // A writer (a retention or erasure run) dies with half its transaction in the file: a hot
    // rollback journal that a read-only connection cannot roll back.
    std::string writer =
        "import sqlite3, os\n"
        "db = sqlite3.connect('" +
        db +
        "', isolation_level=None)\n"
        "db.execute('CREATE TABLE filler (x TEXT)')\n"
        "db.execute('BEGIN')\n"
        "db.executemany('INSERT INTO filler VALUES (?)', (('x' * 200,) for _ in range(5000)))\n"
        "db.execute('COMMIT')\n"
        "db.execute('PRAGMA cache_size = 1')\n"
        "db.execute('BEGIN')\n"
        "db.execute('DELETE FROM filler')\n"
        "db.execute('DELETE FROM visits')\n"
        "os._exit(0)\n";
    ASSERT_EQ(run_command("python3 -c " + shell_quote(writer)), 0);
    ASSERT_TRUE(std::filesystem::exists(db + "-journal"));
    auto reopened = connectors::open_connector(fixture->workspace().sources.front(), fixture->workspace());
    EXPECT_EQ(records_by_tenant(reopened->inventory({}, {})), before);
    EXPECT_FALSE(std::filesystem::exists(db + "-journal"));
}

}  // namespace
}  // namespace gdprctl::testing
