#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "connectors/connector.hpp"
#include "core/config/workspace.hpp"

namespace gdprctl::scan {

using Connectors = std::vector<std::unique_ptr<connectors::Connector>>;
// Opens and validates every source of a workspace (all of them before any runs).
using SourceOpener = std::function<Connectors(const config::Workspace&)>;
// Told which source is being read, for progress display; never given personal data.
using Progress = std::function<void(std::size_t index, std::size_t total, const std::string& source)>;

struct SourceScan {
    std::string name;
    std::string kind;
    connectors::SourceInventory inventory;
};

struct ScanReport {
    std::string platform;
    std::string started;  // ISO-8601
    double seconds = 0;
    std::vector<SourceScan> sources;

    std::uint64_t total_records() const;
    std::uint64_t total_undeclared() const;
    nlohmann::json to_json() const;
    std::string to_text() const;
};

struct ScanOptions {
    connectors::Selector selector;
    connectors::InventoryOptions inventory;
    Progress progress;
};

// Inventories every source of the workspace. Read-only towards the platform's stores; appends
// one journal entry (ok, or the error) to the state database. Throws Error::config when the
// data map does not match a store and Error::runtime when a store cannot be read.
ScanReport run_scan(const config::Workspace& workspace, const SourceOpener& open_sources, const ScanOptions& options);

}  // namespace gdprctl::scan
