#include <functional>
#include <sstream>

#include "cli/common.hpp"
#include "cli/compliance.hpp"
#include "core/erase/erase.hpp"
#include "core/error.hpp"
#include "core/requests/requests.hpp"
#include "core/retention/retention.hpp"

namespace gdprctl::cli {

namespace {

struct RequestArguments {
    std::string id;
    std::string kind;
    std::vector<std::string> subjects;
    std::string subject_file;
    std::string tenant;
    std::string received;
    std::string channel;
    std::string method;
    std::string by;
    int months = 0;
    std::string reason;
    std::string answer;
    std::string refused;
    bool recipients_told = false;
    std::string recipients_not_told;
    bool overdue = false;
    std::string due_within;
    std::string now;
    KeyArguments key;
};

// "7d", "36h", "2w": how far ahead --due-within looks.
std::int64_t parse_duration(const std::string& text) {
    std::size_t end = 0;
    long long amount = -1;
    try {
        amount = std::stoll(text, &end);
    } catch (const std::exception&) {
    }
    std::string unit = amount >= 0 ? text.substr(end) : "";
    std::int64_t seconds = unit == "h" ? 3600 : unit == "d" ? 86400 : unit == "w" ? 7 * 86400 : 0;
    if (amount < 0 || seconds == 0)
        throw Error::usage("--due-within \"" + text + "\" is not a duration", "write it as 7d, 36h or 2w");
    return amount * seconds;
}

std::string left_text(const requests::Request& request, util::UnixTime now) {
    if (!request.open()) {
        auto days = *request.time_to_answer() / 86400;
        return "in " + std::to_string(days) + " days" + (request.answered_late() ? ", LATE" : "");
    }
    auto left = request.due() - now;
    if (left < 0) return "OVERDUE by " + std::to_string(-left / 86400) + " days";
    return std::to_string(left / 86400) + " days left";
}

std::string summary_line(const requests::Request& request, util::UnixTime now) {
    std::ostringstream line;
    line << request.id << "  " << request.kind << (request.tenant ? "  tenant " + *request.tenant : "") << "  received "
         << util::format_iso8601(request.received) << "  due " << util::format_iso8601(request.due()) << "  "
         << request.status() << "  " << left_text(request, now) << "\n";
    return line.str();
}

void print_request(const GlobalOptions& options, const std::string& headline, const requests::Request& request,
                   util::UnixTime now) {
    print_result(options, headline + "\n" + summary_line(request, now), request.to_json(now));
}

void run_open(const GlobalOptions& options, const RequestArguments& arguments) {
    auto open = open_keystore(options, arguments.key, Unlock::yes);
    requests::NewRequest asked;
    asked.kind = arguments.kind;
    asked.subjects = read_identifiers(arguments.subjects, arguments.subject_file);
    if (!arguments.tenant.empty()) {
        load_register(open.workspace, "").require_served(arguments.tenant);
        asked.tenant = arguments.tenant;
    }
    asked.channel = arguments.channel;
    asked.now = clock_now(arguments.now);
    asked.received = arguments.received.empty() ? asked.now : retention::parse_now(arguments.received);
    requests::RequestStore store(*open.state, open.keystore.get());
    auto request = store.open(asked);
    std::string kinds;
    for (const auto& kind : request.subject_kinds) kinds += (kinds.empty() ? "" : ", ") + kind;
    print_request(options,
                  "Opened request " + request.id + " (" + request.kind + "): due " +
                      util::format_iso8601(request.due()) + ", one month from receipt (Art. 12(3)). The " +
                      std::to_string(asked.subjects.size()) + " identifier(s) (" + kinds +
                      ") are sealed under the platform key.",
                  request, asked.now);
}

// Changes the request named on the command line and prints it under the headline change returns.
using Change =
    std::function<std::string(const config::Workspace&, requests::RequestStore&, requests::Request&, util::UnixTime)>;
void change_request(const GlobalOptions& options, const RequestArguments& arguments, const Change& change) {
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    requests::RequestStore store(state, nullptr);
    auto request = store.load(arguments.id);
    auto now = clock_now(arguments.now);
    auto headline = change(workspace, store, request, now);
    print_request(options, headline, request, now);
}

void run_verify(const GlobalOptions& options, const RequestArguments& arguments) {
    change_request(options, arguments, [&](const auto&, auto& store, auto& request, util::UnixTime now) {
        store.verify(request, {util::format_iso8601(now), arguments.method, arguments.by});
        return "Identity behind request " + request.id + " verified (" + arguments.method + ").";
    });
}

void run_extend(const GlobalOptions& options, const RequestArguments& arguments) {
    change_request(options, arguments, [&](const auto&, auto& store, auto& request, util::UnixTime now) {
        store.extend(request, {util::format_iso8601(now), arguments.months, arguments.reason}, now);
        return "Request " + request.id + " extended by " + std::to_string(arguments.months) + " month(s): due " +
               util::format_iso8601(request.due()) + ". Tell the person, with the reason (Art. 12(3)).";
    });
}

// The erasure the request was carried out by, as the state database has it now: a residue
// certified later by 'erase verify' counts.
std::string status_of_erasure(const config::Workspace& workspace, const requests::Request& request) {
    if (request.actions.empty() || request.actions.back().command != "erase") return "";
    for (const auto& erasure : erase::list_requests(workspace))
        if (erasure.id == request.actions.back().reference) return erasure.status;
    return "";
}

void run_close(const GlobalOptions& options, const RequestArguments& arguments) {
    if (!arguments.refused.empty() && !arguments.answer.empty())
        throw Error::usage("a request is answered or refused, not both: give --answer or --refused");
    if (arguments.recipients_told && !arguments.recipients_not_told.empty())
        throw Error::usage("give one of --recipients-told and --recipients-not-told");
    change_request(options, arguments, [&](const auto& workspace, auto& store, auto& request, util::UnixTime now) {
        requests::Closing closing;
        closing.refused = !arguments.refused.empty();
        closing.text = closing.refused ? arguments.refused : arguments.answer;
        closing.recipients = arguments.recipients_told ? "told" : arguments.recipients_not_told;
        store.close(request, closing, now, status_of_erasure(workspace, request));
        auto late =
            now > request.due() ? " LATE: it was due " + util::format_iso8601(request.due()) + "." : std::string();
        return "Request " + request.id + " closed: " + request.status() + "." + late;
    });
}

void run_list(const GlobalOptions& options, const RequestArguments& arguments) {
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    requests::RequestStore store(state, nullptr);
    auto now = clock_now(arguments.now);
    std::optional<std::int64_t> within;
    if (!arguments.due_within.empty()) within = parse_duration(arguments.due_within);
    std::ostringstream text;
    nlohmann::json json = nlohmann::json::array();
    for (const auto& request : store.all()) {
        if (arguments.overdue && !request.overdue(now)) continue;
        if (within && (!request.open() || request.due() - now > *within)) continue;
        text << summary_line(request, now);
        json.push_back(request.to_json(now));
    }
    if (json.empty()) text << (arguments.overdue || within ? "No request matches." : "No requests.") << "\n";
    print_result(options, text.str(), json);
}

void run_show(const GlobalOptions& options, const RequestArguments& arguments) {
    auto workspace = load_workspace(options);
    state::StateDb state(workspace.state_dir);
    auto request = requests::RequestStore(state, nullptr).load(arguments.id);
    auto now = clock_now(arguments.now);
    std::ostringstream text;
    text << summary_line(request, now);
    if (!request.channel.empty()) text << "  channel: " << request.channel << "\n";
    std::string kinds;
    for (const auto& kind : request.subject_kinds) kinds += (kinds.empty() ? "" : ", ") + kind;
    text << "  identifiers: " << kinds << " (sealed)\n";
    if (request.verification)
        text << "  verified " << request.verification->time << " by " << request.verification->by << " ("
             << request.verification->method << ")\n";
    for (const auto& e : request.extensions)
        text << "  extended " << e.time << " by " << e.months << " month(s): " << e.reason << "\n";
    for (const auto& a : request.actions)
        text << "  " << a.command << " " << a.time << ": " << a.reference
             << (a.unverified.empty() ? "" : " (before verification: " + a.unverified + ")") << "\n";
    for (const auto& recipient : request.recipients_to_tell)
        text << "  recipient to tell (Art. 19): " << recipient << "\n";
    if (request.closing)
        text << "  closed " << request.closing->time << ": " << request.status()
             << (request.closing->text.empty() ? "" : ": " + request.closing->text)
             << (request.closing->recipients.empty() ? "" : "; recipients: " + request.closing->recipients) << "\n";
    print_result(options, text.str(), request.to_json(now));
}

CLI::App* with_id(CLI::App* command, RequestArguments& arguments) {
    command->add_option("id", arguments.id, "The request id, e.g. rq-2026-0001 ('gdprctl request list')")->required();
    return command;
}

}  // namespace

void add_request_command(CLI::App& app, GlobalOptions& options) {
    auto* command = app.add_subcommand(
        "request", "Data subject requests from receipt to answer, with the one-month clock (gdprctl-request(1))");
    command->require_subcommand(1);
    auto arguments = std::make_shared<RequestArguments>();

    auto* open = command->add_subcommand("open", "Record a person's request: its id and due date");
    open->add_option("--kind", arguments->kind, "access, portability, erasure, rectification, objection or restriction")
        ->required()
        ->check(CLI::IsMember(requests::kinds()));
    open->add_option("--subject", arguments->subjects, "The person's identifier, KIND:VALUE (repeatable)");
    open->add_option("--subject-file", arguments->subject_file, "The person's identifiers, one KIND:VALUE per line");
    open->add_option("--tenant", arguments->tenant, "The tenant (controller) the request is about, if one");
    open->add_option("--received", arguments->received, "When the request reached the platform (default: now)");
    open->add_option("--channel", arguments->channel, "How it came: e-mail, web form, letter, ...");
    add_now_option(open, arguments->now);
    add_key_arguments(open, arguments->key);
    open->callback([&options, arguments] { run_open(options, *arguments); });

    auto* verify =
        with_id(command->add_subcommand("verify", "Record how the person's identity was verified"), *arguments);
    verify->add_option("--method", arguments->method, "How: account login, e-mail confirmation, ID document, ...")
        ->required();
    verify->add_option("--by", arguments->by, "Who verified it")->required();
    add_now_option(verify, arguments->now);
    verify->callback([&options, arguments] { run_verify(options, *arguments); });

    auto* extend = with_id(
        command->add_subcommand("extend", "Extend the deadline by one or two months (never past three from receipt)"),
        *arguments);
    extend->add_option("--months", arguments->months, "1 or 2")->required()->check(CLI::Range(1, 2));
    extend->add_option("--reason", arguments->reason, "Why: the person is told it (Art. 12(3))")->required();
    add_now_option(extend, arguments->now);
    extend->callback([&options, arguments] { run_extend(options, *arguments); });

    auto* close =
        with_id(command->add_subcommand("close", "Record the answer sent, or the refusal and its reason"), *arguments);
    close->add_option("--answer", arguments->answer,
                      "What was answered (required for rectification, objection and restriction)");
    close->add_option("--refused", arguments->refused, "Refuse it, for this reason (Art. 12(5), 17(3))");
    close->add_flag("--recipients-told", arguments->recipients_told,
                    "The recipients Art. 19 names were told of the erasure");
    close->add_option("--recipients-not-told", arguments->recipients_not_told,
                      "Why they were not: impossible or disproportionate effort (Art. 19)");
    add_now_option(close, arguments->now);
    close->callback([&options, arguments] { run_close(options, *arguments); });

    auto* list = command->add_subcommand("list", "List requests with their due dates and status");
    list->add_flag("--overdue", arguments->overdue, "Only open requests past their due date");
    list->add_option("--due-within", arguments->due_within, "Only open requests due within this time: 7d, 36h, 2w");
    add_now_option(list, arguments->now);
    list->callback([&options, arguments] { run_list(options, *arguments); });

    auto* show = with_id(command->add_subcommand("show", "Everything recorded of one request"), *arguments);
    add_now_option(show, arguments->now);
    show->callback([&options, arguments] { run_show(options, *arguments); });
}

}  // namespace gdprctl::cli
