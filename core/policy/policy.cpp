#include "core/policy/policy.hpp"

#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "core/config/reader.hpp"
#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "core/util/regex.hpp"

namespace gdprctl::policy {

namespace {

constexpr std::int64_t k_day = 86400;

std::int64_t read_days(config::JsonReader& reader, const std::string& key) {
    auto days = reader.optional_integer(key);
    if (!days) reader.fail(key, "missing required key \"" + key + "\"");
    if (*days < 1 || *days > 36500) reader.fail(key, "must be a number of days from 1 to 36500");
    return *days * k_day;
}

RetentionRule read_retention(config::JsonReader& reader, const std::string& id, const std::string& file) {
    RetentionRule rule;
    rule.id = id;
    rule.file = file;
    rule.rationale = reader.required_string("rationale");
    rule.article = reader.required_string("article");
    rule.categories = reader.string_list("categories");
    if (rule.categories.empty()) reader.fail("categories", "list at least one category");
    rule.datasets = reader.string_list("datasets");
    rule.max_age_seconds = read_days(reader, "max_age_days");
    auto action = reader.required_string("action");
    if (action == "delete") {
        rule.action = RetentionAction::remove;
    } else if (action == "anonymise") {
        rule.action = RetentionAction::anonymise;
        rule.method = reader.required_string("method");
        if (rule.method != "ip-truncate" && rule.method != "hmac" && rule.method != "null")
            reader.fail("method", "unknown method \"" + rule.method + "\"", "use ip-truncate, hmac or null");
        rule.fields = reader.string_list("fields");
        if (rule.fields.empty())
            reader.fail("fields", "list the fields (or identifier kinds such as \"ip\") to anonymise");
    } else {
        reader.fail("action", "unknown action \"" + action + "\"", "use delete or anonymise");
    }
    if (auto tenants = reader.optional_object("tenants")) {
        auto raw = reader.optional_value("tenants");
        for (const auto& [tenant, value] : raw->items()) {
            auto override_reader = tenants->optional_object(tenant);
            rule.tenant_max_age.emplace_back(tenant, read_days(*override_reader, "max_age_days"));
            override_reader->finish();
        }
        tenants->finish();
    }
    return rule;
}

CheckRule read_check(config::JsonReader& reader, const std::string& id, const std::string& kind,
                     const std::string& file) {
    CheckRule rule;
    rule.id = id;
    rule.kind = kind;
    rule.file = file;
    rule.rationale = reader.required_string("rationale");
    rule.article = reader.required_string("article");
    if (auto severity = reader.optional_string("severity")) {
        if (*severity != "note" && *severity != "warning" && *severity != "error")
            reader.fail("severity", "unknown severity \"" + *severity + "\"", "use note, warning or error");
        rule.severity = parse_severity(*severity);
    }
    rule.categories = reader.string_list("categories");
    rule.datasets = reader.string_list("datasets");
    rule.fields = reader.string_list("fields");
    rule.allow = reader.string_list("allow");
    rule.live_field = reader.optional_string("live_field").value_or("");
    if (reader.has("max_age_days")) rule.max_age_seconds = read_days(reader, "max_age_days");
    if (reader.has("warn_within_days")) rule.warn_within_seconds = read_days(reader, "warn_within_days");
    auto require = [&](bool present, const std::string& key, const std::string& what) {
        if (!present) reader.fail(key, "a " + kind + " check needs \"" + key + "\"", what);
    };
    if (kind == "retention-limit" || kind == "anonymise-after") {
        require(!rule.categories.empty(), "categories", "list the categories it limits");
        require(rule.max_age_seconds > 0, "max_age_days", "say how many days at most");
    }
    if (kind == "anonymise-after") require(!rule.fields.empty(), "fields", "list the identifier kinds, such as \"ip\"");
    if (kind == "transport-encrypted" || kind == "storage-region")
        require(!rule.allow.empty(), "allow", "list what is allowed");
    if (kind == "transport-encrypted") {
        for (std::size_t i = 0; i < rule.allow.size(); ++i) {
            try {
                util::Regex compiled(rule.allow[i]);
            } catch (const std::invalid_argument& e) {
                reader.fail_path("allow/" + std::to_string(i),
                                 std::string("not a valid regular expression: ") + e.what());
            }
        }
        if (!rule.live_field.empty()) require(!rule.datasets.empty(), "datasets", "name the datasets holding URLs");
    }
    return rule;
}

void read_policy_file(const std::filesystem::path& path, PolicySet& set, std::set<std::string>& ids) {
    std::string file = path.filename().string();
    auto json = config::parse_json_text(util::read_file(path), file);
    auto read_one = [&](const nlohmann::json& object, const std::string& pointer) {
        config::JsonReader reader(object, pointer, file);
        auto id = reader.required_string("id");
        if (!ids.insert(id).second)
            reader.fail("id", "duplicate policy id \"" + id + "\"", "give every policy its own id");
        auto kind = reader.required_string("kind");
        const auto& checks = check_kinds();
        if (kind == "retention") {
            set.retention.push_back(read_retention(reader, id, file));
        } else if (std::find(checks.begin(), checks.end(), kind) != checks.end()) {
            set.checks.push_back(read_check(reader, id, kind, file));
        } else {
            std::vector<std::string> kinds = checks;
            kinds.insert(kinds.begin(), "retention");
            auto near = config::closest_match(kind, kinds);
            std::string all;
            for (const auto& k : kinds) all += (all.empty() ? "" : ", ") + k;
            reader.fail("kind", "unknown policy kind \"" + kind + "\"",
                        near ? "did you mean \"" + *near + "\"?" : "use one of: " + all);
        }
        reader.finish();
    };
    if (json.is_array()) {
        for (std::size_t i = 0; i < json.size(); ++i) read_one(json[i], "/" + std::to_string(i));
    } else {
        read_one(json, "");
    }
}

}  // namespace

const char* severity_name(Severity severity) {
    switch (severity) {
        case Severity::note:
            return "note";
        case Severity::warning:
            return "warning";
        case Severity::error:
            return "error";
    }
    return "error";
}

Severity parse_severity(const std::string& name) {
    if (name == "note") return Severity::note;
    if (name == "warning") return Severity::warning;
    if (name == "error") return Severity::error;
    throw Error::usage("unknown severity \"" + name + "\"", "use note, warning or error");
}

const std::vector<std::string>& check_kinds() {
    static const std::vector<std::string> k_kinds = {
        "register-complete",        "register-legal-basis", "register-transfers", "register-recipients",
        "register-coverage",        "register-drift",       "register-retention", "register-controllers",
        "retention-limit",          "backups-encrypted",    "anonymise-after",    "transport-encrypted",
        "recording-off-by-default", "storage-region",       "request-deadlines",  "breach-notification"};
    return k_kinds;
}

bool RetentionRule::applies_to(const config::Dataset& dataset) const {
    if (std::find(categories.begin(), categories.end(), dataset.category) == categories.end()) return false;
    if (datasets.empty()) return true;
    for (const auto& pattern : datasets)
        if (::fnmatch(pattern.c_str(), dataset.name.c_str(), 0) == 0) return true;
    return false;
}

std::filesystem::path shipped_policy_dir() {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        auto installed = exe.parent_path().parent_path() / "share" / "gdprctl" / "policies";
        if (std::filesystem::is_directory(installed, ec)) return installed;
    }
    return GDPRCTL_SOURCE_POLICY_DIR;
}

PolicySet load_policies(const std::vector<std::filesystem::path>& dirs, const std::vector<std::string>& disabled) {
    PolicySet set;
    std::set<std::string> ids;
    for (const auto& dir : dirs) {
        std::error_code ec;
        if (!std::filesystem::is_directory(dir, ec))
            throw Error::config("policy directory " + dir.string() + " does not exist", "check --policies");
        std::vector<std::filesystem::path> files;
        for (const auto& entry : std::filesystem::directory_iterator(dir))
            if (entry.path().extension() == ".json") files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        for (const auto& file : files) read_policy_file(file, set, ids);
    }
    for (const auto& id : disabled) {
        if (!ids.count(id)) {
            std::vector<std::string> known(ids.begin(), ids.end());
            auto near = config::closest_match(id, known);
            throw Error::config(
                "cannot disable unknown policy id \"" + id + "\"",
                near ? "did you mean \"" + *near + "\"?" : "list the policies with 'gdprctl check --list-policies'");
        }
    }
    auto is_disabled = [&](const std::string& id) {
        return std::find(disabled.begin(), disabled.end(), id) != disabled.end();
    };
    std::erase_if(set.retention, [&](const RetentionRule& rule) { return is_disabled(rule.id); });
    std::erase_if(set.checks, [&](const CheckRule& rule) { return is_disabled(rule.id); });
    return set;
}

}  // namespace gdprctl::policy
