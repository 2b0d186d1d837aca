#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/policy/policy.hpp"

namespace gdprctl::policy {

// Something a check found that a person must act on.
struct Finding {
    std::string rule;  // the policy id
    Severity severity = Severity::error;
    std::string file;     // the file it is in (config, register file); empty for the state database
    std::string pointer;  // JSON pointer into that file, or "" for the file as a whole
    std::string where;    // for people: "register activity viewer-statistics", "platform-db:viewers.email2"
    std::string message;  // what is wrong
    std::string fix;      // what to do

    nlohmann::json to_json() const;
};

// The policies a run evaluated, so that reports can list what passed as well as what failed.
struct RuleSummary {
    std::string id;
    std::string kind;
    std::string rationale;
    std::string article;
    Severity severity = Severity::error;
};

struct CheckResult {
    std::vector<RuleSummary> rules;
    std::vector<Finding> findings;
    bool live = false;

    // Findings at or above threshold.
    std::size_t count_at_least(Severity threshold) const;
};

// Output for people and for CI: text, JSON, SARIF 2.1.0 (code-scanning services) and JUnit XML
// (one test case per policy). base_dir makes file paths relative, as SARIF consumers expect.
std::string findings_text(const CheckResult& result);
nlohmann::json findings_json(const CheckResult& result);
std::string findings_sarif(const CheckResult& result, const std::string& tool_version, const std::string& base_dir);
std::string findings_junit(const CheckResult& result, const std::string& suite_name);

}  // namespace gdprctl::policy
