#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "connectors/connector.hpp"
#include "core/config/workspace.hpp"
#include "core/crypto/keystore.hpp"
#include "core/policy/policy.hpp"
#include "core/state/state_db.hpp"

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

// --subject values, then --subject-file lines (blank lines and '#' comments skipped); an
// unparsable line is named by file and line number.
std::vector<connectors::Identifier> read_identifiers(const std::vector<std::string>& subjects,
                                                     const std::string& subject_file);

// --now for the commands that keep a legal clock: the time they record and judge the clock at.
void add_now_option(CLI::App* command, std::string& now);
// The time --now gave (ISO-8601 or unix seconds), else now.
util::UnixTime clock_now(const std::string& now);

// Policies: the shipped pack, the workspace's dirs, then extra_dirs (--policies).
policy::PolicySet load_policies(const config::Workspace& workspace, const std::vector<std::string>& extra_dirs);

// How a command reaches the master key: --passphrase-file, GDPRCTL_PASSPHRASE_FILE, the key
// file recorded by 'keys init' (or --key-file), else a prompt when stdin is a terminal.
struct KeyArguments {
    std::string passphrase_file;
    std::string key_file;
};
// The master key's options: its passphrase file (under passphrase_option: commands whose own
// --passphrase-file is a container's passphrase name it --master-passphrase-file) and key file.
void add_key_arguments(CLI::App* command, KeyArguments& arguments,
                       const std::string& passphrase_option = "--passphrase-file");
// The passphrase text (from the file, the environment or the terminal) for a passphrase
// keystore, or the key file override; never taken from argv.
crypto::MasterSecret master_secret(const KeyArguments& arguments, crypto::Keystore& keystore);
// Opens the keystore of workspace and unlocks it.
void unlock_keystore(crypto::Keystore& keystore, const KeyArguments& arguments);

// The workspace with its state database and the keystore in it, kept alive together.
struct OpenKeystore {
    config::Workspace workspace;
    std::unique_ptr<state::StateDb> state;
    std::unique_ptr<crypto::Keystore> keystore;
    // The keystore when the workspace has one ('keys init'), else null.
    crypto::Keystore* if_initialised() { return keystore->initialised() ? keystore.get() : nullptr; }
};
enum class Unlock { no, yes, if_initialised };
OpenKeystore open_keystore(const GlobalOptions& options, const KeyArguments& key, Unlock unlock);

void add_scan_command(CLI::App& app, GlobalOptions& options);
void add_retention_command(CLI::App& app, GlobalOptions& options);
void add_schedule_command(CLI::App& app, GlobalOptions& options);
void add_journal_command(CLI::App& app, GlobalOptions& options);
void add_keys_command(CLI::App& app, GlobalOptions& options);
void add_container_command(CLI::App& app, GlobalOptions& options);
void add_backup_command(CLI::App& app, GlobalOptions& options);
void add_export_command(CLI::App& app, GlobalOptions& options);
void add_decrypt_command(CLI::App& app, GlobalOptions& options);
void add_register_command(CLI::App& app, GlobalOptions& options);
void add_check_command(CLI::App& app, GlobalOptions& options);
void add_audit_command(CLI::App& app, GlobalOptions& options);
void add_completion_command(CLI::App& app, GlobalOptions& options);
void add_erase_command(CLI::App& app, GlobalOptions& options);
void add_certificate_command(CLI::App& app, GlobalOptions& options);
void add_request_command(CLI::App& app, GlobalOptions& options);
void add_breach_command(CLI::App& app, GlobalOptions& options);

}  // namespace gdprctl::cli
