#pragma once

#include <memory>
#include <string>

#include "tests/support/temp_dir.hpp"

namespace gdprctl::testing {

// A PostgreSQL server of Debian's postgresql package for this test process: initdb in a
// temporary directory, started on a free loopback port with password (SCRAM) authentication
// for role "gdprctl", stopped and removed when the process ends. Run as root, the server runs
// as the unprivileged "postgres" user (PostgreSQL refuses root).
class PostgresServer {
public:
    // Started on first use; throws std::runtime_error (with the server's log) when it cannot be.
    static PostgresServer& shared();
    ~PostgresServer();
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;

    // A new, empty database; its name.
    std::string create_database();
    // A libpq connection string for database, without the password.
    std::string connection(const std::string& database) const;
    const std::string& password() const { return m_password; }
    // Runs SQL (several statements allowed) in database as role gdprctl; throws on an error.
    void execute(const std::string& database, const std::string& sql) const;
    // The result of a query returning one value, as text.
    std::string value(const std::string& database, const std::string& sql) const;

private:
    PostgresServer();
    std::string as_server_user(const std::string& command) const;

    TempDir m_dir;
    std::string m_bin;
    int m_port = 0;
    std::string m_password = "contract-suite-secret";
    int m_databases = 0;
};

}  // namespace gdprctl::testing
