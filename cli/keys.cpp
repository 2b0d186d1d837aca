#include <sstream>

#include "cli/common.hpp"
#include "core/crypto/keystore.hpp"
#include "core/error.hpp"

namespace gdprctl::cli {

namespace {

struct KeysArguments {
    KeyArguments key;
    std::string new_passphrase_file;
    std::string new_key_file;
    unsigned scrypt_log2n = 18;
    std::string tenant;
    std::string out;
    bool yes = false;
    bool dry_run = false;
};

nlohmann::json key_json(const crypto::KeyInfo& key) {
    nlohmann::json json = {{"id", key.id},
                           {"tenant", key.tenant},
                           {"purpose", key.purpose},
                           {"created", key.created},
                           {"state", key.destroyed.empty() ? "active" : "destroyed"}};
    if (!key.destroyed.empty()) json["destroyed"] = key.destroyed;
    if (!key.public_key.empty()) json["public_key"] = key.public_key;
    return json;
}

std::string tenant_label(const std::string& tenant) { return tenant.empty() ? "(platform)" : tenant; }

void run_init(const GlobalOptions& options, const KeysArguments& arguments) {
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    crypto::Keystore keystore(state);
    if (arguments.key.key_file.empty() == arguments.key.passphrase_file.empty())
        throw Error::usage("keys init needs exactly one of --key-file PATH or --passphrase-file FILE",
                           "a key file suits unattended jobs; a passphrase suits keys kept by people");
    std::string text;
    if (!arguments.key.key_file.empty()) {
        keystore.init_with_key_file(arguments.key.key_file);
        text = "Master key created in " + arguments.key.key_file +
               " (0600). Keep a copy offline: without it no backup can be restored.\n";
    } else {
        crypto::ScryptParams params;
        params.log2_n = arguments.scrypt_log2n;
        keystore.init_with_passphrase(crypto::read_passphrase_file(arguments.key.passphrase_file), params);
        text = "Master key created, protected by the passphrase (scrypt, N = 2^" +
               std::to_string(arguments.scrypt_log2n) + ", r = 8, p = 1).\n";
    }
    print_result(options, text, {{"initialised", true}, {"mode", keystore.mode()}});
}

void run_list(const GlobalOptions& options) {
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    crypto::Keystore keystore(state);
    std::ostringstream text;
    nlohmann::json keys = nlohmann::json::array();
    text << "Master key: " << (keystore.initialised() ? keystore.mode() : "none (run 'gdprctl keys init')") << "\n";
    for (const auto& key : keystore.list()) {
        text << "  " << key.id << "  " << tenant_label(key.tenant) << "  " << key.purpose << "  created "
             << key.created;
        if (!key.destroyed.empty()) text << "  DESTROYED " << key.destroyed;
        text << "\n";
        keys.push_back(key_json(key));
    }
    print_result(options, text.str(), {{"master", keystore.initialised() ? keystore.mode() : "none"}, {"keys", keys}});
}

void run_rotate(const GlobalOptions& options, const KeysArguments& arguments) {
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    crypto::Keystore keystore(state);
    unlock_keystore(keystore, arguments.key);
    crypto::MasterSecret next;
    if (!arguments.new_key_file.empty()) {
        next.key_file = arguments.new_key_file;
    } else if (!arguments.new_passphrase_file.empty()) {
        next.passphrase = crypto::read_passphrase_file(arguments.new_passphrase_file);
    } else if (keystore.mode() == "key-file") {
        next.key_file = *keystore.recorded_key_file();
    } else {
        throw Error::usage("keys rotate needs the new secret: --new-passphrase-file FILE or --new-key-file PATH");
    }
    crypto::ScryptParams params;
    params.log2_n = arguments.scrypt_log2n;
    auto count = keystore.list().size();
    keystore.rotate(std::move(next), params);
    print_result(options, "New master key in place; every key re-wrapped under it. No backup was rewritten.\n",
                 {{"rotated", true}, {"mode", keystore.mode()}, {"keys", count}});
}

void run_export_public(const GlobalOptions& options, const KeysArguments& arguments) {
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    crypto::Keystore keystore(state);
    unlock_keystore(keystore, arguments.key);
    auto recipient = keystore.recipient_public_key(arguments.tenant);
    print_result(options, recipient + "\n", {{"tenant", arguments.tenant}, {"recipient", recipient}});
}

void run_keygen(const GlobalOptions& options, const KeysArguments& arguments) {
    auto pair = crypto::x25519_generate();
    crypto::write_identity_file(arguments.out, pair);
    auto recipient = crypto::format_recipient(pair.public_key);
    print_result(options,
                 "Identity written to " + arguments.out + " (0600). Its recipient (public) key:\n" + recipient + "\n",
                 {{"identity_file", arguments.out}, {"recipient", recipient}});
}

void run_destroy(const GlobalOptions& options, const KeysArguments& arguments) {
    if (!arguments.yes && !arguments.dry_run)
        throw Error::usage(
            "destroying tenant " + arguments.tenant + "'s keys makes every backup sealed for it unreadable, forever",
            "run with --dry-run to see what would go, then again with --yes");
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    crypto::Keystore keystore(state);
    auto report = keystore.destroy_tenant(arguments.tenant, arguments.dry_run);
    std::ostringstream text;
    nlohmann::json keys = nlohmann::json::array();
    text << (report.dry_run ? "Would destroy" : "Destroyed") << " " << report.keys.size() << " key(s) of tenant "
         << report.tenant << ":\n";
    for (const auto& key : report.keys) {
        text << "  " << key.id << "  " << key.purpose << "  created " << key.created << "\n";
        keys.push_back(key_json(key));
    }
    if (!report.dry_run)
        text << "Every container sealed under these keys is now unreadable (crypto-shredded); 'gdprctl backup list' "
                "shows them as shredded.\n";
    print_result(options, text.str(), {{"tenant", report.tenant}, {"dry_run", report.dry_run}, {"keys", keys}});
}

}  // namespace

void add_keys_command(CLI::App& app, GlobalOptions& options) {
    auto* command =
        app.add_subcommand("keys", "Manage the master key and the per-tenant keys that seal backups and exports");
    command->require_subcommand(1);
    auto arguments = std::make_shared<KeysArguments>();

    auto* init = command->add_subcommand("init", "Create the master key, in a key file or under a passphrase");
    add_key_arguments(init, arguments->key);
    init->add_option("--scrypt-log2n", arguments->scrypt_log2n, "scrypt cost for a passphrase: N = 2^this")
        ->check(CLI::Range(10, 22));
    init->callback([&options, arguments] { run_init(options, *arguments); });

    auto* list = command->add_subcommand("list", "List the keys: id, tenant, purpose, created, destroyed");
    list->callback([&options] { run_list(options); });

    auto* rotate = command->add_subcommand(
        "rotate", "Replace the master key and re-wrap every key under it (no backup is rewritten)");
    add_key_arguments(rotate, arguments->key);
    rotate->add_option("--new-passphrase-file", arguments->new_passphrase_file,
                       "Protect the new master key with this passphrase");
    rotate->add_option("--new-key-file", arguments->new_key_file, "Write the new master key to this file");
    rotate->add_option("--scrypt-log2n", arguments->scrypt_log2n, "scrypt cost for a new passphrase")
        ->check(CLI::Range(10, 22));
    rotate->callback([&options, arguments] { run_rotate(options, *arguments); });

    auto* export_public = command->add_subcommand(
        "export-public", "Print a tenant's X25519 recipient key (created on first use) for others to encrypt to");
    add_key_arguments(export_public, arguments->key);
    export_public->add_option("--tenant", arguments->tenant, "The tenant")->required();
    export_public->callback([&options, arguments] { run_export_public(options, *arguments); });

    auto* keygen = command->add_subcommand(
        "keygen", "Create an X25519 identity file (e.g. for a customer receiving an export); prints its recipient");
    keygen->add_option("--out", arguments->out, "Identity file to create (0600; never overwritten)")->required();
    keygen->callback([&options, arguments] { run_keygen(options, *arguments); });

    auto* destroy = command->add_subcommand(
        "destroy", "Crypto-shred a tenant: overwrite and delete its keys so its backups can never be read");
    destroy->add_option("--tenant", arguments->tenant, "The tenant whose keys go")->required();
    destroy->add_flag("--yes", arguments->yes, "Confirm: this cannot be undone");
    destroy->add_flag("--dry-run", arguments->dry_run, "Show the keys that would be destroyed");
    destroy->callback([&options, arguments] { run_destroy(options, *arguments); });
}

}  // namespace gdprctl::cli
