#include "tests/support/platform_database.hpp"

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>

#include "tests/support/postgres_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::testing {

namespace {

nlohmann::json platform_source(const nlohmann::json& config) {
    for (const auto& source : config.at("sources"))
        if (source.at("name") == "platform-db") return source;
    throw std::runtime_error("the platform's gdprctl.json has no source platform-db");
}

std::string database_of(const std::string& connection) {
    std::smatch match;
    if (!std::regex_search(connection, match, std::regex("dbname=(\\S+)")))
        throw std::runtime_error("no dbname in the platform's connection: " + connection);
    return match[1];
}

std::string sqlite3(const std::filesystem::path& file, const std::string& options, const std::string& sql) {
    std::string out, err;
    if (run_command("sqlite3 " + options + " " + shell_quote(file.string()) + " " + shell_quote(sql), &out, &err) != 0)
        throw std::runtime_error("sqlite3: " + err + " in: " + sql);
    return out;
}

}  // namespace

bool platform_on_postgres() {
    const char* db = std::getenv("GDPRCTL_TEST_DB");
    return db && std::string(db) == "postgres";
}

int seed_reference_platform(const std::filesystem::path& dir, const std::string& args, std::string* err) {
    std::string command = std::string(REFSTACK_BINARY) + " seed --dir " + shell_quote(dir.string()) + " " + args;
    if (platform_on_postgres()) {
        auto& server = PostgresServer::shared();
        std::filesystem::create_directories(dir);
        auto password_file = dir / "postgres.password";
        write_text(password_file, server.password() + "\n");
        std::filesystem::permissions(password_file,
                                     std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        command += " --db postgres --postgres " + shell_quote(server.connection(server.create_database())) +
                   " --postgres-password-file " + shell_quote(password_file.string());
    }
    return run_command(command, nullptr, err);
}

void copy_platform(const std::filesystem::path& from, const std::filesystem::path& to) {
    std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
    auto config = nlohmann::json::parse(read_text(to / "gdprctl.json"));
    auto source = platform_source(config);
    if (source.at("kind") != "postgres") return;
    auto& server = PostgresServer::shared();
    auto copy = server.create_database();
    server.execute("postgres", "DROP DATABASE " + copy);
    server.execute("postgres",
                   "CREATE DATABASE " + copy + " TEMPLATE " + database_of(source.at("connection").get<std::string>()));
    for (auto& each : config["sources"])
        if (each["name"] == "platform-db") each["connection"] = server.connection(copy);
    write_text(to / "gdprctl.json", config.dump(2) + "\n");
}

PlatformDatabase::PlatformDatabase(const std::filesystem::path& dir) {
    auto source = platform_source(nlohmann::json::parse(read_text(dir / "gdprctl.json")));
    if (source.at("kind") == "postgres")
        m_database = database_of(source.at("connection").get<std::string>());
    else
        m_file = dir / source.at("path").get<std::string>();
}

void PlatformDatabase::execute(const std::string& sql) const {
    if (postgres())
        PostgresServer::shared().execute(m_database, sql);
    else
        sqlite3(m_file, "-bail", sql);
}

std::string PlatformDatabase::value(const std::string& query) const {
    if (postgres()) return PostgresServer::shared().value(m_database, query);
    auto out = sqlite3(m_file, "", query);
    auto end = out.find('\n');
    return end == std::string::npos ? out : out.substr(0, end);
}

std::string PlatformDatabase::rows_json(const std::string& query) const {
    if (postgres()) return value("SELECT coalesce(json_agg(r), '[]') FROM (" + query + ") AS r");
    auto out = sqlite3(m_file, "-json", query);
    return out.find('[') == std::string::npos ? "[]" : out;
}

std::string PlatformDatabase::digest() const {
    if (!postgres()) return read_text(m_file);
    auto tables = value(
        "SELECT string_agg(format('SELECT %L || t::text FROM %I t', relname, relname), ' UNION ALL ') "
        "FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace");
    return value("SELECT md5(string_agg(r, ';' ORDER BY r)) FROM (" + tables + ") AS everything(r)");
}

std::uint64_t PlatformDatabase::raw_occurrences(const std::string& text) const {
    if (postgres()) throw std::logic_error("raw_occurrences reads a SQLite file; this platform is on PostgreSQL");
    std::string out;
    run_command("grep -a -o -i -F " + shell_quote(text) + " " + shell_quote(m_file.string()) + " | wc -l", &out);
    return std::stoull(out);
}

}  // namespace gdprctl::testing
