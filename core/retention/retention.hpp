#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "connectors/connector.hpp"
#include "core/config/workspace.hpp"
#include "core/policy/policy.hpp"
#include "core/scan/scan.hpp"

namespace gdprctl::retention {

// One rule's plan for one source, for one cut-off (a tenant override has its own).
struct RulePlan {
    std::string rule;
    std::string tenant_scope;  // "" for every tenant not overridden, else the overridden tenant
    util::UnixTime cutoff = 0;
    connectors::Plan plan;
};

struct RetentionPlan {
    util::UnixTime now = 0;
    std::vector<RulePlan> rules;

    std::uint64_t records() const;
    // "rule on source: why" for every rule plan a key onto unexpired rows blocks: apply leaves
    // those alone and carries out the rest.
    std::vector<std::string> blocked() const;
    nlohmann::json to_json() const;
    static RetentionPlan from_json(const nlohmann::json& json);
    std::string to_text() const;
};

// Plans every retention rule against every source it applies to, at `now`. Changes nothing.
RetentionPlan make_plan(const config::Workspace& workspace, scan::Connectors& connectors,
                        const policy::PolicySet& policies, util::UnixTime now);

enum class DryRun { no, yes };
enum class Force { no, yes };
enum class WaitForLock { no, yes };

struct ApplyOptions {
    std::optional<util::UnixTime> now;          // default: the clock
    std::optional<std::filesystem::path> plan;  // apply this reviewed plan, exactly
    double max_fraction = 0.5;
    DryRun dry_run = DryRun::no;
    Force force = Force::no;
    WaitForLock wait = WaitForLock::no;
};

struct SourceResult {
    std::string source;
    std::string rule;
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;
    std::vector<std::string> notes;
};

struct ApplyResult {
    RetentionPlan plan;
    bool resumed = false;
    bool dry_run = false;
    std::vector<SourceResult> sources;
    // Rule plans left alone because a key would take rows no rule expires (connectors::PlanItem::
    // blocked): "rule on source: why". The rest of the run goes on; the CLI exits 1.
    std::vector<std::string> blocked;

    std::uint64_t records() const;
    nlohmann::json to_json() const;
    std::string to_text() const;
};

// Carries out retention: one run at a time per workspace (a lock in the state directory);
// refuses a clock earlier than the last run or far behind the newest record, and a plan that
// would remove more than max_fraction of a source, unless forced; records the plan in the
// state database before changing anything, so that a run killed at any point is resumed by
// the next invocation with the same plan and cut-offs; journals the outcome.
ApplyResult apply(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                  const policy::PolicySet& policies, const ApplyOptions& options);

// Plans and journals a plan (nothing else is changed).
RetentionPlan plan(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                   const policy::PolicySet& policies, util::UnixTime now);

// Parses --now: ISO-8601 or unix seconds. Throws Error::usage.
util::UnixTime parse_now(const std::string& text);

}  // namespace gdprctl::retention
