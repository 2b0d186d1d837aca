#include "cli/common.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "core/error.hpp"

#include "core/config/workspace.hpp"
#include "core/retention/retention.hpp"
#include "core/util/escape.hpp"
#include "core/util/fs.hpp"

namespace gdprctl::cli {

config::Workspace load_workspace(const GlobalOptions& options) { return config::load_workspace(options.config); }

void print_result(const GlobalOptions& options, const std::string& text, const nlohmann::json& json) {
    // Reports carry text from files and headers nobody authenticated: no byte of it may reach
    // a terminal as a control sequence, nor make JSON output fail (bytes that are not UTF-8
    // become U+FFFD there).
    if (options.output_format() == Format::json) {
        std::cout << json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else if (!options.quiet) {
        std::cout << util::terminal_text(text);
    }
}

std::vector<connectors::Identifier> read_identifiers(const std::vector<std::string>& subjects,
                                                     const std::string& subject_file) {
    std::vector<connectors::Identifier> identifiers;
    for (const auto& subject : subjects) identifiers.push_back(connectors::parse_identifier(subject));
    if (subject_file.empty()) return identifiers;
    std::istringstream lines(util::read_file(subject_file));
    std::size_t number = 0;
    for (std::string line; std::getline(lines, line);) {
        ++number;
        if (line.empty() || line[0] == '#') continue;
        try {
            identifiers.push_back(connectors::parse_identifier(line));
        } catch (const Error& e) {
            throw Error::usage(subject_file + ":" + std::to_string(number) + ": " + e.what(),
                               "write one KIND:VALUE per line, e.g. email:ann@example.org");
        }
    }
    return identifiers;
}

void add_now_option(CLI::App* command, std::string& now) {
    command->add_option("--now", now,
                        "The time to record and judge the clock at: ISO-8601 or unix seconds (default: now)");
}

util::UnixTime clock_now(const std::string& now) { return now.empty() ? util::now() : retention::parse_now(now); }

policy::PolicySet load_policies(const config::Workspace& workspace, const std::vector<std::string>& extra_dirs) {
    std::vector<std::filesystem::path> dirs = {policy::shipped_policy_dir()};
    dirs.insert(dirs.end(), workspace.policy_dirs.begin(), workspace.policy_dirs.end());
    for (const auto& dir : extra_dirs) dirs.emplace_back(dir);
    return policy::load_policies(dirs, workspace.disabled_policies);
}

void add_key_arguments(CLI::App* command, KeyArguments& arguments, const std::string& passphrase_option) {
    command->add_option(passphrase_option, arguments.passphrase_file,
                        "File whose first line is the master passphrase (default: $GDPRCTL_PASSPHRASE_FILE, "
                        "else a prompt on the terminal)");
    command->add_option("--key-file", arguments.key_file,
                        "The master key file, when it moved since 'keys init' recorded its path");
}

namespace {

std::string prompt_passphrase() {
    if (!::isatty(STDIN_FILENO))
        throw Error::usage("the master key is protected by a passphrase and none was given",
                           "use --passphrase-file FILE or set GDPRCTL_PASSPHRASE_FILE (never the command line)");
    std::cerr << "Master passphrase: " << std::flush;
    termios saved{};
    ::tcgetattr(STDIN_FILENO, &saved);
    termios silent = saved;
    silent.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &silent);
    std::string line;
    std::getline(std::cin, line);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::cerr << "\n";
    return line;
}

}  // namespace

crypto::MasterSecret master_secret(const KeyArguments& arguments, crypto::Keystore& keystore) {
    crypto::MasterSecret secret;
    if (!arguments.key_file.empty()) secret.key_file = arguments.key_file;
    if (!keystore.initialised() || keystore.mode() == "key-file") return secret;
    std::string file = arguments.passphrase_file;
    if (file.empty())
        if (const char* env = std::getenv("GDPRCTL_PASSPHRASE_FILE")) file = env;
    secret.passphrase = file.empty() ? prompt_passphrase() : crypto::read_passphrase_file(file);
    return secret;
}

// The master key opens every backup: a key file others may read is said out loud, every time.
void warn_if_key_file_is_exposed(const std::filesystem::path& key_file) {
    struct stat info {};
    if (::stat(key_file.c_str(), &info) != 0 || (info.st_mode & 0077) == 0) return;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    spdlog::warn(
        "the master key file {} is readable or writable by others than its owner (mode {}): run 'chmod "
        "600 {}'",
        util::printable(key_file.string()), mode, util::printable(key_file.string()));
}

void unlock_keystore(crypto::Keystore& keystore, const KeyArguments& arguments) {
    keystore.unlock(master_secret(arguments, keystore));
    if (keystore.mode() != "key-file") return;
    auto key_file =
        arguments.key_file.empty() ? keystore.recorded_key_file() : std::filesystem::path(arguments.key_file);
    if (key_file) warn_if_key_file_is_exposed(*key_file);
}

OpenKeystore open_keystore(const GlobalOptions& options, const KeyArguments& key, Unlock unlock) {
    OpenKeystore open{load_workspace(options), nullptr, nullptr};
    open.state = std::make_unique<state::StateDb>(open.workspace.state_dir);
    open.keystore = std::make_unique<crypto::Keystore>(*open.state);
    if (unlock == Unlock::yes || (unlock == Unlock::if_initialised && open.keystore->initialised()))
        unlock_keystore(*open.keystore, key);
    return open;
}

}  // namespace gdprctl::cli
