#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>

#include "cli/common.hpp"
#include "core/config/reader.hpp"
#include "core/error.hpp"
#include "core/util/escape.hpp"
#include "core/version.hpp"

namespace {

using gdprctl::cli::GlobalOptions;

struct Command {
    const char* name;
    const char* group;  // who uses it: --help lists the commands under these headings
    void (*add)(CLI::App&, GlobalOptions&);
};

constexpr const char* k_compliance = "Compliance (the register, what is where, the audit trail)";
constexpr const char* k_operations = "Operations (retention, backups, keys)";
constexpr const char* k_requests = "Customers' requests (people's requests, export, erasure) and breaches";
constexpr const char* k_ci = "CI";
constexpr const char* k_shell = "Shell";

// Every subcommand, in the order --help lists them.
constexpr Command k_commands[] = {
    {"register", k_compliance, &gdprctl::cli::add_register_command},
    {"scan", k_compliance, &gdprctl::cli::add_scan_command},
    {"audit", k_compliance, &gdprctl::cli::add_audit_command},
    {"journal", k_compliance, &gdprctl::cli::add_journal_command},
    {"retention", k_operations, &gdprctl::cli::add_retention_command},
    {"schedule", k_operations, &gdprctl::cli::add_schedule_command},
    {"backup", k_operations, &gdprctl::cli::add_backup_command},
    {"keys", k_operations, &gdprctl::cli::add_keys_command},
    {"container", k_operations, &gdprctl::cli::add_container_command},
    {"request", k_requests, &gdprctl::cli::add_request_command},
    {"export", k_requests, &gdprctl::cli::add_export_command},
    {"decrypt", k_requests, &gdprctl::cli::add_decrypt_command},
    {"erase", k_requests, &gdprctl::cli::add_erase_command},
    {"certificate", k_requests, &gdprctl::cli::add_certificate_command},
    {"breach", k_requests, &gdprctl::cli::add_breach_command},
    {"check", k_ci, &gdprctl::cli::add_check_command},
    {"completion", k_shell, &gdprctl::cli::add_completion_command},
};

void configure_logging(const GlobalOptions& options) {
    auto logger = spdlog::stderr_color_mt("gdprctl");
    logger->set_pattern("gdprctl: %l: %v");
    logger->set_level(options.quiet            ? spdlog::level::err
                      : options.verbosity >= 2 ? spdlog::level::debug
                      : options.verbosity == 1 ? spdlog::level::info
                                               : spdlog::level::warn);
    spdlog::set_default_logger(logger);
}

void report_error(const std::string& what, const std::string& hint) {
    std::cerr << "gdprctl: error: " << gdprctl::util::terminal_text(what) << "\n";
    if (!hint.empty()) std::cerr << "gdprctl: hint: " << gdprctl::util::terminal_text(hint) << "\n";
}

std::vector<std::string> command_names() {
    std::vector<std::string> names;
    for (const auto& command : k_commands) names.emplace_back(command.name);
    return names;
}

// The first word that is neither an option nor an option's value: what the user meant as command.
std::string first_command_word(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string word = argv[i];
        if (word == "--config" || word == "--format") {
            ++i;
            continue;
        }
        if (!word.empty() && word[0] != '-') return word;
    }
    return "";
}

// CLI11 reports an unknown command as "a subcommand is required" or as extra arguments;
// both deserve the closest command name.
std::string command_hint(int argc, char** argv) {
    auto word = first_command_word(argc, argv);
    auto names = command_names();
    if (word.empty() || std::find(names.begin(), names.end(), word) != names.end()) return "";
    auto near = gdprctl::config::closest_match(word, names);
    return "unknown command \"" + word + "\"" + (near ? "; did you mean \"" + *near + "\"?" : "");
}

}  // namespace

int main(int argc, char** argv) {
    GlobalOptions options;
    CLI::App app{"gdprctl: keep a live-streaming platform GDPR-compliant over the whole life of its data"};
    app.set_version_flag("--version", std::string("gdprctl ") + gdprctl::k_version);
    app.require_subcommand(1);
    app.fallthrough();
    app.add_option("--config", options.config, "Workspace config (data map and sources)")->capture_default_str();
    app.add_option("--format", options.format, "Output for people (text) or programs (json)")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    app.add_flag("-v,--verbose", options.verbosity, "More diagnostics on stderr (repeat for debug)");
    app.add_flag("-q,--quiet", options.quiet, "Only errors on stderr; no text report on stdout");
    app.footer(
        "Exit codes: 0 ok, 1 findings, 2 usage or config error, 3 runtime failure,\n"
        "4 integrity failure, 130 interrupted. See gdprctl(1).");
    for (const auto& command : k_commands) {
        command.add(app, options);
        app.get_subcommand(command.name)->group(command.group);
    }
    // Runs once the global options are parsed and before any subcommand's callback.
    app.parse_complete_callback([&options] { configure_logging(options); });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);
        if (auto hint = command_hint(argc, argv); !hint.empty()) {
            report_error(hint, "run 'gdprctl --help' for the commands");
            return static_cast<int>(gdprctl::ErrorKind::usage);
        }
        std::string help = app.get_subcommands().empty() ? "gdprctl --help" : "gdprctl <command> --help";
        report_error(e.what(), "run '" + help + "' for the options");
        return static_cast<int>(gdprctl::ErrorKind::usage);
    } catch (const gdprctl::Error& e) {
        report_error(e.what(), e.hint());
        return e.exit_code();
    } catch (const std::exception& e) {
        report_error(std::string("unexpected failure: ") + e.what(), "please report this with the command you ran");
        return static_cast<int>(gdprctl::ErrorKind::runtime);
    }
    return options.exit_code;
}
