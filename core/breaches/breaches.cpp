#include "core/breaches/breaches.hpp"

#include <algorithm>
#include <set>
#include <sstream>
#include <unordered_set>

#include "core/error.hpp"
#include "core/journal/journal.hpp"
#include "core/pii/detect.hpp"
#include "core/util/escape.hpp"

namespace gdprctl::breaches {

namespace {

bool contains(const std::vector<std::string>& list, const std::string& value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

std::string required_text(const std::string& text, const std::string& option) {
    if (text.find_first_not_of(" \t\n") == std::string::npos) throw Error::usage(option + " must not be empty");
    return text;
}

std::string hours_text(std::int64_t seconds) { return std::to_string(seconds / 3600) + " hours"; }

nlohmann::json affected_json(const Affected& affected) {
    return {{"tenant", affected.tenant},
            {"records_per_category", affected.records_per_category},
            {"identifiers_per_kind", affected.identifiers_per_kind},
            {"records", affected.records()},
            {"people", affected.people()}};
}

nlohmann::json assessment_json(const Assessment& a) {
    nlohmann::json affected = nlohmann::json::array();
    for (const auto& each : a.affected) affected.push_back(affected_json(each));
    return {
        {"time", a.time},         {"sources", a.sources}, {"categories", a.categories},     {"affected", affected},
        {"records", a.records()}, {"people", a.people()}, {"consequences", a.consequences}, {"measures", a.measures},
        {"risk", a.risk}};
}

Assessment assessment_from(const nlohmann::json& json) {
    Assessment a;
    a.time = json.at("time");
    a.sources = json.at("sources").get<std::vector<std::string>>();
    a.categories = json.at("categories").get<std::vector<std::string>>();
    for (const auto& each : json.at("affected"))
        a.affected.push_back({each.at("tenant"),
                              each.at("records_per_category").get<std::map<std::string, std::uint64_t>>(),
                              each.at("identifiers_per_kind").get<std::map<std::string, std::uint64_t>>()});
    a.consequences = json.at("consequences");
    a.measures = json.at("measures");
    a.risk = json.at("risk");
    return a;
}

nlohmann::json notification_json(const Notification& n) {
    return {{"to", n.to}, {"tenant", n.tenant}, {"sent", n.sent}, {"late_reason", n.late_reason}, {"file", n.file}};
}

nlohmann::json body_of(const Breach& breach) {
    nlohmann::json assessments = nlohmann::json::array();
    for (const auto& a : breach.assessments) assessments.push_back(assessment_json(a));
    nlohmann::json notifications = nlohmann::json::array();
    for (const auto& n : breach.notifications) notifications.push_back(notification_json(n));
    return {{"id", breach.id},
            {"opened", breach.opened},
            {"aware_at", util::format_iso8601(breach.aware_at)},
            {"summary", breach.summary},
            {"tenants", breach.tenants},
            {"assessments", assessments},
            {"notifications", notifications}};
}

// Counts distinct identifiers per kind, per tenant, in the records collect() hands over: one
// pass over the stores serves every tenant named. With no tenant named, everything counts as
// the platform's own (""). The values stay in memory for the count only. A log line comes as its
// raw text: its addresses are found in it.
class IdentifierCounter : public connectors::RecordSink {
public:
    explicit IdentifierCounter(const std::vector<std::string>& tenants) : m_tenants(tenants.begin(), tenants.end()) {}

    void record(const config::Dataset& dataset, const std::string& tenant, const nlohmann::json& record) override {
        auto* seen = seen_for(tenant);
        if (!seen) return;
        bool fields_present = false;
        for (const auto& subject : dataset.subjects) {
            auto value = record.find(subject.field);
            if (value == record.end() || !value->is_string()) continue;
            fields_present = true;
            count(*seen, subject.kind, value->get<std::string>());
        }
        if (fields_present || !record.contains("text") || !record["text"].is_string()) return;
        for (const auto& subject : dataset.subjects)
            if (subject.kind == "ip") {
                count(*seen, "ip", record["text"].get<std::string>());
                break;
            }
    }

    void blob(const config::Dataset&, const std::string&, const std::filesystem::path&, const std::string&) override {}
    void streamed_blob(const config::Dataset&, const std::string&, const connectors::StreamedBlob&) override {}

    std::map<std::string, std::uint64_t> counts(const std::string& tenant) const {
        std::map<std::string, std::uint64_t> counts;
        if (auto it = m_seen.find(tenant); it != m_seen.end())
            for (const auto& [kind, values] : it->second) counts[kind] = values.size();
        return counts;
    }

private:
    using Seen = std::map<std::string, std::unordered_set<std::string>>;

    Seen* seen_for(const std::string& tenant) {
        if (m_tenants.empty()) return &m_seen[""];
        if (!m_tenants.count(tenant)) return nullptr;
        return &m_seen[tenant];
    }

    static void count(Seen& seen, const std::string& kind, std::string text) {
        if (text.empty()) return;
        if (kind == "ip") {
            pii::for_each_ip(text, [&](const std::string& ip) { seen["ip"].insert(ip); });
            return;
        }
        if (kind == "email") std::transform(text.begin(), text.end(), text.begin(), ::tolower);
        seen[kind].insert(std::move(text));
    }

    std::set<std::string> m_tenants;
    std::map<std::string, Seen> m_seen;
};

void check_names(const config::Workspace& workspace, const AssessmentAsked& asked) {
    for (const auto& source : asked.sources)
        if (!workspace.find_source(source))
            throw Error::usage("no source \"" + source + "\" in the workspace",
                               "the config's sources: " + nlohmann::json(workspace.source_names()).dump());
    for (const auto& category : asked.categories)
        if (!contains(workspace.categories, category))
            throw Error::usage("no category \"" + category + "\" in the data map",
                               "the data map's categories: " + nlohmann::json(workspace.categories).dump());
}

scan::SourceOpener only_sources(const scan::SourceOpener& open_sources, const std::vector<std::string>& names) {
    return [open_sources, names](const config::Workspace& workspace) {
        auto all = open_sources(workspace);
        if (names.empty()) return all;
        scan::Connectors named;
        for (auto& connector : all)
            if (contains(names, connector->source().name)) named.push_back(std::move(connector));
        return named;
    };
}

}  // namespace

const std::vector<std::string>& risk_levels() {
    static const std::vector<std::string> k_levels = {"unlikely", "risk", "high"};
    return k_levels;
}

const std::vector<std::string>& recipients() {
    static const std::vector<std::string> k_recipients = {"authority", "controller", "subjects"};
    return k_recipients;
}

std::uint64_t Affected::records() const {
    std::uint64_t total = 0;
    for (const auto& [category, records] : records_per_category) total += records;
    return total;
}

std::uint64_t Affected::people() const {
    std::uint64_t most = 0;
    for (const auto& [kind, count] : identifiers_per_kind) most = std::max(most, count);
    return most;
}

std::uint64_t Assessment::records() const {
    std::uint64_t total = 0;
    for (const auto& each : affected) total += each.records();
    return total;
}

std::uint64_t Assessment::people() const {
    std::uint64_t total = 0;
    for (const auto& each : affected) total += each.people();
    return total;
}

std::vector<std::string> Assessment::categories_found() const {
    std::set<std::string> found;
    for (const auto& each : affected)
        for (const auto& [category, records] : each.records_per_category)
            if (records > 0) found.insert(category);
    return {found.begin(), found.end()};
}

const Notification* Breach::notified(const std::string& to, const std::string& tenant) const {
    for (const auto& n : notifications)
        if (n.to == to && n.tenant == tenant) return &n;
    return nullptr;
}

bool Breach::authority_due() const {
    return !notified("authority") && !(assessment() && assessment()->risk == "unlikely");
}

bool Breach::subjects_due() const { return assessment() && assessment()->risk == "high" && !notified("subjects"); }

std::vector<std::string> Breach::controllers_not_told() const {
    std::vector<std::string> not_told;
    for (const auto& tenant : tenants)
        if (!notified("controller", tenant)) not_told.push_back(tenant);
    return not_told;
}

std::string Breach::status() const {
    if (authority_due() || subjects_due() || !controllers_not_told().empty()) return "open";
    return notifications.empty() ? "recorded" : "notified";
}

nlohmann::json Breach::to_json(util::UnixTime now) const {
    auto json = body_of(*this);
    json["deadline"] = util::format_iso8601(deadline());
    json["status"] = status();
    json["authority_due"] = authority_due();
    json["authority_overdue"] = authority_due() && now > deadline();
    json["controllers_not_told"] = controllers_not_told();
    json["subjects_due"] = subjects_due();
    json["assessment"] = assessment() ? assessment_json(*assessment()) : nlohmann::json(nullptr);
    return json;
}

Breach Breach::from_json(const nlohmann::json& json) {
    Breach breach;
    breach.id = json.at("id");
    breach.opened = json.at("opened");
    auto aware = util::parse_iso8601(json.at("aware_at").get<std::string>());
    if (!aware) throw Error::integrity("state database: breach " + breach.id + " has no time of awareness");
    breach.aware_at = *aware;
    breach.summary = json.at("summary");
    breach.tenants = json.at("tenants").get<std::vector<std::string>>();
    for (const auto& a : json.at("assessments")) breach.assessments.push_back(assessment_from(a));
    for (const auto& n : json.at("notifications"))
        breach.notifications.push_back({n.at("to"), n.at("tenant"), n.at("sent"), n.at("late_reason"), n.at("file")});
    return breach;
}

BreachStore::BreachStore(state::StateDb& state) : m_state(state) {}

Breach BreachStore::open(const NewBreach& asked) {
    required_text(asked.summary, "--summary");
    if (asked.aware_at > asked.now)
        throw Error::usage("--aware-at " + util::format_iso8601(asked.aware_at) + " is after now (" +
                               util::format_iso8601(asked.now) + ")",
                           "give the time the platform became aware of the breach");
    Breach breach;
    breach.opened = util::format_iso8601(asked.now);
    breach.aware_at = asked.aware_at;
    breach.summary = asked.summary;
    std::set<std::string> tenants(asked.tenants.begin(), asked.tenants.end());
    breach.tenants.assign(tenants.begin(), tenants.end());
    SQLite::Transaction transaction(m_state.db());
    breach.id = state::next_yearly_id(m_state, "breaches", "br", asked.now);
    SQLite::Statement insert(m_state.db(), "INSERT INTO breaches (id, aware_at, body) VALUES (?, ?, ?)");
    insert.bind(1, breach.id);
    insert.bind(2, util::format_iso8601(breach.aware_at));
    insert.bind(3, body_of(breach).dump());
    insert.exec();
    transaction.commit();
    journal::Journal(m_state).append("breach open", {{"breach", breach.id}, {"tenants", breach.tenants}},
                                     nlohmann::json::array(), {{"deadline", util::format_iso8601(breach.deadline())}},
                                     "ok: the authority is due by " + util::format_iso8601(breach.deadline()));
    return breach;
}

Breach BreachStore::load(const std::string& id) {
    auto body = state::find_body(m_state, "breaches", id);
    if (!body) throw Error::usage("no breach \"" + id + "\"", "'gdprctl breach list' shows the breach register");
    return Breach::from_json(*body);
}

std::vector<Breach> BreachStore::all() {
    std::vector<Breach> breaches;
    for (const auto& body : state::all_bodies(m_state, "breaches", "aware_at, id"))
        breaches.push_back(Breach::from_json(body));
    return breaches;
}

void BreachStore::save(const Breach& breach, const std::string& command, const nlohmann::json& counts,
                       const std::string& outcome) {
    state::update_body(m_state, "breaches", breach.id, body_of(breach));
    journal::Journal(m_state).append(command, {{"breach", breach.id}, {"tenants", breach.tenants}},
                                     nlohmann::json::array(), counts, outcome);
}

void BreachStore::add_assessment(Breach& breach, Assessment assessment) {
    breach.assessments.push_back(std::move(assessment));
    const auto& a = breach.assessments.back();
    save(breach, "breach assess", {{"records", a.records()}, {"people", a.people()}}, "ok: risk " + a.risk);
}

void BreachStore::add_notification(Breach& breach, Notification notification) {
    breach.notifications.push_back(std::move(notification));
    const auto& n = breach.notifications.back();
    save(breach, "breach notify", {{"to", n.to}, {"tenant", n.tenant}},
         std::string("ok: sent ") + n.sent + (n.late_reason.empty() ? "" : " (late, reasons given)"));
}

Assessment assess(const config::Workspace& workspace, const scan::SourceOpener& open_sources, const Breach& breach,
                  const AssessmentAsked& asked) {
    check_names(workspace, asked);
    if (!contains(risk_levels(), asked.risk))
        throw Error::usage("--risk must be unlikely, risk or high",
                           "unlikely: no notification to the authority (Art. 33(1)); high: the people are told too "
                           "(Art. 34)");
    Assessment assessment;
    assessment.time = util::format_iso8601(asked.now);
    assessment.sources = asked.sources.empty() ? workspace.source_names() : asked.sources;
    assessment.categories = asked.categories;
    assessment.consequences = required_text(asked.consequences, "--consequences");
    assessment.measures = required_text(asked.measures, "--measures");
    assessment.risk = asked.risk;
    auto opener = only_sources(open_sources, assessment.sources);
    // The platform's own data when no tenant is named: every record, whoever's it is.
    auto tenants = breach.tenants.empty() ? std::vector<std::string>{""} : breach.tenants;
    scan::ScanOptions options;
    options.selector.categories = asked.categories;
    auto inventory = scan::run_scan(workspace, opener, options);
    connectors::Selector selector;
    if (breach.tenants.size() == 1) selector.tenant = breach.tenants.front();
    selector.categories = asked.categories;
    IdentifierCounter counter(breach.tenants);
    for (auto& connector : opener(workspace)) connector->collect(selector, counter);
    for (const auto& tenant : tenants) {
        Affected affected;
        affected.tenant = tenant;
        for (const auto& source : inventory.sources)
            for (const auto& row : source.inventory.rows)
                if ((tenant.empty() || row.tenant == tenant) &&
                    (asked.categories.empty() || contains(asked.categories, row.category)))
                    affected.records_per_category[row.category] += row.records;
        affected.identifiers_per_kind = counter.counts(tenant);
        assessment.affected.push_back(std::move(affected));
    }
    return assessment;
}

void check_notification(const Breach& breach, const Notification& notification, util::UnixTime sent) {
    if (!contains(recipients(), notification.to)) throw Error::usage("--to must be authority, controller or subjects");
    if (!breach.assessment())
        throw Error::usage("breach " + breach.id + " is not assessed: a notification says what it reached",
                           "'gdprctl breach assess " + breach.id +
                               "' counts it in the stores; assess again as facts come in (Art. 33(4))");
    if (notification.to == "controller") {
        if (breach.tenants.empty())
            throw Error::usage(
                "breach " + breach.id + " reached the platform's own data: there is no controller to tell",
                "tell the authority (--to authority) and, when the risk is high, the people");
        if (!contains(breach.tenants, notification.tenant))
            throw Error::usage("--to controller needs --tenant, one of the tenants breach " + breach.id +
                               " reached: " + nlohmann::json(breach.tenants).dump());
    } else if (!notification.tenant.empty() && !contains(breach.tenants, notification.tenant)) {
        throw Error::usage("breach " + breach.id + " did not reach tenant \"" + notification.tenant + "\"",
                           "the tenants it reached: " + nlohmann::json(breach.tenants).dump());
    }
    if (sent < breach.aware_at)
        throw Error::usage("--sent " + notification.sent + " is before the platform became aware of breach " +
                               breach.id + " (" + util::format_iso8601(breach.aware_at) + ")",
                           "give the time the notification was sent");
    if (notification.to == "authority" && sent > breach.deadline() && notification.late_reason.empty())
        throw Error::usage("the authority is told " + hours_text(sent - breach.aware_at) +
                               " after the platform became aware: a notification after 72 hours must give the "
                               "reasons for the delay (Art. 33(1))",
                           "--late-reason TEXT");
}

nlohmann::json notification_document(const Breach& breach, const Notification& notification, const ropa::Register& reg,
                                     const std::string& platform) {
    const auto& assessment = *breach.assessment();
    std::vector<Affected> affected;
    for (const auto& each : assessment.affected)
        if (notification.tenant.empty() || each.tenant == notification.tenant) affected.push_back(each);
    std::map<std::string, std::uint64_t> records_per_category;
    std::uint64_t records = 0, people = 0;
    nlohmann::json per_tenant = nlohmann::json::array();
    for (const auto& each : affected) {
        for (const auto& [category, count] : each.records_per_category) records_per_category[category] += count;
        records += each.records();
        people += each.people();
        per_tenant.push_back(affected_json(each));
    }
    std::set<std::string> subjects;
    for (const auto& activity : reg.activities)
        for (const auto& category : activity.categories)
            if (records_per_category.count(category) && records_per_category[category] > 0)
                subjects.insert(activity.data_subjects.begin(), activity.data_subjects.end());
    // The platform speaks as processor of its tenants' data, as controller of its own.
    const auto& from = breach.tenants.empty() ? reg.controller : reg.processor;
    ropa::Party addressee;
    for (const auto& served : reg.served)
        if (served.tenant == notification.tenant) addressee = served.party;
    nlohmann::json document = {
        {"format", "gdprctl-breach-notification/1"},
        {"breach", breach.id},
        {"platform", platform},
        {"to", notification.to},
        {"tenant", notification.tenant},
        {"addressee", {{"name", addressee.name}, {"contact", addressee.contact}}},
        {"article", notification.to == "authority"    ? "GDPR Art. 33(1), 33(3)"
                    : notification.to == "controller" ? "GDPR Art. 33(2), 33(3)"
                                                      : "GDPR Art. 34(1), 34(2)"},
        {"sent", notification.sent},
        {"aware_at", util::format_iso8601(breach.aware_at)},
        {"hours_since_aware", (*util::parse_iso8601(notification.sent) - breach.aware_at) / 3600},
        {"late_reason", notification.late_reason},
        {"nature",
         {{"summary", breach.summary},
          {"sources", assessment.sources},
          {"categories_of_data", records_per_category},
          {"categories_of_subjects", std::vector<std::string>(subjects.begin(), subjects.end())},
          {"approximate_subjects", people},
          {"approximate_records", records},
          {"per_tenant", per_tenant},
          {"counted", assessment.time}}},
        {"contact", {{"name", from.name}, {"contact", from.contact}, {"dpo", from.dpo}}},
        {"likely_consequences", assessment.consequences},
        {"measures", assessment.measures},
        {"risk", assessment.risk}};
    return document;
}

namespace {

std::string people_text(const nlohmann::json& nature) {
    return std::to_string(nature.at("approximate_subjects").get<std::uint64_t>()) + " people and " +
           std::to_string(nature.at("approximate_records").get<std::uint64_t>()) + " records";
}

std::string title_of(const nlohmann::json& d) {
    auto to = d.at("to").get<std::string>();
    if (to == "authority") return "Notification of a personal data breach to the supervisory authority";
    if (to == "controller") return "Notification of a personal data breach to the controller";
    return "Information about a personal data breach that concerns you";
}

// The fields of a notification in reading order, as (heading, text) pairs: both renderings
// show the same words.
std::vector<std::pair<std::string, std::string>> sections_of(const nlohmann::json& d) {
    const auto& nature = d.at("nature");
    std::ostringstream categories;
    for (const auto& [category, records] : nature.at("categories_of_data").items())
        categories << (categories.tellp() > 0 ? ", " : "") << category << " (" << records.get<std::uint64_t>()
                   << " records)";
    std::string subjects;
    for (const auto& s : nature.at("categories_of_subjects"))
        subjects += (subjects.empty() ? "" : ", ") + s.get<std::string>();
    const auto& contact = d.at("contact");
    std::string contact_text = contact.at("name").get<std::string>() + ", " + contact.at("contact").get<std::string>();
    if (!contact.at("dpo").get<std::string>().empty())
        contact_text += "; data protection officer: " + contact.at("dpo").get<std::string>();
    std::vector<std::pair<std::string, std::string>> sections = {
        {"Breach", d.at("breach").get<std::string>() + " on " + d.at("platform").get<std::string>() + ": " +
                       nature.at("summary").get<std::string>()},
        {"Became aware", d.at("aware_at").get<std::string>() +
                             "; this notification: " + d.at("sent").get<std::string>() + " (" +
                             std::to_string(d.at("hours_since_aware").get<std::int64_t>()) + " hours later)"},
        {"Nature of the breach (Art. 33(3)(a))",
         "Categories of personal data: " + (categories.str().empty() ? std::string("none found") : categories.str()) +
             ". Categories of people: " + (subjects.empty() ? std::string("none named in the register") : subjects) +
             ". Approximately " + people_text(nature) + ", counted in the stores at " +
             nature.at("counted").get<std::string>() + "."},
        {"Contact point (Art. 33(3)(b))", contact_text},
        {"Likely consequences (Art. 33(3)(c))", d.at("likely_consequences").get<std::string>()},
        {"Measures taken or proposed (Art. 33(3)(d))", d.at("measures").get<std::string>()}};
    if (!d.at("late_reason").get<std::string>().empty())
        sections.push_back({"Reasons for the delay (Art. 33(1))", d.at("late_reason").get<std::string>()});
    return sections;
}

}  // namespace

std::string notification_markdown(const nlohmann::json& document) {
    std::ostringstream out;
    out << "# " << title_of(document) << "\n\n";
    if (!document.at("tenant").get<std::string>().empty())
        out << "To: " << util::printable(document.at("addressee").at("name").get<std::string>()) << " (tenant "
            << util::printable(document.at("tenant").get<std::string>()) << ")\n\n";
    out << "Under " << document.at("article").get<std::string>() << ".\n\n";
    for (const auto& [heading, text] : sections_of(document)) out << "## " << heading << "\n\n" << text << "\n\n";
    return out.str();
}

std::string notification_html(const nlohmann::json& document) {
    std::ostringstream out;
    out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        << "<title>" << util::markup_escape(title_of(document)) << "</title>"
        << "<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;line-height:1.45}"
        << "h2{font-size:1.05em;margin-top:1.4em}</style></head><body>\n<h1>" << util::markup_escape(title_of(document))
        << "</h1>\n";
    if (!document.at("tenant").get<std::string>().empty())
        out << "<p>To: " << util::markup_escape(document.at("addressee").at("name").get<std::string>()) << " (tenant "
            << util::markup_escape(document.at("tenant").get<std::string>()) << ")</p>\n";
    out << "<p>Under " << util::markup_escape(document.at("article").get<std::string>()) << ".</p>\n";
    for (const auto& [heading, text] : sections_of(document))
        out << "<h2>" << util::markup_escape(heading) << "</h2>\n<p>" << util::markup_escape(text) << "</p>\n";
    out << "</body></html>\n";
    return out.str();
}

}  // namespace gdprctl::breaches
