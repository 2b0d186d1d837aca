#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gdprctl::ropa {

// Name and contact details of a party the register must name (Art. 30(1)(a), 30(2)(a)).
struct Party {
    std::string name;
    std::string contact;
    std::string representative;  // Art. 27 representative, when the party is outside the EU
    std::string dpo;             // data protection officer's contact
};

// A controller the platform processes data for: on a streaming platform, one tenant.
struct ServedController {
    std::string tenant;
    Party party;
};

struct Recipient {
    std::string name;
    std::string type;     // sub-processor, processor, controller, public-authority, internal
    std::string country;  // ISO 3166-1 alpha-2, for where the data goes
};

struct Transfer {
    std::string country;    // the third country, ISO 3166-1 alpha-2
    std::string recipient;  // a recipient of the same activity
    std::string safeguard;  // adequacy, scc, bcr, code-of-conduct, certification, derogation-art49; empty: none
    std::string reference;  // the decision or contract it rests on
};

struct Retention {
    std::optional<std::int64_t> days;  // how long records are kept, when it is a fixed period
    std::string description;           // the period in words ("while the account is active")
    bool present() const { return days || !description.empty(); }
};

// One processing activity (Art. 30(1)(b)-(g), 30(2)(b)-(d)).
struct Activity {
    std::string id;
    std::string name;
    std::string role;  // controller or processor
    std::vector<std::string> purposes;
    std::string legal_basis;        // art6-1-a .. art6-1-f
    std::string special_condition;  // art9-2-a .. art9-2-j, when special categories are processed
    std::vector<std::string> data_subjects;
    std::vector<std::string> categories;  // data-map category names
    std::vector<Recipient> recipients;
    std::vector<Transfer> transfers;
    Retention retention;
    std::vector<std::string> security_measures;
    std::vector<std::string> sources;  // data-map source names; "gdprctl:backups" is the backup directory
};

struct Register {
    Party controller;                      // the platform as controller (its own accounts)
    Party processor;                       // the platform as processor (its tenants' data)
    std::vector<ServedController> served;  // one entry per tenant served
    std::vector<Activity> activities;

    const Activity* find(const std::string& id) const;
    bool empty() const;
    // Error::usage for a tenant that is not among the controllers served, when the register lists
    // any: a misspelt tenant would otherwise be a request or a breach about nobody's data.
    void require_served(const std::string& tenant) const;
};

// The name activities use for the workspace's own encrypted backups, which are no data-map source.
inline constexpr const char* k_backup_source = "gdprctl:backups";

// Art. 6(1) bases and Art. 9(2) conditions by the ids the register uses ("art6-1-b"), with
// the words people read ("Art. 6(1)(b) contract").
const std::vector<std::pair<std::string, std::string>>& legal_bases();
const std::vector<std::pair<std::string, std::string>>& special_conditions();
const std::vector<std::pair<std::string, std::string>>& safeguards();
std::string describe_legal_basis(const std::string& id);
std::string describe_safeguard(const std::string& id);
bool is_legal_basis(const std::string& id);
bool is_special_condition(const std::string& id);
bool is_safeguard(const std::string& id);
// The EEA states (EU + Iceland, Liechtenstein, Norway), ISO 3166-1 alpha-2.
bool in_eea(const std::string& country);

// Reads a register document, strictly: unknown keys, wrong types, duplicate activity ids, an
// unknown legal basis, safeguard or category are Error::config naming file and JSON pointer.
// Missing fields are allowed here (a register grows over time): validation reports them.
Register register_from_json(const nlohmann::json& document, const std::string& file,
                            const std::vector<std::string>& known_categories);
Activity activity_from_json(const nlohmann::json& object, const std::string& pointer, const std::string& file,
                            const std::vector<std::string>& known_categories);

// The canonical document: register_from_json(register_to_json(r)) == r.
nlohmann::json register_to_json(const Register& reg);
nlohmann::json activity_to_json(const Activity& activity);
nlohmann::json party_to_json(const Party& party);

// Renderings for people and for the supervisory authorities' Art. 30 templates.
std::string register_to_csv(const Register& reg);
std::string register_to_markdown(const Register& reg);
std::string activity_to_markdown(const Register& reg, const Activity& activity);
std::string register_to_html_section(const Register& reg);  // a <section>, for reports
std::string register_to_html(const Register& reg, const std::string& platform);

// One CSV cell (RFC 4180 quoting; a leading = + - @ is neutralised for spreadsheets).
std::string csv_field(const std::string& text);

}  // namespace gdprctl::ropa

namespace gdprctl::ropa {

// Reads a register file (JSON); Error::config naming the file and line or JSON pointer.
Register read_register_file(const std::string& path, const std::vector<std::string>& known_categories);

}  // namespace gdprctl::ropa
