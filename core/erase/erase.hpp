#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "connectors/connector.hpp"
#include "core/config/workspace.hpp"
#include "core/crypto/keystore.hpp"
#include "core/policy/policy.hpp"
#include "core/scan/scan.hpp"

// Verified erasure (man gdprctl-erase(1)): selector -> plan on every source -> apply -> destroy
// the tenant's keys or record the person in the erasure ledger -> rescan every source, on disk
// -> a signed certificate only when nothing is left -> journal.
namespace gdprctl::erase {

struct EraseOptions {
    connectors::Selector selector;  // a tenant, or people's identifiers (optionally within one tenant)
    bool dry_run = false;
    bool wait = false;                            // queue behind a retention run instead of failing
    crypto::Keystore* keystore = nullptr;         // null when the workspace has none; unlocked for people
    const policy::PolicySet* policies = nullptr;  // for when retention removes the backups
    std::optional<std::filesystem::path> certificate_out;
};

// What was done in one source.
struct SourceErasure {
    std::string source;
    std::string kind;    // the connector kind
    std::string method;  // NIST SP 800-88 terms
    std::vector<connectors::PlanItem> items;
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;
    std::vector<std::string> notes;
};

struct HeldBackup {
    std::string file;
    std::string tenant;
    std::string created;
    std::string removed_by_retention;  // when the backup retention rule removes it
};

struct BackupErasure {
    std::string method;  // cryptographic erase, erasure ledger, none
    std::vector<std::string> keys_destroyed;
    std::uint64_t backups_unreadable = 0;
    std::vector<HeldBackup> still_holding;
    std::string note;
};

struct Verification {
    std::string time;
    std::vector<std::string> sources;
    std::uint64_t records_scanned = 0;
    std::uint64_t bytes_scanned = 0;
    std::size_t patterns = 0;
    std::vector<std::pair<std::string, connectors::Residue>> residue;  // source, what is left
    std::vector<std::string> readable_backups;                         // a shredded tenant's, that still open
    bool clean() const { return residue.empty() && readable_backups.empty(); }
    // "N sources, ... patterns: nothing left." or the residue, a line each.
    std::string to_text() const;
};

struct EraseReport {
    std::string request;
    std::string kind;  // tenant, subject
    std::optional<std::string> tenant;
    bool dry_run = false;
    bool resumed = false;
    std::size_t identifiers = 0;  // the identifiers erased, those linked included
    std::size_t linked = 0;
    // Addresses of the person that other people used too: left alone and shown to the
    // operator (never journaled), who can erase them within one tenant with --subject ip:.
    std::vector<std::string> shared_addresses;
    std::vector<SourceErasure> sources;
    BackupErasure backups;
    Verification verification;
    nlohmann::json certificate;  // the signed certificate; null unless the rescan was clean
    // Why the plan cannot be carried out (dry runs; a real run refuses with these, exit 1).
    std::vector<std::string> blocked;
    std::string failure;  // a request that failed: the source and what went wrong

    std::uint64_t records() const;
    nlohmann::json to_json() const;
    std::string to_text() const;
};

// Erases what options.selector names everywhere, then rescans. Exit semantics for the CLI:
// a report whose verification is not clean has no certificate. One run at a time per
// workspace (the store lock); a run killed at any point is finished by running the same
// erasure again. Error::usage for a selector that is neither a tenant nor people.
EraseReport run_erase(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                      const EraseOptions& options);

// Repeats the rescan of an earlier request: for its identifiers kept sealed in the state
// database (with an unlocked keystore), plus any given again.
EraseReport verify_request(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                           const std::string& request, const std::vector<connectors::Identifier>& given,
                           crypto::Keystore* keystore);

struct RequestSummary {
    std::string id;
    std::string created;
    std::string kind;
    std::string tenant;
    std::string status;  // applying, failed, residue, verified
    std::uint64_t records = 0;
};
std::vector<RequestSummary> list_requests(const config::Workspace& workspace);
// The signed certificate of a request; Error::usage when there is none.
nlohmann::json certificate_of(const config::Workspace& workspace, const std::string& request);

}  // namespace gdprctl::erase
