// A platform whose database is PostgreSQL, through the command line: scan, export a tenant,
// erase a viewer (with the rescan and the signed certificate), on a real server.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "tests/support/postgres_server.hpp"
#include "tests/support/reference_platform.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::testing {
namespace {

class PostgresPlatform : public ::testing::Test {
protected:
    void SetUp() override {
        auto& server = PostgresServer::shared();
        m_database = server.create_database();
        // Two tenants; viewer 7 watched both. Chat messages are a person's through their session
        // (a foreign key); the tenants table holds no personal data, only the tenant's name.
        server.execute(m_database,
                       "CREATE TABLE tenants (id serial PRIMARY KEY, slug text UNIQUE, display_name text);"
                       "CREATE TABLE sessions (id serial PRIMARY KEY, tenant_id integer REFERENCES tenants(id), "
                       "email text, ip inet, started_at timestamptz);"
                       "CREATE TABLE chat (id serial PRIMARY KEY, session_id integer REFERENCES sessions(id), "
                       "body text);"
                       "INSERT INTO tenants (slug, display_name) VALUES ('acme', 'Acme Streaming Ltd'), "
                       "('bluebird', 'Bluebird Media');"
                       "INSERT INTO sessions (tenant_id, email, ip, started_at) SELECT 1 + i % 2, 'viewer' || "
                       "(i % 40) || '@example.org', ('10.0.' || (i % 40) || '.1')::inet, timestamptz "
                       "'2026-11-20 00:00:00+00' + i * interval '1 minute' FROM generate_series(1, 400) AS i;"
                       "INSERT INTO chat (session_id, body) SELECT id, 'hello from session ' || id FROM sessions "
                       "WHERE id % 3 = 1;");
        write_text(m_dir / "pgpassword", server.password() + "\n");
        nlohmann::json config = {
            {"platform", "pg-platform"},
            {"sources",
             {{{"name", "platform-db"},
               {"kind", "postgres"},
               {"connection", server.connection(m_database)},
               {"password_file", "pgpassword"},
               {"tables",
                {{{"table", "sessions"},
                  {"category", "streaming-data"},
                  {"subjects", {{"email", "email"}, {"ip", "ip"}}},
                  {"tenant",
                   {{"column", "slug"}, {"via", {{{"table", "tenants"}, {"from", "tenant_id"}, {"to", "id"}}}}}},
                  {"timestamp", {{"column", "started_at"}}}},
                 {{"table", "chat"},
                  {"category", "streaming-data"},
                  {"personal", {"body"}},
                  {"tenant",
                   {{"column", "slug"},
                    {"via",
                     {{{"table", "sessions"}, {"from", "session_id"}, {"to", "id"}},
                      {{"table", "tenants"}, {"from", "tenant_id"}, {"to", "id"}}}}}}}}},
               {"tenant_tables",
                {{{"table", "tenants"}, {"tenant", {{"column", "slug"}}}, {"names", {"display_name"}}}}}}}}};
        write_text(m_dir / "gdprctl.json", config.dump(2));
    }

    int gdprctl(const std::string& args, std::string* out = nullptr, std::string* err = nullptr) const {
        return run_command(std::string(GDPRCTL_BINARY) + " --config " + (m_dir / "gdprctl.json").string() + " " + args,
                           out, err);
    }
    std::uint64_t chat_of(const std::string& where) const {
        return std::stoull(PostgresServer::shared().value(
            m_database,
            "SELECT count(*) FROM chat c JOIN sessions s ON s.id = c.session_id JOIN tenants t ON t.id = "
            "s.tenant_id WHERE " +
                where));
    }
    std::uint64_t count(const std::string& where) const {
        return std::stoull(PostgresServer::shared().value(
            m_database, "SELECT count(*) FROM sessions s JOIN tenants t ON t.id = s.tenant_id WHERE " + where));
    }

    TempDir m_dir;
    std::string m_database;
};

TEST_F(PostgresPlatform, ScanExportAndEraseAViewerThroughTheCommandLine) {
    auto scanned = scanned_records(m_dir.path());
    EXPECT_EQ(scanned["platform-db:sessions/acme"], 200u);
    EXPECT_EQ(scanned["platform-db:sessions/bluebird"], 200u);

    std::string out, err;
    auto zip = m_dir / "acme.zip";
    ASSERT_EQ(gdprctl("--format json export --tenant acme --out " + zip.string(), &out, &err), 0) << err;
    std::map<std::string, std::uint64_t> exported;
    auto report = nlohmann::json::parse(out);
    for (const auto& dataset : report["datasets"])
        exported[dataset["dataset"]] = dataset["records"].get<std::uint64_t>();
    EXPECT_EQ(exported, (std::map<std::string, std::uint64_t>{{"platform-db:sessions", 200},
                                                              {"platform-db:chat", chat_of("t.slug = 'acme'")}}))
        << out;
    EXPECT_EQ(gdprctl("export verify " + zip.string(), &out), 0) << out;
    std::string listing;
    ASSERT_EQ(run_command("unzip -p " + zip.string() + " '*.jsonl' | grep -c bluebird || true", &listing), 0);
    EXPECT_EQ(listing, "0\n");

    // Viewer 7 (acme and bluebird sessions), by e-mail: the rows go, with the chat messages of
    // those sessions (found through the foreign key), and every other row stays.
    auto others_before = count("s.email <> 'viewer7@example.org'");
    auto other_chat_before = chat_of("s.email <> 'viewer7@example.org'");
    ASSERT_EQ(count("s.email = 'viewer7@example.org'"), 10u);
    auto their_chat = chat_of("s.email = 'viewer7@example.org'");
    ASSERT_EQ(their_chat, 4u);
    ASSERT_EQ(gdprctl("--format json erase --yes --subject email:Viewer7@example.org --certificate " +
                          (m_dir / "viewer7.json").string(),
                      &out, &err),
              0)
        << out << err;
    auto erased = nlohmann::json::parse(out);
    EXPECT_EQ(erased["records"], 10 + their_chat);
    EXPECT_EQ(erased["verification"]["result"], "no residue") << out;
    EXPECT_GE(erased["verification"]["records_scanned"].get<std::uint64_t>(), 390u) << out;
    EXPECT_EQ(count("s.email = 'viewer7@example.org'"), 0u);
    EXPECT_EQ(count("s.email <> 'viewer7@example.org'"), others_before);
    EXPECT_EQ(std::stoull(PostgresServer::shared().value(m_database, "SELECT count(*) FROM chat")), other_chat_before);
    EXPECT_EQ(gdprctl("certificate verify " + (m_dir / "viewer7.json").string(), &out), 0) << out;

    // The whole tenant acme: its sessions, their chat, and its own row (children first, as the
    // foreign keys require); the rescan looks for its name too. Bluebird keeps everything.
    auto bluebird_sessions = count("t.slug = 'bluebird'");
    auto bluebird_chat = chat_of("t.slug = 'bluebird'");
    ASSERT_EQ(gdprctl("--format json erase --yes --tenant acme", &out, &err), 0) << out << err;
    EXPECT_EQ(nlohmann::json::parse(out)["verification"]["result"], "no residue") << out;
    EXPECT_EQ(PostgresServer::shared().value(m_database, "SELECT count(*) FROM tenants WHERE slug = 'acme'"), "0");
    EXPECT_EQ(count("true"), bluebird_sessions);
    EXPECT_EQ(chat_of("true"), bluebird_chat);
    EXPECT_EQ(PostgresServer::shared().value(m_database, "SELECT display_name FROM tenants"), "Bluebird Media");
}

}  // namespace
}  // namespace gdprctl::testing
