#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/platform_database.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::testing {

// The reference platform seeded into a fresh directory (refstack seed --seed 5 at k_now, its
// database in SQLite or PostgreSQL as platform_on_postgres() says), with
// the seeder's truth.json, and the real gdprctl binary run against its config.
class ReferencePlatform {
public:
    static constexpr long k_now = 1795447510;  // 2026-11-23T15:25:10Z

    ReferencePlatform() : ReferencePlatform("") {}
    // Seeded with these refstack seed options as well ("--objects s3 ...").
    explicit ReferencePlatform(const std::string& seed_options);
    const std::filesystem::path& dir() const { return m_dir.path(); }
    int gdprctl(const std::string& args, std::string* out = nullptr, std::string* err = nullptr) const;
    // `gdprctl --format json ARGS`, its exit status expected (a test failure otherwise), parsed:
    // null when it printed no JSON.
    nlohmann::json gdprctl_json(const std::string& args, int expected_exit = 0) const;
    // Imports the reference platform's register (examples/refstack/register.json); its exit status.
    int import_reference_register() const;
    PlatformDatabase database() const { return PlatformDatabase(dir()); }
    // Beside a container sealed by hand, the manifest 'backup restore' asks for, written from
    // outside: the header as 'container inspect' shows it, the tar's size and SHA-256
    // (sha256sum), and no counts (as the tar's gdprctl-counts.json must then say: {}).
    void write_backup_manifest(const std::filesystem::path& sealed, const std::filesystem::path& tar) const;

    nlohmann::json truth;

private:
    TempDir m_dir;
};

// Records per "dataset/tenant" as `gdprctl scan --format json` reports them for the workspace
// in dir (empty when the scan fails).
std::map<std::string, std::uint64_t> scanned_records(const std::filesystem::path& dir);

}  // namespace gdprctl::testing
