#include <unistd.h>

#include <iostream>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cli/common.hpp"
#include "cli/compliance.hpp"
#include "connectors/connector.hpp"
#include "core/erase/certificate.hpp"
#include "core/erase/erase.hpp"
#include "core/error.hpp"
#include "core/requests/requests.hpp"
#include "core/state/state_db.hpp"
#include "core/util/escape.hpp"
#include "core/util/fs.hpp"

namespace gdprctl::cli {

namespace {

struct EraseArguments {
    std::string tenant;
    std::vector<std::string> subjects;
    std::string subject_file;
    bool dry_run = false;
    bool yes = false;
    bool resume = false;
    bool wait = false;
    std::string certificate;
    std::string request;
    std::string subject_request;
    std::string unverified_reason;
    std::string now;
    std::vector<std::string> policy_dirs;
    KeyArguments key;
};

std::vector<connectors::Identifier> identifiers_of(const EraseArguments& arguments) {
    return read_identifiers(arguments.subjects, arguments.subject_file);
}

connectors::Selector selector_of(const EraseArguments& arguments) {
    connectors::Selector selector;
    if (!arguments.tenant.empty()) selector.tenant = arguments.tenant;
    selector.subjects = identifiers_of(arguments);
    return selector;
}

void confirm_on_terminal(const erase::EraseReport& preview) {
    if (!::isatty(STDIN_FILENO))
        throw Error::usage("erasure cannot be undone and there is no terminal to confirm it on",
                           "look at the plan with --dry-run, then run again with --yes");
    std::cerr << preview.to_text() << "This cannot be undone. Type 'erase' to go on: " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "erase") throw Error::usage("not confirmed: nothing was erased");
}

// Art. 19: the register's recipients of the categories the erasure reached. Read after the
// erasure is done, so a register that cannot be read costs the list, never the erasure.
std::vector<std::string> recipients_to_tell(const config::Workspace& workspace, const erase::EraseReport& report) {
    try {
        std::vector<config::Dataset> datasets;
        for (const auto& source : read_data_map(workspace))
            datasets.insert(datasets.end(), source.datasets.begin(), source.datasets.end());
        return requests::recipients_of(load_register(workspace, ""), requests::erased_categories(report, datasets));
    } catch (const std::exception& e) {
        spdlog::warn("the recipients to tell of this erasure (Art. 19) are not listed: {}", e.what());
        return {};
    }
}

std::string recipients_text(const std::vector<std::string>& recipients, bool dry_run) {
    if (recipients.empty()) return "";
    std::string names;
    for (const auto& name : recipients) names += (names.empty() ? "" : ", ") + name;
    return std::string(dry_run ? "Would have to tell" : "Tell") +
           " the recipients the register names (Art. 19): " + names + "\n";
}

// The data subject request an erasure carries out, with the store that records the erasure on it.
struct SubjectRequest {
    std::unique_ptr<requests::RequestStore> store;
    requests::Request request;
};

std::optional<SubjectRequest> subject_request_of(const EraseArguments& arguments, OpenKeystore& open,
                                                 connectors::Selector& selector) {
    if (arguments.subject_request.empty()) {
        if (!arguments.unverified_reason.empty()) throw Error::usage("--unverified-reason goes with --request ID");
        return std::nullopt;
    }
    if (!arguments.tenant.empty() || !arguments.subjects.empty() || !arguments.subject_file.empty() || arguments.resume)
        throw Error::usage("--request carries its own person and tenant: give no --tenant, --subject or --resume");
    SubjectRequest carried{std::make_unique<requests::RequestStore>(*open.state, open.keystore.get()), {}};
    carried.request = carried.store->load(arguments.subject_request);
    requests::check_runnable(carried.request, "erase", arguments.unverified_reason);
    selector.tenant = carried.request.tenant;
    selector.subjects = carried.store->subjects_of(carried.request);
    return carried;
}

void record_erasure(SubjectRequest& carried, const erase::EraseReport& report, const EraseArguments& arguments,
                    const std::vector<std::string>& recipients) {
    requests::Action action{
        util::format_iso8601(clock_now(arguments.now)),
        "erase",
        report.request,
        {{"records", report.records()},
         {"certified", !report.certificate.is_null()},
         {"certificate",
          arguments.certificate.empty() ? std::string() : std::filesystem::absolute(arguments.certificate).string()}},
        arguments.unverified_reason};
    carried.store->record_action(carried.request, action, recipients);
}

void run_erase(GlobalOptions& options, const EraseArguments& arguments) {
    if (!arguments.resume && arguments.tenant.empty() && arguments.subjects.empty() && arguments.subject_file.empty() &&
        arguments.subject_request.empty())
        throw Error::usage("erase needs --tenant T, --subject KIND:VALUE (repeatable) or --request ID, or --resume");
    // Unlocked when the workspace has a keystore: a person's erasure records them in the
    // ledger, and every request keeps its identifiers sealed under the platform key. A data
    // subject request's identifiers open only with it.
    auto open =
        open_keystore(options, arguments.key, arguments.subject_request.empty() ? Unlock::if_initialised : Unlock::yes);
    // After the workspace: it may declare identifier kinds of its own.
    auto selector = selector_of(arguments);
    auto carried = subject_request_of(arguments, open, selector);
    const auto& workspace = open.workspace;
    auto policies = load_policies(workspace, arguments.policy_dirs);
    erase::EraseOptions erase_options;
    erase_options.selector = selector;
    erase_options.wait = arguments.wait;
    erase_options.keystore = open.if_initialised();
    erase_options.policies = &policies;
    if (!arguments.certificate.empty()) {
        // Refused before anything is erased: the certificate is written last, never over a file.
        util::refuse_existing(arguments.certificate);
        erase_options.certificate_out = arguments.certificate;
    }
    if (!arguments.dry_run && !arguments.yes && !arguments.resume) {
        auto preview = erase_options;
        preview.dry_run = true;
        confirm_on_terminal(erase::run_erase(workspace, connectors::open_all_connectors, preview));
    }
    erase_options.dry_run = arguments.dry_run;
    auto report = erase::run_erase(workspace, connectors::open_all_connectors, erase_options);
    auto recipients = recipients_to_tell(workspace, report);
    std::string text = report.to_text() + recipients_text(recipients, report.dry_run);
    auto json = report.to_json();
    json["recipients_to_tell"] = recipients;
    if (carried && !report.dry_run) {
        record_erasure(*carried, report, arguments, recipients);
        json["subject_request"] = carried->request.id;
        text += "Recorded on request " + carried->request.id + "; " +
                (recipients.empty() ? std::string() : "once the recipients are told, ") + "'gdprctl request close " +
                carried->request.id + (recipients.empty() ? "" : " --recipients-told") + "'.\n";
    }
    print_result(options, text, json);
    if ((!report.dry_run && !report.verification.clean()) || !report.blocked.empty())
        options.exit_code = static_cast<int>(ErrorKind::findings);
}

void run_verify(GlobalOptions& options, const EraseArguments& arguments) {
    auto open = open_keystore(options, arguments.key, Unlock::if_initialised);
    auto given = identifiers_of(arguments);
    auto report = erase::verify_request(open.workspace, connectors::open_all_connectors, arguments.request, given,
                                        open.if_initialised());
    const auto& v = report.verification;
    print_result(options, "Rescan for request " + report.request + ": " + v.to_text(),
                 report.to_json()["verification"]);
    if (!v.clean()) options.exit_code = static_cast<int>(ErrorKind::findings);
}

void run_list(GlobalOptions& options) {
    auto workspace = load_workspace(options);
    std::ostringstream text;
    nlohmann::json json = nlohmann::json::array();
    auto requests = erase::list_requests(workspace);
    if (requests.empty()) text << "No erasure requests.\n";
    for (const auto& request : requests) {
        text << request.id << "  " << request.created << "  " << request.kind
             << (request.tenant.empty() ? "" : " " + request.tenant) << "  " << request.status << "  "
             << request.records << " records\n";
        json.push_back({{"id", request.id},
                        {"created", request.created},
                        {"kind", request.kind},
                        {"tenant", request.tenant},
                        {"status", request.status},
                        {"records", request.records}});
    }
    print_result(options, text.str(), json);
}

struct CertificateArguments {
    std::string file;
    std::string request;
    std::string pubkey;
    std::vector<std::string> subjects;
    std::string format = "json";
    std::string out;
};

nlohmann::json read_certificate_file(const std::string& file) {
    std::string text;
    try {
        text = util::read_file(file);
    } catch (const Error& e) {
        throw Error::usage(e.what(), "give the certificate file 'gdprctl erase --certificate' wrote");
    }
    try {
        return erase::parse_certificate(text);
    } catch (const Error& e) {
        throw Error::integrity(file + ": " + e.what(), e.hint());
    }
}

// A document that is not a certificate as gdprctl signs them is reported like one whose
// signature fails: not valid, exit 4, in the format asked for.
erase::CertificateCheck check_certificate_file(const std::string& file, const std::optional<crypto::Bytes>& trusted) {
    nlohmann::json document;
    try {
        document = read_certificate_file(file);
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::integrity) throw;
        erase::CertificateCheck check;
        check.key_given = trusted.has_value();
        check.problem = e.what();
        return check;
    }
    return erase::check_certificate(document, trusted);
}

void run_certificate_verify(GlobalOptions& options, const CertificateArguments& arguments) {
    std::optional<crypto::Bytes> trusted;
    if (!arguments.pubkey.empty()) trusted = crypto::ed25519_public_from_pem(util::read_file(arguments.pubkey));
    auto check = check_certificate_file(arguments.file, trusted);
    std::string text;
    if (check.valid)
        text = "Valid: certificate " + check.request + " is signed " +
               (check.key_given ? "by the key in " + arguments.pubkey
                                : "by the key it carries (pass --pubkey with the platform's published key to check "
                                  "who signed it)") +
               " and unchanged since.\n";
    else
        text = "NOT valid: " + check.problem + ".\n";
    print_result(options, text,
                 {{"valid", check.valid},
                  {"request", check.request},
                  {"key_given", check.key_given},
                  {"problem", check.problem}});
    if (!check.valid) options.exit_code = static_cast<int>(ErrorKind::integrity);
}

// Which of the identifiers a certificate names, by the keyed hash only the platform (and whoever
// it gave the key) can compute.
void run_certificate_match(GlobalOptions& options, const CertificateArguments& arguments) {
    auto document = read_certificate_file(arguments.file);
    const auto& erased = document.at("certificate").value("erased", nlohmann::json::object());
    if (!erased.contains("hash_key"))
        throw Error::usage(arguments.file +
                           " names no person by a keyed hash (a tenant's certificate, or one made "
                           "before gdprctl used keyed hashes)");
    auto key = erase::IdentifierHashKey::load_or_create(load_workspace(options).state_dir);
    if (erased.value("hash_key", "") != key.id())
        throw Error::usage("the certificate's identifiers were hashed under key " + erased.value("hash_key", "") +
                               ", this workspace holds key " + key.id(),
                           "run this in the workspace that issued the certificate");
    std::set<std::string> hashes;
    for (const auto& id : erased.value("identifiers", nlohmann::json::array()))
        hashes.insert(id.value("hmac_sha256", ""));
    auto salt = erased.value("salt", "");
    std::ostringstream text;
    nlohmann::json matches = nlohmann::json::array();
    std::size_t named = 0;
    for (const auto& subject : arguments.subjects) {
        auto id = connectors::parse_identifier(subject);
        bool found = hashes.count(key.hash(salt, id.text())) > 0;
        named += found;
        // The identifiers are not printed back: output may end up in a log.
        text << "  --subject " << matches.size() + 1 << " (" << id.kind << "): " << (found ? "named" : "NOT named")
             << "\n";
        nlohmann::json match = {{"subject", matches.size() + 1}, {"kind", id.kind}, {"named", found}};
        matches.push_back(std::move(match));
    }
    print_result(options, text.str(),
                 {{"request", document["certificate"].value("request", "")}, {"matches", matches}});
    if (named < arguments.subjects.size()) options.exit_code = static_cast<int>(ErrorKind::findings);
}

void run_certificate_show(GlobalOptions& options, const CertificateArguments& arguments) {
    if (arguments.request.empty() == arguments.file.empty())
        throw Error::usage("certificate show needs exactly one of --request ID or a certificate FILE");
    nlohmann::json document = arguments.file.empty() ? erase::certificate_of(load_workspace(options), arguments.request)
                                                     : read_certificate_file(arguments.file);
    std::string rendered = arguments.format == "md"     ? erase::certificate_markdown(document)
                           : arguments.format == "html" ? erase::certificate_html(document)
                                                        : document.dump(2) + "\n";
    if (arguments.out.empty()) {
        // Nobody checked this document's signature: its text may carry terminal escapes.
        std::cout << util::terminal_text(rendered);
        return;
    }
    util::write_file_atomically(arguments.out, rendered, 0644);
    if (!options.quiet) std::cerr << "Certificate written to " << arguments.out << "\n";
}

void run_certificate_pubkey(GlobalOptions& options, const CertificateArguments& arguments) {
    auto workspace = load_workspace(options);
    auto key = erase::SigningKey::load_or_create(workspace.state_dir);
    if (arguments.out.empty()) {
        std::cout << key.public_pem();
        return;
    }
    util::write_file_atomically(arguments.out, key.public_pem(), 0644);
    if (!options.quiet) std::cerr << "Public key written to " << arguments.out << "\n";
}

}  // namespace

void add_erase_command(CLI::App& app, GlobalOptions& options) {
    auto* command = app.add_subcommand(
        "erase", "Erase a tenant or a person everywhere, rescan to prove it, sign a certificate (gdprctl-erase(1))");
    auto arguments = std::make_shared<EraseArguments>();
    command->add_option("--tenant", arguments->tenant,
                        "Everything of this tenant; with --subject, limits the erasure to this tenant");
    command->add_option("--subject", arguments->subjects,
                        "A person's identifier: email:..., ip:..., user:..., phone:... (repeatable)");
    command->add_option("--subject-file", arguments->subject_file,
                        "A file of the person's identifiers, one KIND:VALUE per line");
    command->add_flag("--dry-run", arguments->dry_run,
                      "Show the plan per source, and the backups concerned; change nothing");
    command->add_flag("--yes", arguments->yes, "Do not ask: erasure cannot be undone");
    command->add_flag("--resume", arguments->resume, "Finish an erasure that was interrupted");
    command->add_flag("--wait", arguments->wait, "Queue behind a running retention or erasure run instead of failing");
    command->add_option("--certificate", arguments->certificate,
                        "Also write the signed certificate (JSON) to this file");
    command->add_option("--policies", arguments->policy_dirs, "Extra policy directory (for backup retention)");
    command->add_option("--request", arguments->subject_request,
                        "Carry out this erasure request (gdprctl-request(1)): its person and tenant; the erasure and "
                        "the recipients to tell are recorded on it");
    command->add_option("--unverified-reason", arguments->unverified_reason,
                        "Erase for a request whose identity is not verified, for this reason (journaled)");
    command->add_option("--now", arguments->now, "The time recorded on the request (default: now)");
    add_key_arguments(command, arguments->key);
    command->require_subcommand(0, 1);

    auto* verify = command->add_subcommand("verify", "Rescan every source for an earlier request's identifiers");
    verify->add_option("--request", arguments->request, "The request id ('gdprctl erase list')")->required();
    verify->add_option("--subject", arguments->subjects,
                       "Identifiers to rescan for, when the request kept none (repeatable)");
    verify->add_option("--subject-file", arguments->subject_file, "Identifiers to rescan for, one KIND:VALUE per line");
    add_key_arguments(verify, arguments->key);
    verify->callback([&options, arguments] { run_verify(options, *arguments); });

    auto* list = command->add_subcommand("list", "List erasure requests: id, time, tenant or person, status");
    list->callback([&options] { run_list(options); });

    command->callback([&options, arguments, verify, list] {
        if (!verify->parsed() && !list->parsed()) run_erase(options, *arguments);
    });
}

void add_certificate_command(CLI::App& app, GlobalOptions& options) {
    auto* command =
        app.add_subcommand("certificate", "Check, show and publish deletion certificates (gdprctl-certificate(1))");
    command->require_subcommand(1);
    auto arguments = std::make_shared<CertificateArguments>();

    auto* verify =
        command->add_subcommand("verify", "Check a certificate's Ed25519 signature: exit 0 valid, 4 tampered");
    verify->add_option("file", arguments->file, "The certificate (JSON)")->required();
    verify->add_option("--pubkey", arguments->pubkey, "The signer's public key (PEM) to check against");
    verify->callback([&options, arguments] { run_certificate_verify(options, *arguments); });

    auto* show = command->add_subcommand("show", "Print a certificate as JSON, Markdown or HTML");
    show->add_option("file", arguments->file, "A certificate file");
    show->add_option("--request", arguments->request, "A request's certificate from the state database");
    show->add_option("--format", arguments->format, "json (default), md or html")
        ->check(CLI::IsMember({"json", "md", "html"}));
    show->add_option("-o,--out", arguments->out, "Write to this file instead of standard output");
    show->callback([&options, arguments] { run_certificate_show(options, *arguments); });

    auto* match = command->add_subcommand(
        "match",
        "Tell whether a certificate names a person (needs the workspace's identifier hash key): exit 0 "
        "named, 1 not");
    match->add_option("file", arguments->file, "The certificate (JSON)")->required();
    match->add_option("--subject", arguments->subjects, "KIND:VALUE of the person (repeatable)")->required();
    match->callback([&options, arguments] { run_certificate_match(options, *arguments); });

    auto* pubkey = command->add_subcommand("pubkey", "Print the public key certificates are signed with (PEM)");
    pubkey->add_option("-o,--out", arguments->out, "Write to this file instead of standard output");
    pubkey->callback([&options, arguments] { run_certificate_pubkey(options, *arguments); });
}

}  // namespace gdprctl::cli
