#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/breaches/breaches.hpp"
#include "core/config/workspace.hpp"
#include "core/policy/findings.hpp"
#include "core/policy/policy.hpp"
#include "core/requests/requests.hpp"
#include "core/ropa/register.hpp"
#include "core/scan/scan.hpp"

namespace gdprctl::policy {

// The data map of one source, as its connector read it.
struct SourceDatasets {
    std::string source;
    std::string kind;
    std::string pointer;  // of the source in the config
    std::vector<config::Dataset> datasets;
};

// A value a live check read from a store, with where it came from (never personal data in
// a report: only URLs of endpoints are read this way).
struct LiveValue {
    std::string dataset;
    std::string tenant;
    std::string value;
};

struct BackupFileFact {
    std::filesystem::path path;
    bool encrypted = false;  // starts with the container's magic
};

// What the stores hold right now, for --live.
struct LiveFacts {
    util::UnixTime now = 0;
    scan::ScanReport inventory;
    std::map<std::string, std::vector<LiveValue>> values;  // by policy id
    std::vector<BackupFileFact> backups;
};

// The legal clocks the state database keeps: requests and breaches.
struct Accountability {
    std::vector<requests::Request> requests;
    std::vector<breaches::Breach> breaches;
};

struct CheckInput {
    const config::Workspace& workspace;
    std::vector<SourceDatasets> sources;
    const ropa::Register& reg;
    std::string register_file;  // the register's file, for locations; empty: the state database
    const PolicySet& policies;
    const LiveFacts* live = nullptr;
    util::UnixTime now = 0;
    const Accountability* accountability = nullptr;  // null: the state database was not read
};

// Evaluates rules against input. Rules of a kind this build cannot evaluate do not exist:
// loading rejects them.
CheckResult evaluate(const CheckInput& input, const std::vector<CheckRule>& rules);

// The data map of every source, as the opened connectors read it (no store is touched).
std::vector<SourceDatasets> data_map_of(const scan::Connectors& connectors);

// Reads what --live needs: the inventory (through scan), the values live checks name, and the
// backup directory's files. Read-only towards the stores.
// The requests and breaches of the workspace's state database; none when it has no state
// database yet (a CI job checking a repository).
Accountability read_accountability(const config::Workspace& workspace);

LiveFacts gather_live_facts(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                            const std::vector<CheckRule>& rules, util::UnixTime now);

}  // namespace gdprctl::policy
