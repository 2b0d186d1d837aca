// Export and erasure on a schema nobody here designed (tests/support/tube_platform.hpp): the
// person's export holds exactly their rows, their erasure removes exactly those, other people's
// rows stay byte for byte (but for the mentions of the person, redacted and listed), the
// database loses exactly the rows the certificate counts, and nothing of the person is left in
// any byte. Every check is made from outside, with sqlite3, psql and grep -a.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "tests/support/postgres_server.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/tube_platform.hpp"

namespace gdprctl::testing {
namespace {

using tube::Flavour;

const std::vector<std::string>& all_tables() {
    static const std::vector<std::string> k_tables = {
        "user",       "account", "video",        "videoComment",     "accountVideoRate", "userVideoHistory",
        "videoView",  "abuse",   "abuseMessage", "userNotification", "oAuthToken",       "actorFollow",
        "userExport", "jobQueue"};
    return k_tables;
}

std::string quoted(const std::string& table) { return "\"" + table + "\""; }

// One tube platform in a temp dir, in either flavour, and what is seen of it from outside.
class TubePlatform {
public:
    explicit TubePlatform(Flavour flavour) : m_flavour(flavour) {
        if (flavour == Flavour::sqlite_without_keys) {
            m_db = (m_dir / "tube.db").string();
            write_text(m_dir / "schema.sql", tube::schema_and_rows(flavour));
            std::string err;
            if (run_command("sqlite3 " + m_db + " < " + (m_dir / "schema.sql").string(), nullptr, &err) != 0)
                throw std::runtime_error("sqlite3: " + err);
        } else {
            auto& server = PostgresServer::shared();
            m_database = server.create_database();
            server.execute(m_database, tube::schema_and_rows(flavour));
            write_text(m_dir / "pgpassword", server.password() + "\n");
        }
        write_config(flavour == Flavour::sqlite_without_keys ? tube::declared_links() : nlohmann::json::array());
    }

    void write_config(const nlohmann::json& links, const std::function<void(nlohmann::json&)>& edit = {}) const {
        auto config =
            tube::config(m_flavour, is_sqlite() ? "tube.db" : PostgresServer::shared().connection(m_database), links);
        if (edit) edit(config);
        write_text(m_dir / "gdprctl.json", config.dump(2));
    }

    bool is_sqlite() const { return m_flavour == Flavour::sqlite_without_keys; }

    int gdprctl(const std::string& args, std::string* out = nullptr, std::string* err = nullptr) const {
        return run_command(std::string(GDPRCTL_BINARY) + " --config " + (m_dir / "gdprctl.json").string() + " " + args,
                           out, err);
    }

    // One value, by sqlite3 or psql.
    std::string value(const std::string& sql) const {
        if (!is_sqlite()) return PostgresServer::shared().value(m_database, sql);
        std::string out, err;
        if (run_command("sqlite3 " + m_db + " " + shell_quote(sql), &out, &err) != 0)
            throw std::runtime_error("sqlite3: " + err);
        while (!out.empty() && out.back() == '\n') out.pop_back();
        return out;
    }
    // Runs statements that return nothing.
    void execute(const std::string& sql) const {
        if (!is_sqlite()) return PostgresServer::shared().execute(m_database, sql);
        value(sql);
    }
    std::uint64_t count(const std::string& table, const std::string& where = "true") const {
        return std::stoull(value("SELECT count(*) FROM " + quoted(table) + " WHERE " + where));
    }
    std::map<std::string, std::uint64_t> counts() const {
        std::map<std::string, std::uint64_t> counts;
        for (const auto& table : all_tables()) counts[table] = count(table);
        return counts;
    }
    // Every row of a table but those excluded, each as one line of its values, in id order.
    std::string rows(const std::string& table, const std::string& excluded = "false") const {
        if (is_sqlite()) {
            std::string out;
            run_command("sqlite3 -quote " + m_db + " " +
                            shell_quote("SELECT * FROM " + quoted(table) + " WHERE NOT (" + excluded + ") ORDER BY id"),
                        &out);
            return out;
        }
        return value("SELECT COALESCE(string_agg(t::text, E'\\n' ORDER BY id), '') FROM " + quoted(table) +
                     " AS t WHERE NOT (" + excluded + ")");
    }
    // Whether text occurs anywhere: in the SQLite file's bytes (grep -a), or in any column of
    // any table, as text (PostgreSQL).
    std::uint64_t occurrences(const std::string& text) const {
        if (is_sqlite()) {
            std::string out;
            run_command("cat " + m_db + "* | grep -a -o -F " + shell_quote(text) + " | wc -l", &out);
            return std::stoull(out);
        }
        std::uint64_t total = 0;
        for (const auto& table : all_tables())
            total += std::stoull(value("SELECT count(*) FROM " + quoted(table) + " AS t WHERE t::text LIKE '%' || " +
                                       "replace(replace(" + sql_text(text) + ", '_', '\\_'), '%', '\\%') || '%'"));
        return total;
    }
    static std::string sql_text(const std::string& text) {
        std::string out = "'";
        for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
        return out + "'";
    }

    const TempDir& dir() const { return m_dir; }

private:
    Flavour m_flavour;
    TempDir m_dir;
    std::string m_db;
    std::string m_database;
};

const char* k_bob = "--subject email:bob@mailbox.example";

// What bob's erasure must leave of the others, and what it must not leave of him.
void expect_only_bob_gone(const TubePlatform& platform, const std::map<std::string, std::uint64_t>& before,
                          const nlohmann::json& report) {
    auto after = platform.counts();
    std::uint64_t lost = 0;
    for (const auto& [table, rows] : before) lost += rows - after.at(table);
    EXPECT_EQ(report["records"].get<std::uint64_t>(), lost) << report.dump(2);
    for (const auto& [table, where] : tube::bobs_rows()) EXPECT_EQ(platform.count(table, where), 0u) << table;
    for (const char* identifier : {tube::k_bob_email, tube::k_bob_actor, tube::k_bob_ip, tube::k_bob_token})
        EXPECT_EQ(platform.occurrences(identifier), 0u) << identifier;
    for (const char* other : {"alice@example.org", "carol@example.net", "tok-alice-3f9a", "203.0.113.5"})
        EXPECT_GT(platform.occurrences(other), 0u) << other;
}

// Bob's erasure, certified to bob.json; its report.
nlohmann::json erase_bob_with_certificate(const TubePlatform& platform) {
    std::string out, err;
    int status = platform.gdprctl(
        "--format json erase --yes " + std::string(k_bob) + " --certificate " + (platform.dir() / "bob.json").string(),
        &out, &err);
    EXPECT_EQ(status, 0) << out << err;
    auto report = nlohmann::json::parse(out, nullptr, false);
    EXPECT_EQ(report["verification"]["result"], "no residue") << out;
    return report;
}

// Every table's rows but bob's and those listed as changed on purpose, as text.
std::map<std::string, std::string> rows_of_others(const TubePlatform& platform,
                                                  const std::map<std::string, std::string>& changed) {
    std::map<std::string, std::string> rows;
    for (const auto& table : all_tables()) {
        auto bobs = tube::bobs_rows().count(table) ? tube::bobs_rows().at(table) : "false";
        auto touched = changed.count(table) ? changed.at(table) : "false";
        rows[table] = platform.rows(table, "(" + bobs + ") OR (" + touched + ")");
    }
    return rows;
}

// ---- SQLite, no foreign keys: every link is the data map's ----

// Users' handles as an identifier kind of the workspace's own, so that bob's handle is looked
// for in every table.
void declare_handles(nlohmann::json& config) {
    config["identifier_kinds"] = {"handle"};
    config["sources"][0]["tables"][0]["subjects"]["handle"] = {"username"};
}

class TubeWithoutKeys : public ::testing::Test {
protected:
    TubePlatform m_platform{Flavour::sqlite_without_keys};
};

// Bob's export holds his rows, table by table as an independent query counts them, and no line
// of anybody else's.
void expect_bobs_export_holds_only_his_rows(const TubePlatform& platform) {
    std::string out, err;
    auto zip = platform.dir() / "bob.zip";
    ASSERT_EQ(platform.gdprctl("--format json export " + std::string(k_bob) + " --out " + zip.string(), &out, &err), 0)
        << out << err;
    std::map<std::string, std::uint64_t> exported, expected;
    auto report = nlohmann::json::parse(out);
    for (const auto& dataset : report["datasets"])
        if (dataset["records"].get<std::uint64_t>())
            exported[dataset["dataset"].get<std::string>().substr(8)] = dataset["records"].get<std::uint64_t>();
    for (const auto& [table, where] : tube::bobs_rows()) expected[table] = platform.count(table, where);
    EXPECT_EQ(exported, expected) << out;
    std::string listing;
    run_command(
        "unzip -p " + zip.string() + " | grep -a -c -E 'alice@|carol@|tok-alice|moderation@|we are looking' || true",
        &listing);
    EXPECT_EQ(listing, "0\n") << "another person's data in bob's export";
}

TEST_F(TubeWithoutKeys, ExportHoldsBobsRowsAndNobodyElses) { expect_bobs_export_holds_only_his_rows(m_platform); }

TEST_F(TubeWithoutKeys, ScanOfBobCountsWhatTheExportHolds) {
    std::string out, err;
    ASSERT_EQ(m_platform.gdprctl("--format json scan " + std::string(k_bob), &out, &err), 0) << err;
    std::uint64_t records = 0;
    auto scan = nlohmann::json::parse(out);
    for (const auto& source : scan["sources"])
        for (const auto& row : source["inventory"]) records += row["records"].get<std::uint64_t>();
    EXPECT_EQ(records, tube::bobs_row_count()) << out;
}

TEST_F(TubeWithoutKeys, ErasureRemovesBobAndRedactsTheOthersMentionsOfHim) {
    auto before = m_platform.counts();
    // Rows that mention bob without being his: the rest of each of them must stay as it was.
    const std::map<std::string, std::string> mentions = {
        {"videoComment", "id = 1004"}, {"actorFollow", "id = 901"}, {"jobQueue", "id IN (961, 963)"}};
    auto others_before = rows_of_others(m_platform, mentions);
    std::string out, err;
    ASSERT_EQ(m_platform.gdprctl("--format json erase --dry-run " + std::string(k_bob), &out, &err), 0) << out << err;
    EXPECT_EQ(m_platform.counts(), before) << "a dry run changed the database";
    auto report = erase_bob_with_certificate(m_platform);
    EXPECT_EQ(report["records"].get<std::uint64_t>(), tube::bobs_row_count()) << out;
    expect_only_bob_gone(m_platform, before, report);
    EXPECT_EQ(rows_of_others(m_platform, mentions), others_before) << "other people's rows changed";
    EXPECT_EQ(m_platform.value("SELECT text FROM \"videoComment\" WHERE id = 1004"),
              "thanks, I sent the recipe to [erased]");
    EXPECT_EQ(m_platform.value("SELECT \"actorUrl\" || ' ' || \"targetActorUrl\" FROM \"actorFollow\" WHERE id = 901"),
              "https://social.example/users/alice [erased]");
    EXPECT_EQ(m_platform.value("SELECT payload FROM \"jobQueue\" WHERE id = 961"),
              "{\"uri\":\"[erased]/inbox\",\"body\":\"Follow\"}");
    // Each redaction is listed with its table and column.
    std::map<std::string, std::uint64_t> redacted;
    for (const auto& source : report["sources"])
        for (const auto& item : source["actions"])
            if (item["what"].get<std::string>().rfind("redact", 0) == 0)
                redacted[item["dataset"].get<std::string>() + " " + item["what"].get<std::string>()] +=
                    item["records"].get<std::uint64_t>();
    EXPECT_EQ(redacted, (std::map<std::string, std::uint64_t>{{"tube-db:actorFollow redact targetActorUrl", 1},
                                                              {"tube-db:jobQueue redact payload", 2},
                                                              {"tube-db:videoComment redact text", 1}}))
        << out;
    EXPECT_EQ(m_platform.gdprctl("certificate verify " + (m_platform.dir() / "bob.json").string(), &out), 0) << out;
}

TEST_F(TubeWithoutKeys, RescanFindsBobBackToBackWithTheNextValueAndInUndeclaredTables) {
    std::string out, err;
    ASSERT_EQ(m_platform.gdprctl("--format json erase --yes " + std::string(k_bob), &out, &err), 0) << out << err;
    auto request = nlohmann::json::parse(out)["request"].get<std::string>();
    // Written back by the platform afterwards: his address just before another column's text in
    // the record, his actor's inbox in a table nobody declared.
    m_platform.value(
        "CREATE TABLE invites (id INTEGER PRIMARY KEY, email TEXT, state TEXT); "
        "INSERT INTO invites VALUES (5, 'bob@mailbox.example', 'pending'); "
        "INSERT INTO \"jobQueue\" VALUES (970, 'x', 'https://social.example/users/bob/outbox')");
    ASSERT_EQ(
        m_platform.gdprctl("erase verify --request " + request + " " + k_bob + " --subject user:" + tube::k_bob_actor,
                           &out, &err),
        1)
        << out << err;
    EXPECT_NE(out.find("invites.email"), std::string::npos) << out;
    EXPECT_NE(out.find("jobQueue.payload"), std::string::npos) << out;
    EXPECT_NE(out.find("970"), std::string::npos) << "the row is named: " << out;
    EXPECT_EQ(out.find("bob@"), std::string::npos) << "never the value: " << out;
}

TEST_F(TubeWithoutKeys, AResidueRequestIsCertifiedOnceCleanAgain) {
    // Bob's address sits in a place the erasure cannot change (a view's text is its schema).
    m_platform.value("CREATE VIEW greeting AS SELECT 'bob@mailbox.example' AS who");
    std::string out, err;
    ASSERT_EQ(m_platform.gdprctl("--format json erase --yes " + std::string(k_bob), &out, &err), 1) << out << err;
    auto report = nlohmann::json::parse(out);
    ASSERT_EQ(report["verification"]["result"], "residue found") << out;
    auto request = report["request"].get<std::string>();
    m_platform.value("DROP VIEW greeting; VACUUM");
    ASSERT_EQ(m_platform.gdprctl("erase verify --request " + request + " " + k_bob, &out, &err), 0) << out << err;
    ASSERT_EQ(m_platform.gdprctl("erase list", &out), 0);
    EXPECT_NE(out.find(request), std::string::npos);
    EXPECT_NE(out.find("verified"), std::string::npos) << out;
    auto certificate = m_platform.dir() / "late.json";
    ASSERT_EQ(m_platform.gdprctl("certificate show --request " + request + " > " + certificate.string(), &out, &err), 0)
        << err;
    EXPECT_EQ(m_platform.gdprctl("certificate verify " + certificate.string(), &out), 0) << out;
}

// Bob's erasure killed at random points (seeded, up to longest_ms after each start), then
// finished: every table ends as one_shot's, where it ran once.
void expect_killed_erasure_ends_as(const TubePlatform& platform, const TubePlatform& one_shot, unsigned seed,
                                   int longest_ms) {
    std::string out, err;
    ASSERT_EQ(one_shot.gdprctl("erase --yes " + std::string(k_bob), &out, &err), 0) << out << err;
    std::mt19937 random(seed);
    std::vector<int> delays;
    for (int i = 0; i < 6; ++i) delays.push_back(std::uniform_int_distribution<int>(5, longest_ms)(random));
    run_and_kill_after({GDPRCTL_BINARY, "--config", (platform.dir() / "gdprctl.json").string(), "erase", "--yes",
                        "--subject", "email:bob@mailbox.example"},
                       {delays[0], delays[1], delays[2], delays[3], delays[4], delays[5]});
    int status = platform.gdprctl("erase --resume", &out, &err);
    if (status == 2) status = platform.gdprctl("erase --yes " + std::string(k_bob), &out, &err);
    ASSERT_EQ(status, 0) << out << err;
    for (const auto& table : all_tables()) EXPECT_EQ(platform.rows(table), one_shot.rows(table)) << table;
}

TEST_F(TubeWithoutKeys, AnErasureKilledAtAnyPointEndsAsAOneShotRunDoes) {
    TubePlatform one_shot(Flavour::sqlite_without_keys);
    expect_killed_erasure_ends_as(m_platform, one_shot, 18, 120);
}

TEST_F(TubeWithoutKeys, DataMapGapsAreNamedWithTheirPlace) {
    std::string out, err;
    // Text timestamps read as Unix seconds would make every row 1970's.
    m_platform.write_config(tube::declared_links(), [](nlohmann::json& config) {
        config["sources"][0]["tables"][0]["timestamp"]["format"] = "unix";
    });
    EXPECT_EQ(m_platform.gdprctl("scan", &out, &err), 2);
    EXPECT_NE(err.find("/sources/0/tables/0/timestamp/format"), std::string::npos) << err;
    // An owner column with no link to a mapped table.
    m_platform.write_config(nlohmann::json::array(), {});
    EXPECT_EQ(m_platform.gdprctl("scan", &out, &err), 2);
    EXPECT_NE(err.find("/sources/0/tables/1/owner"), std::string::npos) << err;
    EXPECT_NE(err.find("links"), std::string::npos) << err;
    // A link to a column that does not exist.
    auto links = tube::declared_links();
    links[0]["to"] = "user.uid";
    m_platform.write_config(links);
    EXPECT_EQ(m_platform.gdprctl("scan", &out, &err), 2);
    EXPECT_NE(err.find("/sources/0/links/0/to"), std::string::npos) << err;
}

TEST_F(TubeWithoutKeys, ATriggerThatDeletesMoreRowsRollsTheErasureBackAndTheRequestEndsFailed) {
    // The platform's own trigger takes a video's view counters with it: rows no plan counted.
    m_platform.value(
        "CREATE TRIGGER views_go AFTER DELETE ON video BEGIN "
        "DELETE FROM \"videoView\" WHERE \"videoId\" = old.id; END");
    auto before = m_platform.counts();
    std::string out, err;
    EXPECT_EQ(m_platform.gdprctl("erase --yes " + std::string(k_bob), &out, &err), 1) << out << err;
    EXPECT_NE(err.find("table videoView would lose 2 rows, the plan deletes 0"), std::string::npos) << err;
    EXPECT_EQ(m_platform.counts(), before) << "the transaction must have rolled back";
    ASSERT_EQ(m_platform.gdprctl("erase list", &out), 0);
    EXPECT_NE(out.find("failed"), std::string::npos) << out;
    ASSERT_EQ(m_platform.gdprctl("journal show", &out), 0);
    EXPECT_NE(out.find("error: failed in tube-db"), std::string::npos) << out;
    // Nothing is stuck: with the trigger's rows declared as going with the video, it runs.
    auto links = tube::declared_links();
    links.push_back({{"from", "videoView.videoId"}, {"to", "video.id"}, {"on_erase", "delete"}});
    m_platform.write_config(links);
    auto report = erase_bob_with_certificate(m_platform);
    EXPECT_EQ(report["records"].get<std::uint64_t>(), tube::bobs_row_count() + 2) << report.dump(2);
    EXPECT_EQ(m_platform.count("videoView"), 2u);
}

TEST_F(TubeWithoutKeys, BobsLinesInALiveLogWithoutReopenStopTheErasureBeforeAnyChange) {
    // nginx keeps appending to access.log: without "reopen", gdprctl may not rewrite it, and
    // must say so rather than leave bob's line there.
    auto log = m_platform.dir() / "logs" / "access.log";
    write_text(log, std::string(tube::k_bob_ip) +
                        " - - [02/Jun/2026:08:00:00 +0000] \"GET /w/102 HTTP/1.1\" 200 5 \"-\" \"UA\"\n"
                        "203.0.113.5 - - [02/Jun/2026:08:00:01 +0000] \"GET /w/101 HTTP/1.1\" 200 5 \"-\" \"UA\"\n");
    m_platform.write_config(tube::declared_links(), [](nlohmann::json& config) {
        config["sources"].push_back({{"name", "access-log"},
                                     {"kind", "logfile"},
                                     {"path", "logs/access.log*"},
                                     {"format", "combined"},
                                     {"category", "usage-data"},
                                     {"subjects", {{"ip", {"remote_addr"}}}}});
    });
    auto before = m_platform.counts();
    auto log_before = read_text(log);
    std::string out, err;
    EXPECT_EQ(m_platform.gdprctl("erase --dry-run " + std::string(k_bob), &out, &err), 1) << out << err;
    EXPECT_NE(out.find("BLOCKED"), std::string::npos) << out;
    EXPECT_NE(out.find("\"reopen\""), std::string::npos) << out;
    EXPECT_EQ(m_platform.gdprctl("erase --yes " + std::string(k_bob), &out, &err), 1) << out << err;
    EXPECT_NE(err.find("access.log holds 1 lines to erase"), std::string::npos) << err;
    EXPECT_EQ(m_platform.counts(), before);
    EXPECT_EQ(read_text(log), log_before);
}

TEST_F(TubeWithoutKeys, AnotherSourceNamingTheSameUserIdsIsLinkedThroughTheIdentifierKind) {
    // An analytics database of its own, whose events name the platform's user ids.
    auto analytics = m_platform.dir() / "analytics.db";
    std::string err;
    ASSERT_EQ(run_command("sqlite3 " + analytics.string() +
                              " \"CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER, page TEXT); "
                              "INSERT INTO events VALUES (1, 2, '/w/102'), (2, 1, '/w/101'), (3, 2, '/w/104')\"",
                          nullptr, &err),
              0)
        << err;
    m_platform.write_config(tube::declared_links(), [](nlohmann::json& config) {
        config["sources"].push_back({{"name", "analytics"},
                                     {"kind", "sqlite"},
                                     {"path", "analytics.db"},
                                     {"tables",
                                      {{{"table", "events"},
                                        {"category", "usage-data"},
                                        {"subjects", {{"user", {"user_id"}}}},
                                        {"personal", {"page"}}}}}});
    });
    std::string out;
    ASSERT_EQ(m_platform.gdprctl("--format json export " + std::string(k_bob) + " --dry-run", &out, &err), 0) << err;
    auto exported = nlohmann::json::parse(out);
    std::uint64_t events = 0;
    for (const auto& dataset : exported["datasets"])
        if (dataset["dataset"] == "analytics:events") events = dataset["records"].get<std::uint64_t>();
    EXPECT_EQ(events, 2u) << out;
    erase_bob_with_certificate(m_platform);
    std::string left;
    run_command("sqlite3 " + analytics.string() + " 'SELECT group_concat(id) FROM events'", &left);
    EXPECT_EQ(left, "2\n") << "only alice's event stays";
}

TEST_F(TubeWithoutKeys, AnIdentifierKindTheWorkspaceDeclaresIsMatchedExactly) {
    auto records_of = [&](const std::string& subject) {
        std::string out, err;
        EXPECT_EQ(m_platform.gdprctl("--format json scan --subject " + subject, &out, &err), 0) << err;
        std::uint64_t records = 0;
        auto scan = nlohmann::json::parse(out);
        for (const auto& source : scan["sources"])
            for (const auto& row : source["inventory"]) records += row["records"].get<std::uint64_t>();
        return records;
    };
    std::string out, err;
    EXPECT_EQ(m_platform.gdprctl("scan --subject handle:bob", &out, &err), 2);
    EXPECT_NE(err.find("identifier_kinds"), std::string::npos) << err;
    m_platform.write_config(tube::declared_links(), declare_handles);
    EXPECT_EQ(records_of("handle:bob"), tube::bobs_row_count());
    EXPECT_EQ(records_of("handle:Bob"), 0u) << "a handle is not an e-mail address: its case counts";
}

// ---- PostgreSQL, with the platform's own CASCADE, SET NULL and NO ACTION keys ----

class TubeWithKeys : public ::testing::Test {
protected:
    TubePlatform m_platform{Flavour::postgres_with_keys};
};

TEST_F(TubeWithKeys, ExportHoldsBobsRowsAndNobodyElses) { expect_bobs_export_holds_only_his_rows(m_platform); }

TEST_F(TubeWithKeys, CascadesOntoOtherPeoplesRowsStopTheErasureBeforeAnyChange) {
    auto before = m_platform.counts();
    std::string out, err;
    EXPECT_EQ(m_platform.gdprctl("erase --dry-run " + std::string(k_bob), &out, &err), 1) << out << err;
    for (const char* named : {"videoComment.videoId", "videoView.videoId", "abuseMessage.abuseId", "userExport.userId",
                              "ON DELETE CASCADE", "NO ACTION", "on_erase"})
        EXPECT_NE((out + err).find(named), std::string::npos) << named << " in: " << out << err;
    EXPECT_EQ(m_platform.gdprctl("erase --yes " + std::string(k_bob), &out, &err), 1) << out << err;
    EXPECT_EQ(m_platform.counts(), before) << "nothing may change";
    // Nothing is left half done: the next erasure, once the data map says what to do, runs.
    m_platform.write_config(tube::rules_for_others_rows());
    EXPECT_EQ(m_platform.gdprctl("erase --yes " + std::string(k_bob), &out, &err), 0) << out << err;
}

TEST_F(TubeWithKeys, WithRulesForOthersRowsTheDatabaseLosesExactlyWhatIsCounted) {
    m_platform.write_config(tube::rules_for_others_rows());
    auto before = m_platform.counts();
    // What the rules let go or change of other people's, and the mentions of bob: the rest of
    // every other person's rows must stay as it was.
    const std::map<std::string, std::string> changed = {{"videoComment", "true"},
                                                        {"accountVideoRate", "true"},
                                                        {"userVideoHistory", "true"},
                                                        {"videoView", "id IN (4002, 4003)"},
                                                        {"abuse", "id = 502"},
                                                        {"abuseMessage", "id = 602"},
                                                        {"userNotification", "id IN (701, 703)"},
                                                        {"actorFollow", "id = 901"},
                                                        {"userExport", "true"},
                                                        {"jobQueue", "id IN (961, 963)"}};
    auto others_before = rows_of_others(m_platform, changed);
    std::string out, err;
    ASSERT_EQ(m_platform.gdprctl("--format json erase --dry-run " + std::string(k_bob), &out, &err), 0) << out << err;
    auto planned = nlohmann::json::parse(out)["records"].get<std::uint64_t>();
    auto report = erase_bob_with_certificate(m_platform);
    EXPECT_EQ(report["records"].get<std::uint64_t>(), planned);
    expect_only_bob_gone(m_platform, before, report);
    EXPECT_EQ(rows_of_others(m_platform, changed), others_before) << "other people's rows changed";
    EXPECT_EQ(report["records"].get<std::uint64_t>(), tube::bobs_row_count() + 10) << "bob's 17 and 10 of others'";
    // Cascaded with his videos: 2 comments, 2 ratings, 2 history rows and 2 view counters of
    // others'; with his report, the moderator's message; his export. Detached, not deleted: the
    // replies to his comments, the notifications about his things, the report about him.
    EXPECT_EQ(m_platform.count("videoComment"), 2u);
    EXPECT_EQ(m_platform.count("videoComment", "\"inReplyToCommentId\" IS NULL"), 2u);
    EXPECT_EQ(m_platform.count("userNotification"), 3u);
    EXPECT_EQ(m_platform.value("SELECT \"flaggedAccountId\" IS NULL FROM abuse WHERE id = 502"), "t");
    EXPECT_EQ(m_platform.count("abuseMessage"), 1u);
    EXPECT_EQ(m_platform.count("userExport"), 0u);
    EXPECT_EQ(m_platform.gdprctl("certificate verify " + (m_platform.dir() / "bob.json").string(), &out), 0) << out;
    // The certificate counts what the database lost too.
    auto certificate = nlohmann::json::parse(read_text(m_platform.dir() / "bob.json"));
    EXPECT_EQ(certificate["certificate"]["sources"][0]["records"], report["records"]) << certificate.dump(2);
}

TEST_F(TubeWithKeys, AnErasureKilledAtAnyPointEndsAsAOneShotRunDoes) {
    m_platform.write_config(tube::rules_for_others_rows());
    TubePlatform one_shot(Flavour::postgres_with_keys);
    one_shot.write_config(tube::rules_for_others_rows());
    expect_killed_erasure_ends_as(m_platform, one_shot, 1808, 250);
}

TEST_F(TubeWithKeys, AMentionThatWouldNotFitItsColumnOnceRedactedIsFoundInThePlan) {
    // Bob's handle, three characters, in a column of five: "[erased]" would not fit.
    m_platform.execute(
        "CREATE TABLE \"loginAudit\" (id integer PRIMARY KEY, who varchar(5));"
        "INSERT INTO \"loginAudit\" VALUES (1, 'bob'), (2, 'alice')");
    m_platform.write_config(tube::rules_for_others_rows(), declare_handles);
    auto before = m_platform.counts();
    std::string out, err;
    EXPECT_EQ(m_platform.gdprctl("erase --yes " + std::string(k_bob), &out, &err), 1) << out << err;
    EXPECT_NE(err.find("loginAudit.who is character varying(5)"), std::string::npos) << err;
    EXPECT_EQ(m_platform.counts(), before);
    EXPECT_EQ(m_platform.value("SELECT who FROM \"loginAudit\" WHERE id = 1"), "bob");
}

TEST_F(TubeWithKeys, AFailedStatementIsDiagnosedByItsConstraintWithoutTheRowValuesPostgreSQLQuotes) {
    // A CHECK the plan does not predict: redacting bob's handle breaks it, and the server's
    // DETAIL line quotes the whole failing row, his address in it.
    m_platform.execute(
        "CREATE TABLE \"loginAudit\" (id integer PRIMARY KEY, "
        "who text CONSTRAINT who_is_a_handle CHECK (who NOT LIKE '[%'), note text);"
        "INSERT INTO \"loginAudit\" VALUES (1, 'bob', 'signed in from 198.51.100.77'), (2, 'alice', 'x')");
    m_platform.write_config(tube::rules_for_others_rows(), declare_handles);
    auto before = m_platform.counts();
    std::string out, err;
    EXPECT_NE(m_platform.gdprctl("erase --yes " + std::string(k_bob), &out, &err), 0) << out << err;
    EXPECT_NE(err.find("who_is_a_handle"), std::string::npos) << err;
    EXPECT_NE(err.find("SQLSTATE 23514"), std::string::npos) << err;
    EXPECT_EQ(err.find("Failing row"), std::string::npos) << err;
    EXPECT_EQ(err.find("198.51.100.77"), std::string::npos) << err;
    EXPECT_EQ(out.find("198.51.100.77"), std::string::npos) << out;
    EXPECT_EQ(m_platform.counts(), before) << "the transaction must have rolled back";
    EXPECT_EQ(m_platform.value("SELECT who FROM \"loginAudit\" WHERE id = 1"), "bob");
}

TEST_F(TubeWithKeys, AnonymisingANotNullColumnIsRefusedInThePlan) {
    m_platform.write_config(tube::rules_for_others_rows(), [](nlohmann::json& config) {
        config["sources"][0]["tables"][2]["erase"] = "anonymise";  // video.name is NOT NULL
    });
    auto before = m_platform.counts();
    std::string out, err;
    EXPECT_EQ(m_platform.gdprctl("erase --yes " + std::string(k_bob), &out, &err), 1) << out << err;
    EXPECT_NE((out + err).find("video.name"), std::string::npos) << out << err;
    EXPECT_NE((out + err).find("NOT NULL"), std::string::npos) << out << err;
    EXPECT_EQ(m_platform.counts(), before);
    ASSERT_EQ(m_platform.gdprctl("erase list", &out), 0);
    EXPECT_EQ(out.find("applying"), std::string::npos) << out;
}

}  // namespace
}  // namespace gdprctl::testing
