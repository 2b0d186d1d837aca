#include "cli/compliance.hpp"

#include <spdlog/spdlog.h>

#include "connectors/connector.hpp"
#include "core/retention/retention.hpp"
#include "core/journal/journal.hpp"
#include "core/ropa/store.hpp"
#include "core/state/state_db.hpp"

namespace gdprctl::cli {

void add_compliance_arguments(CLI::App* command, ComplianceArguments& arguments, bool with_policies) {
    command->add_option("--register", arguments.register_file,
                        "Read the register from this JSON file instead of the state database (as CI does with the "
                        "register kept in the platform's repository)");
    command->add_flag("--live", arguments.live,
                      "Also read the stores: categories and tenants actually present, undeclared personal data, "
                      "record ages, backup files, endpoint URLs");
    command->add_option("--now", arguments.now,
                        "The time to judge record ages at: ISO-8601 or unix seconds (default: now)");
    if (with_policies)
        command->add_option("--policies", arguments.policy_dirs,
                            "Also load the policy files of this directory (repeatable)");
}

std::string register_file_of(const config::Workspace& workspace, const std::string& file) {
    if (!file.empty()) return std::filesystem::absolute(file).lexically_normal().string();
    return workspace.register_file.string();
}

ropa::Register load_register(const config::Workspace& workspace, const std::string& file) {
    auto path = register_file_of(workspace, file);
    if (!path.empty()) return ropa::read_register_file(path, workspace.categories);
    state::StateDb state(workspace.state_dir);
    return ropa::RegisterStore(state, workspace.categories).load();
}

policy::CheckInput ComplianceContext::input() const {
    return {workspace, sources, reg, register_file, policies, live ? &*live : nullptr, now, &accountability};
}

void journal_check(const ComplianceContext& context, const std::string& command, const policy::CheckResult& result) {
    std::size_t errors = 0, warnings = 0, notes = 0;
    for (const auto& finding : result.findings)
        ++(finding.severity == policy::Severity::error     ? errors
           : finding.severity == policy::Severity::warning ? warnings
                                                           : notes);
    // A check in CI may run where nothing can be written: it still answers, and says so.
    try {
        state::StateDb state(context.workspace.state_dir);
        journal::Journal(state).append(
            command, {{"live", result.live}}, nlohmann::json::array(),
            {{"policies", result.rules.size()}, {"errors", errors}, {"warnings", warnings}, {"notes", notes}},
            result.findings.empty() ? "ok" : "findings");
    } catch (const std::exception& e) {
        spdlog::warn("this {} is not in the journal: {}", command, e.what());
    }
}

std::vector<policy::SourceDatasets> read_data_map(const config::Workspace& workspace) {
    scan::Connectors unopened;
    for (const auto& source : workspace.sources) unopened.push_back(connectors::open_connector(source, workspace));
    return policy::data_map_of(unopened);
}

ComplianceContext load_compliance_context(const GlobalOptions& options, const ComplianceArguments& arguments) {
    ComplianceContext context;
    context.workspace = load_workspace(options);
    context.policies = load_policies(context.workspace, arguments.policy_dirs);
    context.register_file = register_file_of(context.workspace, arguments.register_file);
    context.reg = load_register(context.workspace, arguments.register_file);
    context.sources = read_data_map(context.workspace);
    context.now = arguments.now.empty() ? util::now() : retention::parse_now(arguments.now);
    context.accountability = policy::read_accountability(context.workspace);
    if (arguments.live)
        context.live = policy::gather_live_facts(context.workspace, connectors::open_all_connectors,
                                                 context.policies.checks, context.now);
    return context;
}

}  // namespace gdprctl::cli
