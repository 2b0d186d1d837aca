#include "core/retention/retention.hpp"

#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/util/fs.hpp"

namespace gdprctl::cli {

namespace {

struct RetentionArguments {
    std::string now;
    std::vector<std::string> policy_dirs;
    std::string out;
    std::string plan;
    double max_fraction = 0.5;
    bool dry_run = false;
    bool force = false;
    bool wait = false;
};

util::UnixTime now_of(const RetentionArguments& arguments) {
    return arguments.now.empty() ? util::now() : retention::parse_now(arguments.now);
}

void run_plan(GlobalOptions& options, const RetentionArguments& arguments) {
    auto workspace = load_workspace(options);
    auto policies = load_policies(workspace, arguments.policy_dirs);
    auto plan = retention::plan(workspace, connectors::open_all_connectors, policies, now_of(arguments));
    if (!arguments.out.empty()) util::write_file_atomically(arguments.out, plan.to_json().dump(2) + "\n", 0600);
    std::string text = plan.to_text();
    if (!arguments.out.empty())
        text += "\nPlan written to " + arguments.out + "; apply it with 'gdprctl retention apply --plan " +
                arguments.out + "'.\n";
    print_result(options, text, plan.to_json());
    if (!plan.blocked().empty()) options.exit_code = static_cast<int>(ErrorKind::findings);
}

void run_apply(GlobalOptions& options, const RetentionArguments& arguments) {
    auto workspace = load_workspace(options);
    auto policies = load_policies(workspace, arguments.policy_dirs);
    retention::ApplyOptions apply;
    if (!arguments.now.empty()) apply.now = retention::parse_now(arguments.now);
    if (!arguments.plan.empty()) apply.plan = arguments.plan;
    apply.max_fraction = arguments.max_fraction;
    apply.dry_run = arguments.dry_run ? retention::DryRun::yes : retention::DryRun::no;
    apply.force = arguments.force ? retention::Force::yes : retention::Force::no;
    apply.wait = arguments.wait ? retention::WaitForLock::yes : retention::WaitForLock::no;
    auto result = retention::apply(workspace, connectors::open_all_connectors, policies, apply);
    print_result(options, result.to_text(), result.to_json());
    if (!result.blocked.empty()) options.exit_code = static_cast<int>(ErrorKind::findings);
}

void add_shared_options(CLI::App* command, RetentionArguments& arguments) {
    command->add_option("--now", arguments.now,
                        "The time to apply the rules at: ISO-8601 or unix seconds (default: now)");
    command->add_option("--policies", arguments.policy_dirs,
                        "Also load the policy files of this directory (repeatable)");
}

}  // namespace

void add_retention_command(CLI::App& app, GlobalOptions& options) {
    auto arguments = std::make_shared<RetentionArguments>();
    auto* command = app.add_subcommand("retention", "Plan and apply the retention rules (purge jobs)");
    command->require_subcommand(1);
    command->footer(
        "A record expires when its own timestamp is earlier than now minus the rule's maximum age,\n"
        "to the second, in UTC. See gdprctl-retention(1) and gdprctl-policy(5).");

    auto* plan = command->add_subcommand("plan", "Show what the rules would delete or anonymise, changing nothing");
    add_shared_options(plan, *arguments);
    plan->add_option("--out", arguments->out, "Also write the plan as JSON, to review and apply exactly");
    plan->callback([&options, arguments] { run_plan(options, *arguments); });

    auto* apply = command->add_subcommand("apply", "Delete or anonymise what the rules say has expired");
    add_shared_options(apply, *arguments);
    apply->add_option("--plan", arguments->plan, "Apply this reviewed plan exactly; refuse if the stores changed");
    apply->add_flag("--dry-run", arguments->dry_run, "Plan and check, change nothing");
    apply
        ->add_option("--max-fraction", arguments->max_fraction,
                     "Stop before changing anything if a rule would change more than this part of a source")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    apply->add_flag("--force", arguments->force, "Go past --max-fraction and the clock checks");
    apply->add_flag("--wait", arguments->wait, "Wait for another run's lock instead of exiting 3");
    apply->callback([&options, arguments] { run_apply(options, *arguments); });
}

}  // namespace gdprctl::cli
