#include <sstream>

#include "core/ropa/register.hpp"
#include "core/util/escape.hpp"

namespace gdprctl::ropa {

namespace {

std::string joined(const std::vector<std::string>& items, const std::string& separator = "; ") {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
    return out;
}

std::string party_text(const Party& party) {
    std::vector<std::string> parts;
    if (!party.name.empty()) parts.push_back(party.name);
    if (!party.contact.empty()) parts.push_back(party.contact);
    return joined(parts, ", ");
}

std::string recipients_text(const Activity& activity) {
    std::vector<std::string> parts;
    for (const auto& recipient : activity.recipients) {
        std::string text = recipient.name;
        if (!recipient.type.empty()) text += " (" + recipient.type + ")";
        if (!recipient.country.empty()) text += " [" + recipient.country + "]";
        parts.push_back(text);
    }
    return parts.empty() ? "none" : joined(parts);
}

std::string transfers_text(const Activity& activity) {
    std::vector<std::string> parts;
    for (const auto& transfer : activity.transfers)
        parts.push_back(transfer.country + (transfer.recipient.empty() ? "" : " (" + transfer.recipient + ")"));
    return parts.empty() ? "none" : joined(parts);
}

std::string safeguards_text(const Activity& activity) {
    std::vector<std::string> parts;
    for (const auto& transfer : activity.transfers) {
        std::string text =
            transfer.country + ": " + (transfer.safeguard.empty() ? "NONE" : describe_safeguard(transfer.safeguard));
        if (!transfer.reference.empty()) text += " - " + transfer.reference;
        parts.push_back(text);
    }
    return parts.empty() ? "not applicable" : joined(parts);
}

std::string retention_text(const Retention& retention) {
    std::string text;
    if (retention.days) text = std::to_string(*retention.days) + " days";
    if (!retention.description.empty()) text += (text.empty() ? "" : " - ") + retention.description;
    return text.empty() ? "not stated" : text;
}

std::string basis_text(const Activity& activity) {
    return activity.legal_basis.empty() ? "not stated" : describe_legal_basis(activity.legal_basis);
}

std::string condition_text(const Activity& activity) {
    return activity.special_condition.empty() ? "none" : describe_legal_basis(activity.special_condition);
}

// The party that answers for an activity: the platform for its own processing, otherwise the
// platform as processor on behalf of every controller served.
std::string responsible_text(const Register& reg, const Activity& activity) {
    if (activity.role == "processor") {
        std::vector<std::string> controllers;
        for (const auto& served : reg.served)
            controllers.push_back(served.party.name.empty() ? served.tenant : served.party.name);
        return "Processor: " + party_text(reg.processor) +
               " on behalf of: " + (controllers.empty() ? "-" : joined(controllers, ", "));
    }
    return "Controller: " + party_text(reg.controller);
}

const Party& party_of(const Register& reg, const Activity& activity) {
    return activity.role == "processor" ? reg.processor : reg.controller;
}

// One row per activity, in the column order of the supervisory authorities' Art. 30 templates.
const std::vector<std::string>& csv_columns() {
    static const std::vector<std::string> k_columns = {"Activity ID",
                                                       "Processing activity",
                                                       "Role",
                                                       "Name and contact details of controller/processor",
                                                       "Representative",
                                                       "Data protection officer",
                                                       "Purposes of the processing",
                                                       "Legal basis (Art. 6)",
                                                       "Special category condition (Art. 9)",
                                                       "Categories of data subjects",
                                                       "Categories of personal data",
                                                       "Categories of recipients",
                                                       "Transfers to third countries",
                                                       "Safeguards for transfers",
                                                       "Retention period",
                                                       "Technical and organisational security measures",
                                                       "Systems (data-map sources)"};
    return k_columns;
}

std::vector<std::string> csv_row(const Register& reg, const Activity& activity) {
    const auto& party = party_of(reg, activity);
    return {activity.id,
            activity.name,
            activity.role,
            responsible_text(reg, activity),
            party.representative,
            party.dpo,
            joined(activity.purposes),
            basis_text(activity),
            condition_text(activity),
            joined(activity.data_subjects),
            joined(activity.categories),
            recipients_text(activity),
            transfers_text(activity),
            safeguards_text(activity),
            retention_text(activity.retention),
            joined(activity.security_measures),
            joined(activity.sources)};
}

std::string markdown_cell(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '|')
            out += "\\|";
        else if (c == '\n')
            out += ' ';
        else
            out += c;
    }
    return out;
}

void party_markdown(std::ostringstream& out, const std::string& title, const Party& party) {
    out << "- **" << title << ":** " << markdown_cell(party_text(party).empty() ? "not stated" : party_text(party));
    if (!party.representative.empty()) out << "; representative: " << markdown_cell(party.representative);
    if (!party.dpo.empty()) out << "; DPO: " << markdown_cell(party.dpo);
    out << "\n";
}

void party_html(std::ostringstream& out, const std::string& title, const Party& party) {
    out << "<dt>" << util::markup_escape(title) << "</dt><dd>"
        << util::markup_escape(party_text(party).empty() ? "not stated" : party_text(party));
    if (!party.representative.empty()) out << "; representative: " << util::markup_escape(party.representative);
    if (!party.dpo.empty()) out << "; DPO: " << util::markup_escape(party.dpo);
    out << "</dd>";
}

}  // namespace

std::string csv_field(const std::string& text) {
    bool quote = text.find_first_of(",\"\r\n") != std::string::npos;
    // A leading = + - @ makes spreadsheets evaluate the cell; a register must read as text.
    bool formula = !text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@');
    std::string body = formula ? "'" + text : text;
    if (!quote) return body;
    std::string out = "\"";
    for (char c : body) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string register_to_csv(const Register& reg) {
    std::ostringstream out;
    auto write_row = [&](const std::vector<std::string>& cells) {
        for (std::size_t i = 0; i < cells.size(); ++i) out << (i ? "," : "") << csv_field(cells[i]);
        out << "\r\n";
    };
    write_row(csv_columns());
    for (const auto& activity : reg.activities) write_row(csv_row(reg, activity));
    return out.str();
}

std::string register_to_markdown(const Register& reg) {
    std::ostringstream out;
    out << "# Records of processing activities (GDPR Art. 30)\n\n";
    party_markdown(out, "Controller", reg.controller);
    party_markdown(out, "Processor", reg.processor);
    out << "\n## Controllers served (Art. 30(2)(a))\n\n";
    if (reg.served.empty()) out << "None listed.\n";
    for (const auto& served : reg.served) party_markdown(out, served.tenant, served.party);
    for (const auto& activity : reg.activities) out << "\n" << activity_to_markdown(reg, activity);
    return out.str();
}

std::string activity_to_markdown(const Register& reg, const Activity& activity) {
    std::ostringstream out;
    out << "## " << markdown_cell(activity.name.empty() ? activity.id : activity.name) << " (`" << activity.id
        << "`)\n\n| | |\n|---|---|\n";
    auto row = csv_row(reg, activity);
    for (std::size_t i = 2; i < row.size(); ++i)
        out << "| " << csv_columns()[i] << " | " << markdown_cell(row[i].empty() ? "-" : row[i]) << " |\n";
    return out.str();
}

std::string register_to_html_section(const Register& reg) {
    std::ostringstream out;
    out << "<section id=\"register\"><h2>Records of processing activities (GDPR Art. 30)</h2><dl>";
    party_html(out, "Controller", reg.controller);
    party_html(out, "Processor", reg.processor);
    for (const auto& served : reg.served) party_html(out, "Controller served: " + served.tenant, served.party);
    out << "</dl>";
    if (reg.activities.empty()) out << "<p>The register holds no processing activity.</p>";
    for (const auto& activity : reg.activities) {
        out << "<table class=\"activity\" data-activity=\"" << util::markup_escape(activity.id) << "\"><caption>"
            << util::markup_escape(activity.name.empty() ? activity.id : activity.name) << " <code>"
            << util::markup_escape(activity.id) << "</code></caption><tbody>";
        auto row = csv_row(reg, activity);
        for (std::size_t i = 2; i < row.size(); ++i)
            out << "<tr><th scope=\"row\">" << util::markup_escape(csv_columns()[i]) << "</th><td>"
                << util::markup_escape(row[i].empty() ? "-" : row[i]) << "</td></tr>";
        out << "</tbody></table>";
    }
    out << "</section>";
    return out.str();
}

std::string register_to_html(const Register& reg, const std::string& platform) {
    std::ostringstream out;
    out << "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Register of processing activities - "
        << util::markup_escape(platform)
        << "</title><style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
           "table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem;"
           "text-align:left;vertical-align:top}caption{font-weight:bold;text-align:left;padding:.3rem 0}"
           "th{width:30%;background:#f4f4f4}</style></head><body>"
        << register_to_html_section(reg) << "</body></html>\n";
    return out.str();
}

}  // namespace gdprctl::ropa
