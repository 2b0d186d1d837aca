#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/crypto/keystore.hpp"
#include "core/policy/policy.hpp"
#include "core/scan/scan.hpp"
#include "core/util/time.hpp"

// Encrypted backups (man/gdprctl-backup.1): one tar stream per tenant (its rows, log lines and
// files) plus one for platform-wide data, each sealed in a container under that tenant's key.
namespace gdprctl::backup {

// One backup file and what its manifest and header say about it.
struct BackupFile {
    std::string tenant;  // "" for platform-wide data
    std::filesystem::path path;
    std::int64_t created = 0;
    std::uint64_t container_bytes = 0;
    std::uint64_t plaintext_bytes = 0;
    std::string plaintext_sha256;
    std::string key_id;
    std::string object_id;
    std::string status;                                // readable, shredded, unknown key, unreadable header
    std::string detail;                                // for shredded: when; for the others: why
    nlohmann::json counts = nlohmann::json::object();  // records or files per dataset

    nlohmann::json to_json() const;
};

struct CreateOptions {
    std::optional<std::string> tenant;  // only this tenant (no platform-wide archive)
    util::UnixTime now = 0;
};

struct CreateReport {
    std::vector<BackupFile> backups;
    // Tenants whose key was destroyed but whose data still exists: not backed up.
    std::vector<std::string> skipped;
    double seconds = 0;
};

CreateReport create(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                    crypto::Keystore& keystore, const CreateOptions& options);

// Every backup in the workspace's backup directory, by tenant then time (oldest first).
std::vector<BackupFile> list(const config::Workspace& workspace, crypto::Keystore& keystore);

struct VerifyResult {
    BackupFile backup;
    std::string outcome;  // ok, shredded, corrupt
    std::string problem;
};

// Authenticates every chunk of file and checks the plaintext digest against its manifest.
VerifyResult verify(const std::filesystem::path& file, crypto::Keystore& keystore);

struct RestoreReport {
    std::filesystem::path directory;
    std::string tenant;
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
    std::uint64_t records_left_out = 0;  // of people erased after the backup was made
};

// Restores file into directory (which must not exist, or be empty) through a private staging
// directory beside it that is renamed into place only once every chunk authenticated and the
// archive extracted cleanly; on any failure nothing is left at directory.
RestoreReport restore(const config::Workspace& workspace, const std::filesystem::path& file,
                      const std::filesystem::path& directory, crypto::Keystore& keystore);

struct PruneOptions {
    util::UnixTime now = 0;
    bool dry_run = false;
    bool keep_last = true;  // keep the newest readable backup of a tenant whose key exists
};

struct PruneDecision {
    BackupFile backup;
    bool remove = false;
    std::string reason;
};

struct PruneReport {
    std::vector<PruneDecision> decisions;
    std::string rule;  // the retention rule applied
    std::int64_t max_age_seconds = 0;
    bool dry_run = false;
};

// The strictest retention rule for the "backups" category; null when there is none.
const policy::RetentionRule* backup_retention_rule(const policy::PolicySet& policies);

// Removes backups older than the retention rule for the "backups" category allows.
PruneReport prune(const config::Workspace& workspace, const policy::PolicySet& policies, crypto::Keystore& keystore,
                  const PruneOptions& options);

// The directory name of a tenant's backups: "_platform" for platform-wide data, else the
// tenant id with anything outside [A-Za-z0-9._-] (and a leading '.') percent-encoded.
std::string tenant_directory(const std::string& tenant);

}  // namespace gdprctl::backup
