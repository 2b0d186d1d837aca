#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/backup/archive.hpp"
#include "core/ropa/register.hpp"
#include "core/crypto/container.hpp"
#include "core/scan/scan.hpp"
#include "core/util/time.hpp"

// Exports (man/gdprctl-export.1): a tenant's or a person's data as one archive a person can
// open (Art. 15 access, Art. 20 portability), with a manifest of SHA-256 sums that
// `export verify` re-checks.
namespace gdprctl::exports {

struct ExportOptions {
    connectors::Selector selector;  // a tenant, or subjects
    backup::ArchiveFormat format = backup::ArchiveFormat::zip;
    std::filesystem::path out;
    bool force = false;                     // replace an existing file
    bool dry_run = false;                   // count, write nothing
    std::vector<crypto::Bytes> recipients;  // X25519: seal the archive in a container
    std::optional<std::string> passphrase;  // or seal it under a passphrase (scrypt)
    unsigned scrypt_log2n = 18;
    util::UnixTime now = 0;
    // What the README tells the recipient about each category (Art. 15(1)): its purposes, legal
    // basis, recipients, retention and sources. Empty: the README says to ask the controller.
    ropa::Register processing;
};

struct DatasetCount {
    std::string dataset;
    std::string source;
    std::string category;
    std::uint64_t records = 0;  // rows, lines, or files
    std::uint64_t bytes = 0;
};

struct ExportReport {
    std::filesystem::path out;
    std::vector<DatasetCount> datasets;
    std::uint64_t entries = 0;
    std::uint64_t archive_bytes = 0;
    std::string archive_sha256;
    bool dry_run = false;
    bool encrypted = false;
    // Identifiers found next to the person's e-mail, user id, ... (never onwards from an IP),
    // whose records were exported too.
    std::uint64_t linked_identifiers = 0;
    std::uint64_t shared_addresses = 0;  // linked addresses other people used too: left out

    std::uint64_t records() const;
    nlohmann::json to_json() const;
};

ExportReport run_export(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                        const ExportOptions& options);

struct ExportVerification {
    bool intact = true;
    std::uint64_t entries = 0;
    std::string problem;  // the first entry that was changed, added or removed
};

// Re-hashes every entry of an export against its manifest. keyring opens an encrypted export.
ExportVerification verify_export(const std::filesystem::path& file, const crypto::Keyring& keyring);

backup::ArchiveFormat parse_format(const std::string& text);

}  // namespace gdprctl::exports
