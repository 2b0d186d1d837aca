#include <unistd.h>

#include <iostream>

#include "cli/common.hpp"
#include "connectors/connector.hpp"
#include "core/scan/scan.hpp"

namespace gdprctl::cli {

namespace {

struct ScanArguments {
    std::string tenant;
    std::vector<std::string> categories;
    std::vector<std::string> subjects;
    std::size_t sample = 1000;
};

void run(const GlobalOptions& options, const ScanArguments& arguments, int& exit_code) {
    auto workspace = load_workspace(options);
    scan::ScanOptions scan_options;
    if (!arguments.tenant.empty()) scan_options.selector.tenant = arguments.tenant;
    scan_options.selector.categories = arguments.categories;
    for (const auto& subject : arguments.subjects)
        scan_options.selector.subjects.push_back(connectors::parse_identifier(subject));
    scan_options.inventory.sample_size = arguments.sample;
    if (::isatty(STDERR_FILENO) && !options.quiet)
        scan_options.progress = [](std::size_t index, std::size_t total, const std::string& source) {
            std::cerr << "\rscanning " << index + 1 << "/" << total << ": " << source << "\033[K" << std::flush;
            if (index + 1 == total) std::cerr << "\r\033[K" << std::flush;
        };
    auto report = scan::run_scan(workspace, connectors::open_all_connectors, scan_options);
    print_result(options, report.to_text(), report.to_json());
    exit_code = 0;
}

}  // namespace

void add_scan_command(CLI::App& app, GlobalOptions& options) {
    auto arguments = std::make_shared<ScanArguments>();
    auto* command = app.add_subcommand("scan", "Inventory the personal data in every source of the data map");
    command->footer(
        "Reads every source (read-only), counts records, bytes, oldest and newest per category and tenant,\n"
        "samples columns and fields the data map does not declare for e-mails, IPs and phone numbers, and\n"
        "counts malformed records. Appends one entry to the journal. See gdprctl-scan(1).");
    command->add_option("--tenant", arguments->tenant, "Only this tenant's records");
    command->add_option("--category", arguments->categories, "Only these categories (repeatable)");
    command->add_option(
        "--subject", arguments->subjects,
        "Only this person's records: email:ADDR, ip:ADDR, user:ID, phone:NUM, stream_key:KEY (repeatable)");
    command->add_option("--sample", arguments->sample, "Values sampled per undeclared column or field")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000000));
    command->callback([&options, arguments] { run(options, *arguments, options.exit_code); });
}

}  // namespace gdprctl::cli
