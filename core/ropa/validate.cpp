#include "core/ropa/validate.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace gdprctl::ropa {

namespace {

using policy::CheckInput;
using policy::CheckRule;
using policy::Finding;

constexpr std::int64_t k_day = 86400;

class Reporter {
public:
    Reporter(const CheckInput& input, const CheckRule& rule, std::vector<Finding>& findings)
        : m_input(input), m_rule(rule), m_findings(findings) {}

    // A finding in the register, at pointer (relative to the register document).
    void in_register(const std::string& where, const std::string& pointer, const std::string& message,
                     const std::string& fix) {
        add(m_input.register_file, pointer, where, message, fix);
    }
    // A finding in the workspace config (the data map).
    void in_config(const std::string& where, const std::string& pointer, const std::string& message,
                   const std::string& fix) {
        add(m_input.workspace.config_path.string(), pointer, where, message, fix);
    }

private:
    void add(const std::string& file, const std::string& pointer, const std::string& where, const std::string& message,
             const std::string& fix) {
        Finding finding;
        finding.rule = m_rule.id;
        finding.severity = m_rule.severity;
        finding.file = file;
        finding.pointer = pointer;
        finding.where = where;
        finding.message = message;
        finding.fix = fix;
        m_findings.push_back(std::move(finding));
    }

    const CheckInput& m_input;
    const CheckRule& m_rule;
    std::vector<Finding>& m_findings;
};

std::string activity_pointer(std::size_t index) { return "/activities/" + std::to_string(index); }
std::string activity_where(const Activity& activity) { return "register activity " + activity.id; }

bool contains(const std::vector<std::string>& items, const std::string& item) {
    return std::find(items.begin(), items.end(), item) != items.end();
}

void check_party(Reporter& report, const Party& party, const std::string& pointer, const std::string& who) {
    if (party.name.empty())
        report.in_register("register " + who, pointer,
                           "the register does not name the " + who + " (Art. 30(1)(a), 30(2)(a))",
                           "add \"name\" at " + pointer);
    if (party.contact.empty())
        report.in_register("register " + who, pointer, "the register gives no contact details for the " + who,
                           "add \"contact\" at " + pointer);
}

void check_complete(const CheckInput& input, Reporter& report) {
    const auto& reg = input.reg;
    bool any_controller = false, any_processor = false;
    for (std::size_t i = 0; i < reg.activities.size(); ++i) {
        const auto& a = reg.activities[i];
        any_controller |= a.role == "controller";
        any_processor |= a.role == "processor";
        std::vector<std::pair<std::string, bool>> missing = {
            {"name", a.name.empty()},
            {"role", a.role.empty()},
            {"purposes", a.purposes.empty()},
            {"legal_basis", a.legal_basis.empty()},
            {"data_subjects", a.data_subjects.empty()},
            {"categories", a.categories.empty()},
            {"retention", !a.retention.present()},
            {"security_measures", a.security_measures.empty()},
            {"sources", a.sources.empty()},
        };
        for (const auto& [field, absent] : missing)
            if (absent)
                report.in_register(activity_where(a), activity_pointer(i),
                                   "activity \"" + a.id + "\" has no " + field + " (a mandatory Art. 30 field)",
                                   "add \"" + field + "\" to the activity (gdprctl register edit " + a.id + ")");
    }
    if (reg.activities.empty())
        report.in_register("register", "/activities", "the register lists no processing activity",
                           "import a register (gdprctl register import FILE) or add activities");
    if (any_controller) check_party(report, reg.controller, "/controller", "controller");
    if (any_processor) check_party(report, reg.processor, "/processor", "processor");
    for (std::size_t i = 0; i < reg.served.size(); ++i) {
        const auto& served = reg.served[i];
        if (served.party.name.empty() || served.party.contact.empty())
            report.in_register(
                "register controller " + served.tenant, "/controllers_served/" + std::to_string(i),
                "controller served \"" + served.tenant + "\" lacks its name or contact details (Art. 30(2)(a))",
                "add \"name\" and \"contact\"");
    }
}

void check_legal_basis(const CheckInput& input, Reporter& report) {
    for (std::size_t i = 0; i < input.reg.activities.size(); ++i) {
        const auto& a = input.reg.activities[i];
        if (a.legal_basis.empty())
            report.in_register(activity_where(a), activity_pointer(i),
                               "activity \"" + a.id + "\" states no legal basis",
                               "add \"legal_basis\": one of art6-1-a to art6-1-f (GDPR Art. 6(1))");
        else if (!is_legal_basis(a.legal_basis))
            report.in_register(activity_where(a), activity_pointer(i) + "/legal_basis",
                               "\"" + a.legal_basis + "\" is not a legal basis of GDPR Art. 6(1)",
                               "use one of art6-1-a to art6-1-f");
        if (!a.special_condition.empty() && !is_special_condition(a.special_condition))
            report.in_register(activity_where(a), activity_pointer(i) + "/special_category_condition",
                               "\"" + a.special_condition + "\" is not a condition of GDPR Art. 9(2)",
                               "use one of art9-2-a to art9-2-j");
    }
}

void check_transfers(const CheckInput& input, Reporter& report) {
    for (std::size_t i = 0; i < input.reg.activities.size(); ++i) {
        const auto& a = input.reg.activities[i];
        std::set<std::string> declared;
        for (std::size_t t = 0; t < a.transfers.size(); ++t) {
            const auto& transfer = a.transfers[t];
            declared.insert(transfer.recipient);
            if (in_eea(transfer.country) || !transfer.safeguard.empty()) continue;
            report.in_register(
                activity_where(a), activity_pointer(i) + "/transfers/" + std::to_string(t),
                "transfer to " + transfer.country +
                    (transfer.recipient.empty() ? "" : " (" + transfer.recipient + ")") +
                    " outside the EEA has no safeguard (GDPR Chapter V)",
                "add \"safeguard\": adequacy, scc, bcr, code-of-conduct, certification or derogation-art49");
        }
        for (std::size_t r = 0; r < a.recipients.size(); ++r) {
            const auto& recipient = a.recipients[r];
            if (recipient.country.empty() || in_eea(recipient.country) || declared.count(recipient.name)) continue;
            report.in_register(activity_where(a), activity_pointer(i) + "/recipients/" + std::to_string(r),
                               "recipient " + recipient.name + " is in " + recipient.country +
                                   ", outside the EEA, but the activity lists no transfer to it",
                               "add a transfer to " + recipient.country + " with its safeguard");
        }
    }
}

void check_recipients(const CheckInput& input, Reporter& report) {
    for (std::size_t i = 0; i < input.reg.activities.size(); ++i) {
        const auto& a = input.reg.activities[i];
        for (std::size_t t = 0; t < a.transfers.size(); ++t) {
            const auto& transfer = a.transfers[t];
            bool listed = std::any_of(a.recipients.begin(), a.recipients.end(),
                                      [&](const Recipient& r) { return r.name == transfer.recipient; });
            if (listed) continue;
            report.in_register(activity_where(a), activity_pointer(i) + "/transfers/" + std::to_string(t),
                               transfer.recipient.empty() ? "a transfer to " + transfer.country + " names no recipient"
                                                          : "transfer recipient " + transfer.recipient +
                                                                " is not among the activity's recipients",
                               "list every recipient in \"recipients\" (Art. 30(1)(d))");
        }
        for (std::size_t r = 0; r < a.recipients.size(); ++r)
            if (a.recipients[r].type.empty())
                report.in_register(
                    activity_where(a), activity_pointer(i) + "/recipients/" + std::to_string(r),
                    "recipient " + a.recipients[r].name + " has no type",
                    "say whether it is a sub-processor, processor, controller, public-authority or internal");
    }
}

bool covered(const Register& reg, const std::string& category) {
    return std::any_of(reg.activities.begin(), reg.activities.end(),
                       [&](const Activity& a) { return contains(a.categories, category); });
}

void check_coverage(const CheckInput& input, Reporter& report) {
    std::set<std::string> reported;
    for (const auto& source : input.sources) {
        for (const auto& dataset : source.datasets) {
            if (covered(input.reg, dataset.category) || !reported.insert(dataset.category).second) continue;
            report.in_config(dataset.name, dataset.pointer,
                             "the data map's category \"" + dataset.category + "\" (" + dataset.name +
                                 ") is covered by no activity of the register",
                             "add an activity for " + dataset.category + " to the register, or correct the data map");
        }
    }
    if (!input.live) return;
    for (const auto& source : input.live->inventory.sources) {
        for (const auto& row : source.inventory.rows) {
            if (row.records == 0 || covered(input.reg, row.category) || !reported.insert(row.category).second) continue;
            report.in_config(row.dataset, "",
                             "the stores hold " + std::to_string(row.records) + " record(s) of category \"" +
                                 row.category + "\" (" + row.dataset + ") that no activity covers",
                             "add an activity for " + row.category + " to the register");
        }
        const auto* config_source = input.workspace.find_source(source.name);
        for (const auto& undeclared : source.inventory.undeclared) {
            report.in_config(source.name + ":" + undeclared.location, config_source ? config_source->pointer : "",
                             "undeclared personal data: " + source.name + ":" + undeclared.location +
                                 " holds values that look like " + undeclared.detector + " (" +
                                 std::to_string(undeclared.hits) + " of " + std::to_string(undeclared.sampled) +
                                 " sampled); neither the data map nor the register covers it",
                             "declare " + undeclared.location +
                                 " in the data map (personal or subjects) under a category the "
                                 "register covers, or stop storing it");
        }
    }
}

// Categories each source holds, by the data map (and the backup directory for "backups").
std::map<std::string, std::set<std::string>> categories_by_source(const CheckInput& input) {
    std::map<std::string, std::set<std::string>> held;
    for (const auto& source : input.sources)
        for (const auto& dataset : source.datasets) held[source.source].insert(dataset.category);
    held[k_backup_source].insert("backups");
    return held;
}

void check_drift(const CheckInput& input, Reporter& report) {
    auto held = categories_by_source(input);
    for (std::size_t i = 0; i < input.reg.activities.size(); ++i) {
        const auto& a = input.reg.activities[i];
        for (std::size_t s = 0; s < a.sources.size(); ++s) {
            if (held.count(a.sources[s])) continue;
            report.in_register(
                activity_where(a), activity_pointer(i) + "/sources/" + std::to_string(s),
                "activity \"" + a.id + "\" names source \"" + a.sources[s] + "\", which the config does not have",
                "use a source name from the config (gdprctl scan lists them) or " + std::string(k_backup_source));
        }
        for (std::size_t c = 0; c < a.categories.size(); ++c) {
            const auto& category = a.categories[c];
            bool anywhere = false, in_own = false;
            for (const auto& [source, categories] : held) {
                if (!categories.count(category)) continue;
                anywhere = true;
                in_own |= a.sources.empty() || contains(a.sources, source);
            }
            if (!anywhere)
                report.in_register(activity_where(a), activity_pointer(i) + "/categories/" + std::to_string(c),
                                   "activity \"" + a.id + "\" declares category \"" + category +
                                       "\", which no source of the data map holds (drift)",
                                   "remove the category from the activity, or map the store that holds it");
            else if (!in_own)
                report.in_register(activity_where(a), activity_pointer(i) + "/categories/" + std::to_string(c),
                                   "activity \"" + a.id + "\" declares category \"" + category +
                                       "\", which none of its own sources holds (drift)",
                                   "add the source that holds " + category + " to the activity's sources");
        }
    }
}

// The datasets of category within the activity's sources.
std::vector<const config::Dataset*> datasets_of(const CheckInput& input, const Activity& activity,
                                                const std::string& category) {
    std::vector<const config::Dataset*> out;
    for (const auto& source : input.sources) {
        if (!activity.sources.empty() && !contains(activity.sources, source.source)) continue;
        for (const auto& dataset : source.datasets)
            if (dataset.category == category) out.push_back(&dataset);
    }
    return out;
}

void check_retention(const CheckInput& input, Reporter& report) {
    for (std::size_t i = 0; i < input.reg.activities.size(); ++i) {
        const auto& a = input.reg.activities[i];
        if (!a.retention.days) continue;
        std::int64_t declared = *a.retention.days;
        for (const auto& category : a.categories) {
            auto datasets = datasets_of(input, a, category);
            for (const auto& rule : input.policies.retention) {
                if (rule.action != policy::RetentionAction::remove) continue;
                std::int64_t rule_days = rule.max_age_seconds / k_day;
                bool backups = category == "backups" && contains(rule.categories, "backups") &&
                               (a.sources.empty() || contains(a.sources, k_backup_source));
                std::size_t applies = static_cast<std::size_t>(std::count_if(
                    datasets.begin(), datasets.end(), [&](const config::Dataset* d) { return rule.applies_to(*d); }));
                if (!backups && applies == 0) continue;
                bool all = backups || applies == datasets.size();
                std::string pointer = activity_pointer(i) + "/retention/days";
                if (rule_days > declared)
                    report.in_register(
                        activity_where(a), pointer,
                        "activity \"" + a.id + "\" says " + category + " is kept " + std::to_string(declared) +
                            " days, but retention policy " + rule.id + " keeps it " + std::to_string(rule_days) +
                            " days",
                        "make the register and the policy agree (the register must say how long data is really kept)");
                else if (rule_days < declared && all)
                    report.in_register(activity_where(a), pointer,
                                       "activity \"" + a.id + "\" says " + category + " is kept " +
                                           std::to_string(declared) + " days, but retention policy " + rule.id +
                                           " deletes it after " + std::to_string(rule_days) + " days",
                                       "make the register and the policy agree");
            }
        }
    }
}

void check_controllers(const CheckInput& input, Reporter& report) {
    const auto& reg = input.reg;
    bool any_processor = std::any_of(reg.activities.begin(), reg.activities.end(),
                                     [](const Activity& a) { return a.role == "processor"; });
    if (any_processor && reg.served.empty())
        report.in_register("register", "/controllers_served",
                           "the register has processor activities but lists no controller served (Art. 30(2)(a))",
                           "add one entry per tenant to \"controllers_served\"");
    if (!input.live) return;
    std::set<std::string> listed;
    for (const auto& served : reg.served) listed.insert(served.tenant);
    std::set<std::string> reported;
    for (const auto& source : input.live->inventory.sources)
        for (const auto& row : source.inventory.rows)
            if (!row.tenant.empty() && row.records > 0 && !listed.count(row.tenant) &&
                reported.insert(row.tenant).second)
                report.in_register("register controllers served", "/controllers_served",
                                   "the stores hold data of tenant \"" + row.tenant +
                                       "\", which the register does not list as a controller served",
                                   "add \"" + row.tenant + "\" to \"controllers_served\" with its name and contact");
}

}  // namespace

bool is_register_kind(const std::string& kind) { return kind.rfind("register-", 0) == 0; }

void check_register(const CheckInput& input, const CheckRule& rule, std::vector<Finding>& findings) {
    Reporter report(input, rule, findings);
    if (rule.kind == "register-complete") return check_complete(input, report);
    if (rule.kind == "register-legal-basis") return check_legal_basis(input, report);
    if (rule.kind == "register-transfers") return check_transfers(input, report);
    if (rule.kind == "register-recipients") return check_recipients(input, report);
    if (rule.kind == "register-coverage") return check_coverage(input, report);
    if (rule.kind == "register-drift") return check_drift(input, report);
    if (rule.kind == "register-retention") return check_retention(input, report);
    if (rule.kind == "register-controllers") return check_controllers(input, report);
}

}  // namespace gdprctl::ropa
