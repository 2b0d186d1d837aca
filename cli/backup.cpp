#include <sstream>

#include "cli/common.hpp"
#include "connectors/connector.hpp"
#include "core/backup/backup.hpp"
#include "core/error.hpp"
#include "core/retention/retention.hpp"
#include "core/util/escape.hpp"

namespace gdprctl::cli {

namespace {

struct BackupArguments {
    KeyArguments key;
    std::string tenant;
    bool all = false;
    std::string now;
    std::vector<std::string> files;
    std::string to;
    std::vector<std::string> policy_dirs;
    bool dry_run = false;
    bool no_keep_last = false;
};

util::UnixTime now_of(const BackupArguments& arguments) {
    return arguments.now.empty() ? util::now() : retention::parse_now(arguments.now);
}

// A tenant as a backup's header names it: not authenticated until the backup is decrypted.
std::string tenant_label(const std::string& tenant) { return tenant.empty() ? "(platform)" : util::printable(tenant); }

std::string megabytes(std::uint64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / 1e6);
    return text;
}

void run_create(GlobalOptions& options, const BackupArguments& arguments) {
    if (arguments.all == !arguments.tenant.empty())
        throw Error::usage("backup create needs exactly one of --all or --tenant T");
    auto open = open_keystore(options, arguments.key, Unlock::yes);
    backup::CreateOptions create;
    if (!arguments.tenant.empty()) create.tenant = arguments.tenant;
    create.now = now_of(arguments);
    auto report = backup::create(open.workspace, connectors::open_all_connectors, *open.keystore, create);
    std::ostringstream text;
    nlohmann::json backups = nlohmann::json::array();
    std::uint64_t total = 0;
    for (const auto& file : report.backups) {
        std::uint64_t records = 0;
        for (const auto& [dataset, count] : file.counts.items()) records += count.get<std::uint64_t>();
        text << "  " << tenant_label(file.tenant) << "  " << file.path.string() << "  "
             << megabytes(file.container_bytes) << "  " << records << " records/files  key " << file.key_id << "\n";
        total += file.container_bytes;
        backups.push_back(file.to_json());
    }
    std::ostringstream head;
    head << "Backed up " << report.backups.size() << " archive(s), " << megabytes(total) << " encrypted, in "
         << report.seconds << " s:\n";
    std::string summary = head.str() + text.str();
    for (const auto& tenant : report.skipped)
        summary += "NOT backed up: tenant " + tenant +
                   ": its keys were destroyed, yet the stores still hold its data (erase it).\n";
    print_result(options, summary, {{"backups", backups}, {"skipped", report.skipped}, {"seconds", report.seconds}});
    if (!report.skipped.empty()) options.exit_code = static_cast<int>(ErrorKind::findings);
}

void run_list(const GlobalOptions& options, const BackupArguments& arguments) {
    auto open = open_keystore(options, arguments.key, Unlock::no);
    auto backups = backup::list(open.workspace, *open.keystore);
    std::ostringstream text;
    nlohmann::json json = nlohmann::json::array();
    for (const auto& file : backups) {
        text << "  " << tenant_label(file.tenant) << "  " << util::format_iso8601(file.created) << "  "
             << megabytes(file.container_bytes) << "  key " << file.key_id << "  " << file.status;
        if (!file.detail.empty()) text << " (" << file.detail << ")";
        text << "\n";
        json.push_back(file.to_json());
    }
    if (backups.empty()) text << "No backups in " << open.workspace.backup_dir.string() << ".\n";
    print_result(options, text.str(), {{"backup_dir", open.workspace.backup_dir.string()}, {"backups", json}});
}

void run_verify(GlobalOptions& options, const BackupArguments& arguments) {
    if (arguments.all == !arguments.files.empty()) throw Error::usage("backup verify needs backup files or --all");
    auto open = open_keystore(options, arguments.key, Unlock::yes);
    std::vector<std::filesystem::path> files(arguments.files.begin(), arguments.files.end());
    if (arguments.all)
        for (const auto& file : backup::list(open.workspace, *open.keystore)) files.push_back(file.path);
    std::ostringstream text;
    nlohmann::json json = nlohmann::json::array();
    std::size_t corrupt = 0, shredded = 0;
    for (const auto& file : files) {
        auto result = backup::verify(file, *open.keystore);
        text << "  " << result.outcome << "  " << file.string();
        if (result.outcome == "shredded") text << "  (" << result.backup.detail << ": unreadable by design)";
        if (!result.problem.empty()) text << "\n      " << result.problem;
        text << "\n";
        corrupt += result.outcome == "corrupt";
        shredded += result.outcome == "shredded";
        auto entry = result.backup.to_json();
        entry["outcome"] = result.outcome;
        entry["problem"] = result.problem;
        json.push_back(entry);
    }
    text << files.size() << " backup(s) checked, " << corrupt << " corrupt";
    if (shredded) text << ", " << shredded << " shredded";
    text << ".\n";
    print_result(options, text.str(), {{"results", json}, {"corrupt", corrupt}, {"shredded", shredded}});
    // A backup named on the command line that cannot be read fails, shredded or not; --all
    // passes over shredded backups, which are unreadable by design until prune removes them.
    if (corrupt || (!arguments.all && shredded)) options.exit_code = static_cast<int>(ErrorKind::integrity);
}

void run_restore(const GlobalOptions& options, const BackupArguments& arguments) {
    if (arguments.files.size() != 1) throw Error::usage("backup restore takes one backup file");
    auto open = open_keystore(options, arguments.key, Unlock::yes);
    auto report = backup::restore(open.workspace, arguments.files.front(), arguments.to, *open.keystore);
    std::ostringstream text;
    text << "Restored " << report.files << " file(s), " << megabytes(report.bytes) << ", of "
         << tenant_label(report.tenant) << " into " << report.directory.string() << ".\n";
    if (report.records_left_out)
        text << report.records_left_out << " record(s) of people erased after this backup was made were left out.\n";
    print_result(options, text.str(),
                 {{"directory", report.directory.string()},
                  {"tenant", report.tenant},
                  {"files", report.files},
                  {"bytes", report.bytes},
                  {"records_left_out", report.records_left_out}});
}

void run_prune(const GlobalOptions& options, const BackupArguments& arguments) {
    auto open = open_keystore(options, arguments.key, Unlock::no);
    auto policies = load_policies(open.workspace, arguments.policy_dirs);
    backup::PruneOptions prune;
    prune.now = now_of(arguments);
    prune.dry_run = arguments.dry_run;
    prune.keep_last = !arguments.no_keep_last;
    auto report = backup::prune(open.workspace, policies, *open.keystore, prune);
    std::ostringstream text;
    nlohmann::json json = nlohmann::json::array();
    std::size_t removed = 0;
    text << "Rule " << report.rule << ": backups older than " << report.max_age_seconds / 86400 << " days go.\n";
    for (const auto& decision : report.decisions) {
        text << "  " << (decision.remove ? (report.dry_run ? "would remove" : "removed") : "kept") << "  "
             << decision.backup.path.string() << "  (" << decision.reason << ")\n";
        removed += decision.remove;
        auto entry = decision.backup.to_json();
        entry["remove"] = decision.remove;
        entry["reason"] = decision.reason;
        json.push_back(entry);
    }
    text << (report.dry_run ? "Dry run: " : "") << removed << " of " << report.decisions.size() << " backup(s) "
         << (report.dry_run ? "would be " : "") << "removed.\n";
    print_result(options, text.str(),
                 {{"rule", report.rule}, {"dry_run", report.dry_run}, {"decisions", json}, {"removed", removed}});
}

}  // namespace

void add_backup_command(CLI::App& app, GlobalOptions& options) {
    auto* command = app.add_subcommand(
        "backup", "Encrypted per-tenant backups: create, list, verify, restore, prune (gdprctl-backup(1))");
    command->require_subcommand(1);
    auto arguments = std::make_shared<BackupArguments>();

    auto* create = command->add_subcommand(
        "create", "Back up every source of the data map: one archive per tenant, sealed under its key");
    create->add_option("--tenant", arguments->tenant, "Only this tenant");
    create->add_flag("--all", arguments->all, "Every tenant, and the platform-wide data");
    create->add_option("--now", arguments->now,
                       "Time to stamp the backups with (ISO-8601 or unix seconds); default now");
    add_key_arguments(create, arguments->key);
    create->callback([&options, arguments] { run_create(options, *arguments); });

    auto* list = command->add_subcommand("list", "List backups: tenant, time, size, key id, readable or shredded");
    list->callback([&options, arguments] { run_list(options, *arguments); });

    auto* verify = command->add_subcommand(
        "verify", "Authenticate every chunk and the archive digest; exit 4 if any backup was tampered with");
    verify->add_option("files", arguments->files, "Backup files (.gdpb)");
    verify->add_flag("--all", arguments->all, "Every backup in the backup directory");
    add_key_arguments(verify, arguments->key);
    verify->callback([&options, arguments] { run_verify(options, *arguments); });

    auto* restore = command->add_subcommand(
        "restore", "Decrypt and extract a backup into a new directory, leaving out people erased since");
    restore->add_option("file", arguments->files, "Backup file (.gdpb)")->required()->expected(1);
    restore->add_option("--to", arguments->to, "Directory to create (must not exist, or be empty)")->required();
    add_key_arguments(restore, arguments->key);
    restore->callback([&options, arguments] { run_restore(options, *arguments); });

    auto* prune = command->add_subcommand(
        "prune", "Remove backups older than the retention policy allows (keeps each tenant's last good one)");
    prune->add_option("--now", arguments->now, "The current time (ISO-8601 or unix seconds), for planning ahead");
    prune->add_option("--policies", arguments->policy_dirs, "Extra policy directory (repeatable)");
    prune->add_flag("--dry-run", arguments->dry_run, "Show what would be removed, remove nothing");
    prune->add_flag("--no-keep-last", arguments->no_keep_last,
                    "Also remove a tenant's last readable backup when it is past the limit");
    prune->callback([&options, arguments] { run_prune(options, *arguments); });
}

}  // namespace gdprctl::cli
