#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/common.hpp"
#include "core/policy/check.hpp"
#include "core/ropa/register.hpp"

namespace gdprctl::cli {

// What register validate, check and audit read: config, register, policies, data map and,
// with --live, what the stores hold now.
struct ComplianceArguments {
    std::string register_file;
    std::vector<std::string> policy_dirs;
    bool live = false;
    std::string now;
};
void add_compliance_arguments(CLI::App* command, ComplianceArguments& arguments, bool with_policies);

struct ComplianceContext {
    config::Workspace workspace;
    policy::PolicySet policies;
    ropa::Register reg;
    std::string register_file;  // empty: the register in the state database
    std::vector<policy::SourceDatasets> sources;
    std::optional<policy::LiveFacts> live;
    policy::Accountability accountability;
    util::UnixTime now = 0;

    policy::CheckInput input() const;
};

// The data map of every source, as its connector reads it from the config alone: no store is
// opened, so a CI job checks a platform repository without its stores.
std::vector<policy::SourceDatasets> read_data_map(const config::Workspace& workspace);

ComplianceContext load_compliance_context(const GlobalOptions& options, const ComplianceArguments& arguments);

// Leaves a check's verdict in the journal (findings per severity, whether the stores were
// read): the audit report and later readers see that it was made, when, and what it found.
void journal_check(const ComplianceContext& context, const std::string& command, const policy::CheckResult& result);

// The register a command reads: file (when given, or named by the config), else the state database's.
ropa::Register load_register(const config::Workspace& workspace, const std::string& file);
std::string register_file_of(const config::Workspace& workspace, const std::string& file);

}  // namespace gdprctl::cli
