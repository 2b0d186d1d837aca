#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <sstream>

#include "cli/common.hpp"
#include "core/crypto/container.hpp"
#include "core/crypto/keystore.hpp"
#include "core/error.hpp"
#include "connectors/connector.hpp"
#include "core/util/escape.hpp"
#include "core/util/fs.hpp"
#include "core/util/hex.hpp"
#include "core/util/time.hpp"

namespace gdprctl::cli {

namespace {

struct ContainerArguments {
    KeyArguments key;
    std::string input;
    std::string output;
    std::vector<std::string> recipients;
    std::vector<std::string> identities;
    std::string secret_file;  // a passphrase-sealed container's passphrase
    std::string tenant;
    bool new_tenant = false;
    std::string suite;
    unsigned threads = 0;
    bool use_keystore = false;
};

// The input file ("-": standard input) as a ByteSource.
class Input {
public:
    explicit Input(const std::string& path) : m_path(path) {
        m_fd = path == "-" ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (m_fd < 0) throw Error::usage("cannot read " + path + ": " + std::strerror(errno), "check the path");
    }
    ~Input() {
        if (m_fd != STDIN_FILENO) ::close(m_fd);
    }
    std::size_t read(unsigned char* out, std::size_t size) {
        for (;;) {
            auto n = ::read(m_fd, out, size);
            if (n >= 0) return static_cast<std::size_t>(n);
            if (errno != EINTR) throw Error::runtime("cannot read " + m_path + ": " + std::strerror(errno));
        }
    }

private:
    std::string m_path;
    int m_fd = -1;
};

// A regular output file is written under a temporary name and moved into place, never over
// anything already there, only when everything succeeded. Standard output ("-") and devices
// such as /dev/null (or /dev/stdout, a link to one) are written directly.
class Output {
public:
    explicit Output(const std::string& path) : m_path(path) {
        struct stat st {};
        if (path == "-") {
            m_fd = STDOUT_FILENO;
        } else if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
            m_fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
            if (m_fd < 0) throw Error::usage("cannot write " + path + ": " + std::strerror(errno));
            m_owned = true;
        } else {
            m_file = std::make_unique<util::AtomicFile>(path, 0600, util::Replace::never);
        }
    }
    ~Output() {
        if (m_owned) ::close(m_fd);
    }
    void write(const unsigned char* data, std::size_t size) {
        if (m_file) return m_file->write(data, size);
        util::write_fully(m_fd, std::string_view(reinterpret_cast<const char*>(data), size), m_path);
    }
    void commit() {
        if (m_file) m_file->commit();
    }

private:
    std::string m_path;
    int m_fd = -1;
    bool m_owned = false;
    std::unique_ptr<util::AtomicFile> m_file;
};

crypto::Suite suite_of(const std::string& name) {
    if (name.empty()) return crypto::preferred_suite();
    return name == "chacha20-poly1305" ? crypto::Suite::chacha20poly1305 : crypto::Suite::aes256gcm;
}

std::string suite_name(crypto::Suite suite) {
    return suite == crypto::Suite::aes256gcm ? "aes-256-gcm" : "chacha20-poly1305";
}

// A key made for a misspelt tenant would seal data nobody looks for: a tenant is known when the
// keystore holds its keys or a store holds records of it.
void require_known_tenant(const config::Workspace& workspace, crypto::Keystore& keystore, const std::string& tenant) {
    for (const auto& key : keystore.list())
        if (key.tenant == tenant) return;
    connectors::Selector selector;
    selector.tenant = tenant;
    connectors::InventoryOptions inventory_options;
    inventory_options.sample_size = 0;
    for (auto& connector : connectors::open_all_connectors(workspace))
        for (const auto& row : connector->inventory(selector, inventory_options).rows)
            if (row.tenant == tenant && row.records > 0) return;
    throw Error::usage(
        "tenant \"" + util::printable(tenant) +
            "\" has no key in the keystore and no record in any store: no key was created for it",
        "check the spelling ('gdprctl keys list', 'gdprctl scan'), or give --new-tenant to create its key");
}

void run_encrypt(const GlobalOptions& options, const ContainerArguments& arguments) {
    std::vector<crypto::Recipient> recipients;
    for (const auto& text : arguments.recipients)
        recipients.push_back(crypto::Recipient::x25519(crypto::parse_recipient(text)));
    if (!arguments.secret_file.empty())
        recipients.push_back(crypto::Recipient::with_passphrase(crypto::read_passphrase_file(arguments.secret_file)));
    std::unique_ptr<state::StateDb> state;
    if (!arguments.tenant.empty() || arguments.use_keystore) {
        auto workspace = load_workspace(options);
        state = std::make_unique<state::StateDb>(workspace.state_dir);
        crypto::Keystore keystore(*state);
        unlock_keystore(keystore, arguments.key);
        if (!arguments.tenant.empty() && !arguments.new_tenant)
            require_known_tenant(workspace, keystore, arguments.tenant);
        auto [id, key] = keystore.data_key(arguments.tenant);
        recipients.push_back(crypto::Recipient::symmetric(*util::from_hex(id), key));
    }
    if (recipients.empty())
        throw Error::usage("no recipient: nobody could ever decrypt this",
                           "give --recipient gdprctl-x25519:..., or --tenant T to seal it under a keystore key");
    Input input(arguments.input);
    Output output(arguments.output);
    crypto::WriterOptions writer_options;
    writer_options.suite = suite_of(arguments.suite);
    writer_options.tenant = arguments.tenant;
    writer_options.threads = arguments.threads;
    crypto::ContainerWriter writer([&](const unsigned char* data, std::size_t size) { output.write(data, size); },
                                   recipients, writer_options);
    writer.write_from([&](unsigned char* out, std::size_t size) { return input.read(out, size); });
    writer.finish();
    output.commit();
    if (arguments.output != "-")
        print_result(options,
                     "Encrypted " + std::to_string(writer.plaintext_bytes()) + " bytes to " + arguments.output + " (" +
                         suite_name(writer.header().suite) + ", " + std::to_string(recipients.size()) +
                         " recipient(s)).\n",
                     {{"output", arguments.output},
                      {"plaintext_bytes", writer.plaintext_bytes()},
                      {"suite", suite_name(writer.header().suite)}});
}

void run_decrypt(const GlobalOptions& options, const ContainerArguments& arguments) {
    crypto::Keyring keyring;
    for (const auto& file : arguments.identities) keyring.identities.push_back(crypto::read_identity_file(file));
    if (!arguments.secret_file.empty())
        keyring.passphrases.push_back(crypto::read_passphrase_file(arguments.secret_file));
    std::unique_ptr<state::StateDb> state;
    std::unique_ptr<crypto::Keystore> keystore;
    if (keyring.identities.empty() && keyring.passphrases.empty()) {
        auto workspace = load_workspace(options);
        state = std::make_unique<state::StateDb>(workspace.state_dir);
        keystore = std::make_unique<crypto::Keystore>(*state);
        unlock_keystore(*keystore, arguments.key);
        keyring = keystore->keyring();
    }
    Input input(arguments.input);
    crypto::ContainerReader reader([&](unsigned char* out, std::size_t size) { return input.read(out, size); }, keyring,
                                   arguments.threads);
    Output output(arguments.output);
    auto total = reader.read_all([&](const unsigned char* data, std::size_t size) { output.write(data, size); });
    output.commit();
    if (arguments.output != "-")
        print_result(options,
                     "Decrypted and authenticated " + std::to_string(total) + " bytes to " + arguments.output + ".\n",
                     {{"output", arguments.output}, {"plaintext_bytes", total}});
}

void run_inspect(const GlobalOptions& options, const ContainerArguments& arguments) {
    Input input(arguments.input);
    auto header = crypto::read_header([&](unsigned char* out, std::size_t size) { return input.read(out, size); });
    auto object_id = util::to_hex(header.object_id.data(), header.object_id.size());
    nlohmann::json json = {{"format_version", 1},
                           {"suite", suite_name(header.suite)},
                           {"chunk_size", crypto::k_chunk_size},
                           {"object_id", object_id},
                           {"created", util::format_iso8601(header.created)},
                           {"tenant", util::printable(header.tenant)},
                           {"tenant_hex", util::to_hex(reinterpret_cast<const unsigned char*>(header.tenant.data()),
                                                       header.tenant.size())},
                           {"passphrase", header.passphrase_sealed()},
                           {"key_ids", header.key_ids()},
                           {"x25519_recipients", header.x25519_recipients()},
                           {"header_bytes", header.size()}};
    std::ostringstream text;
    text << "gdprctl container, format 1, " << suite_name(header.suite) << ", 64 KiB chunks\n"
         << "  object id  " << object_id << "\n"
         << "  created    " << util::format_iso8601(header.created) << "\n"
         << "  tenant     " << (header.tenant.empty() ? "(none)" : util::printable(header.tenant)) << "\n";
    for (const auto& id : header.key_ids()) text << "  key        " << id << "\n";
    if (header.x25519_recipients()) text << "  X25519     " << header.x25519_recipients() << " recipient(s)\n";
    if (header.passphrase_sealed()) text << "  passphrase (scrypt)\n";
    text << "(the header is authenticated only when the file is decrypted or verified)\n";
    print_result(options, text.str(), json);
}

}  // namespace

void add_container_command(CLI::App& app, GlobalOptions& options) {
    auto* command = app.add_subcommand(
        "container", "Encrypt, decrypt or inspect one file in the gdprctl container format (gdprctl-container(5))");
    command->require_subcommand(1);
    auto arguments = std::make_shared<ContainerArguments>();

    auto* encrypt = command->add_subcommand("encrypt", "Encrypt a file to X25519 recipients and/or a tenant's key");
    encrypt->add_option("input", arguments->input, "File to encrypt ('-': standard input)")->required();
    encrypt->add_option("-o,--output", arguments->output, "Container to write ('-': standard output)")->required();
    encrypt->add_option("-r,--recipient", arguments->recipients, "gdprctl-x25519:<hex> recipient (repeatable)");
    encrypt->add_option("--tenant", arguments->tenant,
                        "Also seal under this tenant's keystore key (a tenant the keystore or a store knows)");
    encrypt->add_flag("--new-tenant", arguments->new_tenant,
                      "Create the --tenant's key although no store holds its records yet");
    encrypt->add_flag("--platform-key", arguments->use_keystore, "Also seal under the platform's keystore key");
    encrypt->add_option("--suite", arguments->suite, "aes-256-gcm (default with AES-NI) or chacha20-poly1305")
        ->check(CLI::IsMember({"aes-256-gcm", "chacha20-poly1305"}));
    encrypt->add_option("--threads", arguments->threads, "Threads sealing chunks (default: one per core, plus one)");
    encrypt->add_option("--passphrase-file", arguments->secret_file,
                        "Seal under the passphrase on this file's first line (scrypt; no other recipient)");
    add_key_arguments(encrypt, arguments->key, "--master-passphrase-file");
    encrypt->callback([&options, arguments] { run_encrypt(options, *arguments); });

    auto* decrypt = command->add_subcommand(
        "decrypt", "Decrypt and authenticate a container; a regular output file appears only if all of it verifies");
    decrypt->add_option("input", arguments->input, "Container to read ('-': standard input)")->required();
    decrypt->add_option("-o,--output", arguments->output, "Where the plaintext goes ('-': standard output)")
        ->required();
    decrypt->add_option("-i,--identity", arguments->identities,
                        "X25519 identity file (repeatable); "
                        "without one (or a passphrase), the workspace keystore's keys are used");
    decrypt->add_option("--threads", arguments->threads, "Threads opening chunks (default: one per core)");
    decrypt->add_option("--passphrase-file", arguments->secret_file,
                        "The passphrase of a passphrase-sealed container (this file's first line)");
    add_key_arguments(decrypt, arguments->key, "--master-passphrase-file");
    decrypt->callback([&options, arguments] { run_decrypt(options, *arguments); });

    auto* inspect = command->add_subcommand("inspect", "Show a container's header (no key needed)");
    inspect->add_option("input", arguments->input, "Container to read")->required();
    inspect->callback([&options, arguments] { run_inspect(options, *arguments); });
}

void add_decrypt_command(CLI::App& app, GlobalOptions& options) {
    auto arguments = std::make_shared<ContainerArguments>();
    auto* decrypt = app.add_subcommand(
        "decrypt", "Open an encrypted export or container you received (same as 'container decrypt')");
    decrypt->add_option("input", arguments->input, "Container to read ('-': standard input)")->required();
    decrypt->add_option("-o,--output", arguments->output, "Where the plaintext goes ('-': standard output)")
        ->required();
    decrypt->add_option("-i,--identity", arguments->identities,
                        "X25519 identity file (repeatable); without one (or a passphrase), the workspace keystore's "
                        "keys are used");
    decrypt->add_option("--passphrase-file", arguments->secret_file,
                        "The passphrase it was sealed under (this file's first line)");
    add_key_arguments(decrypt, arguments->key, "--master-passphrase-file");
    decrypt->callback([&options, arguments] { run_decrypt(options, *arguments); });
}

}  // namespace gdprctl::cli
