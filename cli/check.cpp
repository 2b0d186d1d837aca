#include <iostream>

#include "cli/compliance.hpp"
#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "core/version.hpp"

namespace gdprctl::cli {

namespace {

struct CheckArguments {
    ComplianceArguments compliance;
    std::string format;
    std::string fail_on = "error";
    std::string out;
    bool list = false;
};

std::string policies_text(const policy::PolicySet& policies) {
    std::string text;
    for (const auto& rule : policies.checks)
        text += rule.id + "  " + policy::severity_name(rule.severity) + "  " + rule.kind + "  (" + rule.article +
                ")\n    " + rule.rationale + "\n";
    for (const auto& rule : policies.retention)
        text += rule.id + "  retention  (" + rule.article + ")\n    " + rule.rationale + "\n";
    return text;
}

nlohmann::json policies_json(const policy::PolicySet& policies) {
    nlohmann::json json = nlohmann::json::array();
    for (const auto& rule : policies.checks)
        json.push_back({{"id", rule.id},
                        {"kind", rule.kind},
                        {"severity", policy::severity_name(rule.severity)},
                        {"article", rule.article},
                        {"rationale", rule.rationale},
                        {"file", rule.file}});
    for (const auto& rule : policies.retention)
        json.push_back({{"id", rule.id},
                        {"kind", "retention"},
                        {"article", rule.article},
                        {"rationale", rule.rationale},
                        {"file", rule.file}});
    return json;
}

void emit(const GlobalOptions& options, const std::string& out, const std::string& text) {
    if (out.empty() || out == "-") {
        if (!options.quiet || out == "-") std::cout << text;
        return;
    }
    util::write_file_atomically(out, text, 0644);
}

void run_check(GlobalOptions& options, const CheckArguments& arguments) {
    auto severity = policy::parse_severity(arguments.fail_on);
    std::string format = arguments.format.empty() ? options.format : arguments.format;
    if (arguments.list) {
        auto workspace = load_workspace(options);
        auto policies = load_policies(workspace, arguments.compliance.policy_dirs);
        print_result(options, policies_text(policies), policies_json(policies));
        return;
    }
    auto context = load_compliance_context(options, arguments.compliance);
    auto result = policy::evaluate(context.input(), context.policies.checks);
    journal_check(context, "check", result);
    std::string text;
    if (format == "json")
        text = policy::findings_json(result).dump(2) + "\n";
    else if (format == "sarif")
        text = policy::findings_sarif(result, k_version, context.workspace.base_dir.string());
    else if (format == "junit")
        text = policy::findings_junit(result, "gdprctl check " + context.workspace.platform);
    else
        text = policy::findings_text(result);
    emit(options, arguments.out, text);
    if (result.count_at_least(severity) > 0) options.exit_code = static_cast<int>(ErrorKind::findings);
}

}  // namespace

void add_check_command(CLI::App& app, GlobalOptions& options) {
    auto arguments = std::make_shared<CheckArguments>();
    auto* command = app.add_subcommand(
        "check", "Evaluate the config, the register and the policies (and, with --live, the stores); for CI");
    add_compliance_arguments(command, arguments->compliance, true);
    command->add_option("--format", arguments->format, "text, json, sarif (code scanning) or junit (CI test reports)")
        ->check(CLI::IsMember({"text", "json", "sarif", "junit"}));
    command
        ->add_option("--fail-on", arguments->fail_on,
                     "Exit 1 when a finding is at least this severe: note, warning, error")
        ->check(CLI::IsMember({"note", "warning", "error"}))
        ->capture_default_str();
    command->add_option("-o,--out", arguments->out, "Write the report to this file instead of stdout");
    command->add_flag("--list-policies", arguments->list, "List the policies that would be evaluated, and stop");
    command->footer(
        "Exit status: 0 no finding at or above --fail-on; 1 findings; 2 bad config, register or policy file.\n"
        "Policies: the shipped pack, the config's policies.dirs and --policies; disable one by id in the config's\n"
        "policies.disable. See gdprctl-check(1) and gdprctl-policy(5).");
    command->callback([&options, arguments] { run_check(options, *arguments); });
}

}  // namespace gdprctl::cli
