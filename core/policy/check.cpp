#include "core/policy/check.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "core/crypto/container.hpp"
#include "core/policy/deadlines.hpp"
#include "core/ropa/validate.hpp"
#include "core/util/regex.hpp"

namespace gdprctl::policy {

namespace {

constexpr std::int64_t k_day = 86400;

class Findings {
public:
    Findings(const CheckRule& rule, std::vector<Finding>& out) : m_rule(rule), m_out(out) {}
    void add(const std::string& file, const std::string& pointer, const std::string& where, const std::string& message,
             const std::string& fix) {
        m_out.push_back({m_rule.id, m_rule.severity, file, pointer, where, message, fix});
    }

private:
    const CheckRule& m_rule;
    std::vector<Finding>& m_out;
};

bool glob_matches(const std::vector<std::string>& globs, const std::string& name) {
    if (globs.empty()) return true;
    return std::any_of(globs.begin(), globs.end(),
                       [&](const std::string& glob) { return ::fnmatch(glob.c_str(), name.c_str(), 0) == 0; });
}

bool in_categories(const CheckRule& rule, const std::string& category) {
    return std::find(rule.categories.begin(), rule.categories.end(), category) != rule.categories.end();
}

std::string days_text(std::int64_t seconds) { return std::to_string(seconds / k_day) + " days"; }

// The longest a delete rule lets a dataset's records live, or nullopt when no rule deletes them.
std::optional<std::int64_t> longest_deletion(const PolicySet& policies, const config::Dataset& dataset) {
    std::optional<std::int64_t> shortest;
    for (const auto& rule : policies.retention) {
        if (rule.action != RetentionAction::remove || !rule.applies_to(dataset)) continue;
        std::int64_t age = rule.max_age_seconds;
        for (const auto& [tenant, tenant_age] : rule.tenant_max_age) age = std::max(age, tenant_age);
        if (!shortest || age < *shortest) shortest = age;
    }
    return shortest;
}

void check_retention_limit(const CheckInput& input, const CheckRule& rule, Findings& findings) {
    const std::string config = input.workspace.config_path.string();
    for (const auto& source : input.sources) {
        for (const auto& dataset : source.datasets) {
            if (!in_categories(rule, dataset.category) || !glob_matches(rule.datasets, dataset.name)) continue;
            auto kept = longest_deletion(input.policies, dataset);
            if (!kept)
                findings.add(config, dataset.pointer, dataset.name,
                             dataset.name + " (" + dataset.category +
                                 ") is deleted by no retention rule; it must go after " +
                                 days_text(rule.max_age_seconds),
                             "add a delete retention rule for " + dataset.category + " of at most " +
                                 days_text(rule.max_age_seconds));
            else if (*kept > rule.max_age_seconds)
                findings.add(
                    config, dataset.pointer, dataset.name,
                    dataset.name + " is kept " + days_text(*kept) + " (for some tenant at least), longer than the " +
                        days_text(rule.max_age_seconds) + " limit",
                    "shorten the retention rule (and its per-tenant overrides) to " + days_text(rule.max_age_seconds));
        }
    }
    if (in_categories(rule, "backups")) {
        config::Dataset backups;
        backups.name = "gdprctl:backups";
        backups.category = "backups";
        auto kept = longest_deletion(input.policies, backups);
        if (!kept || *kept > rule.max_age_seconds)
            findings.add(config, "", "backups",
                         "backups are " +
                             (kept ? "kept " + days_text(*kept) : std::string("never pruned by a retention rule")) +
                             "; the limit is " + days_text(rule.max_age_seconds),
                         "enable a delete retention rule for category backups (such as retention.backups-90d)");
    }
    if (!input.live) return;
    for (const auto& source : input.live->inventory.sources) {
        const auto* configured = input.workspace.find_source(source.name);
        for (const auto& row : source.inventory.rows) {
            if (!in_categories(rule, row.category) || !glob_matches(rule.datasets, row.dataset) || !row.oldest)
                continue;
            std::int64_t age = input.live->now - *row.oldest;
            if (age <= rule.max_age_seconds) continue;
            findings.add(config, configured ? configured->pointer : "",
                         row.dataset + (row.tenant.empty() ? "" : " (tenant " + row.tenant + ")"),
                         row.dataset + " still holds records " + days_text(age) + " old (oldest " +
                             util::format_iso8601(*row.oldest) + "), past the " + days_text(rule.max_age_seconds) +
                             " limit",
                         "run 'gdprctl retention apply' and schedule it (gdprctl schedule install)");
        }
    }
}

void check_backups_encrypted(const CheckInput& input, const CheckRule&, Findings& findings) {
    const std::string config = input.workspace.config_path.string();
    for (const auto& source : input.sources)
        for (const auto& dataset : source.datasets)
            if (dataset.category == "backups")
                findings.add(
                    config, dataset.pointer, dataset.name,
                    dataset.name +
                        " holds backups outside gdprctl's encrypted backups: they are readable by "
                        "whoever can read the files",
                    "make backups with 'gdprctl backup create' (encrypted per tenant) and remove the plain copies");
    if (!input.live) return;
    for (const auto& backup : input.live->backups)
        if (!backup.encrypted)
            findings.add(backup.path.string(), "", backup.path.filename().string(),
                         "backup file " + backup.path.string() + " is not an encrypted gdprctl container",
                         "remove it, or re-create the backup with 'gdprctl backup create'");
}

void check_anonymise_after(const CheckInput& input, const CheckRule& rule, Findings& findings) {
    const std::string config = input.workspace.config_path.string();
    for (const auto& source : input.sources) {
        for (const auto& dataset : source.datasets) {
            if (!in_categories(rule, dataset.category) || !glob_matches(rule.datasets, dataset.name)) continue;
            bool holds_field =
                std::any_of(dataset.subjects.begin(), dataset.subjects.end(), [&](const config::SubjectField& s) {
                    return std::find(rule.fields.begin(), rule.fields.end(), s.kind) != rule.fields.end();
                });
            if (!holds_field) continue;
            bool handled = std::any_of(
                input.policies.retention.begin(), input.policies.retention.end(), [&](const RetentionRule& r) {
                    if (!r.applies_to(dataset) || r.max_age_seconds > rule.max_age_seconds) return false;
                    if (r.action == RetentionAction::remove) return true;
                    return std::any_of(rule.fields.begin(), rule.fields.end(), [&](const std::string& field) {
                        return std::find(r.fields.begin(), r.fields.end(), field) != r.fields.end();
                    });
                });
            if (!handled)
                findings.add(config, dataset.pointer, dataset.name,
                             dataset.name + " keeps identifiers of kind " + rule.fields.front() +
                                 " with no rule anonymising or deleting them within " + days_text(rule.max_age_seconds),
                             "add an anonymise retention rule (method ip-truncate or hmac) of at most " +
                                 days_text(rule.max_age_seconds));
        }
    }
}

std::string scheme_of(const std::string& url) {
    auto colon = url.find("://");
    return colon == std::string::npos ? url : url.substr(0, colon);
}

bool url_allowed(const std::vector<util::Regex>& allowed, const std::string& url) {
    return std::any_of(allowed.begin(), allowed.end(), [&](const util::Regex& regex) { return regex.matches(url); });
}

void check_transport(const CheckInput& input, const CheckRule& rule, Findings& findings) {
    std::vector<util::Regex> allowed;
    for (const auto& pattern : rule.allow) allowed.emplace_back(pattern);
    const std::string config = input.workspace.config_path.string();
    const auto& settings = input.workspace.settings;
    if (!settings.declared)
        findings.add(config, "", "settings",
                     "the config declares no platform settings, so its ingest and egress endpoints cannot be checked",
                     "add \"settings\": {\"endpoints\": [...]} to the config (man gdprctl.json(5), \"settings\")");
    for (const auto& endpoint : settings.endpoints)
        if (!url_allowed(allowed, endpoint.url))
            findings.add(config, endpoint.pointer + "/url",
                         "endpoint " + (endpoint.name.empty() ? endpoint.url : endpoint.name),
                         (endpoint.direction.empty() ? "endpoint" : endpoint.direction + " endpoint") + " uses " +
                             scheme_of(endpoint.url) + ", which is not encrypted (or lacks a passphrase)",
                         "use rtmps://, https:// or srt:// with a passphrase");
    if (!input.live) return;
    auto values = input.live->values.find(rule.id);
    if (values == input.live->values.end()) return;
    std::set<std::string> reported;
    for (const auto& value : values->second) {
        if (url_allowed(allowed, value.value)) continue;
        // The URL may carry a stream key: report the scheme and where, never the value.
        std::string where = value.dataset + (value.tenant.empty() ? "" : " (tenant " + value.tenant + ")");
        if (!reported.insert(where + scheme_of(value.value)).second) continue;
        findings.add(config, "", where,
                     where + " has an endpoint using " + scheme_of(value.value) + ", which is not encrypted",
                     "switch that endpoint to rtmps://, https:// or srt:// with a passphrase");
    }
}

void check_recording_default(const CheckInput& input, const CheckRule&, Findings& findings) {
    const auto& settings = input.workspace.settings;
    const std::string config = input.workspace.config_path.string();
    if (settings.recording_default == "off") return;
    findings.add(config, settings.declared ? settings.pointer : "", "settings.recording_default",
                 settings.recording_default.empty()
                     ? "the config does not say whether recording is off by default"
                     : "recording is on by default: streams are recorded unless someone turns it off",
                 "set \"settings\": {\"recording_default\": \"off\"} and configure the platform so");
}

void check_storage_region(const CheckInput& input, const CheckRule& rule, Findings& findings) {
    const auto& settings = input.workspace.settings;
    const std::string config = input.workspace.config_path.string();
    if (settings.storage_regions.empty())
        findings.add(config, settings.declared ? settings.pointer : "", "settings.storage_regions",
                     "the config does not say in which regions data is stored",
                     "list them in \"settings\": {\"storage_regions\": [...]}");
    for (std::size_t i = 0; i < settings.storage_regions.size(); ++i)
        if (!glob_matches(rule.allow, settings.storage_regions[i]))
            findings.add(config, settings.pointer + "/storage_regions/" + std::to_string(i),
                         "storage region " + settings.storage_regions[i],
                         "storage region " + settings.storage_regions[i] + " is outside the allowed regions",
                         "store data only in an allowed region, or record the transfer in the register and allow it");
}

bool is_container(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    char magic[sizeof crypto::k_magic] = {};
    in.read(magic, sizeof magic);
    return in.gcount() == static_cast<std::streamsize>(sizeof magic) &&
           std::equal(std::begin(magic), std::end(magic), reinterpret_cast<const char*>(crypto::k_magic));
}

std::vector<BackupFileFact> backup_files(const std::filesystem::path& dir) {
    std::vector<BackupFileFact> files;
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) return files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
        if (!entry.is_regular_file() || entry.path().extension() == ".json") continue;
        // Temporary files of a backup being written are not backups yet.
        if (entry.path().filename().string().rfind(".tmp", 0) == 0) continue;
        files.push_back({entry.path(), is_container(entry.path())});
    }
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    return files;
}

// Collects the values of one field of the datasets a live check names.
class FieldValues : public connectors::RecordSink {
public:
    explicit FieldValues(std::string field) : m_field(std::move(field)) {}
    void record(const config::Dataset& dataset, const std::string& tenant, const nlohmann::json& record) override {
        auto it = record.find(m_field);
        if (it != record.end() && it->is_string()) values.push_back({dataset.name, tenant, it->get<std::string>()});
    }
    void blob(const config::Dataset&, const std::string&, const std::filesystem::path&, const std::string&) override {}
    void streamed_blob(const config::Dataset&, const std::string&, const connectors::StreamedBlob&) override {}
    std::vector<LiveValue> values;

private:
    std::string m_field;
};

}  // namespace

std::vector<SourceDatasets> data_map_of(const scan::Connectors& connectors) {
    std::vector<SourceDatasets> out;
    for (const auto& connector : connectors)
        out.push_back(
            {connector->source().name, connector->source().kind, connector->source().pointer, connector->datasets()});
    return out;
}

LiveFacts gather_live_facts(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                            const std::vector<CheckRule>& rules, util::UnixTime now) {
    LiveFacts facts;
    facts.now = now;
    facts.inventory = scan::run_scan(workspace, open_sources, {});
    facts.backups = backup_files(workspace.backup_dir);
    for (const auto& rule : rules) {
        if (rule.live_field.empty()) continue;
        auto connectors = open_sources(workspace);
        for (auto& connector : connectors) {
            connectors::Selector selector;
            for (const auto& dataset : connector->datasets())
                if (glob_matches(rule.datasets, dataset.name)) selector.datasets.push_back(dataset.name);
            if (selector.datasets.empty()) continue;
            FieldValues sink(rule.live_field);
            connector->collect(selector, sink);
            auto& values = facts.values[rule.id];
            values.insert(values.end(), sink.values.begin(), sink.values.end());
        }
    }
    return facts;
}

Accountability read_accountability(const config::Workspace& workspace) {
    Accountability facts;
    if (!std::filesystem::exists(workspace.state_dir / "state.db")) return facts;
    state::StateDb state(workspace.state_dir);
    facts.requests = requests::RequestStore(state, nullptr).all();
    facts.breaches = breaches::BreachStore(state).all();
    return facts;
}

CheckResult evaluate(const CheckInput& input, const std::vector<CheckRule>& rules) {
    CheckResult result;
    result.live = input.live != nullptr;
    for (const auto& rule : rules) {
        result.rules.push_back({rule.id, rule.kind, rule.rationale, rule.article, rule.severity});
        Findings findings(rule, result.findings);
        if (ropa::is_register_kind(rule.kind))
            ropa::check_register(input, rule, result.findings);
        else if (rule.kind == "retention-limit")
            check_retention_limit(input, rule, findings);
        else if (rule.kind == "backups-encrypted")
            check_backups_encrypted(input, rule, findings);
        else if (rule.kind == "anonymise-after")
            check_anonymise_after(input, rule, findings);
        else if (rule.kind == "transport-encrypted")
            check_transport(input, rule, findings);
        else if (rule.kind == "recording-off-by-default")
            check_recording_default(input, rule, findings);
        else if (rule.kind == "storage-region")
            check_storage_region(input, rule, findings);
        else if (rule.kind == "request-deadlines")
            check_request_deadlines(input, rule, result.findings);
        else if (rule.kind == "breach-notification")
            check_breach_notification(input, rule, result.findings);
    }
    return result;
}

}  // namespace gdprctl::policy
