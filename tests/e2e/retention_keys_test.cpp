// A purge on a schema whose keys reach further than the rules: expired streams whose chat
// messages are recent, with ON DELETE CASCADE (the database would take the messages) or
// NO ACTION (it would refuse part way). The rule is left alone and says why; the other rules of
// the run go on. Checked from outside with sqlite3 and psql.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/postgres_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::testing {
namespace {

std::string schema(const std::string& on_delete) {
    return "CREATE TABLE streams (id integer PRIMARY KEY, title text, started_at text);"
           "CREATE TABLE chat (id integer PRIMARY KEY, stream_id integer REFERENCES streams(id) ON DELETE " +
           on_delete +
           ", body text, sent_at text);"
           "CREATE TABLE notes (id integer PRIMARY KEY, body text, written_at text);"
           "INSERT INTO streams VALUES (1, 'old stream', '2026-01-05T10:00:00Z'), (2, 'new', '2026-11-30T10:00:00Z');"
           "INSERT INTO chat VALUES (10, 1, 'still talking about it', '2026-11-29T10:00:00Z'),"
           "  (11, 2, 'hello', '2026-11-30T10:05:00Z');"
           "INSERT INTO notes VALUES (20, 'old note by ann@example.org', '2026-01-02T00:00:00Z'),"
           "  (21, 'new note', '2026-11-30T00:00:00Z');";
}

nlohmann::json tables() {
    return {{{"table", "streams"},
             {"category", "usage-data"},
             {"personal", {"title"}},
             {"timestamp", {{"column", "started_at"}}}},
            {{"table", "chat"},
             {"category", "webinar-participants"},
             {"personal", {"body"}},
             {"timestamp", {{"column", "sent_at"}}}},
            {{"table", "notes"},
             {"category", "configuration"},
             {"personal", {"body"}},
             {"timestamp", {{"column", "written_at"}}}}};
}

// Two rules of our own: streams after 30 days, notes after 30 days.
void write_policies(const TempDir& dir) {
    auto rule = [](const char* id, const char* category) {
        return nlohmann::json{{"id", id},
                              {"kind", "retention"},
                              {"rationale", "test"},
                              {"article", "GDPR Art. 5(1)(e)"},
                              {"categories", {category}},
                              {"max_age_days", 30},
                              {"action", "delete"}};
    };
    write_text(dir / "policies" / "rules.json",
               nlohmann::json::array({rule("test.streams-30d", "usage-data"), rule("test.notes-30d", "configuration")})
                   .dump(2));
}

class PurgeThroughKeys : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        write_policies(m_dir);
        nlohmann::json source = {{"name", "db"}, {"tables", tables()}};
        if (postgres()) {
            auto& server = PostgresServer::shared();
            m_database = server.create_database();
            server.execute(m_database, schema(on_delete()));
            write_text(m_dir / "pgpassword", server.password() + "\n");
            source["kind"] = "postgres";
            source["connection"] = server.connection(m_database);
            source["password_file"] = "pgpassword";
        } else {
            std::string err;
            write_text(m_dir / "schema.sql", schema(on_delete()));
            ASSERT_EQ(run_command("sqlite3 " + (m_dir / "db.sqlite").string() + " < " + (m_dir / "schema.sql").string(),
                                  nullptr, &err),
                      0)
                << err;
            source["kind"] = "sqlite";
            source["path"] = "db.sqlite";
        }
        write_text(m_dir / "gdprctl.json",
                   nlohmann::json{{"platform", "keys"},
                                  {"policies", {{"disable", {"retention.usage-logs-90d", "retention.chat-90d"}}}},
                                  {"sources", {source}}}
                       .dump(2));
    }
    bool postgres() const { return GetParam().rfind("postgres", 0) == 0; }
    std::string on_delete() const { return GetParam().find("cascade") != std::string::npos ? "CASCADE" : "NO ACTION"; }
    int gdprctl(const std::string& args, std::string* out, std::string* err) const {
        return run_command(std::string(GDPRCTL_BINARY) + " --config " + (m_dir / "gdprctl.json").string() + " " + args +
                               " --policies " + (m_dir / "policies").string() + " --now 2026-12-03T00:00:00Z",
                           out, err);
    }
    std::string ids(const std::string& table) const {
        std::string sql = "SELECT COALESCE(group_concat(id, ','), '') FROM (SELECT id FROM " + table + " ORDER BY id)";
        if (postgres())
            return PostgresServer::shared().value(
                m_database, "SELECT COALESCE(string_agg(id::text, ',' ORDER BY id), '') FROM " + table);
        std::string out;
        run_command("sqlite3 " + (m_dir / "db.sqlite").string() + " " + shell_quote(sql), &out);
        return out.substr(0, out.find('\n'));
    }

    TempDir m_dir;
    std::string m_database;
};

TEST_P(PurgeThroughKeys, TheRuleIsLeftAloneSayingWhyAndTheOthersRun) {
    std::string out, err;
    EXPECT_EQ(gdprctl("retention plan", &out, &err), 1) << out << err;
    EXPECT_NE(out.find("BLOCKED"), std::string::npos) << out;
    EXPECT_NE(out.find("1 row of chat"), std::string::npos) << out;
    EXPECT_NE(out.find("chat.stream_id -> streams.id, ON DELETE " + on_delete()), std::string::npos) << out;
    EXPECT_EQ(gdprctl("--format json retention apply", &out, &err), 1) << out << err;
    auto result = nlohmann::json::parse(out);
    ASSERT_EQ(result["blocked"].size(), 1u) << out;
    EXPECT_NE(result["blocked"][0].get<std::string>().find("test.streams-30d"), std::string::npos) << out;
    EXPECT_EQ(ids("streams"), "1,2") << "the expired stream stays, with the chat that points at it";
    EXPECT_EQ(ids("chat"), "10,11");
    EXPECT_EQ(ids("notes"), "21") << "the other rule of the run went on";
}

TEST_P(PurgeThroughKeys, RowsThatExpireWithTheSameRuleGoFirstAndNothingIsBlocked) {
    // The chat is usage data too, and its message on the old stream is old: both expire.
    auto config = nlohmann::json::parse(read_text(m_dir / "gdprctl.json"));
    config["sources"][0]["tables"][1]["category"] = "usage-data";
    write_text(m_dir / "gdprctl.json", config.dump(2));
    std::string old_message = "UPDATE chat SET sent_at = '2026-01-05T11:00:00Z' WHERE id = 10";
    if (postgres())
        PostgresServer::shared().execute(m_database, old_message);
    else
        ASSERT_EQ(run_command("sqlite3 " + (m_dir / "db.sqlite").string() + " " + shell_quote(old_message)), 0);
    std::string out, err;
    EXPECT_EQ(gdprctl("retention apply", &out, &err), 0) << out << err;
    EXPECT_EQ(ids("streams"), "2");
    EXPECT_EQ(ids("chat"), "11");
    EXPECT_EQ(ids("notes"), "21");
}

INSTANTIATE_TEST_SUITE_P(Keys, PurgeThroughKeys,
                         ::testing::Values("sqlite_cascade", "sqlite_no_action", "postgres_cascade",
                                           "postgres_no_action"));

}  // namespace
}  // namespace gdprctl::testing
