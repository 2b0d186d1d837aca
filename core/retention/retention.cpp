#include "core/retention/retention.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "core/error.hpp"
#include "core/journal/journal.hpp"
#include "core/state/state_db.hpp"
#include "core/state/steps.hpp"
#include "core/util/fs.hpp"
#include "core/util/hex.hpp"

namespace gdprctl::retention {

namespace {

constexpr util::UnixTime k_clock_tolerance = 86400;

// The workspace's secret for hmac anonymisation, created (0600) on first use.
std::string hmac_key(const config::Workspace& workspace) {
    auto path = workspace.state_dir / "hmac.key";
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        unsigned char bytes[32];
        if (RAND_priv_bytes(bytes, sizeof bytes) != 1) throw Error::runtime("OpenSSL could not generate a key");
        auto hex = util::to_hex(bytes, sizeof bytes);
        util::ensure_private_directory(workspace.state_dir);
        util::write_file_atomically(path, hex, 0600);
    }
    return util::read_file(path);
}

// Plans and plan files never hold the key: it is attached just before a connector uses it.
connectors::Action with_key(connectors::Action action, const config::Workspace& workspace) {
    if (action.method == "hmac") action.hmac_key = hmac_key(workspace);
    return action;
}

connectors::Action action_of(const policy::RetentionRule& rule) {
    connectors::Action action;
    action.kind = rule.action == policy::RetentionAction::remove ? connectors::Action::Kind::remove
                                                                 : connectors::Action::Kind::anonymise;
    action.method = rule.method;
    action.fields = rule.fields;
    return action;
}

connectors::Connector& connector_named(scan::Connectors& connectors, const std::string& name) {
    for (auto& connector : connectors)
        if (connector->source().name == name) return *connector;
    throw Error::findings("the plan names source \"" + name + "\", which the config no longer has", "make a new plan");
}

std::string day(util::UnixTime t) { return util::format_iso8601(t); }

void check_clock(state::StateDb& state, const RetentionPlan& plan, Force force) {
    if (force == Force::yes) return;
    SQLite::Statement last(state.db(),
                           "SELECT plan FROM runs WHERE status = 'done' AND command = 'retention' "
                           "ORDER BY id DESC LIMIT 1");
    if (last.executeStep()) {
        auto previous = nlohmann::json::parse(last.getColumn(0).getString()).at("now").get<util::UnixTime>();
        if (plan.now < previous)
            throw Error::runtime("the clock (" + day(plan.now) + ") is earlier than the last retention run (" +
                                     day(previous) + "); nothing was changed",
                                 "check the system clock; --now and --force override");
    }
    for (const auto& rule : plan.rules)
        if (rule.plan.newest && *rule.plan.newest > plan.now + k_clock_tolerance)
            throw Error::runtime("source \"" + rule.plan.source + "\" holds records from " + day(*rule.plan.newest) +
                                     ", more than a day after the clock (" + day(plan.now) + "); nothing was changed",
                                 "check the system clock; --now and --force override");
}

void check_fraction(const RetentionPlan& plan, double max_fraction, Force force) {
    if (force == Force::yes) return;
    for (const auto& rule : plan.rules) {
        if (!rule.plan.source_records) continue;
        double fraction = static_cast<double>(rule.plan.records()) / static_cast<double>(rule.plan.source_records);
        if (fraction > max_fraction) {
            std::ostringstream text;
            text.precision(0);
            text << std::fixed << "rule " << rule.rule << " would change " << rule.plan.records() << " of "
                 << rule.plan.source_records << " records (" << fraction * 100 << " %) of source \"" << rule.plan.source
                 << "\", more than --max-fraction " << max_fraction * 100 << " %; nothing was changed";
            throw Error::findings(text.str(),
                                  "review 'gdprctl retention plan', then pass --force or a larger --max-fraction");
        }
    }
}

// Replans with the reviewed plan's rules and cut-offs; refuses when the stores moved on.
void check_plan_still_matches(const RetentionPlan& reviewed, const RetentionPlan& fresh) {
    auto mismatch = [](const std::string& what) {
        throw Error::findings("the plan no longer matches the stores: " + what + "; nothing was changed",
                              "make and review a new plan with 'gdprctl retention plan --out FILE'");
    };
    if (reviewed.rules.size() != fresh.rules.size()) mismatch("the rules that apply changed");
    for (std::size_t i = 0; i < reviewed.rules.size(); ++i) {
        const auto& a = reviewed.rules[i].plan;
        const auto& b = fresh.rules[i].plan;
        if (a.source != b.source || a.items.size() != b.items.size())
            mismatch("source \"" + a.source + "\" has different work to do");
        for (std::size_t k = 0; k < a.items.size(); ++k)
            if (a.items[k].records != b.items[k].records || a.items[k].snapshot != b.items[k].snapshot)
                mismatch("source \"" + a.source + "\": " + a.items[k].dataset + " changed");
    }
}

RetentionPlan replan(const config::Workspace& workspace, scan::Connectors& connectors, const RetentionPlan& reviewed) {
    RetentionPlan fresh;
    fresh.now = reviewed.now;
    for (const auto& rule : reviewed.rules) {
        auto& connector = connector_named(connectors, rule.plan.source);
        fresh.rules.push_back({rule.rule, rule.tenant_scope, rule.cutoff,
                               connector.plan(rule.plan.selector, with_key(rule.plan.action, workspace))});
    }
    return fresh;
}

std::optional<std::pair<std::int64_t, RetentionPlan>> unfinished_run(state::StateDb& state) {
    SQLite::Statement query(state.db(),
                            "SELECT id, plan FROM runs WHERE status = 'running' AND command = 'retention' "
                            "ORDER BY id DESC LIMIT 1");
    if (!query.executeStep()) return std::nullopt;
    return std::make_pair(query.getColumn(0).getInt64(),
                          RetentionPlan::from_json(nlohmann::json::parse(query.getColumn(1).getString())));
}

std::int64_t start_run(state::StateDb& state, const RetentionPlan& plan) {
    SQLite::Statement insert(state.db(),
                             "INSERT INTO runs (command, started, plan, status) VALUES ('retention', ?, ?, 'running')");
    insert.bind(1, util::format_iso8601(util::now()));
    insert.bind(2, plan.to_json().dump());
    insert.exec();
    return state.db().getLastInsertRowid();
}

void finish_run(state::StateDb& state, std::int64_t run) {
    SQLite::Statement update(state.db(), "UPDATE runs SET status = 'done', finished = ? WHERE id = ?");
    update.bind(1, util::format_iso8601(util::now()));
    update.bind(2, run);
    update.exec();
}

nlohmann::json journal_counts(const ApplyResult& result) {
    nlohmann::json counts = nlohmann::json::object();
    for (const auto& source : result.sources) {
        if (!counts.contains(source.source))
            counts[source.source] = {{"records", 0}, {"rules", nlohmann::json::array()}};
        auto& entry = counts[source.source];
        entry["records"] = entry["records"].get<std::uint64_t>() + source.records;
        entry["rules"].push_back(source.rule);
    }
    return counts;
}

}  // namespace

util::UnixTime parse_now(const std::string& text) {
    if (auto iso = util::parse_iso8601(text)) return *iso;
    if (auto unix = util::parse_unix(text, false)) return *unix;
    throw Error::usage("--now \"" + text + "\" is not a time", "write ISO-8601 (2026-11-23T12:00:00Z) or unix seconds");
}

std::uint64_t RetentionPlan::records() const {
    std::uint64_t total = 0;
    for (const auto& rule : rules) total += rule.plan.records();
    return total;
}

nlohmann::json RetentionPlan::to_json() const {
    nlohmann::json out = {{"now", now}, {"now_iso", util::format_iso8601(now)}, {"rules", nlohmann::json::array()}};
    for (const auto& rule : rules) {
        auto entry = rule.plan.to_json();
        entry.update({{"rule", rule.rule},
                      {"tenant_scope", rule.tenant_scope},
                      {"cutoff", rule.cutoff},
                      {"cutoff_iso", util::format_iso8601(rule.cutoff)}});
        out["rules"].push_back(std::move(entry));
    }
    return out;
}

RetentionPlan RetentionPlan::from_json(const nlohmann::json& json) {
    try {
        RetentionPlan plan;
        plan.now = json.at("now").get<util::UnixTime>();
        for (const auto& entry : json.at("rules")) {
            RulePlan rule;
            rule.rule = entry.at("rule").get<std::string>();
            rule.tenant_scope = entry.at("tenant_scope").get<std::string>();
            rule.cutoff = entry.at("cutoff").get<util::UnixTime>();
            rule.plan = connectors::Plan::from_json(entry);
            plan.rules.push_back(std::move(rule));
        }
        return plan;
    } catch (const nlohmann::json::exception& e) {
        throw Error::usage(std::string("not a gdprctl retention plan: ") + e.what(),
                           "pass a file written by 'gdprctl retention plan --out FILE'");
    }
}

std::vector<std::string> RetentionPlan::blocked() const {
    std::vector<std::string> reasons;
    for (const auto& rule : rules)
        for (const auto& why : rule.plan.blocked())
            reasons.push_back(rule.rule + " on " + rule.plan.source + ": " + why);
    return reasons;
}

std::string RetentionPlan::to_text() const {
    std::ostringstream out;
    out << "Retention plan at " << util::format_iso8601(now) << ": " << records() << " records to change\n";
    for (const auto& rule : rules) {
        if (rule.plan.items.empty()) continue;
        out << "\n"
            << rule.rule << (rule.tenant_scope.empty() ? "" : " (tenant " + rule.tenant_scope + ")") << " on "
            << rule.plan.source << ": cut-off " << util::format_iso8601(rule.cutoff) << ", " << rule.plan.records()
            << " of " << rule.plan.source_records << " records\n";
        // Log sets plan one item per file: people read them grouped.
        std::vector<std::pair<std::string, connectors::PlanItem>> groups;
        std::vector<std::size_t> files;
        for (const auto& item : rule.plan.items) {
            auto key = item.dataset + "\t" + item.what;
            auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
            if (it == groups.end()) {
                groups.emplace_back(key, item);
                files.push_back(1);
                continue;
            }
            auto& group = it->second;
            ++files[static_cast<std::size_t>(it - groups.begin())];
            group.records += item.records;
            group.bytes += item.bytes;
            if (item.oldest && (!group.oldest || *item.oldest < *group.oldest)) group.oldest = item.oldest;
        }
        for (std::size_t g = 0; g < groups.size(); ++g) {
            const auto& item = groups[g].second;
            out << "  " << item.what << (files[g] > 1 ? " (" + std::to_string(files[g]) + " files)" : "") << "  "
                << item.dataset << "  " << item.records << " records, " << item.bytes << " bytes";
            if (item.oldest) out << ", oldest " << util::format_iso8601(*item.oldest);
            out << "\n";
            if (!item.note.empty()) out << "    note: " << item.note << "\n";
            if (!item.blocked.empty()) out << "    BLOCKED (left alone): " << item.blocked << "\n";
        }
    }
    if (records() == 0) out << "Nothing to do: every record is within its retention period.\n";
    return out.str();
}

RetentionPlan make_plan(const config::Workspace& workspace, scan::Connectors& connectors,
                        const policy::PolicySet& policies, util::UnixTime now) {
    RetentionPlan plan;
    plan.now = now;
    for (const auto& rule : policies.retention) {
        auto action = with_key(action_of(rule), workspace);
        for (auto& connector : connectors) {
            connectors::Selector base;
            for (const auto& dataset : connector->datasets())
                if (rule.applies_to(dataset)) base.datasets.push_back(dataset.name);
            if (base.datasets.empty()) continue;
            // The rule's own limit for every tenant without an override, then each override.
            auto selector = base;
            selector.older_than = now - rule.max_age_seconds;
            for (const auto& [tenant, age] : rule.tenant_max_age) selector.exclude_tenants.push_back(tenant);
            plan.rules.push_back({rule.id, "", *selector.older_than, connector->plan(selector, action)});
            for (const auto& [tenant, age] : rule.tenant_max_age) {
                auto scoped = base;
                scoped.tenant = tenant;
                scoped.older_than = now - age;
                plan.rules.push_back({rule.id, tenant, *scoped.older_than, connector->plan(scoped, action)});
            }
        }
    }
    return plan;
}

RetentionPlan plan(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                   const policy::PolicySet& policies, util::UnixTime now) {
    state::StateDb state(workspace.state_dir);
    journal::Journal journal(state);
    try {
        auto connectors = open_sources(workspace);
        auto result = make_plan(workspace, connectors, policies, now);
        journal.append("retention plan", {{"now", util::format_iso8601(now)}}, workspace.source_names(),
                       {{"records", result.records()}}, "ok");
        return result;
    } catch (const Error& e) {
        journal.append("retention plan", {{"now", util::format_iso8601(now)}}, workspace.source_names(),
                       nlohmann::json::object(), std::string("error: ") + e.what());
        throw;
    }
}

ApplyResult apply(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                  const policy::PolicySet& policies, const ApplyOptions& options) {
    util::StoreLock lock(workspace.state_dir, options.wait == WaitForLock::yes);
    state::StateDb state(workspace.state_dir);
    journal::Journal journal(state);
    ApplyResult result;
    result.dry_run = options.dry_run == DryRun::yes;
    nlohmann::json selector = nlohmann::json::object();
    try {
        auto connectors = open_sources(workspace);
        auto unfinished = unfinished_run(state);
        std::int64_t run = 0;
        if (unfinished && !result.dry_run) {
            // A run was killed: finish that one, with its plan and cut-offs, first.
            run = unfinished->first;
            result.plan = unfinished->second;
            result.resumed = true;
        } else if (options.plan) {
            result.plan =
                RetentionPlan::from_json(nlohmann::json::parse(util::read_file(*options.plan), nullptr, false));
            check_plan_still_matches(result.plan, replan(workspace, connectors, result.plan));
        } else {
            result.plan = make_plan(workspace, connectors, policies, options.now.value_or(util::now()));
        }
        selector = {{"now", util::format_iso8601(result.plan.now)}};
        result.blocked = result.plan.blocked();
        if (!result.resumed) {
            check_clock(state, result.plan, options.force);
            check_fraction(result.plan, options.max_fraction, options.force);
        }
        if (result.dry_run) {
            journal.append("retention apply --dry-run", selector, workspace.source_names(),
                           {{"planned_records", result.plan.records()}}, "dry run: nothing changed");
            return result;
        }
        if (!result.resumed) run = start_run(state, result.plan);
        state::DurableSteps progress(state, state::DurableSteps::Of::retention_run, std::to_string(run));
        for (const auto& rule : result.plan.rules) {
            if (rule.plan.items.empty() || !rule.plan.blocked().empty()) continue;
            auto plan = rule.plan;
            plan.action = with_key(plan.action, workspace);
            auto report = connector_named(connectors, plan.source).apply(plan, progress);
            result.sources.push_back(
                {plan.source, rule.rule, report.records_changed, report.bytes_changed, report.notes});
        }
        finish_run(state, run);
        journal.append("retention apply", selector, workspace.source_names(), journal_counts(result),
                       !result.blocked.empty() ? "findings: " + std::to_string(result.blocked.size()) +
                                                     " rule plan(s) blocked by keys onto unexpired rows"
                       : result.resumed ? "ok (resumed an interrupted run)"
                                        : "ok");
        return result;
    } catch (const Error& e) {
        journal.append(result.dry_run ? "retention apply --dry-run" : "retention apply", selector,
                       workspace.source_names(), nlohmann::json::object(), std::string("error: ") + e.what());
        throw;
    }
}

std::uint64_t ApplyResult::records() const {
    std::uint64_t total = 0;
    for (const auto& source : sources) total += source.records;
    return total;
}

nlohmann::json ApplyResult::to_json() const {
    nlohmann::json out = {{"now", util::format_iso8601(plan.now)},
                          {"dry_run", dry_run},
                          {"resumed", resumed},
                          {"records", dry_run ? plan.records() : records()},
                          {"plan", plan.to_json()}};
    out["blocked"] = blocked;
    out["sources"] = nlohmann::json::array();
    for (const auto& source : sources)
        out["sources"].push_back({{"source", source.source},
                                  {"rule", source.rule},
                                  {"records", source.records},
                                  {"bytes", source.bytes},
                                  {"notes", source.notes}});
    return out;
}

std::string ApplyResult::to_text() const {
    if (dry_run) return "Dry run: nothing was changed.\n\n" + plan.to_text();
    std::ostringstream out;
    if (resumed) out << "Resumed the interrupted run of " << util::format_iso8601(plan.now) << ".\n";
    if (records() == 0 && sources.empty() && blocked.empty()) {
        out << "Nothing to purge at " << util::format_iso8601(plan.now)
            << ": every record is within its retention period. Nothing was changed.\n";
        return out.str();
    }
    out << "Retention applied at " << util::format_iso8601(plan.now) << ": " << records() << " records changed\n";
    for (const auto& source : sources) {
        out << "  " << source.source << "  " << source.rule << "  " << source.records << " records\n";
        for (const auto& note : source.notes) out << "    note: " << note << "\n";
    }
    for (const auto& why : blocked) out << "BLOCKED, left alone: " << why << "\n";
    return out.str();
}

}  // namespace gdprctl::retention
