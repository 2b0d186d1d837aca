#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config/reader.hpp"
#include "core/util/time.hpp"

namespace gdprctl::config {

enum class TimeFormat { iso8601, unix_seconds, unix_millis, nginx, mtime, pattern };

// Where a record's time comes from.
struct TimestampSpec {
    std::string field;  // column or log field; empty for mtime / a file-name pattern
    TimeFormat format = TimeFormat::iso8601;
    std::string pattern;  // strptime pattern, for TimeFormat::pattern
    std::string regex;    // for files: a regex whose first group is the date text in the path
    std::string pointer;
    std::string metadata;  // for objects: the user metadata (x-amz-meta-NAME) holding the date text
};

// The time a record's text stands for in spec's format; nullopt when it does not parse. An
// mtime spec has no text: its callers take the file's or the object's own time instead.
std::optional<util::UnixTime> parse_timestamp(std::string_view text, const TimestampSpec& spec);

// One hop from the current table towards the table that holds the tenant:
// JOIN table ON <previous>.from = table.to
struct JoinStep {
    std::string table;
    std::string from;
    std::string to;
};

// How a record's tenant is found. Absent on a dataset means platform-wide data.
struct TenantSpec {
    std::string field;          // column / log field holding the tenant (or text the regex runs on)
    std::vector<JoinStep> via;  // SQL only: joins that reach the table holding `field`
    std::string regex;          // optional: the first capture group of this regex is the tenant
    std::string pointer;
    std::string metadata;  // for objects: the user metadata (x-amz-meta-NAME) holding it
};

struct SubjectField {
    std::string kind;  // email, ip, user, phone, stream_key
    std::string field;
};

// One place in a source where personal data lives: a table, a log set, a file tree.
// What erasing a person does to their records in a dataset: remove them (the default), or keep
// the record for aggregates and strip what identifies the person (statistics keep counts).
enum class OnErase { remove, anonymise };

struct Dataset {
    std::string name;     // "source" or "source:table", set by the connector
    std::string locator;  // SQL table name; empty for logs and files
    std::string category;
    std::vector<std::string> personal;   // fields that hold personal data
    std::vector<SubjectField> subjects;  // fields that identify a person, by identifier kind
    std::vector<std::string> ignore;     // fields known not to be personal (skipped by detection)
    std::optional<TenantSpec> tenant;
    std::optional<TimestampSpec> timestamp;
    OnErase on_erase = OnErase::remove;
    // SQL: the column whose link (a foreign key, or one of the data map's "links") leads to the
    // row that owns this one: a comment is its author's through its account column, whatever
    // video it is on. Empty: the dataset's rows are a person's by their own identifier columns.
    std::string owner;
    std::string pointer;
};

struct Source {
    std::string name;
    std::string kind;
    std::string path_text;       // as written in the config
    std::filesystem::path path;  // resolved against the config's directory
    nlohmann::json spec;         // the whole source object, for the connector to read
    std::string pointer;
    std::string file;  // config file name, for error messages
};

// What the platform's own configuration promises, declared next to the data map so that CI
// can check it on every change (man gdprctl.json(5), "settings").
struct Endpoint {
    std::string name;
    std::string direction;  // ingest or egress
    std::string url;
    std::string pointer;
};

struct PlatformSettings {
    bool declared = false;
    std::vector<Endpoint> endpoints;
    std::string recording_default;  // "on" or "off"; empty when not declared
    std::vector<std::string> storage_regions;
    std::string pointer;
};

struct Workspace {
    std::filesystem::path config_path;
    std::filesystem::path base_dir;
    std::filesystem::path state_dir;
    std::string platform;
    std::vector<std::string> categories;
    std::vector<std::string> custom_identifier_kinds;  // "identifier_kinds"
    std::vector<Source> sources;
    std::vector<std::filesystem::path> policy_dirs;  // in addition to the shipped pack
    std::vector<std::string> disabled_policies;
    std::filesystem::path backup_dir;     // encrypted backups: <backup_dir>/<tenant>/<time>.gdpb
    std::filesystem::path register_file;  // a register kept in the platform's repository; empty: the state database
    PlatformSettings settings;

    const Source* find_source(const std::string& name) const;
    std::vector<std::string> source_names() const;
};

const std::vector<std::string>& standard_categories();
// email, ip, user, phone, stream_key, and the kinds the loaded workspace declares in
// "identifier_kinds" (handles, actor IRIs, tokens: matched exactly, searched for as text).
const std::vector<std::string>& identifier_kinds();
// "email, ip, ..." for messages.
std::string identifier_kinds_text();

// Loads and validates the workspace file (the generic part: platform, state dir, categories,
// source names and kinds). Connectors validate their own part of each source when opened.
// Throws Error::config naming the file and JSON pointer of the first problem.
Workspace load_workspace(const std::filesystem::path& config_path);

// Reads the data-map keys shared by every connector kind from reader. field_key names the key
// that holds a field ("column" for SQL, "field" for logs); files have no fields.
Dataset read_dataset(JsonReader& reader, const Workspace& workspace, const std::string& field_key);
// Reads a "tenant" object: field (under field_key), optional via joins and regex.
TenantSpec read_tenant(JsonReader& reader, const std::string& field_key);

}  // namespace gdprctl::config
