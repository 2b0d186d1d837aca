#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config/workspace.hpp"

namespace gdprctl::policy {

enum class RetentionAction { remove, anonymise };

// A retention rule (man gdprctl-policy(5)): records of the matching datasets whose own
// timestamp is older than max_age are deleted, or have their personal fields anonymised.
struct RetentionRule {
    std::string id;
    std::string rationale;
    std::string article;
    std::vector<std::string> categories;  // datasets of these categories
    std::vector<std::string> datasets;    // and, when given, whose name matches one of these globs
    std::int64_t max_age_seconds = 0;
    RetentionAction action = RetentionAction::remove;
    std::string method;                                                // anonymise: ip-truncate, hmac, null
    std::vector<std::string> fields;                                   // anonymise: subject kinds ("ip") or field names
    std::vector<std::pair<std::string, std::int64_t>> tenant_max_age;  // per-tenant overrides, seconds
    std::string file;

    bool applies_to(const config::Dataset& dataset) const;
};

enum class Severity { note, warning, error };
const char* severity_name(Severity severity);
// Throws Error::usage for a name that is not note, warning or error.
Severity parse_severity(const std::string& name);

// A check (man gdprctl-policy(5), "Checks"): something that must hold of the config, the
// register or the stores. kind names the evaluation; the other fields are its parameters.
struct CheckRule {
    std::string id;
    std::string kind;
    std::string rationale;
    std::string article;
    Severity severity = Severity::error;
    std::vector<std::string> categories;
    std::vector<std::string> datasets;  // globs over dataset names
    std::vector<std::string> fields;    // identifier kinds or field names
    std::int64_t max_age_seconds = 0;
    std::int64_t warn_within_seconds = 0;  // request-deadlines: how near a due date warns
    std::vector<std::string> allow;        // regexes (endpoint URLs) or globs (regions)
    std::string live_field;                // transport-encrypted: the field of `datasets` holding URLs
    std::string file;
};

// The kinds of checks gdprctl knows how to evaluate.
const std::vector<std::string>& check_kinds();

struct PolicySet {
    std::vector<RetentionRule> retention;
    std::vector<CheckRule> checks;
};

// The policy pack shipped with gdprctl: <prefix>/share/gdprctl/policies next to the installed
// binary, else the source tree's policies/ (for a build tree).
std::filesystem::path shipped_policy_dir();

// Loads every *.json file of dirs (in order; a later id replaces nothing: duplicate ids are an
// error), then drops the ids listed in disabled. Throws Error::config naming file and JSON
// pointer (or line, for invalid JSON), and for a disabled id that no file defines.
PolicySet load_policies(const std::vector<std::filesystem::path>& dirs, const std::vector<std::string>& disabled);

}  // namespace gdprctl::policy
