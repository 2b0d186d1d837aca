#include "core/requests/requests.hpp"

#include <algorithm>
#include <ctime>
#include <set>

#include "core/error.hpp"
#include "core/journal/journal.hpp"

namespace gdprctl::requests {

namespace {

constexpr const char* k_sealing_purpose = "gdprctl/v1/subject-requests";
constexpr std::int64_t k_day = 86400;
constexpr int k_most_extended_months = 2;  // Art. 12(3): "by two further months"

std::string time_text(util::UnixTime t) { return util::format_iso8601(t); }

util::UnixTime parse_time(const nlohmann::json& text) {
    auto parsed = util::parse_iso8601(text.get<std::string>());
    if (!parsed) throw Error::integrity("state database: a request holds the time \"" + text.get<std::string>() + "\"");
    return *parsed;
}

nlohmann::json optional_text(const std::optional<std::string>& text) {
    return text ? nlohmann::json(*text) : nlohmann::json(nullptr);
}

std::optional<std::string> optional_text(const nlohmann::json& json) {
    if (json.is_null()) return std::nullopt;
    return json.get<std::string>();
}

nlohmann::json body_of(const Request& request) {
    nlohmann::json extensions = nlohmann::json::array();
    for (const auto& e : request.extensions)
        extensions.push_back({{"time", e.time}, {"months", e.months}, {"reason", e.reason}});
    nlohmann::json actions = nlohmann::json::array();
    for (const auto& a : request.actions)
        actions.push_back({{"time", a.time},
                           {"command", a.command},
                           {"reference", a.reference},
                           {"details", a.details},
                           {"unverified", a.unverified}});
    nlohmann::json body = {{"id", request.id},
                           {"kind", request.kind},
                           {"tenant", optional_text(request.tenant)},
                           {"channel", request.channel},
                           {"received", time_text(request.received)},
                           {"subject_kinds", request.subject_kinds},
                           {"verification", nullptr},
                           {"extensions", extensions},
                           {"actions", actions},
                           {"recipients_to_tell", request.recipients_to_tell},
                           {"closing", nullptr}};
    if (const auto& v = request.verification)
        body["verification"] = {{"time", v->time}, {"method", v->method}, {"by", v->by}};
    if (const auto& c = request.closing)
        body["closing"] = {
            {"time", c->time}, {"refused", c->refused}, {"text", c->text}, {"recipients", c->recipients}};
    return body;
}

void append_journal(state::StateDb& state, const std::string& command, const Request& request,
                    const std::string& outcome) {
    journal::Journal(state).append(command,
                                   {{"request", request.id},
                                    {"kind", request.kind},
                                    {"tenant", optional_text(request.tenant)},
                                    {"identifier_kinds", request.subject_kinds.size()}},
                                   nlohmann::json::array(), {{"due", time_text(request.due())}}, outcome);
}

void refuse_closed(const Request& request, const std::string& what) {
    if (!request.open())
        throw Error::usage(
            "request " + request.id + " was closed on " + request.closing->time + ": nothing can be " + what,
            "a new request from the person is opened with 'gdprctl request open'");
}

std::string required_text(const std::string& text, const std::string& option) {
    if (text.find_first_not_of(" \t\n") == std::string::npos) throw Error::usage(option + " must not be empty");
    return text;
}

}  // namespace

const std::vector<std::string>& kinds() {
    static const std::vector<std::string> k_kinds = {"access",        "portability", "erasure",
                                                     "rectification", "objection",   "restriction"};
    return k_kinds;
}

std::string command_for(const std::string& kind) {
    if (kind == "access" || kind == "portability") return "export";
    if (kind == "erasure") return "erase";
    return "";
}

util::UnixTime end_of_period(util::UnixTime from, int months) {
    std::time_t tt = static_cast<std::time_t>(from);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    int month_index = tm.tm_mon + months;
    int year = tm.tm_year + 1900 + month_index / 12;
    unsigned month = static_cast<unsigned>(month_index % 12) + 1;
    auto first_of_next =
        month == 12 ? util::days_from_civil(year + 1, 1, 1) : util::days_from_civil(year, month + 1, 1);
    auto days_in_month = static_cast<int>(first_of_next - util::days_from_civil(year, month, 1));
    auto day = static_cast<unsigned>(std::min(tm.tm_mday, days_in_month));
    return util::days_from_civil(year, month, day) * k_day + k_day - 1;
}

int Request::extended_months() const {
    int months = 0;
    for (const auto& e : extensions) months += e.months;
    return months;
}

std::string Request::status() const {
    if (closing) return closing->refused ? "refused" : "answered";
    if (!actions.empty()) return "carried out";
    if (verification) return "verified";
    return "received";
}

bool Request::answered_late() const { return closing && *util::parse_iso8601(closing->time) > due(); }

std::optional<std::int64_t> Request::time_to_answer() const {
    if (!closing) return std::nullopt;
    return *util::parse_iso8601(closing->time) - received;
}

nlohmann::json Request::to_json(util::UnixTime now) const {
    auto json = body_of(*this);
    json["due"] = time_text(due());
    json["status"] = status();
    json["overdue"] = overdue(now);
    json["seconds_left"] = open() ? nlohmann::json(due() - now) : nlohmann::json(nullptr);
    auto answered = time_to_answer();
    json["days_to_answer"] = answered ? nlohmann::json(*answered / k_day) : nlohmann::json(nullptr);
    json["answered_late"] = closing ? nlohmann::json(answered_late()) : nlohmann::json(nullptr);
    return json;
}

Request Request::from_json(const nlohmann::json& json) {
    Request request;
    request.id = json.at("id").get<std::string>();
    request.kind = json.at("kind").get<std::string>();
    request.tenant = optional_text(json.at("tenant"));
    request.channel = json.at("channel").get<std::string>();
    request.received = parse_time(json.at("received"));
    request.subject_kinds = json.at("subject_kinds").get<std::vector<std::string>>();
    if (const auto& v = json.at("verification"); !v.is_null())
        request.verification = Verification{v.at("time"), v.at("method"), v.at("by")};
    for (const auto& e : json.at("extensions"))
        request.extensions.push_back({e.at("time"), e.at("months").get<int>(), e.at("reason")});
    for (const auto& a : json.at("actions"))
        request.actions.push_back(
            {a.at("time"), a.at("command"), a.at("reference"), a.at("details"), a.at("unverified")});
    request.recipients_to_tell = json.at("recipients_to_tell").get<std::vector<std::string>>();
    if (const auto& c = json.at("closing"); !c.is_null())
        request.closing = Closing{c.at("time"), c.at("refused").get<bool>(), c.at("text"), c.at("recipients")};
    return request;
}

RequestStore::RequestStore(state::StateDb& state, crypto::Keystore* keystore) : m_state(state), m_keystore(keystore) {}

Request RequestStore::open(const NewRequest& asked) {
    if (std::find(kinds().begin(), kinds().end(), asked.kind) == kinds().end())
        throw Error::usage("unknown request kind \"" + asked.kind + "\"",
                           "one of: access, portability, erasure, rectification, objection, restriction");
    if (asked.subjects.empty())
        throw Error::usage("a request is a person's: give --subject KIND:VALUE (repeatable) or --subject-file");
    if (asked.received > asked.now)
        throw Error::usage("--received " + time_text(asked.received) + " is after now (" + time_text(asked.now) + ")",
                           "give the time the request reached the platform");
    if (!m_keystore || !m_keystore->unlocked())
        throw Error::usage(
            "a request keeps the person's identifiers sealed under the platform key, and this "
            "workspace has no keystore",
            "run 'gdprctl keys init' first");
    Request request;
    request.kind = asked.kind;
    request.tenant = asked.tenant;
    request.channel = asked.channel;
    request.received = asked.received;
    std::set<std::string> kinds_given;
    nlohmann::json identifiers = nlohmann::json::array();
    for (const auto& subject : asked.subjects) {
        kinds_given.insert(subject.kind);
        identifiers.push_back(subject.text());
    }
    request.subject_kinds.assign(kinds_given.begin(), kinds_given.end());

    SQLite::Transaction transaction(m_state.db());
    request.id = state::next_yearly_id(m_state, "subject_requests", "rq", asked.now);
    auto plain = identifiers.dump();
    auto sealed = crypto::seal_with_platform_key(*m_keystore, k_sealing_purpose, request.id, plain);
    OPENSSL_cleanse(plain.data(), plain.size());
    SQLite::Statement insert(m_state.db(),
                             "INSERT INTO subject_requests (id, received, body, sealed_subjects) VALUES (?, ?, ?, ?)");
    insert.bind(1, request.id);
    insert.bind(2, time_text(request.received));
    insert.bind(3, body_of(request).dump());
    insert.bind(4, sealed.data(), static_cast<int>(sealed.size()));
    insert.exec();
    transaction.commit();
    append_journal(m_state, "request open", request, "ok: due " + time_text(request.due()));
    return request;
}

Request RequestStore::load(const std::string& id) {
    auto body = state::find_body(m_state, "subject_requests", id);
    if (!body)
        throw Error::usage("no request \"" + id + "\"", "'gdprctl request list' shows the requests and their ids");
    return Request::from_json(*body);
}

std::vector<Request> RequestStore::all() {
    std::vector<Request> requests;
    for (const auto& body : state::all_bodies(m_state, "subject_requests", "received, id"))
        requests.push_back(Request::from_json(body));
    return requests;
}

std::vector<connectors::Identifier> RequestStore::subjects_of(const Request& request) {
    if (!m_keystore || !m_keystore->unlocked())
        throw Error::usage("the identifiers of request " + request.id + " are sealed under the platform key",
                           "unlock the keystore: --key-file or --master-passphrase-file (see gdprctl-keys(1))");
    SQLite::Statement query(m_state.db(), "SELECT sealed_subjects FROM subject_requests WHERE id = ?");
    query.bind(1, request.id);
    query.executeStep();
    auto blob = query.getColumn(0);
    const auto* bytes = static_cast<const unsigned char*>(blob.getBlob());
    auto plain = crypto::open_with_platform_key(*m_keystore, k_sealing_purpose, request.id,
                                                crypto::Bytes(bytes, bytes + blob.getBytes()));
    if (!plain)
        throw Error::integrity("the identifiers of request " + request.id + " do not open",
                               "the state database was changed, or the platform key is not the one that sealed them");
    auto texts = nlohmann::json::parse(plain->data(), plain->data() + plain->size());
    std::vector<connectors::Identifier> subjects;
    for (const auto& text : texts) subjects.push_back(connectors::parse_identifier(text.get<std::string>()));
    return subjects;
}

void RequestStore::save(const Request& request, const std::string& command, const std::string& outcome) {
    state::update_body(m_state, "subject_requests", request.id, body_of(request));
    append_journal(m_state, command, request, outcome);
}

void RequestStore::verify(Request& request, Verification verification) {
    refuse_closed(request, "verified");
    required_text(verification.method, "--method");
    required_text(verification.by, "--by");
    request.verification = std::move(verification);
    save(request, "request verify", "ok: identity verified");
}

void RequestStore::extend(Request& request, Extension extension, util::UnixTime now) {
    refuse_closed(request, "extended");
    if (extension.months < 1 || extension.months > k_most_extended_months)
        throw Error::usage("--months must be 1 or 2", "Art. 12(3) allows two further months at most");
    required_text(extension.reason, "--reason");
    if (request.extended_months() + extension.months > k_most_extended_months)
        throw Error::usage("request " + request.id + " is already extended by " +
                               std::to_string(request.extended_months()) + " month(s); " +
                               std::to_string(extension.months) + " more would end past three months from receipt (" +
                               time_text(end_of_period(request.received, 1 + k_most_extended_months)) + ")",
                           "Art. 12(3) allows two further months at most: answer the person by " +
                               time_text(end_of_period(request.received, 1 + k_most_extended_months)));
    auto first_month = end_of_period(request.received, 1);
    if (now > first_month)
        throw Error::usage("request " + request.id + "'s first month ended at " + time_text(first_month) +
                               ": an extension must be told to the person within one month of receipt (Art. 12(3))",
                           "the request is overdue; answer it now");
    request.extensions.push_back(std::move(extension));
    save(request, "request extend", "ok: due " + time_text(request.due()));
}

void RequestStore::record_action(Request& request, Action action, const std::vector<std::string>& recipients) {
    auto outcome =
        "ok: " + action.command +
        (action.unverified.empty() ? "" : " before the identity was verified, because: " + action.unverified);
    request.actions.push_back(std::move(action));
    for (const auto& recipient : recipients)
        if (std::find(request.recipients_to_tell.begin(), request.recipients_to_tell.end(), recipient) ==
            request.recipients_to_tell.end())
            request.recipients_to_tell.push_back(recipient);
    save(request, "request " + request.actions.back().command, outcome);
}

void RequestStore::close(Request& request, Closing closing, util::UnixTime now, const std::string& status_of_erasure) {
    refuse_closed(request, "closed again");
    if (closing.refused) {
        required_text(closing.text, "--refused");
    } else if (auto command = command_for(request.kind); !command.empty()) {
        if (request.actions.empty())
            throw Error::usage("request " + request.id + " (" + request.kind + ") was not carried out",
                               "run 'gdprctl " + command + " --request " + request.id +
                                   "', or close it with --refused REASON (Art. 12(5), 17(3))");
        if (command == "erase" && status_of_erasure != "verified")
            throw Error::usage("erasure " + request.actions.back().reference + " of request " + request.id + " is " +
                                   (status_of_erasure.empty() ? "not in the state database" : status_of_erasure) +
                                   ", not certified: the person cannot be told that their data is gone",
                               "'gdprctl erase verify --request " + request.actions.back().reference +
                                   "' rescans once the residue is removed");
    } else if (closing.text.empty()) {
        throw Error::usage("gdprctl does not carry out " + request.kind + " requests: say what was done",
                           "--answer TEXT (what was changed or decided), or --refused REASON");
    }
    if (!request.recipients_to_tell.empty() && closing.recipients.empty())
        throw Error::usage("the erasure must be told to " + std::to_string(request.recipients_to_tell.size()) +
                               " recipient(s) first (Art. 19)",
                           "--recipients-told once they were, or --recipients-not-told REASON (impossible or "
                           "disproportionate effort)");
    closing.time = time_text(now);
    request.closing = std::move(closing);
    auto late = now > request.due() ? " (late: due " + time_text(request.due()) + ")" : std::string();
    save(request, "request close", std::string(request.closing->refused ? "ok: refused" : "ok: answered") + late);
}

void check_runnable(const Request& request, const std::string& command, const std::string& unverified_reason) {
    refuse_closed(request, "carried out");
    if (command_for(request.kind) != command)
        throw Error::usage(
            "request " + request.id + " is a request for " + request.kind + ", not carried out by " + command,
            command_for(request.kind).empty()
                ? "gdprctl does not carry out " + request.kind + " requests; record the answer with " +
                      "'gdprctl request close " + request.id + " --answer TEXT'"
                : "run 'gdprctl " + command_for(request.kind) + " --request " + request.id + "'");
    if (!request.verification && unverified_reason.empty())
        throw Error::usage("the identity behind request " + request.id + " is not verified: " + command +
                               " would hand over or destroy a person's data on an unchecked claim",
                           "'gdprctl request verify " + request.id +
                               " --method M --by NAME', or --unverified-reason TEXT (journaled)");
}

std::vector<std::string> erased_categories(const erase::EraseReport& report,
                                           const std::vector<config::Dataset>& datasets) {
    std::set<std::string> categories;
    for (const auto& source : report.sources)
        for (const auto& item : source.items) {
            if (item.records == 0 || !item.erases_records()) continue;
            for (const auto& dataset : datasets)
                if (dataset.name == item.dataset) categories.insert(dataset.category);
        }
    return {categories.begin(), categories.end()};
}

std::vector<std::string> recipients_of(const ropa::Register& reg, const std::vector<std::string>& categories) {
    std::vector<std::string> recipients;
    for (const auto& activity : reg.activities) {
        bool concerned = std::any_of(activity.categories.begin(), activity.categories.end(), [&](const auto& c) {
            return std::find(categories.begin(), categories.end(), c) != categories.end();
        });
        if (!concerned) continue;
        for (const auto& recipient : activity.recipients)
            if (recipient.type != "internal" &&
                std::find(recipients.begin(), recipients.end(), recipient.name) == recipients.end())
                recipients.push_back(recipient.name);
    }
    return recipients;
}

nlohmann::json statistics(const std::vector<Request>& requests, util::UnixTime now) {
    std::vector<std::int64_t> taken;
    std::size_t answered = 0, refused = 0, open = 0, overdue = 0, late = 0;
    for (const auto& request : requests) {
        if (request.open()) {
            ++open;
            overdue += request.overdue(now);
            continue;
        }
        ++(request.closing->refused ? refused : answered);
        taken.push_back(*request.time_to_answer());
        late += request.answered_late();
    }
    std::sort(taken.begin(), taken.end());
    nlohmann::json median = nullptr, worst = nullptr;
    if (!taken.empty()) {
        auto middle = taken.size() / 2;
        auto seconds = taken.size() % 2 ? taken[middle] : (taken[middle - 1] + taken[middle]) / 2;
        median = static_cast<double>(seconds) / k_day;
        worst = static_cast<double>(taken.back()) / k_day;
    }
    return {{"received", requests.size()}, {"answered", answered},  {"refused", refused},    {"open", open},
            {"overdue", overdue},          {"answered_late", late}, {"median_days", median}, {"worst_days", worst}};
}

}  // namespace gdprctl::requests
