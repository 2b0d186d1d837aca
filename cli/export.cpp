#include <sstream>

#include "cli/common.hpp"
#include "cli/compliance.hpp"
#include "connectors/connector.hpp"
#include "core/error.hpp"
#include "core/exports/export.hpp"
#include "core/requests/requests.hpp"
#include "core/retention/retention.hpp"

namespace gdprctl::cli {

namespace {

struct ExportArguments {
    std::string tenant;
    std::vector<std::string> subjects;
    std::string out;
    std::string format = "zip";
    bool force = false;
    bool dry_run = false;
    std::vector<std::string> recipients;
    std::string now;
    std::string file;
    std::vector<std::string> identities;
    std::string passphrase_file;
    unsigned scrypt_log2n = 18;
    std::string request;
    std::string unverified_reason;
    KeyArguments key;
};

// A data subject request carried out: its person (the sealed identifiers) and tenant. The
// open keystore's state database records the archive on the request afterwards.
struct RequestCarriedOut {
    OpenKeystore open;
    std::unique_ptr<requests::RequestStore> store;
    requests::Request request;
};

std::optional<RequestCarriedOut> request_of(const GlobalOptions& options, const ExportArguments& arguments,
                                            exports::ExportOptions& export_options) {
    if (arguments.request.empty()) {
        if (!arguments.unverified_reason.empty()) throw Error::usage("--unverified-reason goes with --request ID");
        return std::nullopt;
    }
    if (!arguments.tenant.empty() || !arguments.subjects.empty())
        throw Error::usage("--request carries its own person and tenant: give no --tenant or --subject");
    RequestCarriedOut carried{open_keystore(options, arguments.key, Unlock::yes), nullptr, {}};
    carried.store = std::make_unique<requests::RequestStore>(*carried.open.state, carried.open.keystore.get());
    carried.request = carried.store->load(arguments.request);
    requests::check_runnable(carried.request, "export", arguments.unverified_reason);
    export_options.selector.tenant = carried.request.tenant;
    export_options.selector.subjects = carried.store->subjects_of(carried.request);
    return carried;
}

void record_export(RequestCarriedOut& carried, const exports::ExportReport& report, const ExportArguments& arguments,
                   util::UnixTime now) {
    requests::Action action{util::format_iso8601(now),
                            "export",
                            std::filesystem::absolute(report.out).string(),
                            {{"records", report.records()},
                             {"entries", report.entries},
                             {"bytes", report.archive_bytes},
                             {"sha256", report.archive_sha256},
                             {"encrypted", report.encrypted}},
                            arguments.unverified_reason};
    carried.store->record_action(carried.request, action, {});
}

void run_export(const GlobalOptions& options, const ExportArguments& arguments) {
    if (arguments.request.empty() && arguments.tenant.empty() == arguments.subjects.empty())
        throw Error::usage("export needs exactly one of --tenant T, --subject KIND:VALUE (repeatable) or --request ID");
    if (arguments.out.empty() && !arguments.dry_run) throw Error::usage("export needs --out FILE");
    exports::ExportOptions export_options;
    auto carried = request_of(options, arguments, export_options);
    auto workspace = carried ? carried->open.workspace : load_workspace(options);
    if (!arguments.tenant.empty()) export_options.selector.tenant = arguments.tenant;
    for (const auto& subject : arguments.subjects)
        export_options.selector.subjects.push_back(connectors::parse_identifier(subject));
    export_options.format = exports::parse_format(arguments.format);
    export_options.out = arguments.out;
    export_options.force = arguments.force;
    export_options.dry_run = arguments.dry_run;
    for (const auto& recipient : arguments.recipients)
        export_options.recipients.push_back(crypto::parse_recipient(recipient));
    if (!arguments.passphrase_file.empty())
        export_options.passphrase = crypto::read_passphrase_file(arguments.passphrase_file);
    export_options.scrypt_log2n = arguments.scrypt_log2n;
    export_options.now = arguments.now.empty() ? util::now() : retention::parse_now(arguments.now);
    export_options.processing = load_register(workspace, "");
    auto report = exports::run_export(workspace, connectors::open_all_connectors, export_options);
    if (carried && !report.dry_run) record_export(*carried, report, arguments, export_options.now);

    std::ostringstream text;
    text << (report.dry_run ? "Would export " : "Exported ") << report.records() << " records and files";
    if (!report.dry_run)
        text << " to " << report.out.string() << " (" << report.entries << " entries, " << report.archive_bytes
             << " bytes" << (report.encrypted ? ", encrypted" : "") << ")";
    text << ":\n";
    for (const auto& count : report.datasets)
        text << "  " << count.dataset << "  " << count.category << "  " << count.records << "  " << count.bytes
             << " bytes\n";
    if (report.datasets.empty()) text << "  nothing found: the archive's README says so.\n";
    if (report.shared_addresses)
        text << report.shared_addresses
             << " address(es) of this person were left out: other people used them too (a shared network).\n";
    if (carried && !report.dry_run)
        text << "Recorded on request " << carried->request.id << "; send the archive, then 'gdprctl request close "
             << carried->request.id << "'.\n";
    print_result(options, text.str(), report.to_json());
}

void run_verify(GlobalOptions& options, const ExportArguments& arguments) {
    crypto::Keyring keyring;
    for (const auto& file : arguments.identities) keyring.identities.push_back(crypto::read_identity_file(file));
    if (!arguments.passphrase_file.empty())
        keyring.passphrases.push_back(crypto::read_passphrase_file(arguments.passphrase_file));
    auto result = exports::verify_export(arguments.file, keyring);
    std::string text =
        result.intact ? "Intact: " + std::to_string(result.entries) + " entries match the manifest's SHA-256 sums.\n"
                      : "NOT intact: " + result.problem + ".\n";
    print_result(options, text, {{"intact", result.intact}, {"entries", result.entries}, {"problem", result.problem}});
    if (!result.intact) options.exit_code = static_cast<int>(ErrorKind::integrity);
}

}  // namespace

void add_export_command(CLI::App& app, GlobalOptions& options) {
    auto* command = app.add_subcommand(
        "export", "Export a tenant's or a person's data as an archive with a SHA-256 manifest (gdprctl-export(1))");
    auto arguments = std::make_shared<ExportArguments>();
    command->add_option("--tenant", arguments->tenant, "Everything of this tenant (and nothing of any other)");
    command->add_option("--subject", arguments->subjects,
                        "A person's identifier, e.g. email:ann@example.org (repeatable)");
    command->add_option("--out", arguments->out, "Archive to write (0600, atomically)");
    command->add_option("--format", arguments->format, "zip (default), tar.gz or tar.zst")
        ->check(CLI::IsMember({"zip", "tar.gz", "tar.zst"}));
    command->add_flag("--force", arguments->force, "Replace --out when it exists");
    command->add_flag("--dry-run", arguments->dry_run, "Show what would be exported, per source; write nothing");
    command->add_option("--encrypt-to", arguments->recipients,
                        "Seal the archive for this gdprctl-x25519: recipient (repeatable)");
    command->add_option("--passphrase-file", arguments->passphrase_file,
                        "Seal the archive under the passphrase on this file's first line (scrypt)");
    command->add_option("--scrypt-log2n", arguments->scrypt_log2n, "scrypt cost for --passphrase-file: N = 2^this")
        ->check(CLI::Range(10, 22));
    command->add_option("--now", arguments->now, "The export's time (ISO-8601 or unix seconds); default now");
    command->add_option("--request", arguments->request,
                        "Carry out this access or portability request (gdprctl-request(1)): its person and tenant; "
                        "the archive is recorded on it");
    command->add_option("--unverified-reason", arguments->unverified_reason,
                        "Export for a request whose identity is not verified, for this reason (journaled)");
    add_key_arguments(command, arguments->key, "--master-passphrase-file");
    command->require_subcommand(0, 1);

    auto* verify = command->add_subcommand(
        "verify", "Re-hash every entry of an export against its manifest; exit 4 naming what changed");
    verify->add_option("file", arguments->file, "The export archive")->required();
    verify->add_option("-i,--identity", arguments->identities, "X25519 identity file, for an encrypted export");
    verify->add_option("--passphrase-file", arguments->passphrase_file, "Passphrase of an export sealed under one");
    verify->callback([&options, arguments] { run_verify(options, *arguments); });

    command->callback([&options, arguments, verify] {
        if (!verify->parsed()) run_export(options, *arguments);
    });
}

}  // namespace gdprctl::cli
