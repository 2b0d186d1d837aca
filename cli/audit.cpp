#include <iostream>

#include "cli/compliance.hpp"
#include "core/audit/report.hpp"
#include "core/erase/erase.hpp"
#include "core/backup/backup.hpp"
#include "core/crypto/keystore.hpp"
#include "core/error.hpp"
#include "core/journal/journal.hpp"
#include "core/util/fs.hpp"
#include "core/version.hpp"

namespace gdprctl::cli {

namespace {

struct AuditArguments {
    ComplianceArguments compliance;
    std::string format;
    std::string out;
    std::string tenant;
};

std::string format_of(const GlobalOptions& options, const AuditArguments& arguments) {
    if (!arguments.format.empty()) return arguments.format;
    if (options.format == "json") return "json";
    auto extension = std::filesystem::path(arguments.out).extension().string();
    if (extension == ".md") return "md";
    if (extension == ".json") return "json";
    return "html";
}

void run_audit(GlobalOptions& options, AuditArguments arguments) {
    arguments.compliance.live = true;  // the inventory, retention and backups sections read the stores
    auto format = format_of(options, arguments);
    auto context = load_compliance_context(options, arguments.compliance);
    auto check = policy::evaluate(context.input(), context.policies.checks);

    state::StateDb state(context.workspace.state_dir);
    journal::Journal log(state);
    auto integrity = log.verify();
    auto last = log.entries(1);
    auto erasures = erase::list_requests(context.workspace);
    crypto::Keystore keystore(state);
    auto backups = backup::list(context.workspace, keystore);

    std::optional<std::string> tenant;
    if (!arguments.tenant.empty()) tenant = arguments.tenant;
    audit::ReportInput input{context.workspace.platform,
                             k_version,
                             context.now,
                             tenant,
                             context.reg,
                             check,
                             *context.live,
                             context.policies,
                             context.sources,
                             backups,
                             integrity,
                             last.empty() ? std::string() : last.back().hash,
                             erasures,
                             log.entries(),
                             context.accountability.requests,
                             context.accountability.breaches};
    auto report = audit::build_report(input);
    std::string text = format == "json" ? report.dump(2) + "\n"
                       : format == "md" ? audit::render_markdown(report)
                                        : audit::render_html(report);
    if (arguments.out.empty() || arguments.out == "-") {
        std::cout << text;
    } else {
        // The report names people (the register's contacts) and tenants: private like the rest.
        util::write_file_atomically(arguments.out, text, 0600);
        if (!options.quiet)
            std::cerr << "gdprctl: wrote the audit report (" << format << ", " << report["summary"]["findings"]
                      << " findings) to " << arguments.out << "\n";
    }
    if (!integrity.intact) options.exit_code = static_cast<int>(ErrorKind::integrity);
}

}  // namespace

void add_audit_command(CLI::App& app, GlobalOptions& options) {
    auto arguments = std::make_shared<AuditArguments>();
    auto* command = app.add_subcommand(
        "audit",
        "Write a report for auditors and customers: register, inventory, retention, backups, journal, findings");
    command->add_option("-o,--out", arguments->out, "Write the report here (0600); default: stdout");
    command->add_option("--format", arguments->format, "html (one self-contained page), md or json; default from --out")
        ->check(CLI::IsMember({"html", "md", "json"}));
    command->add_option("--tenant", arguments->tenant,
                        "Only this tenant's part (the processor's report for one controller); other tenants are not "
                        "mentioned");
    command->add_option("--register", arguments->compliance.register_file,
                        "Read the register from this JSON file instead of the state database");
    command->add_option("--policies", arguments->compliance.policy_dirs,
                        "Also load the policy files of this directory");
    command->add_option("--now", arguments->compliance.now, "The time to judge record ages at (default: now)");
    command->footer(
        "The report always reads the stores (like check --live). Exit status: 0 written (findings are in the report, "
        "not\nin the exit status); 2 bad input; 3 a store could not be read; 4 the journal's hash chain is broken.\n"
        "See gdprctl-audit(1).");
    command->callback([&options, arguments] { run_audit(options, *arguments); });
}

}  // namespace gdprctl::cli
