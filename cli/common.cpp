#include "cli/common.hpp"

#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "core/error.hpp"

#include "core/config/workspace.hpp"

namespace gdprctl::cli {

config::Workspace load_workspace(const GlobalOptions& options) { return config::load_workspace(options.config); }

void print_result(const GlobalOptions& options, const std::string& text, const nlohmann::json& json) {
    if (options.output_format() == Format::json) {
        std::cout << json.dump(2) << "\n";
    } else if (!options.quiet) {
        std::cout << text;
    }
}

policy::PolicySet load_policies(const config::Workspace& workspace, const std::vector<std::string>& extra_dirs) {
    std::vector<std::filesystem::path> dirs = {policy::shipped_policy_dir()};
    dirs.insert(dirs.end(), workspace.policy_dirs.begin(), workspace.policy_dirs.end());
    for (const auto& dir : extra_dirs) dirs.emplace_back(dir);
    return policy::load_policies(dirs, workspace.disabled_policies);
}

void add_key_arguments(CLI::App* command, KeyArguments& arguments) {
    command->add_option("--passphrase-file", arguments.passphrase_file,
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

void unlock_keystore(crypto::Keystore& keystore, const KeyArguments& arguments) {
    keystore.unlock(master_secret(arguments, keystore));
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
