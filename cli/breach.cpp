#include <iostream>
#include <sstream>

#include "cli/common.hpp"
#include "cli/compliance.hpp"
#include "connectors/connector.hpp"
#include "core/breaches/breaches.hpp"
#include "core/error.hpp"
#include "core/retention/retention.hpp"
#include "core/util/escape.hpp"
#include "core/util/fs.hpp"

namespace gdprctl::cli {

namespace {

struct BreachArguments {
    std::string id;
    std::string aware_at;
    std::string summary;
    std::vector<std::string> tenants;
    std::vector<std::string> sources;
    std::vector<std::string> categories;
    std::string consequences;
    std::string measures;
    std::string risk;
    std::string to;
    std::string tenant;
    std::string out;
    std::string document_format;
    std::string sent;
    std::string late_reason;
    bool dry_run = false;
    std::string now;
};

std::string duties_text(const breaches::Breach& breach, util::UnixTime now) {
    std::string text;
    if (breach.authority_due()) {
        auto left = breach.deadline() - now;
        text += left >= 0 ? "authority due in " + std::to_string(left / 3600) + " h"
                          : "authority OVERDUE by " + std::to_string(-left / 3600) + " h";
    }
    auto not_told = breach.controllers_not_told();
    if (!not_told.empty())
        text += std::string(text.empty() ? "" : "; ") + std::to_string(not_told.size()) + " tenant(s) to tell";
    if (breach.subjects_due()) text += std::string(text.empty() ? "" : "; ") + "people to tell";
    return text.empty() ? breach.status() : breach.status() + ": " + text;
}

std::string register_line(const breaches::Breach& breach, util::UnixTime now) {
    std::ostringstream line;
    line << breach.id << "  aware " << util::format_iso8601(breach.aware_at) << "  ";
    if (breach.tenants.empty()) line << "platform's own data";
    for (std::size_t i = 0; i < breach.tenants.size(); ++i) line << (i ? "," : "tenants ") << breach.tenants[i];
    if (const auto* a = breach.assessment())
        line << "  ~" << a->people() << " people, " << a->records() << " records, risk " << a->risk;
    else
        line << "  not assessed";
    line << "  " << duties_text(breach, now) << "\n    " << breach.summary << "\n";
    return line.str();
}

void run_open(const GlobalOptions& options, const BreachArguments& arguments) {
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    breaches::NewBreach asked;
    asked.now = clock_now(arguments.now);
    asked.aware_at = retention::parse_now(arguments.aware_at);
    asked.summary = arguments.summary;
    asked.tenants = arguments.tenants;
    auto reg = load_register(workspace, "");
    for (const auto& tenant : asked.tenants) reg.require_served(tenant);
    auto breach = breaches::BreachStore(state).open(asked);
    print_result(options,
                 "Opened breach " + breach.id + ": the supervisory authority must be told by " +
                     util::format_iso8601(breach.deadline()) + " (72 hours after awareness, Art. 33(1))" +
                     (breach.tenants.empty() ? "" : ", each tenant without undue delay (Art. 33(2))") +
                     ".\nNext: 'gdprctl breach assess " + breach.id + "' counts what it reached in the stores.\n",
                 breach.to_json(asked.now));
}

void run_assess(const GlobalOptions& options, const BreachArguments& arguments) {
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    breaches::BreachStore store(state);
    auto breach = store.load(arguments.id);
    breaches::AssessmentAsked asked{arguments.sources,  arguments.categories, arguments.consequences,
                                    arguments.measures, arguments.risk,       clock_now(arguments.now)};
    auto assessment = breaches::assess(workspace, connectors::open_all_connectors, breach, asked);
    store.add_assessment(breach, assessment);
    std::ostringstream text;
    text << "Assessed breach " << breach.id << " from the stores: about " << assessment.people() << " people, "
         << assessment.records() << " records; risk " << assessment.risk << ".\n";
    for (const auto& affected : assessment.affected) {
        text << "  " << (affected.tenant.empty() ? "platform's own data" : "tenant " + affected.tenant) << ": ~"
             << affected.people() << " people, " << affected.records() << " records\n";
        for (const auto& [category, records] : affected.records_per_category)
            text << "    " << category << "  " << records << " records\n";
        for (const auto& [kind, count] : affected.identifiers_per_kind)
            text << "    " << count << " distinct " << kind << " identifiers\n";
    }
    print_result(options, text.str(), breach.to_json(asked.now));
}

std::string document_format_of(const BreachArguments& arguments) {
    if (!arguments.document_format.empty()) return arguments.document_format;
    auto extension = std::filesystem::path(arguments.out).extension().string();
    if (extension == ".html") return "html";
    if (extension == ".json") return "json";
    return "md";
}

void run_notify(const GlobalOptions& options, const BreachArguments& arguments) {
    if (arguments.out.empty() && !arguments.dry_run)
        throw Error::usage("breach notify needs -o FILE for the notification it writes",
                           "or --dry-run to print it and record nothing");
    if (!arguments.out.empty()) util::refuse_existing(arguments.out);
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    breaches::BreachStore store(state);
    auto breach = store.load(arguments.id);
    auto now = clock_now(arguments.now);
    auto sent = arguments.sent.empty() ? now : retention::parse_now(arguments.sent);
    breaches::Notification notification{arguments.to, arguments.tenant, util::format_iso8601(sent),
                                        arguments.late_reason, arguments.out};
    breaches::check_notification(breach, notification, sent);
    auto document =
        breaches::notification_document(breach, notification, load_register(workspace, ""), workspace.platform);
    auto format = document_format_of(arguments);
    auto rendered = format == "json"   ? document.dump(2) + "\n"
                    : format == "html" ? breaches::notification_html(document)
                                       : breaches::notification_markdown(document);
    if (arguments.dry_run) {
        std::cout << util::terminal_text(rendered);
        return;
    }
    // It names the platform's contacts and the tenants: private, like the audit report.
    util::write_file_atomically(arguments.out, rendered, 0600, util::Replace::never);
    store.add_notification(breach, notification);
    const auto& nature = document["nature"];
    print_result(options,
                 "Wrote the notification of breach " + breach.id + " to " + arguments.to +
                     (arguments.tenant.empty() ? "" : " (tenant " + arguments.tenant + ")") + " in " + arguments.out +
                     ": about " + std::to_string(nature["approximate_subjects"].get<std::uint64_t>()) + " people, " +
                     std::to_string(nature["approximate_records"].get<std::uint64_t>()) +
                     " records; recorded as sent " + notification.sent + ".\n",
                 {{"breach", breach.id}, {"file", arguments.out}, {"document", document}});
}

void run_list(const GlobalOptions& options, const BreachArguments& arguments) {
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    auto now = clock_now(arguments.now);
    std::ostringstream text;
    nlohmann::json json = nlohmann::json::array();
    for (const auto& breach : breaches::BreachStore(state).all()) {
        text << register_line(breach, now);
        json.push_back(breach.to_json(now));
    }
    if (json.empty()) text << "The breach register is empty.\n";
    print_result(options, text.str(), json);
}

void run_show(const GlobalOptions& options, const BreachArguments& arguments) {
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    auto breach = breaches::BreachStore(state).load(arguments.id);
    auto now = clock_now(arguments.now);
    std::ostringstream text;
    text << register_line(breach, now);
    if (const auto* a = breach.assessment())
        text << "  assessed " << a->time << " over " << a->sources.size()
             << " source(s)\n  consequences: " << a->consequences << "\n  measures: " << a->measures << "\n";
    for (const auto& n : breach.notifications)
        text << "  told " << n.to << (n.tenant.empty() ? "" : " " + n.tenant) << " " << n.sent << " (" << n.file << ")"
             << (n.late_reason.empty() ? "" : ", late: " + n.late_reason) << "\n";
    print_result(options, text.str(), breach.to_json(now));
}

CLI::App* with_id(CLI::App* command, BreachArguments& arguments) {
    command->add_option("id", arguments.id, "The breach id, e.g. br-2026-0001 ('gdprctl breach list')")->required();
    return command;
}

}  // namespace

void add_breach_command(CLI::App& app, GlobalOptions& options) {
    auto* command = app.add_subcommand(
        "breach", "Personal-data breaches: the register, the 72-hour clock, the notifications (gdprctl-breach(1))");
    command->require_subcommand(1);
    auto arguments = std::make_shared<BreachArguments>();

    auto* open = command->add_subcommand("open", "Record a breach; its 72-hour clock starts at awareness");
    open->add_option("--aware-at", arguments->aware_at, "When the platform became aware of it (ISO-8601)")->required();
    open->add_option("--summary", arguments->summary, "What happened")->required();
    open->add_option("--tenant", arguments->tenants,
                     "A tenant whose data it reached (repeatable); none: the platform's own data");
    add_now_option(open, arguments->now);
    open->callback([&options, arguments] { run_open(options, *arguments); });

    auto* assess = with_id(
        command->add_subcommand("assess", "Count the people and records it reached in the stores; record the risk"),
        *arguments);
    assess->add_option("--source", arguments->sources, "A source it reached (repeatable; default: every source)");
    assess->add_option("--category", arguments->categories, "A category it reached (repeatable; default: every one)");
    assess->add_option("--consequences", arguments->consequences, "Its likely consequences (Art. 33(3)(c))")
        ->required();
    assess->add_option("--measures", arguments->measures, "Measures taken or proposed (Art. 33(3)(d))")->required();
    assess->add_option("--risk", arguments->risk, "unlikely, risk or high")
        ->required()
        ->check(CLI::IsMember(breaches::risk_levels()));
    add_now_option(assess, arguments->now);
    assess->callback([&options, arguments] { run_assess(options, *arguments); });

    auto* notify = with_id(
        command->add_subcommand("notify", "Write a notification (Art. 33(3) contents) and record when it was sent"),
        *arguments);
    notify->add_option("--to", arguments->to, "authority, controller (with --tenant) or subjects")
        ->required()
        ->check(CLI::IsMember(breaches::recipients()));
    notify->add_option("--tenant", arguments->tenant, "The tenant told (for --to controller)");
    notify->add_option("-o,--out", arguments->out, "The notification file to write (0600; never replaced)");
    notify->add_option("--format", arguments->document_format, "md, html or json (default: from -o's extension, md)")
        ->check(CLI::IsMember({"md", "html", "json"}));
    notify->add_option("--sent", arguments->sent, "When it was sent (default: now)");
    notify->add_option("--late-reason", arguments->late_reason,
                       "Why the authority is told after 72 hours (required then, Art. 33(1))");
    notify->add_flag("--dry-run", arguments->dry_run, "Print the notification; write and record nothing");
    add_now_option(notify, arguments->now);
    notify->callback([&options, arguments] { run_notify(options, *arguments); });

    auto* list = command->add_subcommand("list", "The breach register (Art. 33(5)): every breach, notified or not");
    add_now_option(list, arguments->now);
    list->callback([&options, arguments] { run_list(options, *arguments); });

    auto* show = with_id(command->add_subcommand("show", "Everything recorded of one breach"), *arguments);
    add_now_option(show, arguments->now);
    show->callback([&options, arguments] { run_show(options, *arguments); });
}

}  // namespace gdprctl::cli
