#include "core/ropa/register.hpp"

#include <algorithm>
#include <set>

#include "core/config/reader.hpp"
#include "core/error.hpp"
#include "core/util/fs.hpp"

namespace gdprctl::ropa {

namespace {

using Table = std::vector<std::pair<std::string, std::string>>;

std::string describe(const Table& table, const std::string& id) {
    for (const auto& [key, words] : table)
        if (key == id) return words;
    return id;
}

bool contains_key(const Table& table, const std::string& id) {
    return std::any_of(table.begin(), table.end(), [&](const auto& entry) { return entry.first == id; });
}

std::vector<std::string> keys_of(const Table& table) {
    std::vector<std::string> keys;
    for (const auto& entry : table) keys.push_back(entry.first);
    return keys;
}

std::string joined(const std::vector<std::string>& items, const std::string& separator) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
    return out;
}

// Fails at key unless value is one of table's ids, suggesting the closest one.
void require_known(config::JsonReader& reader, const std::string& key, const std::string& value, const Table& table,
                   const std::string& what) {
    if (contains_key(table, value)) return;
    std::string hint = "use one of: " + joined(keys_of(table), ", ") + " (man gdprctl-register(1))";
    if (auto near = config::closest_match(value, keys_of(table))) hint = "did you mean \"" + *near + "\"? " + hint;
    reader.fail(key, "unknown " + what + " \"" + value + "\"", hint);
}

std::string optional_text(config::JsonReader& reader, const std::string& key) {
    return reader.optional_string(key).value_or("");
}

Party read_party(config::JsonReader& reader) {
    Party party;
    party.name = optional_text(reader, "name");
    party.contact = optional_text(reader, "contact");
    party.representative = optional_text(reader, "representative");
    party.dpo = optional_text(reader, "dpo");
    return party;
}

Party read_party_at(config::JsonReader& parent, const std::string& key) {
    auto reader = parent.optional_object(key);
    if (!reader) return {};
    auto party = read_party(*reader);
    reader->finish();
    return party;
}

std::vector<std::string> read_categories(config::JsonReader& reader, const std::vector<std::string>& known) {
    auto categories = reader.string_list("categories");
    for (std::size_t i = 0; i < categories.size(); ++i) {
        if (std::find(known.begin(), known.end(), categories[i]) != known.end()) continue;
        std::string hint =
            "use a data-map category (" + joined(known, ", ") + ") or declare it in the config's \"categories\"";
        if (auto near = config::closest_match(categories[i], known)) hint = "did you mean \"" + *near + "\"?";
        reader.fail_path("categories/" + std::to_string(i), "unknown category \"" + categories[i] + "\"", hint);
    }
    return categories;
}

Recipient read_recipient(config::JsonReader& reader) {
    Recipient recipient;
    recipient.name = reader.required_string("name");
    recipient.type = optional_text(reader, "type");
    static const std::vector<std::string> k_types = {"sub-processor", "processor", "controller", "public-authority",
                                                     "internal"};
    if (!recipient.type.empty() && std::find(k_types.begin(), k_types.end(), recipient.type) == k_types.end())
        reader.fail("type", "unknown recipient type \"" + recipient.type + "\"",
                    "use one of: " + joined(k_types, ", "));
    recipient.country = optional_text(reader, "country");
    reader.finish();
    return recipient;
}

Transfer read_transfer(config::JsonReader& reader) {
    Transfer transfer;
    transfer.country = reader.required_string("country");
    transfer.recipient = optional_text(reader, "recipient");
    transfer.safeguard = optional_text(reader, "safeguard");
    if (!transfer.safeguard.empty()) require_known(reader, "safeguard", transfer.safeguard, safeguards(), "safeguard");
    transfer.reference = optional_text(reader, "reference");
    reader.finish();
    return transfer;
}

Retention read_retention(config::JsonReader& parent) {
    Retention retention;
    auto reader = parent.optional_object("retention");
    if (!reader) return retention;
    retention.days = reader->optional_integer("days");
    if (retention.days && (*retention.days < 0 || *retention.days > 36500))
        reader->fail("days", "must be a number of days from 0 to 36500");
    retention.description = optional_text(*reader, "description");
    reader->finish();
    return retention;
}

nlohmann::json strings(const std::vector<std::string>& items) { return nlohmann::json(items); }

}  // namespace

const std::vector<std::pair<std::string, std::string>>& legal_bases() {
    static const Table k_table = {
        {"art6-1-a", "Art. 6(1)(a) consent"},          {"art6-1-b", "Art. 6(1)(b) performance of a contract"},
        {"art6-1-c", "Art. 6(1)(c) legal obligation"}, {"art6-1-d", "Art. 6(1)(d) vital interests"},
        {"art6-1-e", "Art. 6(1)(e) public task"},      {"art6-1-f", "Art. 6(1)(f) legitimate interests"},
    };
    return k_table;
}

const std::vector<std::pair<std::string, std::string>>& special_conditions() {
    static const Table k_table = {
        {"art9-2-a", "Art. 9(2)(a) explicit consent"},
        {"art9-2-b", "Art. 9(2)(b) employment and social security law"},
        {"art9-2-c", "Art. 9(2)(c) vital interests"},
        {"art9-2-d", "Art. 9(2)(d) not-for-profit body"},
        {"art9-2-e", "Art. 9(2)(e) made public by the data subject"},
        {"art9-2-f", "Art. 9(2)(f) legal claims"},
        {"art9-2-g", "Art. 9(2)(g) substantial public interest"},
        {"art9-2-h", "Art. 9(2)(h) health or social care"},
        {"art9-2-i", "Art. 9(2)(i) public health"},
        {"art9-2-j", "Art. 9(2)(j) archiving, research or statistics"},
    };
    return k_table;
}

const std::vector<std::pair<std::string, std::string>>& safeguards() {
    static const Table k_table = {
        {"adequacy", "adequacy decision (Art. 45)"},
        {"scc", "standard contractual clauses (Art. 46(2)(c))"},
        {"bcr", "binding corporate rules (Art. 47)"},
        {"code-of-conduct", "approved code of conduct (Art. 46(2)(e))"},
        {"certification", "approved certification (Art. 46(2)(f))"},
        {"derogation-art49", "derogation for a specific situation (Art. 49)"},
    };
    return k_table;
}

std::string describe_legal_basis(const std::string& id) {
    return contains_key(legal_bases(), id) ? describe(legal_bases(), id) : describe(special_conditions(), id);
}
std::string describe_safeguard(const std::string& id) { return describe(safeguards(), id); }
bool is_legal_basis(const std::string& id) { return contains_key(legal_bases(), id); }
bool is_special_condition(const std::string& id) { return contains_key(special_conditions(), id); }
bool is_safeguard(const std::string& id) { return contains_key(safeguards(), id); }

bool in_eea(const std::string& country) {
    static const std::set<std::string> k_eea = {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR",
                                                "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT", "NL",
                                                "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO"};
    std::string upper = country;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    return k_eea.count(upper) > 0;
}

const Activity* Register::find(const std::string& id) const {
    for (const auto& activity : activities)
        if (activity.id == id) return &activity;
    return nullptr;
}

void Register::require_served(const std::string& tenant) const {
    if (served.empty()) return;
    std::string names;
    for (const auto& controller : served) {
        if (controller.tenant == tenant) return;
        names += (names.empty() ? "" : ", ") + controller.tenant;
    }
    throw Error::usage("tenant \"" + tenant + "\" is not a controller the register says the platform serves",
                       "the register's tenants: " + names + "; check the spelling, or add the tenant to the register");
}

bool Register::empty() const { return activities.empty() && controller.name.empty() && processor.name.empty(); }

Activity activity_from_json(const nlohmann::json& object, const std::string& pointer, const std::string& file,
                            const std::vector<std::string>& known_categories) {
    config::JsonReader reader(object, pointer, file);
    Activity activity;
    activity.id = reader.required_string("id");
    activity.name = optional_text(reader, "name");
    activity.role = optional_text(reader, "role");
    if (!activity.role.empty() && activity.role != "controller" && activity.role != "processor")
        reader.fail("role", "unknown role \"" + activity.role + "\"", "use controller or processor");
    activity.purposes = reader.string_list("purposes");
    activity.legal_basis = optional_text(reader, "legal_basis");
    if (!activity.legal_basis.empty())
        require_known(reader, "legal_basis", activity.legal_basis, legal_bases(), "legal basis");
    activity.special_condition = optional_text(reader, "special_category_condition");
    if (!activity.special_condition.empty())
        require_known(reader, "special_category_condition", activity.special_condition, special_conditions(),
                      "special-category condition");
    activity.data_subjects = reader.string_list("data_subjects");
    activity.categories = read_categories(reader, known_categories);
    for (auto& recipient : reader.object_list("recipients", false))
        activity.recipients.push_back(read_recipient(recipient));
    for (auto& transfer : reader.object_list("transfers", false)) activity.transfers.push_back(read_transfer(transfer));
    activity.retention = read_retention(reader);
    activity.security_measures = reader.string_list("security_measures");
    activity.sources = reader.string_list("sources");
    reader.finish();
    return activity;
}

Register register_from_json(const nlohmann::json& document, const std::string& file,
                            const std::vector<std::string>& known_categories) {
    config::JsonReader reader(document, "", file);
    if (auto version = reader.optional_integer("version"); version && *version != 1)
        reader.fail("version", "unsupported register version " + std::to_string(*version),
                    "this gdprctl reads version 1");
    Register reg;
    reg.controller = read_party_at(reader, "controller");
    reg.processor = read_party_at(reader, "processor");
    std::set<std::string> tenants;
    for (auto& entry : reader.object_list("controllers_served", false)) {
        ServedController served;
        served.tenant = entry.required_string("tenant");
        if (!tenants.insert(served.tenant).second)
            entry.fail("tenant", "tenant \"" + served.tenant + "\" is listed twice", "keep one entry per tenant");
        served.party = read_party(entry);
        entry.finish();
        reg.served.push_back(std::move(served));
    }
    auto raw = reader.optional_value("activities");
    if (raw && !raw->is_array()) reader.fail("activities", std::string("expected an array, found ") + raw->type_name());
    std::set<std::string> ids;
    for (std::size_t i = 0; raw && i < raw->size(); ++i) {
        std::string pointer = "/activities/" + std::to_string(i);
        auto activity = activity_from_json((*raw)[i], pointer, file, known_categories);
        if (!ids.insert(activity.id).second)
            throw Error::config(file + ": " + pointer + "/id: duplicate activity id \"" + activity.id + "\"",
                                "give every activity its own id");
        reg.activities.push_back(std::move(activity));
    }
    reader.finish();
    return reg;
}

nlohmann::json party_to_json(const Party& party) {
    nlohmann::json json = nlohmann::json::object();
    if (!party.name.empty()) json["name"] = party.name;
    if (!party.contact.empty()) json["contact"] = party.contact;
    if (!party.representative.empty()) json["representative"] = party.representative;
    if (!party.dpo.empty()) json["dpo"] = party.dpo;
    return json;
}

nlohmann::json activity_to_json(const Activity& activity) {
    nlohmann::json json = {{"id", activity.id}};
    auto text = [&](const char* key, const std::string& value) {
        if (!value.empty()) json[key] = value;
    };
    text("name", activity.name);
    text("role", activity.role);
    json["purposes"] = strings(activity.purposes);
    text("legal_basis", activity.legal_basis);
    text("special_category_condition", activity.special_condition);
    json["data_subjects"] = strings(activity.data_subjects);
    json["categories"] = strings(activity.categories);
    json["recipients"] = nlohmann::json::array();
    for (const auto& recipient : activity.recipients) {
        nlohmann::json entry = {{"name", recipient.name}};
        if (!recipient.type.empty()) entry["type"] = recipient.type;
        if (!recipient.country.empty()) entry["country"] = recipient.country;
        json["recipients"].push_back(entry);
    }
    json["transfers"] = nlohmann::json::array();
    for (const auto& transfer : activity.transfers) {
        nlohmann::json entry = {{"country", transfer.country}};
        if (!transfer.recipient.empty()) entry["recipient"] = transfer.recipient;
        if (!transfer.safeguard.empty()) entry["safeguard"] = transfer.safeguard;
        if (!transfer.reference.empty()) entry["reference"] = transfer.reference;
        json["transfers"].push_back(entry);
    }
    if (activity.retention.present()) {
        nlohmann::json retention = nlohmann::json::object();
        if (activity.retention.days) retention["days"] = *activity.retention.days;
        if (!activity.retention.description.empty()) retention["description"] = activity.retention.description;
        json["retention"] = retention;
    }
    json["security_measures"] = strings(activity.security_measures);
    json["sources"] = strings(activity.sources);
    return json;
}

nlohmann::json register_to_json(const Register& reg) {
    nlohmann::json json = {{"version", 1}};
    json["controller"] = party_to_json(reg.controller);
    json["processor"] = party_to_json(reg.processor);
    json["controllers_served"] = nlohmann::json::array();
    for (const auto& served : reg.served) {
        auto entry = party_to_json(served.party);
        entry["tenant"] = served.tenant;
        json["controllers_served"].push_back(entry);
    }
    json["activities"] = nlohmann::json::array();
    for (const auto& activity : reg.activities) json["activities"].push_back(activity_to_json(activity));
    return json;
}

Register read_register_file(const std::string& path, const std::vector<std::string>& known_categories) {
    std::string text;
    try {
        text = util::read_file(path);
    } catch (const Error& e) {
        throw Error::config(e.what(), "check the register file's path and permissions");
    }
    return register_from_json(config::parse_json_text(text, path), path, known_categories);
}

}  // namespace gdprctl::ropa
