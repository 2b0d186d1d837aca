#include "core/audit/report.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "core/audit/accountability.hpp"
#include "core/crypto/primitives.hpp"
#include "core/util/escape.hpp"

namespace gdprctl::audit {

namespace {

constexpr std::int64_t k_day = 86400;
constexpr std::int64_t k_bin_days = 15;
constexpr std::size_t k_max_bins = 24;

using nlohmann::json;

bool mentions(const std::string& text, const std::string& word) {
    for (auto pos = text.find(word); pos != std::string::npos; pos = text.find(word, pos + 1)) {
        auto boundary = [&](std::size_t at) {
            return at >= text.size() ||
                   !(std::isalnum(static_cast<unsigned char>(text[at])) || text[at] == '-' || text[at] == '_');
        };
        if ((pos == 0 || boundary(pos - 1)) && boundary(pos + word.size())) return true;
    }
    return false;
}

std::set<std::string> known_tenants(const ReportInput& input) {
    std::set<std::string> tenants;
    for (const auto& source : input.live.inventory.sources)
        for (const auto& row : source.inventory.rows)
            if (!row.tenant.empty()) tenants.insert(row.tenant);
    for (const auto& served : input.reg.served) tenants.insert(served.tenant);
    for (const auto& backup : input.backups)
        if (!backup.tenant.empty()) tenants.insert(backup.tenant);
    return tenants;
}

bool in_scope(const ReportInput& input, const std::string& tenant) { return !input.tenant || tenant == *input.tenant; }

// The age limit of a dataset's records for one tenant: the shortest delete rule that applies.
std::optional<std::int64_t> limit_for(const ReportInput& input, const std::string& dataset_name,
                                      const std::string& tenant) {
    const config::Dataset* dataset = nullptr;
    for (const auto& source : input.sources)
        for (const auto& d : source.datasets)
            if (d.name == dataset_name) dataset = &d;
    if (!dataset) return std::nullopt;
    std::optional<std::int64_t> limit;
    for (const auto& rule : input.policies.retention) {
        if (rule.action != policy::RetentionAction::remove || !rule.applies_to(*dataset)) continue;
        std::int64_t age = rule.max_age_seconds;
        for (const auto& [t, tenant_age] : rule.tenant_max_age)
            if (t == tenant) age = tenant_age;
        limit = std::min(limit.value_or(age), age);
    }
    return limit;
}

json inventory_rows(const ReportInput& input) {
    json rows = json::array();
    for (const auto& source : input.live.inventory.sources)
        for (const auto& row : source.inventory.rows) {
            if (!in_scope(input, row.tenant) || row.records == 0) continue;
            json entry = {{"source", source.name}, {"dataset", row.dataset}, {"category", row.category},
                          {"tenant", row.tenant},  {"records", row.records}, {"bytes", row.bytes}};
            entry["oldest"] = row.oldest ? json(util::format_iso8601(*row.oldest)) : json(nullptr);
            entry["newest"] = row.newest ? json(util::format_iso8601(*row.newest)) : json(nullptr);
            rows.push_back(entry);
        }
    return rows;
}

// Per category: records, oldest age, the limit the retention rules set, and an age histogram.
json retention_by_category(const ReportInput& input) {
    struct Category {
        std::uint64_t records = 0, limited_records = 0, over_limit = 0;
        std::optional<std::int64_t> oldest_age_days, limit_days;
        std::set<std::string> datasets, limited_datasets;
        std::map<std::int64_t, std::uint64_t> ages;  // age in days -> records
    };
    std::map<std::string, Category> categories;
    std::int64_t today = connectors::day_of(input.now);
    for (const auto& source : input.live.inventory.sources)
        for (const auto& row : source.inventory.rows) {
            if (!in_scope(input, row.tenant) || row.records == 0) continue;
            auto& c = categories[row.category];
            c.records += row.records;
            c.datasets.insert(row.dataset);
            auto limit = limit_for(input, row.dataset, row.tenant);
            if (limit) {
                c.limited_datasets.insert(row.dataset);
                c.limited_records += row.records;
                c.limit_days = std::max(c.limit_days.value_or(0), *limit / k_day);
            }
            for (const auto& [day, count] : row.records_per_day) {
                std::int64_t age = std::max<std::int64_t>(0, today - day);
                c.ages[age] += count;
                if (limit && age * k_day > *limit) c.over_limit += count;
            }
            if (row.oldest) {
                std::int64_t age = std::max<std::int64_t>(0, (input.now - *row.oldest) / k_day);
                c.oldest_age_days = std::max(c.oldest_age_days.value_or(0), age);
            }
        }
    json out = json::array();
    for (const auto& [name, c] : categories) {
        std::int64_t span =
            std::max<std::int64_t>({c.oldest_age_days.value_or(0), c.limit_days.value_or(0) * 3 / 2, 30});
        std::size_t bins = std::min<std::size_t>(k_max_bins, static_cast<std::size_t>(span / k_bin_days + 1));
        std::vector<std::uint64_t> counts(bins, 0);
        for (const auto& [age, count] : c.ages)
            counts[std::min<std::size_t>(bins - 1, static_cast<std::size_t>(age / k_bin_days))] += count;
        json histogram = json::array();
        for (std::size_t i = 0; i < bins; ++i)
            histogram.push_back(
                {{"from_days", static_cast<std::int64_t>(i) * k_bin_days},
                 {"to_days", i + 1 == bins ? json(nullptr) : json(static_cast<std::int64_t>(i + 1) * k_bin_days)},
                 {"records", counts[i]}});
        json entry = {{"category", name},
                      {"records", c.records},
                      {"datasets", c.datasets.size()},
                      {"datasets_with_limit", c.limited_datasets.size()},
                      {"records_over_limit", c.over_limit},
                      {"histogram", histogram},
                      {"bin_days", k_bin_days}};
        entry["oldest_age_days"] = c.oldest_age_days ? json(*c.oldest_age_days) : json(nullptr);
        entry["limit_days"] = c.limit_days ? json(*c.limit_days) : json(nullptr);
        entry["compliant"] = c.limit_days ? json(c.over_limit == 0) : json(nullptr);
        out.push_back(entry);
    }
    return out;
}

json backups_json(const ReportInput& input) {
    json out = json::array();
    for (const auto& backup : input.backups) {
        if (input.tenant && backup.tenant != *input.tenant) continue;
        out.push_back({{"tenant", backup.tenant.empty() ? "(platform)" : backup.tenant},
                       {"file", backup.path.filename().string()},
                       {"created", util::format_iso8601(backup.created)},
                       {"bytes", backup.container_bytes},
                       {"encrypted", true},
                       {"key_id", backup.key_id},
                       {"status", backup.status}});
    }
    return out;
}

json findings_in_scope(const ReportInput& input, const std::set<std::string>& others) {
    json out = json::array();
    for (const auto& finding : input.check.findings) {
        bool foreign = std::any_of(others.begin(), others.end(), [&](const std::string& tenant) {
            return mentions(finding.where, tenant) || mentions(finding.message, tenant) ||
                   mentions(finding.fix, tenant);
        });
        if (!foreign) out.push_back(finding.to_json());
    }
    return out;
}

ropa::Register register_in_scope(const ReportInput& input) {
    ropa::Register reg = input.reg;
    if (input.tenant)
        std::erase_if(reg.served, [&](const ropa::ServedController& served) { return served.tenant != *input.tenant; });
    return reg;
}

}  // namespace

namespace {

// Erasure requests in scope: a tenant report shows the tenant's own erasure and people erased
// within it or across every tenant (whose requests name no tenant), never another tenant's.
json erasure_section(const ReportInput& input) {
    json requests = json::array();
    std::size_t certified = 0, residue = 0, failed = 0;
    for (const auto& request : input.erasures) {
        if (input.tenant && !request.tenant.empty() && request.tenant != *input.tenant) continue;
        bool signed_certificate = request.status == "verified";
        certified += signed_certificate;
        residue += request.status == "residue";
        failed += request.status == "failed";
        requests.push_back({{"request", request.id},
                            {"created", request.created},
                            {"kind", request.kind},
                            {"tenant", request.tenant},
                            {"status", request.status},
                            {"records", request.records},
                            {"certificate", signed_certificate}});
    }
    std::string note =
        requests.empty()
            ? "No erasure request was carried out."
            : std::to_string(requests.size()) + " erasure request(s): " + std::to_string(certified) +
                  " verified with a signed certificate ('gdprctl certificate show --request ID'), " +
                  std::to_string(residue) + " with residue found by the rescan (no certificate), " +
                  std::to_string(failed) + " failed (their reports say what was done)" +
                  (requests.size() > certified + residue + failed ? ", the rest interrupted and to be resumed" : "") +
                  ".";
    return {{"certificates_available", certified > 0}, {"requests", requests}, {"note", note}};
}

bool outside_tenant(const journal::Entry& entry, const std::optional<std::string>& tenant) {
    return tenant && entry.selector.is_object() && entry.selector.contains("tenant") &&
           entry.selector["tenant"].is_string() && entry.selector["tenant"] != *tenant;
}

// The retention purges and the policy checks the journal recorded, newest first: what was
// deleted or anonymised when, and what each check found.
json operations_section(const ReportInput& input) {
    json purges = json::array(), checks = json::array();
    for (auto entry = input.journal_entries.rbegin(); entry != input.journal_entries.rend(); ++entry) {
        if (outside_tenant(*entry, input.tenant)) continue;
        if (entry->command == "retention apply") {
            std::uint64_t records = 0;
            std::set<std::string> rules;
            for (const auto& [source, done] : entry->counts.items()) {
                records += done.value("records", std::uint64_t{0});
                for (const auto& rule : done.value("rules", json::array())) rules.insert(rule.get<std::string>());
            }
            purges.push_back({{"time", entry->time},
                              {"records", records},
                              {"sources", entry->counts.size()},
                              {"rules", rules},
                              {"outcome", entry->outcome}});
        } else if (entry->command == "check" || entry->command == "register validate") {
            checks.push_back({{"time", entry->time},
                              {"command", entry->command},
                              {"live", entry->selector.value("live", false)},
                              {"errors", entry->counts.value("errors", 0)},
                              {"warnings", entry->counts.value("warnings", 0)},
                              {"notes", entry->counts.value("notes", 0)},
                              {"outcome", entry->outcome}});
        }
    }
    return {{"purges", purges}, {"checks", checks}};
}

}  // namespace

json build_report(const ReportInput& input) {
    auto tenants = known_tenants(input);
    std::set<std::string> others;
    if (input.tenant)
        for (const auto& tenant : tenants)
            if (tenant != *input.tenant) others.insert(tenant);
    json report = {{"platform", input.platform},
                   {"generated", util::format_iso8601(input.now)},
                   {"gdprctl_version", input.version},
                   {"scope", input.tenant ? json({{"tenant", *input.tenant}}) : json("platform")}};
    report["register"] = ropa::register_to_json(register_in_scope(input));
    report["inventory"] = inventory_rows(input);
    report["retention"] = retention_by_category(input);
    report["backups"] = backups_json(input);
    report["erasure"] = erasure_section(input);
    report["operations"] = operations_section(input);
    report["requests"] = requests_section(input);
    report["breaches"] = breaches_section(input, others);
    report["journal"] = {
        {"intact", input.journal.intact}, {"entries", input.journal.entries}, {"head", input.journal_head}};
    if (!input.journal.intact) {
        report["journal"]["first_broken"] = input.journal.first_broken.value_or(0);
        report["journal"]["problem"] = input.journal.problem;
    }
    report["findings"] = findings_in_scope(input, others);
    std::uint64_t total = 0;
    for (const auto& row : report["inventory"]) total += row["records"].get<std::uint64_t>();
    std::size_t errors = 0, warnings = 0;
    for (const auto& finding : report["findings"]) {
        errors += finding["severity"] == "error";
        warnings += finding["severity"] == "warning";
    }
    report["summary"] = {{"activities", input.reg.activities.size()},
                         {"records", total},
                         {"tenants", input.tenant ? 1 : tenants.size()},
                         {"backups", report["backups"].size()},
                         {"findings_error", errors},
                         {"findings_warning", warnings},
                         {"findings", report["findings"].size()},
                         {"journal_intact", input.journal.intact}};
    return report;
}

namespace {

std::string esc(const std::string& text) { return util::markup_escape(text); }
std::string esc(const json& value) { return esc(value.is_string() ? value.get<std::string>() : value.dump()); }

std::string number(std::uint64_t n) { return std::to_string(n); }

// The inline script. Its SHA-256 goes into the page's Content-Security-Policy, which lets this
// script and nothing else run.
const char* k_script =
    "document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener('click',function(){"
    "var tb=th.closest('table').tBodies[0];var rows=Array.prototype.slice.call(tb.rows);var "
    "num=th.dataset.type==='number';"
    "var dir=th.dataset.dir==='asc'?-1:1;th.dataset.dir=dir===1?'asc':'desc';rows.sort(function(a,b){"
    "var x=a.cells[i].dataset.value||a.cells[i].textContent,y=b.cells[i].dataset.value||b.cells[i].textContent;"
    "return "
    "num?dir*(Number(x)-Number(y)):dir*x.localeCompare(y);});rows.forEach(function(r){tb.appendChild(r);});});});";

std::string script_hash() {
    auto digest =
        crypto::sha256(reinterpret_cast<const unsigned char*>(k_script), std::char_traits<char>::length(k_script));
    std::string encoded(4 * ((digest.size() + 2) / 3) + 1, '\0');
    int size = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()), digest.data(),
                               static_cast<int>(digest.size()));
    encoded.resize(static_cast<std::size_t>(size));
    return "sha256-" + encoded;
}

const char* k_style =
    "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "h1{margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2.5rem}"
    "table{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.9rem}th,td{border:1px solid #ccc;padding:.3rem "
    ".4rem;"
    "text-align:left;vertical-align:top}th{background:#f4f4f4}table.sortable th{cursor:pointer}td.num{text-align:right}"
    "caption{font-weight:bold;text-align:left;padding:.3rem 0}.tiles{display:flex;flex-wrap:wrap;gap:1rem}"
    ".tile{border:1px solid #ccc;border-radius:.4rem;padding:.6rem 1rem;min-width:9rem}.tile "
    "b{display:block;font-size:1.6rem}"
    ".ok{color:#17612e}.bad{color:#a11}.sev-error{color:#a11;font-weight:bold}.sev-warning{color:#8a5a00}"
    "svg{max-width:100%;height:auto}svg "
    "text{font-size:11px;font-family:sans-serif}.bar{fill:#3b6ea5}.over{fill:#c0392b}"
    ".limit{stroke:#c0392b;stroke-width:2;stroke-dasharray:4 3}";

std::string tile(const std::string& label, const std::string& value, const std::string& key) {
    return "<div class=\"tile\" data-summary=\"" + key + "\"><b>" + esc(value) + "</b>" + esc(label) + "</div>";
}

std::string inventory_chart(const json& inventory) {
    std::map<std::string, std::uint64_t> per_category;
    for (const auto& row : inventory) per_category[row["category"]] += row["records"].get<std::uint64_t>();
    if (per_category.empty()) return "";
    std::uint64_t max = 1;
    for (const auto& [category, records] : per_category) max = std::max(max, records);
    const int bar_height = 22, label_width = 170, chart_width = 460;
    std::ostringstream svg;
    svg << "<svg class=\"chart\" id=\"chart-inventory\" role=\"img\" aria-label=\"Records per category\" viewBox=\"0 0 "
        << label_width + chart_width + 90 << " " << per_category.size() * bar_height + 10 << "\" width=\""
        << label_width + chart_width + 90 << "\">";
    int y = 5;
    for (const auto& [category, records] : per_category) {
        double width = std::max(1.0, static_cast<double>(records) * chart_width / static_cast<double>(max));
        svg << "<text x=\"0\" y=\"" << y + 15 << "\">" << esc(category) << "</text><rect class=\"bar\" data-category=\""
            << esc(category) << "\" data-records=\"" << records << "\" x=\"" << label_width << "\" y=\"" << y + 2
            << "\" width=\"" << width << "\" height=\"" << bar_height - 6 << "\"></rect><text x=\""
            << label_width + width + 5 << "\" y=\"" << y + 15 << "\">" << records << "</text>";
        y += bar_height;
    }
    svg << "</svg>";
    return svg.str();
}

std::string histogram_chart(const json& category) {
    const auto& bins = category["histogram"];
    std::uint64_t max = 1;
    for (const auto& bin : bins) max = std::max(max, bin["records"].get<std::uint64_t>());
    const double width = 600, height = 120, left = 40, bottom = 20;
    double bin_width = width / static_cast<double>(bins.size());
    std::int64_t bin_days = category["bin_days"];
    std::ostringstream svg;
    svg << "<svg class=\"chart histogram\" role=\"img\" data-category=\"" << esc(category["category"])
        << "\" aria-label=\"Record ages, " << esc(category["category"]) << "\" viewBox=\"0 0 " << left + width + 10
        << " " << height + bottom + 5 << "\" width=\"" << left + width + 10 << "\">";
    for (std::size_t i = 0; i < bins.size(); ++i) {
        auto records = bins[i]["records"].get<std::uint64_t>();
        double h = records ? std::max(1.0, static_cast<double>(records) * height / static_cast<double>(max)) : 0;
        bool over = !category["limit_days"].is_null() &&
                    static_cast<std::int64_t>(i) * bin_days >= category["limit_days"].get<std::int64_t>();
        svg << "<rect class=\"" << (over ? "over" : "bar") << "\" data-from-days=\"" << bins[i]["from_days"]
            << "\" data-records=\"" << records << "\" x=\"" << left + static_cast<double>(i) * bin_width + 1
            << "\" y=\"" << height - h << "\" width=\"" << bin_width - 2 << "\" height=\"" << h << "\"><title>"
            << bins[i]["from_days"] << (bins[i]["to_days"].is_null() ? "+" : "-" + bins[i]["to_days"].dump())
            << " days: " << records << " records</title></rect>";
        if (i % 2 == 0)
            svg << "<text x=\"" << left + static_cast<double>(i) * bin_width << "\" y=\"" << height + 14 << "\">"
                << bins[i]["from_days"] << "d</text>";
    }
    svg << "<text x=\"0\" y=\"12\">" << max << "</text>";
    if (!category["limit_days"].is_null()) {
        double x = left + static_cast<double>(category["limit_days"].get<std::int64_t>()) /
                              static_cast<double>(bin_days) * bin_width;
        svg << "<line class=\"limit\" data-limit-days=\"" << category["limit_days"] << "\" x1=\"" << x
            << "\" y1=\"0\" x2=\"" << x << "\" y2=\"" << height << "\"></line><text x=\"" << x + 3
            << "\" y=\"12\">limit " << category["limit_days"] << "d</text>";
    }
    svg << "</svg>";
    return svg.str();
}

void html_summary(std::ostringstream& out, const json& report) {
    const auto& s = report["summary"];
    out << "<section id=\"summary\"><h2>Summary</h2><div class=\"tiles\">"
        << tile("processing activities", number(s["activities"]), "activities")
        << tile("records held", number(s["records"]), "records") << tile("tenants", number(s["tenants"]), "tenants")
        << tile("backups", number(s["backups"]), "backups")
        << tile("findings (errors)", number(s["findings_error"]), "findings_error")
        << tile("findings (warnings)", number(s["findings_warning"]), "findings_warning")
        << tile("journal", s["journal_intact"].get<bool>() ? "intact" : "BROKEN", "journal") << "</div></section>";
}

void html_inventory(std::ostringstream& out, const json& report) {
    out << "<section id=\"inventory\"><h2>Personal data held, per category and tenant</h2>";
    if (report["inventory"].empty()) out << "<p>No personal data was found in the stores.</p>";
    out << inventory_chart(report["inventory"]);
    out << "<table class=\"sortable\" "
           "id=\"inventory-table\"><thead><tr><th>Category</th><th>Tenant</th><th>Dataset</th>"
           "<th data-type=\"number\">Records</th><th data-type=\"number\">Bytes</th><th>Oldest</th><th>Newest</th></tr>"
           "</thead><tbody>";
    for (const auto& row : report["inventory"]) {
        std::string tenant =
            row["tenant"].get<std::string>().empty() ? "(platform-wide)" : row["tenant"].get<std::string>();
        out << "<tr data-category=\"" << esc(row["category"]) << "\" data-tenant=\"" << esc(row["tenant"])
            << "\" data-dataset=\"" << esc(row["dataset"]) << "\" data-records=\"" << row["records"] << "\"><td>"
            << esc(row["category"]) << "</td><td>" << esc(tenant) << "</td><td>" << esc(row["dataset"])
            << "</td><td class=\"num\">" << row["records"] << "</td><td class=\"num\">" << row["bytes"] << "</td><td>"
            << (row["oldest"].is_null() ? "-" : esc(row["oldest"])) << "</td><td>"
            << (row["newest"].is_null() ? "-" : esc(row["newest"])) << "</td></tr>";
    }
    out << "</tbody></table></section>";
}

void html_retention(std::ostringstream& out, const json& report) {
    out << "<section id=\"retention\"><h2>Retention compliance per category</h2><p>The age of every record against the "
           "limit the retention rules set (dashed line). Records right of the line are overdue for deletion.</p>"
           "<table class=\"sortable\" id=\"retention-table\"><thead><tr><th>Category</th><th "
           "data-type=\"number\">Records</th>"
           "<th data-type=\"number\">Oldest (days)</th><th data-type=\"number\">Limit (days)</th>"
           "<th data-type=\"number\">Over the limit</th><th>Status</th></tr></thead><tbody>";
    for (const auto& c : report["retention"]) {
        std::string status = c["compliant"].is_null()
                                 ? "no deletion limit"
                                 : (c["compliant"].get<bool>() ? "within the limit" : "records past the limit");
        out << "<tr data-category=\"" << esc(c["category"]) << "\" data-records=\"" << c["records"] << "\"><td>"
            << esc(c["category"]) << "</td><td class=\"num\">" << c["records"] << "</td><td class=\"num\">"
            << (c["oldest_age_days"].is_null() ? "-" : c["oldest_age_days"].dump()) << "</td><td class=\"num\">"
            << (c["limit_days"].is_null() ? "-" : c["limit_days"].dump())
            << (c["datasets_with_limit"] != c["datasets"] && !c["limit_days"].is_null()
                    ? " (" + c["datasets_with_limit"].dump() + " of " + c["datasets"].dump() + " datasets)"
                    : "")
            << "</td><td class=\"num\">" << c["records_over_limit"] << "</td><td class=\""
            << (c["compliant"].is_null() ? "" : (c["compliant"].get<bool>() ? "ok" : "bad")) << "\">" << status
            << "</td></tr>";
    }
    out << "</tbody></table>";
    for (const auto& c : report["retention"])
        out << "<figure><figcaption>" << esc(c["category"]) << ": records by age (" << c["bin_days"]
            << "-day bins)</figcaption>" << histogram_chart(c) << "</figure>";
    out << "</section>";
}

void html_backups(std::ostringstream& out, const json& report) {
    out << "<section id=\"backups\"><h2>Backups</h2>";
    if (report["backups"].empty()) {
        out << "<p>No backup was found in the backup directory.</p></section>";
        return;
    }
    out << "<p>Every backup is an authenticated encrypted container (AES-256-GCM or ChaCha20-Poly1305) under its "
           "tenant's key; a shredded backup's key was destroyed.</p><table class=\"sortable\" "
           "id=\"backups-table\"><thead><tr>"
           "<th>Tenant</th><th>Created</th><th "
           "data-type=\"number\">Bytes</th><th>Encrypted</th><th>Key</th><th>Status</th>"
           "</tr></thead><tbody>";
    for (const auto& b : report["backups"])
        out << "<tr data-status=\"" << esc(b["status"]) << "\"><td>" << esc(b["tenant"]) << "</td><td>"
            << esc(b["created"]) << "</td><td class=\"num\">" << b["bytes"] << "</td><td>yes</td><td><code>"
            << esc(b["key_id"]) << "</code></td><td>" << esc(b["status"]) << "</td></tr>";
    out << "</tbody></table></section>";
}

void html_erasures(std::ostringstream& out, const json& report) {
    const auto& erasure = report["erasure"];
    out << "<section id=\"erasure\"><h2>Erasure requests and certificates</h2><p>" << esc(erasure["note"]) << "</p>";
    if (!erasure["requests"].empty()) {
        out << "<table class=\"sortable\" id=\"erasure-table\"><thead><tr><th>Request</th><th>Time</th>"
               "<th>Erased</th><th>Status</th><th data-type=\"number\">Records</th><th>Certificate</th>"
               "</tr></thead><tbody>";
        for (const auto& r : erasure["requests"])
            out << "<tr><td><code>" << esc(r["request"]) << "</code></td><td>" << esc(r["created"]) << "</td><td>"
                << (r["kind"] == "tenant" ? "tenant " + esc(r["tenant"]) : std::string("a person")) << "</td><td>"
                << esc(r["status"]) << "</td><td class=\"num\">" << r["records"] << "</td><td>"
                << (r["certificate"].get<bool>() ? "signed (Ed25519)" : "none") << "</td></tr>";
        out << "</tbody></table>";
    }
    out << "</section>";
}

void html_operations(std::ostringstream& out, const json& report) {
    const auto& operations = report["operations"];
    out << "<section id=\"operations\"><h2>Purges and checks</h2><p>From the journal, newest first: each retention "
           "purge and what it removed, each policy check and what it found.</p>";
    if (operations["purges"].empty()) {
        out << "<p>No retention purge was run.</p>";
    } else {
        out << "<table class=\"sortable\" id=\"purges-table\"><thead><tr><th>Purge</th><th "
               "data-type=\"number\">Records</th><th>Rules</th><th>Outcome</th></tr></thead><tbody>";
        for (const auto& p : operations["purges"]) {
            std::string rules;
            for (const auto& rule : p["rules"]) rules += (rules.empty() ? "" : ", ") + esc(rule);
            out << "<tr data-purge-records=\"" << p["records"] << "\"><td>" << esc(p["time"])
                << "</td><td class=\"num\">" << p["records"] << "</td><td>" << rules << "</td><td>" << esc(p["outcome"])
                << "</td></tr>";
        }
        out << "</tbody></table>";
    }
    if (operations["checks"].empty()) {
        out << "<p>No policy check was run.</p>";
    } else {
        out << "<table class=\"sortable\" id=\"checks-table\"><thead><tr><th>Check</th><th>Command</th><th>Stores "
               "read</th><th data-type=\"number\">Errors</th><th data-type=\"number\">Warnings</th><th>Outcome</th>"
               "</tr></thead><tbody>";
        for (const auto& c : operations["checks"])
            out << "<tr data-check-outcome=\"" << esc(c["outcome"]) << "\"><td>" << esc(c["time"]) << "</td><td>"
                << esc(c["command"]) << "</td><td>" << (c["live"].get<bool>() ? "yes" : "no")
                << "</td><td class=\"num\">" << c["errors"] << "</td><td class=\"num\">" << c["warnings"] << "</td><td>"
                << esc(c["outcome"] == "ok" ? std::string("clean") : std::string("findings")) << "</td></tr>";
        out << "</tbody></table>";
    }
    out << "</section>";
}

void html_findings(std::ostringstream& out, const json& report) {
    out << "<section id=\"findings\"><h2>Findings of the policy check</h2>";
    if (report["findings"].empty())
        out << "<p class=\"ok\">No finding: every policy holds.</p>";
    else {
        out << "<table class=\"sortable\" "
               "id=\"findings-table\"><thead><tr><th>Severity</th><th>Policy</th><th>Where</th>"
               "<th>What</th><th>Fix</th></tr></thead><tbody>";
        for (const auto& f : report["findings"])
            out << "<tr data-policy=\"" << esc(f["policy"]) << "\"><td class=\"sev-" << esc(f["severity"]) << "\">"
                << esc(f["severity"]) << "</td><td>" << esc(f["policy"]) << "</td><td>" << esc(f["where"])
                << "</td><td>" << esc(f["message"]) << "</td><td>" << esc(f["fix"]) << "</td></tr>";
        out << "</tbody></table>";
    }
    out << "</section>";
}

}  // namespace

std::string render_html(const json& report) {
    std::string scope =
        report["scope"].is_string() ? "the whole platform" : "tenant " + report["scope"]["tenant"].get<std::string>();
    auto reg = ropa::register_from_json(report["register"], "report", [&] {
        std::vector<std::string> categories;
        for (const auto& activity : report["register"]["activities"])
            for (const auto& category : activity["categories"]) categories.push_back(category);
        return categories;
    }());
    std::ostringstream out;
    out << "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
           "img-src data:; script-src '"
        << script_hash() << "'\"><meta name=\"viewport\" content=\"width=device-width\"><title>GDPR audit report - "
        << esc(report["platform"]) << "</title><style>" << k_style << "</style></head><body>"
        << "<header><h1>GDPR audit report: " << esc(report["platform"]) << "</h1><p>Scope: " << esc(scope)
        << ". Generated " << esc(report["generated"]) << " by gdprctl " << esc(report["gdprctl_version"])
        << ".</p></header>";
    html_summary(out, report);
    html_findings(out, report);
    html_inventory(out, report);
    html_retention(out, report);
    html_backups(out, report);
    html_erasures(out, report);
    html_requests(out, report);
    html_breaches(out, report);
    html_operations(out, report);
    const auto& j = report["journal"];
    out << "<section id=\"journal\"><h2>Journal integrity</h2><p class=\"" << (j["intact"].get<bool>() ? "ok" : "bad")
        << "\">" << (j["intact"].get<bool>() ? "Intact" : "BROKEN") << ": " << j["entries"]
        << " entries; the hash chain "
        << (j["intact"].get<bool>() ? "holds" : "breaks at entry " + j.value("first_broken", json(0)).dump())
        << ". Head: <code>" << esc(j["head"]) << "</code></p></section>";
    out << ropa::register_to_html_section(reg);
    out << "<script>" << k_script << "</script></body></html>\n";
    return out.str();
}

std::string render_markdown(const json& report) {
    std::ostringstream out;
    std::string scope =
        report["scope"].is_string() ? "the whole platform" : "tenant " + report["scope"]["tenant"].get<std::string>();
    out << "# GDPR audit report: " << report["platform"].get<std::string>() << "\n\nScope: " << scope << ". Generated "
        << report["generated"].get<std::string>() << " by gdprctl " << report["gdprctl_version"].get<std::string>()
        << ".\n\n";
    const auto& s = report["summary"];
    out << "## Summary\n\n| | |\n|---|---|\n| processing activities | " << s["activities"] << " |\n| records held | "
        << s["records"] << " |\n| tenants | " << s["tenants"] << " |\n| backups | " << s["backups"]
        << " |\n| findings (errors) | " << s["findings_error"] << " |\n| findings (warnings) | "
        << s["findings_warning"] << " |\n| journal | " << (s["journal_intact"].get<bool>() ? "intact" : "BROKEN")
        << " |\n\n";
    out << "## Personal data held\n\n| Category | Tenant | Dataset | Records | Oldest |\n|---|---|---|---:|---|\n";
    for (const auto& row : report["inventory"])
        out << "| " << row["category"].get<std::string>() << " | " << row["tenant"].get<std::string>() << " | "
            << row["dataset"].get<std::string>() << " | " << row["records"] << " | "
            << (row["oldest"].is_null() ? "-" : row["oldest"].get<std::string>()) << " |\n";
    out << "\n## Retention compliance\n\n| Category | Records | Oldest (days) | Limit (days) | Over the limit "
           "|\n|---|---:|---:|---:|---:|\n";
    for (const auto& c : report["retention"])
        out << "| " << c["category"].get<std::string>() << " | " << c["records"] << " | "
            << (c["oldest_age_days"].is_null() ? "-" : c["oldest_age_days"].dump()) << " | "
            << (c["limit_days"].is_null() ? "-" : c["limit_days"].dump()) << " | " << c["records_over_limit"] << " |\n";
    out << "\n## Backups\n\n";
    if (report["backups"].empty()) out << "No backup was found.\n";
    for (const auto& b : report["backups"])
        out << "- " << b["tenant"].get<std::string>() << " " << b["created"].get<std::string>() << " " << b["bytes"]
            << " bytes, encrypted, " << b["status"].get<std::string>() << "\n";
    out << "\n## Erasure requests and certificates\n\n" << report["erasure"]["note"].get<std::string>() << "\n";
    for (const auto& r : report["erasure"]["requests"])
        out << "- " << r["request"].get<std::string>() << " " << r["created"].get<std::string>() << " "
            << (r["kind"] == "tenant" ? "tenant " + r["tenant"].get<std::string>() : std::string("a person")) << ": "
            << r["status"].get<std::string>() << ", " << r["records"] << " records"
            << (r["certificate"].get<bool>() ? ", certificate signed" : "") << "\n";
    markdown_requests(out, report);
    markdown_breaches(out, report);
    out << "\n## Purges and checks\n\n";
    if (report["operations"]["purges"].empty()) out << "No retention purge was run.\n";
    for (const auto& p : report["operations"]["purges"])
        out << "- purge " << p["time"].get<std::string>() << ": " << p["records"] << " records, "
            << p["outcome"].get<std::string>() << "\n";
    if (report["operations"]["checks"].empty()) out << "No policy check was run.\n";
    for (const auto& c : report["operations"]["checks"])
        out << "- " << c["command"].get<std::string>() << " " << c["time"].get<std::string>()
            << (c["live"].get<bool>() ? " (stores read)" : "") << ": "
            << (c["outcome"] == "ok" ? std::string("clean")
                                     : std::to_string(c["errors"].get<int>()) + " error(s), " +
                                           std::to_string(c["warnings"].get<int>()) + " warning(s)")
            << "\n";
    out << "\n## Journal\n\n"
        << (report["journal"]["intact"].get<bool>() ? "Intact" : "BROKEN") << ", " << report["journal"]["entries"]
        << " entries, head `" << report["journal"]["head"].get<std::string>() << "`.\n";
    out << "\n## Findings\n\n";
    if (report["findings"].empty()) out << "No finding: every policy holds.\n";
    for (const auto& f : report["findings"])
        out << "- **" << f["severity"].get<std::string>() << "** `" << f["policy"].get<std::string>() << "` "
            << f["where"].get<std::string>() << ": " << f["message"].get<std::string>() << "\n";
    out << "\n";
    auto categories = std::vector<std::string>{};
    for (const auto& activity : report["register"]["activities"])
        for (const auto& category : activity["categories"]) categories.push_back(category);
    out << ropa::register_to_markdown(ropa::register_from_json(report["register"], "report", categories));
    return out.str();
}

}  // namespace gdprctl::audit
