// The postgres connector against a real server (the contract suite covers what every kind
// shares): timestamp types, schemas, streaming past one fetch and one delete batch, and the
// failures an operator meets (a password in the config, a wrong one, a server that is down, a
// missing column, a role that may not delete).
#include <gtest/gtest.h>

#include "connectors/connector.hpp"
#include "core/error.hpp"
#include "tests/support/fault_progress.hpp"
#include "tests/support/postgres_server.hpp"
#include "tests/support/store_fixtures.hpp"

namespace gdprctl::connectors {
namespace {

using testing::PostgresServer;
using testing::TempDir;
using testing::write_text;

// A workspace with one postgres source over database, its password in a file.
std::unique_ptr<Connector> open_postgres(const TempDir& dir, const std::string& database, nlohmann::json tables,
                                         config::Workspace& workspace, const std::string& connection = "",
                                         const nlohmann::json& more = nlohmann::json::object()) {
    auto& server = PostgresServer::shared();
    write_text(dir / "pgpassword", server.password() + "\n");
    nlohmann::json source = {{"name", "platform-db"},
                             {"kind", "postgres"},
                             {"connection", connection.empty() ? server.connection(database) : connection},
                             {"password_file", "pgpassword"},
                             {"tables", std::move(tables)}};
    source.update(more);
    write_text(dir / "gdprctl.json", nlohmann::json({{"platform", "p"}, {"sources", {source}}}).dump());
    workspace = config::load_workspace(dir / "gdprctl.json");
    auto connector = open_connector(workspace.sources.front(), workspace);
    connector->validate();
    return connector;
}

std::string error_of(const std::function<void()>& work) {
    try {
        work();
    } catch (const Error& e) {
        return std::string(e.what()) + " | " + e.hint();
    }
    return "no error";
}

TEST(PostgresConnector, ReadsEveryTimestampTypeAsUtcAndSelectsByCutOff) {
    auto& server = PostgresServer::shared();
    auto db = server.create_database();
    // The same four moments in each column type: 2026-11-01 00:00 UTC plus 0..3 days.
    server.execute(db,
                   "CREATE TABLE events (id serial, email text, at_tz timestamptz, at_naive timestamp, "
                   "at_seconds bigint, at_millis bigint, at_text text);"
                   "INSERT INTO events (email, at_tz, at_naive, at_seconds, at_millis, at_text) "
                   "SELECT 'v' || d || '@example.org', t, t AT TIME ZONE 'UTC', extract(epoch from t)::bigint, "
                   "extract(epoch from t)::bigint * 1000, to_char(t AT TIME ZONE 'UTC', "
                   "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM generate_series(0, 3) AS d, "
                   "LATERAL (SELECT timestamptz '2026-11-01 00:00:00+00' + d * interval '1 day' AS t) AS m;");
    const util::UnixTime first = 1793491200;  // 2026-11-01T00:00:00Z
    for (auto [column, format] : std::vector<std::pair<std::string, std::string>>{{"at_tz", "iso8601"},
                                                                                  {"at_naive", "iso8601"},
                                                                                  {"at_text", "iso8601"},
                                                                                  {"at_seconds", "unix"},
                                                                                  {"at_millis", "unix_ms"}}) {
        TempDir dir;
        config::Workspace workspace;
        auto connector = open_postgres(dir, db,
                                       {{{"table", "events"},
                                         {"category", "usage-data"},
                                         {"subjects", {{"email", "email"}}},
                                         {"timestamp", {{"column", column}, {"format", format}}}}},
                                       workspace);
        auto inventory = connector->inventory({}, {});
        ASSERT_EQ(inventory.rows.size(), 1u) << column;
        EXPECT_EQ(inventory.rows[0].records, 4u) << column;
        EXPECT_EQ(inventory.rows[0].oldest, first) << column;
        EXPECT_EQ(inventory.rows[0].newest, first + 3 * 86400) << column;
        EXPECT_EQ(inventory.rows[0].records_per_day.size(), 4u) << column;
        Selector expired;
        expired.older_than = first + 2 * 86400;  // the third moment itself is not older
        EXPECT_EQ(connector->plan(expired, {}).records(), 2u) << column;
    }
}

TEST(PostgresConnector, ARescanReadsEveryTextColumnTheDataMapDoesNotDeclare) {
    auto& server = PostgresServer::shared();
    auto db = server.create_database();
    server.execute(
        db,
        "CREATE TABLE visits (id serial, room text, email text, note text);"
        "INSERT INTO visits (room, email, note) VALUES ('r1', 'ann@example.org', 'wrote from ann@example.org');"
        "CREATE SCHEMA support;"
        "CREATE TABLE support.tickets (id serial, body jsonb, seen_from inet, hits integer);"
        "INSERT INTO support.tickets (body, seen_from, hits) VALUES "
        "('{\"from\": \"ANN@example.org\"}', '192.0.2.7', 1), ('{}', '192.0.2.70', 2);");
    TempDir dir;
    config::Workspace workspace;
    auto connector = open_postgres(dir, db,
                                   {{{"table", "visits"},
                                     {"category", "usage-data"},
                                     {"subjects", {{"email", "email"}}},
                                     {"tenant", {{"column", "room"}}}}},
                                   workspace);
    Selector ann;
    ann.subjects = {parse_identifier("email:ann@example.org"), parse_identifier("ip:192.0.2.7")};
    auto report = connector->verify(ann, pii::IdentifierMatcher({"ann@example.org", "192.0.2.7"}));
    std::map<std::string, std::uint64_t> residue;
    for (const auto& found : report.residue) residue[found.location] = found.matches;
    EXPECT_EQ(residue,
              (std::map<std::string, std::uint64_t>{
                  {"platform-db:visits (records of the selector, rows (0,1))", 1},
                  {"platform-db:visits.email (identifier occurrences, rows (0,1))", 1},  // the declared column
                  // the note, and the JSON and the inet of the first ticket: each column, and its row
                  {"platform-db:public.visits.note (text the data map does not declare, rows (0,1))", 1},
                  {"platform-db:support.tickets.body (text the data map does not declare, rows (0,1))", 1},
                  {"platform-db:support.tickets.seen_from (text the data map does not declare, rows (0,1))", 1}}));

    // Within one tenant, other tenants' tables may rightly hold the address: not read.
    ann.tenant = "r1";
    residue.clear();
    for (const auto& found : connector->verify(ann, pii::IdentifierMatcher({"ann@example.org"})).residue)
        residue[found.location] = found.matches;
    for (const auto& [location, matches] : residue)
        EXPECT_EQ(location.find("support.tickets"), std::string::npos) << location;
}

TEST(PostgresConnector, StreamsPastOneFetchAndDeletesPastOneBatchInASchema) {
    auto& server = PostgresServer::shared();
    auto db = server.create_database();
    server.execute(db,
                   "CREATE SCHEMA stats;"
                   "CREATE TABLE stats.viewer_stats (id serial PRIMARY KEY, tenant_id text, ip text, ts bigint);"
                   "INSERT INTO stats.viewer_stats (tenant_id, ip, ts) SELECT CASE WHEN i % 3 = 0 THEN 'b' ELSE "
                   "'a' END, '100.64.' || (i / 250) || '.' || (i % 250), 1790000000 + i FROM "
                   "generate_series(1, 30000) AS i;");
    TempDir dir;
    config::Workspace workspace;
    auto connector = open_postgres(dir, db,
                                   {{{"table", "stats.viewer_stats"},
                                     {"category", "streaming-data"},
                                     {"subjects", {{"ip", "ip"}}},
                                     {"tenant", {{"column", "tenant_id"}}},
                                     {"timestamp", {{"column", "ts"}, {"format", "unix"}}}}},
                                   workspace, "", {{"batch_rows", 10000}});
    struct Counted final : RecordSink {
        std::set<std::int64_t> ids;
        std::size_t records = 0;
        void record(const config::Dataset&, const std::string& tenant, const nlohmann::json& record) override {
            ++records;
            if (tenant == "a") ids.insert(record.at("id").get<std::int64_t>());
        }
        void blob(const config::Dataset&, const std::string&, const std::filesystem::path&,
                  const std::string&) override {}
        void streamed_blob(const config::Dataset&, const std::string&, const StreamedBlob&) override {}
    } counted;
    Selector tenant_a;
    tenant_a.tenant = "a";
    connector->collect(tenant_a, counted);
    EXPECT_EQ(counted.records, 20000u);
    EXPECT_EQ(counted.ids.size(), 20000u);  // each row once

    auto plan = connector->plan(tenant_a, {});
    ASSERT_EQ(plan.records(), 20000u);
    testing::FaultyProgress dies_after_first_batch(1);
    EXPECT_THROW(connector->apply(plan, dies_after_first_batch), testing::FaultyProgress::Killed);
    EXPECT_EQ(server.value(db, "SELECT count(*) FROM stats.viewer_stats WHERE tenant_id = 'a'"), "10000");
    dies_after_first_batch.heal();
    auto report = connector->apply(plan, dies_after_first_batch);
    EXPECT_EQ(report.records_changed, 20000u);
    EXPECT_EQ(server.value(db, "SELECT count(*) FROM stats.viewer_stats WHERE tenant_id = 'a'"), "0");
    EXPECT_EQ(server.value(db, "SELECT count(*) FROM stats.viewer_stats WHERE tenant_id = 'b'"), "10000");
}

TEST(PostgresConnector, ErasingAPersonFromStatisticsKeepsTheRowsWithoutThem) {
    auto& server = PostgresServer::shared();
    auto db = server.create_database();
    server.execute(db,
                   "CREATE TABLE viewer_stats (id serial PRIMARY KEY, tenant_id text, email text, ip inet, "
                   "player text, bitrate integer);"
                   "INSERT INTO viewer_stats (tenant_id, email, ip, player, bitrate) VALUES "
                   "('a', 'ann@example.org', '192.0.2.77', 'hls.js', 2500), "
                   "('b', 'ANN@example.org', '2001:db8:5:6::9', NULL, 3000), "
                   "('a', 'bob@example.org', '192.0.2.78', 'safari', 1800);");
    TempDir dir;
    config::Workspace workspace;
    auto connector = open_postgres(dir, db,
                                   {{{"table", "viewer_stats"},
                                     {"category", "streaming-data"},
                                     {"subjects", {{"email", "email"}, {"ip", "ip"}}},
                                     {"personal", {"player"}},
                                     {"erase", "anonymise"},
                                     {"tenant", {{"column", "tenant_id"}}}}},
                                   workspace);
    Selector ann;
    ann.subjects = {parse_identifier("email:ann@example.org")};
    Action erase;
    erase.kind = Action::Kind::erase;
    auto plan = connector->plan(ann, erase);
    ASSERT_EQ(plan.items.size(), 1u);
    EXPECT_EQ(plan.records(), 2u);
    EXPECT_EQ(plan.items[0].what, "anonymise player, email, ip");
    testing::FaultyProgress progress;
    EXPECT_EQ(connector->apply(plan, progress).records_changed, 2u);
    // The rows stay for the statistics: the address keeps its network, the rest of ann is gone.
    EXPECT_EQ(server.value(db,
                           "SELECT string_agg(concat_ws('|', id, tenant_id, email, host(ip), player, bitrate), "
                           "' ; ' ORDER BY id) FROM viewer_stats"),
              "1|a|192.0.2.0|2500 ; 2|b|2001:db8:5::|3000 ; 3|a|bob@example.org|192.0.2.78|safari|1800");
    EXPECT_EQ(connector->plan(ann, erase).records(), 0u);
    EXPECT_TRUE(connector->verify(ann, pii::IdentifierMatcher({"ann@example.org"})).residue.empty());
    // A whole tenant's erasure removes its rows instead.
    Selector tenant_b;
    tenant_b.tenant = "b";
    auto whole = connector->plan(tenant_b, erase);
    ASSERT_EQ(whole.items.size(), 1u);
    EXPECT_EQ(whole.items[0].what, "delete");
}

TEST(PostgresConnector, AnAnonymisingRuleKilledBetweenBatchesResumesAndCountsOnce) {
    auto& server = PostgresServer::shared();
    auto db = server.create_database();
    server.execute(db,
                   "CREATE TABLE sessions (id serial PRIMARY KEY, ip text, ts bigint);"
                   "INSERT INTO sessions (ip, ts) SELECT '198.51.100.' || (i % 200), i FROM "
                   "generate_series(1, 2500) AS i;");
    TempDir dir;
    config::Workspace workspace;
    auto connector = open_postgres(dir, db,
                                   {{{"table", "sessions"},
                                     {"category", "usage-data"},
                                     {"subjects", {{"ip", "ip"}}},
                                     {"timestamp", {{"column", "ts"}, {"format", "unix"}}}}},
                                   workspace, "", {{"batch_rows", 1000}});
    Selector expired;
    expired.older_than = 2001;
    Action truncate;
    truncate.kind = Action::Kind::anonymise;
    truncate.method = "ip-truncate";
    truncate.fields = {"ip"};
    // Rows 200, 400, ... hold 198.51.100.0 already: nothing to change in them.
    auto plan = connector->plan(expired, truncate);
    ASSERT_EQ(plan.records(), 1990u);
    testing::FaultyProgress dies(1);
    EXPECT_THROW(connector->apply(plan, dies), testing::FaultyProgress::Killed);
    // The first batch (rows 1 to 1000) is done; seven rows beyond it were .0 from the start.
    EXPECT_EQ(server.value(db, "SELECT count(*) FROM sessions WHERE ip = '198.51.100.0'"), "1007");
    dies.heal();
    EXPECT_EQ(connector->apply(plan, dies).records_changed, 1990u);
    EXPECT_EQ(server.value(db, "SELECT count(*) FROM sessions WHERE ts < 2001 AND ip <> '198.51.100.0'"), "0");
    EXPECT_EQ(server.value(db, "SELECT count(*) FROM sessions WHERE ts >= 2001 AND ip <> '198.51.100.0'"), "498");
    EXPECT_EQ(connector->plan(expired, truncate).records(), 0u);
}

TEST(PostgresConnector, RetentionDropsWhollyExpiredPartitionsAndDeletesTheRest) {
    auto& server = PostgresServer::shared();
    auto db = server.create_database();
    // Monthly partitions and a default one; one row a day from 2026-08-01 to 2026-11-10, and
    // ten from 2025 that only the default partition takes.
    server.execute(db,
                   "CREATE TABLE events (id bigserial, ip text, at timestamptz NOT NULL) PARTITION BY RANGE (at);"
                   "CREATE TABLE events_2026_08 PARTITION OF events FOR VALUES FROM ('2026-08-01') TO ('2026-09-01');"
                   "CREATE TABLE events_2026_09 PARTITION OF events FOR VALUES FROM ('2026-09-01') TO ('2026-10-01');"
                   "CREATE TABLE events_2026_10 PARTITION OF events FOR VALUES FROM ('2026-10-01') TO ('2026-11-01');"
                   "CREATE TABLE events_2026_11 PARTITION OF events FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');"
                   "CREATE TABLE events_other PARTITION OF events DEFAULT;"
                   "INSERT INTO events (ip, at) SELECT '192.0.2.1', d FROM generate_series(timestamptz "
                   "'2026-08-01 12:00+00', '2026-11-10 12:00+00', interval '1 day') AS d;"
                   "INSERT INTO events (ip, at) SELECT '192.0.2.2', timestamptz '2025-03-01 00:00+00' + i * interval "
                   "'1 day' FROM generate_series(1, 10) AS i;");
    TempDir dir;
    config::Workspace workspace;
    auto connector = open_postgres(dir, db,
                                   {{{"table", "events"},
                                     {"category", "usage-data"},
                                     {"subjects", {{"ip", "ip"}}},
                                     {"timestamp", {{"column", "at"}}}}},
                                   workspace);
    Selector expired;
    expired.older_than = 1789430400;  // 2026-09-15T00:00:00Z
    auto plan = connector->plan(expired, {});
    ASSERT_EQ(plan.items.size(), 2u) << plan.to_json().dump();
    EXPECT_EQ(plan.items[0].what, "drop partition events_2026_08");
    EXPECT_EQ(plan.items[0].records, 31u);
    EXPECT_EQ(plan.items[1].what, "delete");
    EXPECT_EQ(plan.items[1].records, 14u + 10u);  // September 1st to 14th, and 2025 in the default partition

    testing::FaultyProgress dies(1);
    EXPECT_THROW(connector->apply(plan, dies), testing::FaultyProgress::Killed);
    dies.heal();
    EXPECT_EQ(connector->apply(plan, dies).records_changed, 55u);
    EXPECT_EQ(server.value(db, "SELECT to_regclass('events_2026_08') IS NULL"), "t");
    EXPECT_EQ(server.value(db, "SELECT to_regclass('events_other') IS NULL"), "f");
    EXPECT_EQ(server.value(db, "SELECT count(*) FROM events"), std::to_string(102 - 31 - 14));
    EXPECT_EQ(server.value(db, "SELECT min(at) FROM events"), "2026-09-15 12:00:00+00");
    EXPECT_EQ(connector->plan(expired, {}).records(), 0u);
    // A cut-off that is not a partition's end drops nothing more: October ends after it.
    Selector mid_october;
    mid_october.older_than = 1792108800;  // 2026-10-16
    for (const auto& item : connector->plan(mid_october, {}).items)
        EXPECT_EQ(item.what.find("drop partition events_2026_10"), std::string::npos);

    // Anonymising walks the partitions a few rows a batch: rows of different partitions share
    // ctids, and none may be skipped or changed twice.
    TempDir small_dir;
    config::Workspace small_workspace;
    auto small_batches = open_postgres(small_dir, db,
                                       {{{"table", "events"},
                                         {"category", "usage-data"},
                                         {"subjects", {{"ip", "ip"}}},
                                         {"timestamp", {{"column", "at"}}}}},
                                       small_workspace, "", {{"batch_rows", 7}});
    Action truncate;
    truncate.kind = Action::Kind::anonymise;
    truncate.method = "ip-truncate";
    truncate.fields = {"ip"};
    auto anonymise = small_batches->plan(mid_october, truncate);
    ASSERT_EQ(anonymise.records(), 31u);  // September 15th to October 15th
    EXPECT_EQ(small_batches->apply(anonymise, dies).records_changed, 31u);
    EXPECT_EQ(server.value(db, "SELECT count(*) FROM events WHERE ip = '192.0.2.0'"), "31");
    EXPECT_EQ(server.value(db, "SELECT count(*) FROM events WHERE at >= '2026-10-16' AND ip <> '192.0.2.1'"), "0");
}

TEST(PostgresConnector, APasswordInTheConfigIsRefusedAndAWrongOneIsNeverPrinted) {
    auto& server = PostgresServer::shared();
    auto db = server.create_database();
    server.execute(db, "CREATE TABLE t (email text);");
    nlohmann::json tables = {{{"table", "t"}, {"category", "usage-data"}, {"subjects", {{"email", "email"}}}}};
    TempDir dir;
    config::Workspace workspace;
    auto in_config = error_of(
        [&] { open_postgres(dir, db, tables, workspace, server.connection(db) + " password=" + server.password()); });
    EXPECT_NE(in_config.find("/connection: the connection string holds a password"), std::string::npos) << in_config;
    EXPECT_EQ(in_config.find(server.password()), std::string::npos) << in_config;

    auto connector = open_postgres(dir, db, tables, workspace);
    write_text(dir / "pgpassword", "not-the-password-4711\n");
    auto fresh = open_connector(workspace.sources.front(), workspace);
    auto wrong = error_of([&] { fresh->validate(); });
    EXPECT_NE(wrong.find("source \"platform-db\": cannot connect to PostgreSQL"), std::string::npos) << wrong;
    EXPECT_NE(wrong.find("password authentication failed"), std::string::npos) << wrong;
    EXPECT_EQ(wrong.find("not-the-password-4711"), std::string::npos) << wrong;
}

TEST(PostgresConnector, AServerThatIsDownIsARuntimeErrorNamingTheSource) {
    TempDir dir;
    config::Workspace workspace;
    int port = testing::free_loopback_port();
    try {
        open_postgres(dir, "postgres",
                      {{{"table", "t"}, {"category", "usage-data"}, {"subjects", {{"email", "email"}}}}}, workspace,
                      "host=127.0.0.1 port=" + std::to_string(port) + " dbname=platform user=gdprctl");
        FAIL() << "connected to a port nothing listens on";
    } catch (const Error& e) {
        EXPECT_EQ(e.exit_code(), 3);
        EXPECT_NE(std::string(e.what()).find("source \"platform-db\": cannot connect"), std::string::npos) << e.what();
    }
}

TEST(PostgresConnector, SslModeIsHonoured) {
    // The test server speaks no TLS: "require" must then refuse to connect, "disable" connect.
    auto& server = PostgresServer::shared();
    auto db = server.create_database();
    server.execute(db,
                   "CREATE TABLE viewers (id serial, email text); INSERT INTO viewers (email) VALUES ('a@b.example');");
    nlohmann::json tables = {{{"table", "viewers"}, {"category", "usage-data"}, {"subjects", {{"email", "email"}}}}};
    TempDir dir;
    config::Workspace workspace;
    try {
        open_postgres(dir, db, tables, workspace, server.connection(db) + " sslmode=require");
        FAIL() << "sslmode=require connected to a server without TLS";
    } catch (const Error& e) {
        EXPECT_EQ(e.exit_code(), 3);
        EXPECT_NE(std::string(e.what()).find("SSL"), std::string::npos) << e.what();
    }
    auto plain = open_postgres(dir, db, tables, workspace, server.connection(db) + " sslmode=disable");
    EXPECT_EQ(plain->inventory({}, {}).rows.at(0).records, 1u);
}

TEST(PostgresConnector, AMissingTableOrColumnOrABadBatchSizeIsAConfigError) {
    auto& server = PostgresServer::shared();
    auto db = server.create_database();
    server.execute(db, "CREATE TABLE viewers (id serial, email text);");
    TempDir dir;
    config::Workspace workspace;
    auto column = error_of([&] {
        open_postgres(dir, db, {{{"table", "viewers"}, {"category", "usage-data"}, {"subjects", {{"email", "emial"}}}}},
                      workspace);
    });
    EXPECT_NE(column.find("/subjects/email: column \"emial\" not found in table \"viewers\""), std::string::npos)
        << column;
    EXPECT_NE(column.find("did you mean \"email\"?"), std::string::npos) << column;
    auto batch = error_of([&] {
        open_postgres(dir, db, {{{"table", "viewers"}, {"category", "usage-data"}, {"subjects", {{"email", "email"}}}}},
                      workspace, "", {{"batch_rows", 0}});
    });
    EXPECT_NE(batch.find("/batch_rows: must be at least 1"), std::string::npos) << batch;
    auto table = error_of([&] {
        open_postgres(dir, db, {{{"table", "viewer"}, {"category", "usage-data"}, {"subjects", {{"email", "email"}}}}},
                      workspace);
    });
    EXPECT_NE(table.find("/table: table \"viewer\" not found"), std::string::npos) << table;
}

TEST(PostgresConnector, ARoleThatMayNotDeleteChangesNothing) {
    auto& server = PostgresServer::shared();
    auto db = server.create_database();
    server.execute(db,
                   "CREATE TABLE viewers (id serial, email text, seen bigint);"
                   "INSERT INTO viewers (email, seen) SELECT 'v' || i || '@example.org', i FROM "
                   "generate_series(1, 100) AS i;"
                   "CREATE ROLE reader LOGIN PASSWORD '" +
                       server.password() +
                       "';"
                       "GRANT SELECT ON viewers TO reader;");
    TempDir dir;
    config::Workspace workspace;
    auto connection = server.connection(db);
    connection.replace(connection.find("user=gdprctl"), 12, "user=reader");
    auto connector = open_postgres(dir, db,
                                   {{{"table", "viewers"},
                                     {"category", "usage-data"},
                                     {"subjects", {{"email", "email"}}},
                                     {"timestamp", {{"column", "seen"}, {"format", "unix"}}}}},
                                   workspace, connection);
    Selector expired;
    expired.older_than = 50;
    auto plan = connector->plan(expired, {});
    ASSERT_EQ(plan.records(), 49u);
    testing::FaultyProgress progress;
    try {
        connector->apply(plan, progress);
        FAIL() << "deleted without the privilege";
    } catch (const Error& e) {
        EXPECT_EQ(e.exit_code(), 3);
        EXPECT_NE(std::string(e.what()).find("permission denied"), std::string::npos) << e.what();
    }
    EXPECT_EQ(server.value(db, "SELECT count(*) FROM viewers"), "100");
}

}  // namespace
}  // namespace gdprctl::connectors
