#include <iostream>
#include <sstream>

#include "cli/compliance.hpp"
#include "core/config/reader.hpp"
#include "core/error.hpp"
#include "core/journal/journal.hpp"
#include "core/ropa/store.hpp"
#include "core/ropa/validate.hpp"
#include "core/util/fs.hpp"

namespace gdprctl::cli {

namespace {

// An activity's fields as options; only those given change it (edit), lists replace the list.
struct ActivityOptions {
    std::string from_file;
    std::string name, role, legal_basis, special_condition, retention_text;
    std::int64_t retention_days = -1;
    std::vector<std::string> purposes, data_subjects, categories, recipients, transfers, measures, sources;
    CLI::App* command = nullptr;

    bool given(const char* option) const { return command->count(option) > 0; }
};

void add_activity_options(CLI::App* command, ActivityOptions& o) {
    o.command = command;
    command->add_option("--from", o.from_file, "Read the whole activity from this JSON object file");
    command->add_option("--name", o.name, "What the activity is, in words");
    command->add_option("--role", o.role, "controller (the platform's own processing) or processor (for its tenants)")
        ->check(CLI::IsMember({"controller", "processor"}));
    command->add_option("--purpose", o.purposes, "A purpose of the processing (repeatable)");
    command->add_option("--legal-basis", o.legal_basis, "art6-1-a (consent) .. art6-1-f (legitimate interests)");
    command->add_option("--special-condition", o.special_condition, "art9-2-a .. art9-2-j, for special categories");
    command->add_option("--data-subjects", o.data_subjects,
                        "A category of data subjects, such as viewers (repeatable)");
    command->add_option("--category", o.categories, "A data-map category of personal data (repeatable)");
    command->add_option(
        "--recipient", o.recipients,
        "NAME[,type=sub-processor|processor|controller|public-authority|internal][,country=CC] (repeatable)");
    command->add_option("--transfer", o.transfers,
                        "country=CC,recipient=NAME[,safeguard=adequacy|scc|bcr|...][,reference=TEXT] (repeatable)");
    command->add_option("--retention-days", o.retention_days, "How many days records are kept");
    command->add_option("--retention", o.retention_text, "The retention period in words");
    command->add_option("--measure", o.measures, "A technical or organisational security measure (repeatable)");
    command->add_option("--source", o.sources, "A data-map source the activity uses (repeatable)");
}

// "NAME,key=value,key=value" into {"name": NAME, key: value, ...}.
nlohmann::json key_values(const std::string& text, const std::string& first_key, const std::string& option) {
    nlohmann::json json = nlohmann::json::object();
    std::stringstream parts(text);
    std::string part;
    bool first = true;
    while (std::getline(parts, part, ',')) {
        auto eq = part.find('=');
        if (eq == std::string::npos) {
            if (!first || first_key.empty())
                throw Error::usage(
                    option + " \"" + text + "\": \"" + part + "\" is not key=value",
                    "write it as " + option + " " + (first_key.empty() ? "" : "NAME,") + "key=value,...");
            json[first_key] = part;
        } else {
            json[part.substr(0, eq)] = part.substr(eq + 1);
        }
        first = false;
    }
    return json;
}

nlohmann::json activity_document(const ActivityOptions& o, nlohmann::json base) {
    if (!o.from_file.empty()) base = config::parse_json_text(util::read_file(o.from_file), o.from_file);
    auto set_text = [&](const char* option, const char* key, const std::string& value) {
        if (o.given(option)) base[key] = value;
    };
    auto set_list = [&](const char* option, const char* key, const std::vector<std::string>& value) {
        if (o.given(option)) base[key] = value;
    };
    set_text("--name", "name", o.name);
    set_text("--role", "role", o.role);
    set_text("--legal-basis", "legal_basis", o.legal_basis);
    set_text("--special-condition", "special_category_condition", o.special_condition);
    set_list("--purpose", "purposes", o.purposes);
    set_list("--data-subjects", "data_subjects", o.data_subjects);
    set_list("--category", "categories", o.categories);
    set_list("--measure", "security_measures", o.measures);
    set_list("--source", "sources", o.sources);
    if (o.given("--recipient")) {
        base["recipients"] = nlohmann::json::array();
        for (const auto& text : o.recipients) base["recipients"].push_back(key_values(text, "name", "--recipient"));
    }
    if (o.given("--transfer")) {
        base["transfers"] = nlohmann::json::array();
        for (const auto& text : o.transfers) base["transfers"].push_back(key_values(text, "", "--transfer"));
    }
    if (o.given("--retention-days") || o.given("--retention")) {
        if (!base.contains("retention") || !base["retention"].is_object()) base["retention"] = nlohmann::json::object();
        if (o.given("--retention-days")) base["retention"]["days"] = o.retention_days;
        if (o.given("--retention")) base["retention"]["description"] = o.retention_text;
    }
    return base;
}

void refuse_file_register(const config::Workspace& workspace) {
    if (workspace.register_file.empty()) return;
    throw Error::usage("the config keeps the register in " + workspace.register_file.string(),
                       "edit that file (it is versioned with the platform), or remove \"register\" from the config to "
                       "keep the register in the state database");
}

void journal_change(state::StateDb& state, const std::string& command, const nlohmann::json& counts) {
    journal::Journal(state).append(command, nlohmann::json::object(), nlohmann::json::array(), counts, "ok");
}

std::string list_text(const ropa::Register& reg) {
    std::ostringstream out;
    if (reg.activities.empty()) return "The register holds no processing activity.\n";
    for (const auto& a : reg.activities) {
        std::string categories;
        for (const auto& c : a.categories) categories += (categories.empty() ? "" : ",") + c;
        out << a.id << "  " << (a.role.empty() ? "-" : a.role) << "  " << (a.legal_basis.empty() ? "-" : a.legal_basis)
            << "  " << (categories.empty() ? "-" : categories) << "  " << a.name << "\n";
    }
    out << reg.activities.size() << " activities.\n";
    return out.str();
}

void list(const GlobalOptions& options, const std::string& file) {
    auto workspace = load_workspace(options);
    auto reg = load_register(workspace, file);
    nlohmann::json json = nlohmann::json::array();
    for (const auto& a : reg.activities) json.push_back(ropa::activity_to_json(a));
    print_result(options, list_text(reg), json);
}

void show(const GlobalOptions& options, const std::string& id, const std::string& file) {
    auto workspace = load_workspace(options);
    auto reg = load_register(workspace, file);
    const auto* activity = reg.find(id);
    if (!activity)
        throw Error::usage("the register has no activity \"" + id + "\"", "'gdprctl register list' shows the ids");
    print_result(options, ropa::activity_to_markdown(reg, *activity), ropa::activity_to_json(*activity));
}

void add(const GlobalOptions& options, const std::string& id, const ActivityOptions& o) {
    auto workspace = load_workspace(options);
    refuse_file_register(workspace);
    auto document = activity_document(o, nlohmann::json::object());
    if (!id.empty()) document["id"] = id;
    auto activity = ropa::activity_from_json(document, "", o.from_file.empty() ? "command line" : o.from_file,
                                             workspace.categories);
    state::StateDb state(workspace.state_dir);
    ropa::RegisterStore(state, workspace.categories).add(activity);
    journal_change(state, "register add", {{"activities", 1}});
    print_result(options, "Added activity " + activity.id + ". 'gdprctl register validate' says what it still lacks.\n",
                 ropa::activity_to_json(activity));
}

void edit(const GlobalOptions& options, const std::string& id, const ActivityOptions& o) {
    auto workspace = load_workspace(options);
    refuse_file_register(workspace);
    state::StateDb state(workspace.state_dir);
    ropa::RegisterStore store(state, workspace.categories);
    auto reg = store.load();
    const auto* current = reg.find(id);
    if (!current)
        throw Error::usage("the register has no activity \"" + id + "\"", "'gdprctl register list' shows the ids");
    auto document =
        activity_document(o, o.from_file.empty() ? ropa::activity_to_json(*current) : nlohmann::json::object());
    document["id"] = id;
    auto activity = ropa::activity_from_json(document, "", o.from_file.empty() ? "command line" : o.from_file,
                                             workspace.categories);
    store.update(activity);
    journal_change(state, "register edit", {{"activities", 1}});
    print_result(options, "Updated activity " + id + ".\n", ropa::activity_to_json(activity));
}

void remove(const GlobalOptions& options, const std::string& id, bool dry_run) {
    auto workspace = load_workspace(options);
    refuse_file_register(workspace);
    state::StateDb state(workspace.state_dir);
    ropa::RegisterStore store(state, workspace.categories);
    auto reg = store.load();
    if (!reg.find(id))
        throw Error::usage("the register has no activity \"" + id + "\"", "'gdprctl register list' shows the ids");
    if (dry_run) {
        print_result(options, "Would remove activity " + id + " (dry run: nothing changed).\n",
                     {{"dry_run", true}, {"removed", id}});
        return;
    }
    store.remove(id);
    journal_change(state, "register remove", {{"activities", 1}});
    print_result(options, "Removed activity " + id + ".\n", {{"dry_run", false}, {"removed", id}});
}

void import_file(const GlobalOptions& options, const std::string& file, bool dry_run) {
    auto workspace = load_workspace(options);
    refuse_file_register(workspace);
    auto reg = ropa::read_register_file(file, workspace.categories);
    std::string summary = std::to_string(reg.activities.size()) + " activities, " + std::to_string(reg.served.size()) +
                          " controllers served";
    nlohmann::json json = {
        {"dry_run", dry_run}, {"activities", reg.activities.size()}, {"controllers_served", reg.served.size()}};
    if (dry_run) {
        print_result(options, file + " is a valid register (" + summary + "); dry run: nothing imported.\n", json);
        return;
    }
    state::StateDb state(workspace.state_dir);
    ropa::RegisterStore(state, workspace.categories).replace(reg);
    journal_change(state, "register import", {{"activities", reg.activities.size()}});
    print_result(options, "Imported " + summary + " from " + file + "; the previous register was replaced.\n", json);
}

void export_register(const GlobalOptions& options, const std::string& format, const std::string& out,
                     const std::string& file) {
    auto workspace = load_workspace(options);
    auto reg = load_register(workspace, file);
    std::string text;
    if (format == "json")
        text = ropa::register_to_json(reg).dump(2) + "\n";
    else if (format == "csv")
        text = ropa::register_to_csv(reg);
    else if (format == "md")
        text = ropa::register_to_markdown(reg);
    else
        text = ropa::register_to_html(reg, workspace.platform);
    if (out.empty() || out == "-") {
        std::cout << text;
        return;
    }
    // Contact details of named people are personal data: the file is private like every other.
    util::write_file_atomically(out, text, 0600);
    if (!options.quiet) std::cerr << "gdprctl: wrote the register (" << format << ") to " << out << "\n";
}

void validate(GlobalOptions& options, const ComplianceArguments& arguments) {
    auto context = load_compliance_context(options, arguments);
    std::vector<policy::CheckRule> rules;
    for (const auto& rule : context.policies.checks)
        if (ropa::is_register_kind(rule.kind)) rules.push_back(rule);
    auto result = policy::evaluate(context.input(), rules);
    journal_check(context, "register validate", result);
    std::string text = findings_text(result);
    if (result.findings.empty())
        text = "The register is valid: " + std::to_string(context.reg.activities.size()) + " activities, " +
               std::to_string(rules.size()) + " checks" + (result.live ? " (with the live inventory)" : "") +
               ", no finding.\n";
    print_result(options, text, policy::findings_json(result));
    if (result.count_at_least(policy::Severity::warning) > 0) options.exit_code = static_cast<int>(ErrorKind::findings);
}

}  // namespace

void add_register_command(CLI::App& app, GlobalOptions& options) {
    auto* command = app.add_subcommand("register", "The records of processing activities (GDPR Art. 30)");
    command->require_subcommand(1);
    command->footer(
        "The register lives in the state database (or, with \"register\" in the config, in a JSON file kept with the\n"
        "platform). Activities use the data map's category and source names. See gdprctl-register(1).");
    auto file = std::make_shared<std::string>();

    auto* list_command =
        command->add_subcommand("list", "One line per activity: id, role, legal basis, categories, name");
    list_command->add_option("--register", *file, "Read this register file instead of the state database");
    list_command->callback([&options, file] { list(options, *file); });

    auto show_id = std::make_shared<std::string>();
    auto* show_command = command->add_subcommand("show", "Everything the register says about one activity");
    show_command->add_option("id", *show_id, "Activity id")->required();
    show_command->add_option("--register", *file, "Read this register file instead of the state database");
    show_command->callback([&options, show_id, file] { show(options, *show_id, *file); });

    auto add_id = std::make_shared<std::string>();
    auto add_options = std::make_shared<ActivityOptions>();
    auto* add_command = command->add_subcommand("add", "Add a processing activity");
    add_command->add_option("id", *add_id, "A stable id, such as viewer-statistics (or \"id\" in --from)");
    add_activity_options(add_command, *add_options);
    add_command->callback([&options, add_id, add_options] { add(options, *add_id, *add_options); });

    auto edit_id = std::make_shared<std::string>();
    auto edit_options = std::make_shared<ActivityOptions>();
    auto* edit_command = command->add_subcommand("edit", "Change the given fields of an activity (lists are replaced)");
    edit_command->add_option("id", *edit_id, "Activity id")->required();
    add_activity_options(edit_command, *edit_options);
    edit_command->callback([&options, edit_id, edit_options] { edit(options, *edit_id, *edit_options); });

    auto remove_id = std::make_shared<std::string>();
    auto remove_dry = std::make_shared<bool>(false);
    auto* remove_command = command->add_subcommand("remove", "Remove an activity");
    remove_command->add_option("id", *remove_id, "Activity id")->required();
    remove_command->add_flag("--dry-run", *remove_dry, "Say what would be removed, change nothing");
    remove_command->callback([&options, remove_id, remove_dry] { remove(options, *remove_id, *remove_dry); });

    auto import_path = std::make_shared<std::string>();
    auto import_dry = std::make_shared<bool>(false);
    auto* import_command = command->add_subcommand(
        "import", "Replace the register with a JSON file, all or nothing: a bad file changes nothing (exit 2)");
    import_command->add_option("file", *import_path, "Register JSON (as 'register export --format json' writes)")
        ->required()
        ->check(CLI::ExistingFile);
    import_command->add_flag("--dry-run", *import_dry, "Only check the file");
    import_command->callback([&options, import_path, import_dry] { import_file(options, *import_path, *import_dry); });

    auto export_format = std::make_shared<std::string>("json");
    auto export_out = std::make_shared<std::string>();
    auto* export_command =
        command->add_subcommand("export", "Write the register as JSON, CSV (Art. 30 template), Markdown or HTML");
    export_command->add_option("--format", *export_format, "json (re-importable), csv, md or html")
        ->check(CLI::IsMember({"json", "csv", "md", "html"}))
        ->capture_default_str();
    export_command->add_option("-o,--out", *export_out, "Write to this file (0600, atomically) instead of stdout");
    export_command->add_option("--register", *file, "Read this register file instead of the state database");
    export_command->callback(
        [&options, export_format, export_out, file] { export_register(options, *export_format, *export_out, *file); });

    auto validate_arguments = std::make_shared<ComplianceArguments>();
    auto* validate_command = command->add_subcommand(
        "validate",
        "Report missing fields, invalid bases, unsafeguarded transfers, uncovered categories, drift and "
        "retention contradictions; exit 1 on any finding");
    add_compliance_arguments(validate_command, *validate_arguments, true);
    validate_command->callback([&options, validate_arguments] { validate(options, *validate_arguments); });
}

}  // namespace gdprctl::cli
