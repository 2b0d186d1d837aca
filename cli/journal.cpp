#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/journal/journal.hpp"

#include <sstream>

namespace gdprctl::cli {

namespace {

nlohmann::json entry_json(const journal::Entry& entry) {
    return {{"seq", entry.seq},           {"time", entry.time},           {"command", entry.command},
            {"selector", entry.selector}, {"sources", entry.sources},     {"counts", entry.counts},
            {"outcome", entry.outcome},   {"prev_hash", entry.prev_hash}, {"hash", entry.hash}};
}

void show(const GlobalOptions& options, std::int64_t last) {
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    journal::Journal log(state);
    auto entries = log.entries(last > 0 ? std::optional<std::int64_t>(last) : std::nullopt);
    std::ostringstream text;
    nlohmann::json json = nlohmann::json::array();
    for (const auto& entry : entries) {
        text << entry.seq << "  " << entry.time << "  " << entry.command << "  " << entry.outcome << "  "
             << entry.counts.dump() << "  " << entry.hash.substr(0, 12) << "\n";
        json.push_back(entry_json(entry));
    }
    if (entries.empty()) text << "The journal is empty.\n";
    print_result(options, text.str(), json);
}

void verify(const GlobalOptions& options, int& exit_code) {
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    journal::Journal log(state);
    auto result = log.verify();
    std::ostringstream text;
    if (result.intact) {
        text << "Journal intact: " << result.entries << " entries, the chain holds.\n";
    } else {
        text << "Journal BROKEN at entry " << *result.first_broken << ": " << result.problem << ".\n";
    }
    nlohmann::json json = {{"intact", result.intact}, {"entries", result.entries}};
    if (!result.intact) json["first_broken"] = *result.first_broken, json["problem"] = result.problem;
    print_result(options, text.str(), json);
    exit_code = result.intact ? 0 : static_cast<int>(ErrorKind::integrity);
}

}  // namespace

void add_journal_command(CLI::App& app, GlobalOptions& options) {
    auto* command = app.add_subcommand("journal", "Show or verify the hash-chained log of everything gdprctl did");
    command->require_subcommand(1);
    auto last = std::make_shared<std::int64_t>(0);
    auto* show_command = command->add_subcommand("show", "List journal entries (oldest first)");
    show_command->add_option("-n,--last", *last, "Only the last N entries");
    show_command->callback([&options, last] { show(options, *last); });
    auto* verify_command = command->add_subcommand(
        "verify", "Recompute the hash chain; exit 4 naming the first entry edited, removed or reordered");
    verify_command->callback([&options] { verify(options, options.exit_code); });
}

}  // namespace gdprctl::cli
