#include "core/config/workspace.hpp"

#include <algorithm>
#include <set>

#include "core/error.hpp"
#include "core/util/fs.hpp"

namespace gdprctl::config {

namespace {

std::optional<TimeFormat> time_format_from(const std::string& text) {
    if (text == "iso8601") return TimeFormat::iso8601;
    if (text == "unix") return TimeFormat::unix_seconds;
    if (text == "unix_ms") return TimeFormat::unix_millis;
    if (text == "nginx") return TimeFormat::nginx;
    if (text == "mtime") return TimeFormat::mtime;
    if (text == "pattern") return TimeFormat::pattern;
    return std::nullopt;
}

std::vector<std::string> read_subjects(JsonReader& reader, std::vector<SubjectField>& out) {
    auto object = reader.optional_object("subjects");
    std::vector<std::string> fields;
    if (!object) return fields;
    const auto& kinds = identifier_kinds();
    std::vector<std::string> keys;
    auto raw = reader.optional_value("subjects");
    for (const auto& [kind, value] : raw->items()) keys.push_back(kind);
    for (const auto& kind : keys) {
        if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
            auto near = closest_match(kind, kinds);
            object->fail(kind, "unknown identifier kind \"" + kind + "\"",
                         near ? "did you mean \"" + *near + "\"?"
                              : "use one of: " + identifier_kinds_text() +
                                    " (or declare it in the top-level \"identifier_kinds\")");
        }
        for (const auto& field : object->string_list(kind)) {
            out.push_back({kind, field});
            fields.push_back(field);
        }
    }
    object->finish();
    return fields;
}

TimestampSpec read_timestamp(JsonReader& reader, const std::string& field_key) {
    TimestampSpec spec;
    spec.pointer = reader.pointer();
    auto format_text = reader.optional_string("format").value_or(field_key.empty() ? "mtime" : "iso8601");
    auto format = time_format_from(format_text);
    if (!format)
        reader.fail("format", "unknown timestamp format \"" + format_text + "\"",
                    "use one of: iso8601, unix, unix_ms, nginx, mtime, pattern");
    spec.format = *format;
    if (!field_key.empty() && spec.format != TimeFormat::mtime) spec.field = reader.required_string(field_key);
    if (spec.format == TimeFormat::pattern) spec.pattern = reader.required_string("pattern");
    spec.regex = reader.optional_string("regex").value_or("");
    if (field_key.empty() && spec.format != TimeFormat::mtime)
        spec.metadata = reader.optional_string("metadata").value_or("");
    if (field_key.empty() && spec.format != TimeFormat::mtime && spec.regex.empty() && spec.metadata.empty())
        reader.fail("regex", "a file timestamp taken from the name needs \"regex\" (its first group is the date)",
                    "for objects, \"metadata\" may name the user metadata that holds it instead");
    reader.finish();
    return spec;
}

}  // namespace

std::optional<util::UnixTime> parse_timestamp(std::string_view text, const TimestampSpec& spec) {
    switch (spec.format) {
        case TimeFormat::nginx:
            return util::parse_nginx_time(text);
        case TimeFormat::unix_seconds:
            return util::parse_unix(text, false);
        case TimeFormat::unix_millis:
            return util::parse_unix(text, true);
        case TimeFormat::pattern:
            return util::parse_with_pattern(text, spec.pattern);
        default:
            return util::parse_iso8601(text);
    }
}

TenantSpec read_tenant(JsonReader& reader, const std::string& field_key) {
    TenantSpec spec;
    spec.pointer = reader.pointer();
    if (!field_key.empty()) spec.field = reader.required_string(field_key);
    spec.regex = reader.optional_string("regex").value_or("");
    if (field_key.empty()) spec.metadata = reader.optional_string("metadata").value_or("");
    if (field_key.empty() && spec.regex.empty() && spec.metadata.empty())
        reader.fail("regex", "missing required key \"regex\"",
                    "give a regex on the relative path whose first group is the tenant (or, for objects, the "
                    "\"metadata\" that holds it)");
    if (field_key == "column") {
        for (auto& step : reader.object_list("via", false)) {
            spec.via.push_back(
                {step.required_string("table"), step.required_string("from"), step.required_string("to")});
            step.finish();
        }
    }
    reader.finish();
    return spec;
}

namespace {

Source read_source(JsonReader& reader, const std::filesystem::path& base_dir) {
    Source source;
    source.name = reader.required_string("name");
    source.kind = reader.required_string("kind");
    // A database server is reached by its connection string, a bucket by its endpoint: no path.
    source.path_text = source.kind == "postgres" || source.kind == "s3" ? reader.optional_string("path").value_or("")
                                                                        : reader.required_string("path");
    if (!source.path_text.empty()) source.path = util::resolve(base_dir, source.path_text);
    source.pointer = reader.pointer();
    source.file = reader.file();
    return source;
}

void check_category(const JsonReader& reader, const std::string& category, const std::vector<std::string>& known) {
    if (std::find(known.begin(), known.end(), category) != known.end()) return;
    auto near = closest_match(category, known);
    reader.fail("category", "unknown category \"" + category + "\"",
                near ? "did you mean \"" + *near + "\"? (new categories are declared in /categories)"
                     : "declare it in the top-level \"categories\" list, or use a standard one");
}

}  // namespace

const std::vector<std::string>& standard_categories() {
    static const std::vector<std::string> k_categories = {
        "administrator-accounts", "usage-data",   "streaming-data", "configuration", "recordings",
        "webinar-participants",   "ai-generated", "backups"};
    return k_categories;
}

namespace {

// One workspace is loaded per process; its own kinds join the standard ones when it is.
std::vector<std::string>& kinds_in_use() {
    static std::vector<std::string> kinds = {"email", "ip", "user", "phone", "stream_key"};
    return kinds;
}

void declare_identifier_kinds(JsonReader& root, Workspace& workspace) {
    auto declared = root.string_list("identifier_kinds");
    for (std::size_t i = 0; i < declared.size(); ++i) {
        const auto& kind = declared[i];
        bool word = !kind.empty() && std::all_of(kind.begin(), kind.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        });
        if (!word)
            root.fail("identifier_kinds/" + std::to_string(i), "\"" + kind + "\" is not an identifier kind name",
                      "use lower-case letters, digits and _ (e.g. \"handle\", \"actor_iri\")");
        auto& kinds = kinds_in_use();
        if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) kinds.push_back(kind);
        workspace.custom_identifier_kinds.push_back(kind);
    }
}

}  // namespace

const std::vector<std::string>& identifier_kinds() { return kinds_in_use(); }

std::string identifier_kinds_text() {
    std::string text;
    for (const auto& kind : identifier_kinds()) text += (text.empty() ? "" : ", ") + kind;
    return text;
}

std::vector<std::string> Workspace::source_names() const {
    std::vector<std::string> names;
    for (const auto& source : sources) names.push_back(source.name);
    return names;
}

const Source* Workspace::find_source(const std::string& name) const {
    for (const auto& source : sources)
        if (source.name == name) return &source;
    return nullptr;
}

Dataset read_dataset(JsonReader& reader, const Workspace& workspace, const std::string& field_key) {
    Dataset dataset;
    dataset.pointer = reader.pointer();
    dataset.category = reader.required_string("category");
    check_category(reader, dataset.category, workspace.categories);
    dataset.personal = reader.string_list("personal");
    auto subject_fields = read_subjects(reader, dataset.subjects);
    // An identifier is personal data by definition; listing it twice is not required.
    for (const auto& field : subject_fields)
        if (std::find(dataset.personal.begin(), dataset.personal.end(), field) == dataset.personal.end())
            dataset.personal.push_back(field);
    dataset.ignore = reader.string_list("ignore");
    if (auto tenant = reader.optional_object("tenant")) dataset.tenant = read_tenant(*tenant, field_key);
    if (auto timestamp = reader.optional_object("timestamp")) dataset.timestamp = read_timestamp(*timestamp, field_key);
    if (auto on_erase = reader.optional_string("erase")) {
        if (*on_erase == "anonymise")
            dataset.on_erase = OnErase::anonymise;
        else if (*on_erase != "delete")
            reader.fail("erase", "unknown erase mode \"" + *on_erase + "\"",
                        "use \"delete\" (the default) or \"anonymise\" (keep the record, strip the person)");
    }
    if (field_key == "column") dataset.owner = reader.optional_string("owner").value_or("");
    // Rows that are a person's through their owner (a rating, a follow) need no personal column.
    if (dataset.personal.empty() && !field_key.empty() && dataset.owner.empty())
        reader.fail_here("no personal fields declared",
                         "list them under \"personal\" or \"subjects\", or name the \"owner\" column");
    return dataset;
}

namespace {

PlatformSettings read_settings(JsonReader& reader) {
    PlatformSettings settings;
    settings.declared = true;
    settings.pointer = reader.pointer();
    for (auto& endpoint_reader : reader.object_list("endpoints", false)) {
        Endpoint endpoint;
        endpoint.pointer = endpoint_reader.pointer();
        endpoint.name = endpoint_reader.optional_string("name").value_or("");
        endpoint.direction = endpoint_reader.optional_string("direction").value_or("");
        if (!endpoint.direction.empty() && endpoint.direction != "ingest" && endpoint.direction != "egress")
            endpoint_reader.fail("direction", "unknown direction \"" + endpoint.direction + "\"",
                                 "use ingest or egress");
        endpoint.url = endpoint_reader.required_string("url");
        endpoint_reader.finish();
        settings.endpoints.push_back(std::move(endpoint));
    }
    settings.recording_default = reader.optional_string("recording_default").value_or("");
    if (!settings.recording_default.empty() && settings.recording_default != "on" &&
        settings.recording_default != "off")
        reader.fail("recording_default", "expected \"on\" or \"off\"");
    settings.storage_regions = reader.string_list("storage_regions");
    reader.finish();
    return settings;
}

}  // namespace

Workspace load_workspace(const std::filesystem::path& config_path) {
    std::error_code ec;
    if (!std::filesystem::exists(config_path, ec))
        throw Error::config("config file " + config_path.string() + " not found",
                            "pass --config FILE, or run gdprctl in the directory holding gdprctl.json");
    std::string file = config_path.filename().string();
    std::string text;
    try {
        text = util::read_file(config_path);
    } catch (const Error& e) {
        throw Error::config(e.what(), "check the file's permissions");
    }
    auto json = parse_json_text(text, file);
    if (!json.is_object()) throw Error::config(file + ": /: the config must be a JSON object");

    Workspace workspace;
    workspace.config_path = std::filesystem::absolute(config_path).lexically_normal();
    workspace.base_dir = workspace.config_path.parent_path();
    JsonReader root(json, "", file);
    workspace.platform = root.required_string("platform");
    workspace.state_dir = util::resolve(workspace.base_dir, root.optional_string("state_dir").value_or(".gdprctl"));
    workspace.categories = standard_categories();
    for (const auto& extra : root.string_list("categories")) workspace.categories.push_back(extra);
    declare_identifier_kinds(root, workspace);

    if (auto policies = root.optional_object("policies")) {
        for (const auto& dir : policies->string_list("dirs"))
            workspace.policy_dirs.push_back(util::resolve(workspace.base_dir, dir));
        workspace.disabled_policies = policies->string_list("disable");
        policies->finish();
    }

    workspace.backup_dir = util::resolve(workspace.base_dir, "backups");
    if (auto backups = root.optional_object("backups")) {
        workspace.backup_dir = util::resolve(workspace.base_dir, backups->optional_string("dir").value_or("backups"));
        backups->finish();
    }

    if (auto register_file = root.optional_string("register"))
        workspace.register_file = util::resolve(workspace.base_dir, *register_file);
    if (auto settings = root.optional_object("settings")) workspace.settings = read_settings(*settings);

    std::set<std::string> names;
    for (auto& source_reader : root.object_list("sources", true)) {
        auto source = read_source(source_reader, workspace.base_dir);
        if (!names.insert(source.name).second)
            source_reader.fail("name", "duplicate source name \"" + source.name + "\"",
                               "give every source its own name");
        source.spec = json.at(nlohmann::json::json_pointer(source.pointer));
        workspace.sources.push_back(std::move(source));
    }
    root.finish();
    return workspace;
}

}  // namespace gdprctl::config
