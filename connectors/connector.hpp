#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config/workspace.hpp"
#include "core/pii/anonymise.hpp"
#include "core/pii/matcher.hpp"
#include "core/util/time.hpp"

// The one seam between gdprctl's domain and the platform's stores (ARCHITECTURE.md).
// core/ includes this header and never a concrete connector.
namespace gdprctl::connectors {

// A person's identifier, normalised: e-mails lower-cased, IPs in canonical text.
struct Identifier {
    std::string kind;  // email, ip, user, phone, stream_key
    std::string value;
    std::string text() const { return kind + ":" + value; }
};

// Parses "email:x@y", "ip:2001:db8::1", "user:42". Throws Error::usage naming what is wrong.
Identifier parse_identifier(const std::string& text);

// The text to look for to find identifiers written in a store: an address in each of its
// spellings (pii::ip_text_forms), other kinds as they are; numeric user ids, numbers that occur
// everywhere, are left out (they are found through the records that hold them), while user ids
// that are names or IRIs ("https://social.example/users/bob") are looked for like the rest.
std::vector<std::string> text_patterns(const std::vector<Identifier>& identifiers);

// What an operation is about. An empty selector is everything the data map declares.
struct Selector {
    std::optional<std::string> tenant;
    std::vector<std::string> exclude_tenants;  // records of these tenants are never selected
    std::vector<Identifier> subjects;
    std::vector<std::string> categories;       // empty: every category
    std::vector<std::string> datasets;         // dataset names; empty: every dataset
    std::optional<util::UnixTime> older_than;  // only records with a timestamp before this

    bool wants_category(const std::string& category) const;
    bool wants_tenant(std::string_view tenant) const;
    // True when value (of identifier kind) equals one of the subjects.
    bool matches_subject(const std::string& kind, std::string_view value) const;
    bool has_subjects_of(const std::vector<config::SubjectField>& fields) const;
    // False when the selector names other categories or other datasets than dataset's.
    bool wants_dataset(const config::Dataset& dataset) const;
    // False when no record of dataset can match: another category, or subjects the dataset
    // has no field for.
    bool may_match(const config::Dataset& dataset) const;
    // True when the selector is a tenant and nothing narrower: the erasure of a whole tenant,
    // which also removes the tenant's own rows that hold no personal data.
    bool is_whole_tenant() const;
    // Whether occurrences of identifiers in a record of tenant count in a rescan: everywhere for
    // a whole tenant or for people in every tenant; for people within one tenant, only in that
    // tenant's records (other tenants may rightly hold the same address). Bytes on disk, which
    // have no tenant, are rescanned only when text_counts_everywhere().
    bool text_counts_everywhere() const { return !tenant || is_whole_tenant(); }
    bool text_counts_in(std::string_view record_tenant) const {
        return text_counts_everywhere() || wants_tenant(record_tenant);
    }
    // For the journal: identifiers only as a count.
    nlohmann::json to_json() const;
    // Everything, identifiers included, for plan files; from_plan_json reverses it.
    nlohmann::json to_plan_json() const;
    static Selector from_plan_json(const nlohmann::json& json);
};

// Personal data found in one dataset for one tenant ("" = platform-wide data).
struct InventoryRow {
    std::string dataset;
    std::string category;
    std::string tenant;
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;
    std::optional<util::UnixTime> oldest;
    std::optional<util::UnixTime> newest;
    // Records per UTC day of their timestamp (days since the epoch), for age histograms.
    std::map<std::int64_t, std::uint64_t> records_per_day;
};

// A column or field the data map does not declare, in which sampled values look personal.
struct UndeclaredFinding {
    std::string location;  // "table.column" or "field"
    std::string detector;  // email, ipv4, ipv6, phone
    std::uint64_t hits = 0;
    std::uint64_t sampled = 0;
};

struct SourceInventory {
    std::vector<InventoryRow> rows;
    std::vector<UndeclaredFinding> undeclared;
    std::uint64_t malformed = 0;
    std::string first_malformed;  // "file:line" of the first malformed record
    std::uint64_t bytes_read = 0;
};

struct InventoryOptions {
    std::size_t sample_size = 1000;  // values sampled per undeclared column or field
    // Plain files at least this large are read by several threads, one byte range each.
    std::uint64_t parallel_min_bytes = 32ull << 20;
    unsigned threads = 0;  // 0: one per core
};

// An object that lives in a remote store (a bucket), streamed when it is written out instead
// of staged on disk. read() passes every byte of it, size in all, to write, in order; it may
// run on another thread after collect() returned, and throws Error::runtime when the store
// cannot be read.
struct StreamedBlob {
    std::string relative_path;
    std::uint64_t size = 0;
    util::UnixTime mtime = 0;
    std::function<void(const std::function<void(std::string_view)>& write)> read;
};

// Receives what collect() finds. record() gets one row or log line as JSON; blob() one file;
// streamed_blob() one remote object.
class RecordSink {
public:
    virtual ~RecordSink() = default;
    virtual void record(const config::Dataset& dataset, const std::string& tenant, const nlohmann::json& record) = 0;
    virtual void blob(const config::Dataset& dataset, const std::string& tenant, const std::filesystem::path& file,
                      const std::string& relative_path) = 0;
    virtual void streamed_blob(const config::Dataset& dataset, const std::string& tenant, const StreamedBlob& blob) = 0;
};

// Something verify() found still present.
struct Residue {
    std::string location;
    std::uint64_t matches = 0;
};

struct VerifyReport {
    std::vector<Residue> residue;
    std::uint64_t records_scanned = 0;
    std::uint64_t bytes_scanned = 0;
};

// What erase or a retention rule asks a connector to do to the records of a selector.
// erase: remove, or anonymise where the data map says the record stays ("erase": "anonymise":
// IP addresses truncated, every other identifying field cleared); a whole tenant is always
// removed. An erase also leaves no trace on disk: deleted content overwritten, write-ahead logs
// truncated, free pages dropped.
struct Action {
    enum class Kind { remove, anonymise, erase };
    Kind kind = Kind::remove;
    std::string method;               // anonymise: ip-truncate, hmac, null
    std::vector<std::string> fields;  // anonymise: identifier kinds ("ip") or field names
    std::string hmac_key;             // anonymise with hmac: the workspace's secret (hex)

    nlohmann::json to_plan_json() const;  // without the key
    static Action from_plan_json(const nlohmann::json& json);
};

// What a plan will change in one dataset (or one file of a log set).
struct PlanItem {
    std::string dataset;
    std::string what;  // "delete", "anonymise", "remove file", "rewrite file", ...
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;
    std::optional<util::UnixTime> oldest;
    std::string note;         // for people: a missing index, a live file left alone
    nlohmann::json snapshot;  // connector-specific state the plan was made on
    // Rows of other people that the person's erasure reaches: rows that go with the person's
    // (a cascade the data map allows), or stay changed (a reference detached, a mention of the
    // person redacted) or as they are ("keep": they point at rows that are gone).
    bool other_people = false;
    // Why the plan cannot be carried out, and the fix: nothing changes while an item says so.
    std::string blocked;

    // True when records are rows that go, or are stripped of the person: all but other
    // people's rows that stay.
    bool erases_records() const { return !other_people || what.rfind("delete", 0) == 0; }

    nlohmann::json to_json() const;
    static PlanItem from_json(const nlohmann::json& json);
};

struct Plan {
    std::string source;
    Action action;
    Selector selector;
    std::vector<PlanItem> items;
    std::uint64_t source_records = 0;      // records in the datasets concerned, before the change
    std::optional<util::UnixTime> newest;  // the newest record seen, for clock sanity checks

    std::uint64_t records() const;
    // The items' reasons why the plan cannot be carried out.
    std::vector<std::string> blocked() const;
    // Everything, identifiers included (for plan files and resumable runs); throws
    // nlohmann::json::exception on a malformed document.
    nlohmann::json to_json() const;
    static Plan from_json(const nlohmann::json& json);
};

struct ApplyReport {
    std::uint64_t records_changed = 0;
    std::uint64_t bytes_changed = 0;
    std::vector<std::string> notes;  // what was left alone, and why
};

// Where apply() records the durable steps it completed, so that a run killed at any point
// resumes without repeating or skipping work. mark_done() returns once the mark is durable.
class ApplyProgress {
public:
    virtual ~ApplyProgress() = default;
    virtual bool is_done(const std::string& step) = 0;
    virtual void mark_done(const std::string& step) = 0;
};

// One store of the platform, opened through its data map. Every operation streams: memory
// does not grow with the size of the store. Operations throw Error::runtime when the store
// cannot be read (naming the source and file) and Error::config when it does not match the
// data map. Not thread-safe: use one instance per thread.
class Connector {
public:
    virtual ~Connector() = default;

    // Checks the data map against the store (tables, columns, fields, paths exist) without
    // reading any personal data. Throws Error::config with the JSON pointer of the problem.
    virtual void validate() = 0;
    // What personal data is here, per dataset and tenant, and what looks personal undeclared.
    virtual SourceInventory inventory(const Selector& selector, const InventoryOptions& options) = 0;
    // Every record and blob matching selector, to sink.
    virtual void collect(const Selector& selector, RecordSink& sink) = 0;
    // What action would change for selector, changing nothing.
    virtual Plan plan(const Selector& selector, const Action& action) = 0;
    // Carries out plan idempotently; a killed run resumes from the progress it recorded.
    // Changes only what the plan covered: records that arrived later are never touched.
    // Throws Error::integrity, before changing anything, when the store no longer matches
    // the plan in a way that would make applying it unsafe.
    virtual ApplyReport apply(const Plan& plan, ApplyProgress& progress) = 0;
    // Rescans for records of selector and for any occurrence of identifiers, in what the store
    // shows and in the bytes it keeps on disk (free pages, write-ahead logs, journals). For
    // people within one tenant, occurrences count only in that tenant's records (other tenants
    // may rightly hold the same address), and bytes on disk, which have no tenant, are left out.
    virtual VerifyReport verify(const Selector& selector, const pii::IdentifierMatcher& identifiers) = 0;
    // Text by which the store recognises tenant beyond its records' tenant field: the tenant's
    // display names and the secrets its records hold (stream keys). The rescan after a tenant's
    // erasure looks for them. Never contains another tenant's data.
    virtual std::vector<std::string> tenant_markers(const std::string& tenant) = 0;

    virtual const config::Source& source() const = 0;
    virtual const std::vector<config::Dataset>& datasets() const = 0;
};

// Opens the connector for source.kind, reading (and validating the keys of) its part of the
// config. Throws Error::config for an unknown kind ("did you mean") or a malformed data map.
std::unique_ptr<Connector> open_connector(const config::Source& source, const config::Workspace& workspace);

// What an action does to each selected record of a table: remove it, or rewrite some of its
// columns. An anonymise action rewrites the columns it names with its method; erasing a person
// from a dataset whose records stay for aggregates ("erase": "anonymise") keeps addresses'
// networks (ip-truncate) and empties every other personal column. A whole tenant's records go.
// Error::config for an unknown method.
struct RecordChange {
    struct Column {
        std::string name;
        bool anonymised = true;  // false: emptied (NULL)
    };
    bool remove = true;
    std::vector<Column> columns;
    pii::AnonymiseMethod method = pii::AnonymiseMethod::ip_truncate;
    std::string key;  // for hmac
    // True when the rewrite would change value (a column's current value; nullopt for NULL).
    bool changes(const Column& column, const std::optional<std::string_view>& value) const;
    // The value a column gets; nullopt for NULL.
    std::optional<std::string> rewritten(const Column& column, std::string_view value) const;
};
RecordChange record_change(const config::Dataset& dataset, const Action& action, const Selector& selector);
// The method an action anonymises with: its own for an anonymise rule, ip-truncate for an
// erasure (addresses keep their network). Error::config for an unknown method.
pii::AnonymiseMethod anonymisation_method(const Action& action);

// The tables of a SQL store an action goes through, in the order their rows can change. For an
// erasure or a purge that deletes, a table whose rows point at another's (a foreign key, which parents() lists for a
// table, or the join that finds their tenant) comes first, so that every row can still be told
// whose it is while it waits, and none is left pointing at nothing; a whole tenant's erasure
// ends with the tenant's own tables.
std::vector<const config::Dataset*> in_change_order(
    const std::vector<config::Dataset>& datasets, const std::vector<config::Dataset>& tenant_tables,
    const Selector& selector, const Action& action,
    const std::function<std::vector<std::string>(const std::string& table)>& parents);

// A reader over source.spec with the keys every source has (name, kind, path) already taken,
// so a connector reads its own keys and finish() rejects the rest.
config::JsonReader source_reader(const config::Source& source);

// Matches of identifiers in the raw bytes of a file (a database, its write-ahead log), read in
// blocks so memory stays flat; a match across two blocks is counted once. A large file is cut
// into one byte range per thread. Adds the file's size to bytes_scanned. 0 when the file does
// not exist; Error::runtime when it cannot be read.
std::uint64_t count_in_raw_bytes(const std::filesystem::path& file, const pii::IdentifierMatcher& identifiers,
                                 std::uint64_t& bytes_scanned, unsigned threads = 1);

// Where identifiers occur in a file's raw bytes, and how many newlines it holds, found in one
// pass by one thread per byte range (as count_in_raw_bytes): for a caller that then reads only
// the lines around the matches. Error::runtime when the file cannot be read.
struct RawOccurrences {
    std::vector<std::uint64_t> match_ends;  // file offset just past each bounded match, in file order
    std::uint64_t newlines = 0;
    std::uint64_t size = 0;  // the bytes read
    bool ends_in_newline = false;
    // Lines, counting an unterminated last one.
    std::uint64_t lines() const { return newlines + (size > 0 && !ends_in_newline ? 1 : 0); }
};
RawOccurrences find_in_raw_bytes(const std::filesystem::path& file, const pii::IdentifierMatcher& identifiers,
                                 unsigned threads);

// Counts the bounded matches of identifiers in bytes that arrive in pieces (an object read
// from a remote store); a match across two pieces is counted once. Keeps only the bytes a
// match and its context can span between pieces.
class StreamingMatchCounter {
public:
    explicit StreamingMatchCounter(const pii::IdentifierMatcher& identifiers) : m_identifiers(identifiers) {}
    void feed(std::string_view bytes);
    // The matches in everything fed.
    std::uint64_t finish();

private:
    const pii::IdentifierMatcher& m_identifiers;
    std::string m_window;       // the tail of what was counted, then what was not yet
    std::size_t m_counted = 0;  // matches ending at or before this offset of m_window are counted
    std::uint64_t m_matches = 0;
};

// The UTC day (days since 1970-01-01) a time falls on.
std::int64_t day_of(util::UnixTime time);

// Records per (dataset, tenant) while a connector streams through a store.
class InventoryTally {
public:
    void add(const config::Dataset& dataset, std::string_view tenant, std::uint64_t bytes,
             std::optional<util::UnixTime> time);
    std::vector<InventoryRow> rows() const;
    // Adds other's counts to this one's (for tallies kept by parallel workers).
    void merge(const InventoryTally& other);

private:
    std::vector<InventoryRow> m_rows;
    std::size_t m_last = static_cast<std::size_t>(-1);
};

// Opens every source of workspace, then validates them all, before any of them is read.
std::vector<std::unique_ptr<Connector>> open_all_connectors(const config::Workspace& workspace);

// The kinds the registry knows, in registry order.
std::vector<std::string> connector_kinds();

}  // namespace gdprctl::connectors
