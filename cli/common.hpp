#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "core/config/workspace.hpp"

namespace gdprctl::cli {

enum class Format { text, json };

// Options every subcommand shares, and the exit code the chosen command leaves.
struct GlobalOptions {
    std::string config = "gdprctl.json";
    std::string format = "text";
    int verbosity = 0;
    bool quiet = false;
    int exit_code = 0;

    Format output_format() const { return format == "json" ? Format::json : Format::text; }
};

config::Workspace load_workspace(const GlobalOptions& options);

// Prints the text form or the JSON form (pretty, one document) on stdout.
void print_result(const GlobalOptions& options, const std::string& text, const nlohmann::json& json);

void add_scan_command(CLI::App& app, GlobalOptions& options);
void add_retention_command(CLI::App& app, GlobalOptions& options);
void add_schedule_command(CLI::App& app, GlobalOptions& options);
void add_journal_command(CLI::App& app, GlobalOptions& options);

}  // namespace gdprctl::cli
