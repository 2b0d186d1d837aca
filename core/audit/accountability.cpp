#include "core/audit/accountability.hpp"

#include <cmath>

#include "core/util/escape.hpp"

namespace gdprctl::audit {

namespace {

using nlohmann::json;

std::string esc(const json& value) {
    return util::markup_escape(value.is_string() ? value.get<std::string>() : value.dump());
}

// Days with one decimal ("12.5"), or "-" when there is no figure.
std::string days(const json& value) {
    if (value.is_null()) return "-";
    std::ostringstream out;
    out.setf(std::ios::fixed);
    out.precision(1);
    out << value.get<double>();
    return out.str();
}

bool names_another(const std::string& text, const std::set<std::string>& others) {
    for (const auto& tenant : others)
        if (text.find(tenant) != std::string::npos) return true;
    return false;
}

json request_row(const requests::Request& request, util::UnixTime now) {
    auto answered = request.time_to_answer();
    return {{"id", request.id},
            {"kind", request.kind},
            {"tenant", request.tenant.value_or("")},
            {"received", util::format_iso8601(request.received)},
            {"due", util::format_iso8601(request.due())},
            {"extended_months", request.extended_months()},
            {"status", request.status()},
            {"verified", request.verification.has_value()},
            {"answered", request.closing ? json(request.closing->time) : json(nullptr)},
            {"days_to_answer", answered ? json(static_cast<double>(*answered) / 86400) : json(nullptr)},
            {"overdue", request.overdue(now)},
            {"late", request.answered_late()}};
}

}  // namespace

json requests_section(const ReportInput& input) {
    std::vector<requests::Request> in_scope;
    for (const auto& request : input.requests)
        if (!input.tenant || !request.tenant || *request.tenant == *input.tenant) in_scope.push_back(request);
    json rows = json::array();
    for (const auto& request : in_scope) rows.push_back(request_row(request, input.now));
    return {{"statistics", requests::statistics(in_scope, input.now)}, {"requests", rows}};
}

json breaches_section(const ReportInput& input, const std::set<std::string>& other_tenants) {
    json rows = json::array();
    for (const auto& breach : input.breaches) {
        if (input.tenant &&
            std::find(breach.tenants.begin(), breach.tenants.end(), *input.tenant) == breach.tenants.end())
            continue;
        auto row = breach.to_json(input.now);
        row.erase("assessments");
        if (input.tenant) {
            // The tenant sees its own part: its counts, its notification, no other tenant's name.
            row["tenants"] = {*input.tenant};
            row["controllers_not_told"] =
                breach.notified("controller", *input.tenant) ? json::array() : json::array({*input.tenant});
            json notifications = json::array();
            for (const auto& n : row["notifications"])
                if (n["tenant"] == *input.tenant) notifications.push_back(n);
            row["notifications"] = notifications;
            if (names_another(breach.summary, other_tenants))
                row["summary"] = "(withheld: the summary names other tenants)";
            if (!row["assessment"].is_null()) {
                json own = json::array();
                for (const auto& affected : row["assessment"]["affected"])
                    if (affected["tenant"] == *input.tenant) own.push_back(affected);
                row["assessment"]["affected"] = own;
                row["assessment"]["records"] = own.empty() ? 0 : own[0]["records"].get<std::uint64_t>();
                row["assessment"]["people"] = own.empty() ? 0 : own[0]["people"].get<std::uint64_t>();
                for (const char* field : {"consequences", "measures"})
                    if (names_another(row["assessment"][field].get<std::string>(), other_tenants))
                        row["assessment"][field] = "(withheld: it names other tenants)";
            }
        }
        rows.push_back(row);
    }
    std::size_t open = 0, overdue = 0;
    for (const auto& row : rows) {
        open += row["status"] == "open";
        overdue += row["authority_overdue"].get<bool>();
    }
    return {{"breaches", rows}, {"open", open}, {"authority_overdue", overdue}};
}

void html_requests(std::ostringstream& out, const json& report) {
    const auto& section = report["requests"];
    const auto& s = section["statistics"];
    out << "<section id=\"requests\"><h2>Data subject requests</h2><p>Each request is due one month after receipt "
           "(Art. 12(3)), or up to two months later when the person was told of an extension.</p>"
        << "<div class=\"tiles\">";
    auto tile = [&](const std::string& label, const std::string& value, const std::string& key) {
        out << "<div class=\"tile\" data-summary=\"" << key << "\"><b>" << util::markup_escape(value) << "</b>"
            << util::markup_escape(label) << "</div>";
    };
    tile("received", s["received"].dump(), "requests-received");
    tile("answered", s["answered"].dump(), "requests-answered");
    tile("refused", s["refused"].dump(), "requests-refused");
    tile("overdue", s["overdue"].dump(), "requests-overdue");
    tile("median days to answer", days(s["median_days"]), "requests-median-days");
    tile("worst days to answer", days(s["worst_days"]), "requests-worst-days");
    out << "</div>";
    if (section["requests"].empty()) {
        out << "<p>No request was received.</p></section>";
        return;
    }
    out << "<table class=\"sortable\" id=\"requests-table\"><thead><tr><th>Request</th><th>Kind</th><th>Tenant</th>"
           "<th>Received</th><th>Due</th><th>Status</th><th data-type=\"number\">Days to answer</th></tr></thead>"
           "<tbody>";
    for (const auto& r : section["requests"])
        out << "<tr data-request=\"" << esc(r["id"]) << "\" data-overdue=\"" << r["overdue"] << "\"><td><code>"
            << esc(r["id"]) << "</code></td><td>" << esc(r["kind"]) << "</td><td>" << esc(r["tenant"]) << "</td><td>"
            << esc(r["received"]) << "</td><td>" << esc(r["due"]) << "</td><td class=\""
            << (r["overdue"].get<bool>() || r["late"].get<bool>() ? "bad" : "ok") << "\">" << esc(r["status"])
            << (r["overdue"].get<bool>() ? ", OVERDUE"
                : r["late"].get<bool>()  ? ", late"
                                         : "")
            << "</td><td class=\"num\">" << days(r["days_to_answer"]) << "</td></tr>";
    out << "</tbody></table></section>";
}

void html_breaches(std::ostringstream& out, const json& report) {
    const auto& section = report["breaches"];
    out << "<section id=\"breaches\"><h2>Breach register</h2><p>Every personal-data breach, notified or not, with "
           "its facts, effects and remedial action (Art. 33(5)). The counts come from the stores, at assessment.</p>";
    if (section["breaches"].empty()) {
        out << "<p>No breach was recorded.</p></section>";
        return;
    }
    out << "<table class=\"sortable\" id=\"breaches-table\"><thead><tr><th>Breach</th><th>Aware</th><th>What "
           "happened</th><th>Tenants</th><th data-type=\"number\">People</th><th data-type=\"number\">Records</th>"
           "<th>Risk</th><th>Consequences</th><th>Measures</th><th>Notified</th><th>Status</th></tr></thead><tbody>";
    for (const auto& b : section["breaches"]) {
        const auto& a = b["assessment"];
        std::string tenants, notified;
        for (const auto& t : b["tenants"]) tenants += (tenants.empty() ? "" : ", ") + esc(t);
        for (const auto& n : b["notifications"])
            notified += (notified.empty() ? "" : "; ") + esc(n["to"]) +
                        (n["tenant"].get<std::string>().empty() ? "" : " " + esc(n["tenant"])) + " " + esc(n["sent"]);
        out << "<tr data-breach=\"" << esc(b["id"]) << "\" data-people=\"" << (a.is_null() ? json(0) : a["people"])
            << "\" data-records=\"" << (a.is_null() ? json(0) : a["records"]) << "\"><td><code>" << esc(b["id"])
            << "</code></td><td>" << esc(b["aware_at"]) << "</td><td>" << esc(b["summary"]) << "</td><td>"
            << (tenants.empty() ? "platform's own data" : tenants) << "</td><td class=\"num\">"
            << (a.is_null() ? "-" : a["people"].dump()) << "</td><td class=\"num\">"
            << (a.is_null() ? "-" : a["records"].dump()) << "</td><td>"
            << (a.is_null() ? "not assessed" : esc(a["risk"])) << "</td><td>"
            << (a.is_null() ? "" : esc(a["consequences"])) << "</td><td>" << (a.is_null() ? "" : esc(a["measures"]))
            << "</td><td>" << (notified.empty() ? "none" : notified) << "</td><td class=\""
            << (b["authority_overdue"].get<bool>() ? "bad" : "ok") << "\">" << esc(b["status"])
            << (b["authority_overdue"].get<bool>() ? ": authority OVERDUE" : "") << "</td></tr>";
    }
    out << "</tbody></table></section>";
}

void markdown_requests(std::ostringstream& out, const json& report) {
    const auto& s = report["requests"]["statistics"];
    out << "\n## Data subject requests\n\n"
        << s["received"] << " received, " << s["answered"] << " answered, " << s["refused"] << " refused, " << s["open"]
        << " open (" << s["overdue"] << " overdue); median " << days(s["median_days"]) << " days to answer, worst "
        << days(s["worst_days"]) << ".\n";
    if (report["requests"]["requests"].empty()) return;
    out << "\n| Request | Kind | Tenant | Received | Due | Status | Days to answer |\n|---|---|---|---|---|---|---:|\n";
    for (const auto& r : report["requests"]["requests"])
        out << "| " << r["id"].get<std::string>() << " | " << r["kind"].get<std::string>() << " | "
            << r["tenant"].get<std::string>() << " | " << r["received"].get<std::string>() << " | "
            << r["due"].get<std::string>() << " | " << r["status"].get<std::string>()
            << (r["overdue"].get<bool>() ? ", OVERDUE"
                : r["late"].get<bool>()  ? ", late"
                                         : "")
            << " | " << days(r["days_to_answer"]) << " |\n";
}

void markdown_breaches(std::ostringstream& out, const json& report) {
    out << "\n## Breach register\n\n";
    if (report["breaches"]["breaches"].empty()) {
        out << "No breach was recorded.\n";
        return;
    }
    for (const auto& b : report["breaches"]["breaches"]) {
        const auto& a = b["assessment"];
        out << "- " << b["id"].get<std::string>() << ", aware " << b["aware_at"].get<std::string>() << ": "
            << b["summary"].get<std::string>() << "; "
            << (a.is_null() ? std::string("not assessed")
                            : "about " + a["people"].dump() + " people, " + a["records"].dump() + " records, risk " +
                                  a["risk"].get<std::string>() + "; measures: " + a["measures"].get<std::string>())
            << "; " << b["notifications"].size() << " notification(s); " << b["status"].get<std::string>()
            << (b["authority_overdue"].get<bool>() ? " (authority OVERDUE)" : "") << "\n";
    }
}

}  // namespace gdprctl::audit
