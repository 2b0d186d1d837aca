#include "tests/support/store_fixtures.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <openssl/evp.h>
#include <sys/time.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "tests/support/ceph_cluster.hpp"
#include "tests/support/postgres_server.hpp"

namespace gdprctl::testing {

namespace {

// The data map of the SQL fixtures' visits table: tenant through rooms to tenants.
nlohmann::json visits_data_map() {
    return {{{"table", "visits"},
             {"category", "streaming-data"},
             {"subjects", {{"email", "email"}, {"ip", "ip"}}},
             {"tenant",
              {{"column", "slug"},
               {"via",
                {{{"table", "rooms"}, {"from", "room_id"}, {"to", "id"}},
                 {{"table", "tenants"}, {"from", "tenant"}, {"to", "id"}}}}}},
             {"timestamp", {{"column", "seen_at"}, {"format", "iso8601"}}}}};
}

class SqliteFixture final : public StoreFixture {
public:
    std::string kind() const override { return "sqlite"; }
    bool has_subjects() const override { return true; }
    bool detects_undeclared() const override { return true; }

protected:
    nlohmann::json write_store(const std::filesystem::path& dir) override {
        SQLite::Database db((dir / "app.db").string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        db.exec(
            "CREATE TABLE tenants (id INTEGER PRIMARY KEY, slug TEXT);"
            "CREATE TABLE rooms (id INTEGER PRIMARY KEY, tenant INTEGER REFERENCES tenants(id));"
            "CREATE TABLE visits (id INTEGER PRIMARY KEY, room_id INTEGER, email TEXT, ip TEXT, seen_at TEXT,"
            " notes TEXT);");
        db.exec(
            "INSERT INTO tenants VALUES (1, 't1'), (2, 't2');"
            "INSERT INTO rooms VALUES (10, 1), (20, 2), (30, NULL);");
        SQLite::Statement insert(db, "INSERT INTO visits (room_id, email, ip, seen_at, notes) VALUES (?, ?, ?, ?, ?)");
        for (const auto& record : sample_records()) {
            insert.bind(1, record.tenant == "t1" ? 10 : record.tenant == "t2" ? 20 : 30);
            insert.bind(2, record.email);
            insert.bind(3, record.ip);
            insert.bind(4, util::format_iso8601(record.time));
            insert.bind(5, "call me back at " + record.email);  // personal data the map does not declare
            insert.exec();
            insert.reset();
        }
        return {{"name", "app-db"}, {"kind", "sqlite"}, {"path", "app.db"}, {"tables", visits_data_map()}};
    }
};

class LogfileFixture final : public StoreFixture {
public:
    std::string kind() const override { return "logfile"; }
    bool has_subjects() const override { return true; }
    bool detects_undeclared() const override { return true; }

protected:
    nlohmann::json write_store(const std::filesystem::path& dir) override {
        // The older half goes to a gzipped rotated file, the rest to the current file.
        std::string current, rotated;
        for (const auto& record : sample_records()) {
            std::string path = record.tenant.empty() ? "/status" : "/hls/" + record.tenant + "/live-1.ts";
            std::string line = record.ip + " - - [" + util::format_nginx_time(record.time) + "] \"GET " + path +
                               " HTTP/1.1\" 200 512 \"https://ref.example/?from=" + record.email +
                               "\" \"Player/1.0\" \"" + record.email + "\"\n";
            (record.time < sample_now() - 4 * 86400 ? rotated : current) += line;
        }
        std::ofstream(dir / "access.log") << current;
        gzFile gz = gzopen((dir / "access.log.1.gz").c_str(), "wb");
        gzwrite(gz, rotated.data(), static_cast<unsigned>(rotated.size()));
        gzclose(gz);
        return {{"name", "access"},
                {"kind", "logfile"},
                {"path", "access.log*"},
                {"live_file", "none"},  // no server appends to these files
                {"format",
                 "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
                 "\"$http_referer\" \"$http_user_agent\" \"$http_x_user_email\""},
                {"category", "usage-data"},
                {"personal", {"http_user_agent"}},
                {"subjects", {{"ip", "remote_addr"}, {"email", "http_x_user_email"}}},
                {"tenant", {{"field", "request"}, {"regex", "^GET /hls/([^/]+)/"}}}};
    }
};

class FilesFixture final : public StoreFixture {
public:
    std::string kind() const override { return "files"; }
    bool has_subjects() const override { return false; }
    bool detects_undeclared() const override { return false; }

protected:
    nlohmann::json write_store(const std::filesystem::path& dir) override {
        int n = 0;
        for (const auto& record : sample_records()) {
            auto folder = dir / "media" / (record.tenant.empty() ? "shared" : record.tenant);
            std::filesystem::create_directories(folder);
            auto path = folder / ("rec" + std::to_string(++n) + ".flv");
            std::ofstream(path) << "FLV" << std::string(100 * n, 'x');
            struct timeval times[2] = {{static_cast<time_t>(record.time), 0}, {static_cast<time_t>(record.time), 0}};
            ::utimes(path.c_str(), times);
        }
        std::ofstream(dir / "media" / "t1" / "notes.txt") << "not a recording";
        return {{"name", "media"},
                {"kind", "files"},
                {"path", "media"},
                {"include", {"*.flv"}},
                {"category", "recordings"},
                {"tenant", {{"regex", "^(t[0-9]+)/"}}},
                {"timestamp", {{"format", "mtime"}}}};
    }
};

// The sqlite fixture's tables in PostgreSQL, with the server's own types: the address in an
// inet column, the time in a timestamptz.
class PostgresFixture final : public StoreFixture {
public:
    std::string kind() const override { return "postgres"; }
    bool has_subjects() const override { return true; }
    bool detects_undeclared() const override { return true; }
    std::string store_digest() const override {
        return PostgresServer::shared().value(
            m_database,
            "SELECT md5(string_agg(r, ';' ORDER BY r)) FROM (SELECT v::text AS r FROM visits v UNION ALL "
            "SELECT t::text FROM tenants t UNION ALL SELECT o::text FROM rooms o) AS everything");
    }

protected:
    nlohmann::json write_store(const std::filesystem::path& dir) override {
        auto& server = PostgresServer::shared();
        m_database = server.create_database();
        std::string sql =
            "CREATE TABLE tenants (id integer PRIMARY KEY, slug text);"
            "CREATE TABLE rooms (id integer PRIMARY KEY, tenant integer REFERENCES tenants(id));"
            "CREATE TABLE visits (id serial PRIMARY KEY, room_id integer, email text, ip inet, seen_at timestamptz,"
            " notes text);"
            "INSERT INTO tenants VALUES (1, 't1'), (2, 't2');"
            "INSERT INTO rooms VALUES (10, 1), (20, 2), (30, NULL);";
        for (const auto& record : sample_records())
            sql += "INSERT INTO visits (room_id, email, ip, seen_at, notes) VALUES (" +
                   std::string(record.tenant == "t1"   ? "10"
                               : record.tenant == "t2" ? "20"
                                                       : "30") +
                   ", '" + record.email + "', '" + record.ip + "', '" + util::format_iso8601(record.time) +
                   "', 'call me back at " + record.email + "');";  // personal data the map does not declare
        server.execute(m_database, sql);
        write_text(dir / "pgpassword", server.password() + "\n");
        return {{"name", "app-db"},
                {"kind", "postgres"},
                {"connection", server.connection(m_database)},
                {"password_file", "pgpassword"},
                {"tables", visits_data_map()}};
    }

private:
    std::string m_database;
};

// The files fixture's objects in a bucket of the test cluster or, with lines, an archive of
// access logs there, one line a record, each in an object of its own (the time is in the key:
// Last-Modified is the server's clock).
class S3Fixture final : public StoreFixture {
public:
    explicit S3Fixture(bool lines) : m_lines(lines) {}
    std::string kind() const override { return "s3"; }
    bool has_subjects() const override { return m_lines; }
    bool detects_undeclared() const override { return false; }
    // The bucket's keys as s3cmd lists them: gdprctl's own listing is what is under test.
    std::string store_digest() const override {
        std::string all;
        for (const auto& key : CephCluster::shared().keys_by_s3cmd(m_bucket)) all += key + "\n";
        return all;
    }

protected:
    nlohmann::json write_store(const std::filesystem::path&) override {
        auto& cluster = CephCluster::shared();
        m_bucket = cluster.create_bucket();
        connectors::s3::Client client(cluster.bucket_endpoint(m_bucket));
        int n = 0;
        for (const auto& record : sample_records()) {
            auto folder = record.tenant.empty() ? std::string("shared") : record.tenant;
            ++n;
            if (m_lines)
                client.put(
                    "media/" + folder + "/access-" + std::to_string(n) + "-" + std::to_string(record.time) + ".log",
                    record.ip + " - - [" + util::format_nginx_time(record.time) +
                        "] \"GET /live-1.ts?from=" + record.email + " HTTP/1.1\" 200 512\n");
            else
                client.put("media/" + folder + "/rec" + std::to_string(n) + "-" + std::to_string(record.time) + ".flv",
                           "FLV" + std::string(100 * static_cast<std::size_t>(n), 'x'));
        }
        client.put("media/t1/notes.txt", "not a recording");
        client.put("other/t1/rec9-1.flv", "outside the prefix");
        return {{"name", "media"},
                {"kind", "s3"},
                {"endpoint", cluster.endpoint()},
                {"bucket", m_bucket},
                {"prefix", "media/"},
                {"credentials_file", cluster.credentials_file().string()},
                {"include", {m_lines ? "*.log" : "*.flv"}},
                {"category", m_lines ? "usage-data" : "recordings"},
                {"tenant", {{"regex", "^(t[0-9]+)/"}}},
                {"timestamp", {{"format", "unix"}, {"regex", "-([0-9]+)\\.(flv|log)$"}}}};
    }

private:
    bool m_lines;
    std::string m_bucket;
};

}  // namespace

std::string StoreFixture::store_digest() const { return tree_digest(dir()); }

util::UnixTime sample_now() { return 1795000000; }  // 2026-11-18

const std::vector<SampleRecord>& sample_records() {
    static const std::vector<SampleRecord> k_records = {
        {"t1", "alice@example.org", "192.0.2.1", sample_now() - 10 * 86400},
        {"t1", "bob@example.org", "2001:db8::7", sample_now() - 5 * 86400},
        {"t2", "alice@example.org", "192.0.2.1", sample_now() - 2 * 86400},
        {"t2", "carol@example.org", "192.0.2.30", sample_now() - 1 * 86400},
        {"", "dave@example.org", "192.0.2.44", sample_now()},
    };
    return k_records;
}

std::unique_ptr<connectors::Connector> StoreFixture::open() {
    nlohmann::json config = {{"platform", "contract"}, {"sources", {write_store(m_dir.path())}}};
    write_text(m_dir / "gdprctl.json", config.dump(2));
    m_workspace = config::load_workspace(m_dir / "gdprctl.json");
    auto connector = connectors::open_connector(m_workspace.sources.front(), m_workspace);
    connector->validate();
    return connector;
}

std::unique_ptr<StoreFixture> make_fixture(const std::string& kind) {
    if (kind == "sqlite") return std::make_unique<SqliteFixture>();
    if (kind == "logfile") return std::make_unique<LogfileFixture>();
    if (kind == "files") return std::make_unique<FilesFixture>();
    if (kind == "postgres") return std::make_unique<PostgresFixture>();
    if (kind == "s3") return std::make_unique<S3Fixture>(false);
    if (kind == "s3_lines") return std::make_unique<S3Fixture>(true);
    return nullptr;
}

std::vector<std::string> fixture_kinds() { return {"sqlite", "logfile", "files", "postgres", "s3", "s3_lines"}; }

std::map<std::string, std::uint64_t> records_by_tenant(const connectors::SourceInventory& inventory) {
    std::map<std::string, std::uint64_t> counts;
    for (const auto& row : inventory.rows) counts[row.tenant] += row.records;
    return counts;
}

std::string tree_digest(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
        if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    std::string all;
    for (const auto& file : files) all += file.lexically_relative(dir).string() + "\n" + read_text(file) + "\n";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(all.data(), all.size(), digest, &length, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<char*>(digest), length);
}

}  // namespace gdprctl::testing
