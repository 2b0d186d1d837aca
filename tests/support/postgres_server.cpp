#include "tests/support/postgres_server.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

namespace gdprctl::testing {

namespace {

// The newest installed server, e.g. /usr/lib/postgresql/15/bin.
std::string server_bin_dir() {
    std::string newest;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
        auto bin = entry.path() / "bin";
        if (std::filesystem::exists(bin / "initdb") && bin.string() > newest) newest = bin.string();
    }
    if (newest.empty()) throw std::runtime_error("no PostgreSQL server in /usr/lib/postgresql: run scripts/bootstrap");
    return newest;
}

}  // namespace

PostgresServer& PostgresServer::shared() {
    static PostgresServer server;
    return server;
}

PostgresServer::PostgresServer() : m_bin(server_bin_dir()) {
    auto data = m_dir / "data";
    write_text(m_dir / "password", m_password + "\n");
    if (::geteuid() == 0) run_command("chown -R postgres " + shell_quote(m_dir.path().string()));
    std::string out, err;
    if (run_command(
            as_server_user(m_bin + "/initdb -D " + shell_quote(data.string()) +
                           " -U gdprctl -A scram-sha-256 -N --pwfile=" + shell_quote((m_dir / "password").string())),
            &out, &err) != 0)
        throw std::runtime_error("initdb failed: " + out + err);
    m_port = free_loopback_port();
    // fsync off: a test server holds nothing worth a crash-safe write.
    std::string options = "-p " + std::to_string(m_port) + " -h 127.0.0.1 -k " + shell_quote(m_dir.path().string()) +
                          " -c fsync=off -c full_page_writes=off";
    if (run_command(
            as_server_user(m_bin + "/pg_ctl -D " + shell_quote(data.string()) + " -w -t 60 -l " +
                           shell_quote((m_dir / "server.log").string()) + " -o " + shell_quote(options) + " start"),
            &out, &err) != 0)
        throw std::runtime_error("pg_ctl start failed: " + out + err + read_text(m_dir / "server.log"));
}

PostgresServer::~PostgresServer() {
    run_command(
        as_server_user(m_bin + "/pg_ctl -D " + shell_quote((m_dir / "data").string()) + " -m immediate -w stop"));
}

std::string PostgresServer::as_server_user(const std::string& command) const {
    return ::geteuid() == 0 ? "runuser -u postgres -- sh -c " + shell_quote(command) : command;
}

std::string PostgresServer::create_database() {
    std::string name = "contract" + std::to_string(++m_databases);
    execute("postgres", "CREATE DATABASE " + name);
    return name;
}

std::string PostgresServer::connection(const std::string& database) const {
    return "host=127.0.0.1 port=" + std::to_string(m_port) + " user=gdprctl dbname=" + database;
}

std::string PostgresServer::value(const std::string& database, const std::string& sql) const {
    auto conninfo = connection(database) + " password=" + m_password;
    PGconn* connection = PQconnectdb(conninfo.c_str());
    std::string error, text;
    if (PQstatus(connection) != CONNECTION_OK) {
        error = PQerrorMessage(connection);
    } else {
        PGresult* result = PQexec(connection, sql.c_str());
        auto status = PQresultStatus(result);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
            error = PQerrorMessage(connection);
        else if (status == PGRES_TUPLES_OK && PQntuples(result) > 0 && PQnfields(result) > 0)
            text = PQgetvalue(result, 0, 0);
        PQclear(result);
    }
    PQfinish(connection);
    if (!error.empty()) throw std::runtime_error("PostgreSQL: " + error + " in: " + sql);
    return text;
}

void PostgresServer::execute(const std::string& database, const std::string& sql) const { value(database, sql); }

}  // namespace gdprctl::testing
