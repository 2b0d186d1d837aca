#include "connectors/s3/s3_connector.hpp"

#include <fnmatch.h>
#include <zlib.h>

#include <algorithm>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "connectors/key_subjects.hpp"
#include "connectors/s3/s3_client.hpp"
#include "core/error.hpp"
#include "core/util/escape.hpp"
#include "core/util/fs.hpp"
#include "core/util/regex.hpp"

namespace gdprctl::connectors::s3 {

namespace {

constexpr std::size_t k_delete_batch = 1000;   // the most one DeleteObjects request takes
constexpr std::size_t k_parallel_deletes = 4;  // batches in flight at once

// Objects whose bytes the rescan reads for identifiers when the source names no "text"
// patterns: captions, playlists, metadata and logs, plain or gzipped.
const std::vector<std::string> k_default_text = {"*.vtt",   "*.srt", "*.m3u8", "*.txt",   "*.json",
                                                 "*.jsonl", "*.csv", "*.log",  "*.log.*", "*.gz"};

// Objects that are line logs: a person's erasure rewrites them without the lines that hold the
// person's identifiers, when the source names no "lines" patterns.
const std::vector<std::string> k_default_lines = {"*.log", "*.log.*", "*.log-*", "*.jsonl", "*.jsonl.gz"};

bool matches_any(const std::vector<std::string>& patterns, const std::string& text) {
    for (const auto& pattern : patterns)
        if (::fnmatch(pattern.c_str(), text.c_str(), 0) == 0) return true;
    return false;
}

bool ends_with(const std::string& text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Inflates gzip as it arrives and passes the plain bytes on: archived logs are kept gzipped.
class GunzipStream {
public:
    explicit GunzipStream(std::function<void(std::string_view)> out) : m_out(std::move(out)) {
        if (inflateInit2(&m_zs, 15 + 32) != Z_OK) throw Error::runtime("cannot initialise zlib");
    }
    ~GunzipStream() { inflateEnd(&m_zs); }
    GunzipStream(const GunzipStream&) = delete;
    GunzipStream& operator=(const GunzipStream&) = delete;

    void feed(std::string_view in, const std::string& shown) {
        m_zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
        m_zs.avail_in = static_cast<uInt>(in.size());
        while (m_zs.avail_in > 0) {
            m_zs.next_out = m_buffer;
            m_zs.avail_out = sizeof m_buffer;
            int result = inflate(&m_zs, Z_NO_FLUSH);
            if (result != Z_OK && result != Z_STREAM_END && result != Z_BUF_ERROR)
                throw Error::runtime("cannot rescan " + shown + ": it is not valid gzip");
            m_out(std::string_view(reinterpret_cast<char*>(m_buffer), sizeof m_buffer - m_zs.avail_out));
            // Concatenated members (as logrotate's copies may be) continue after the first.
            if (result == Z_STREAM_END) inflateReset(&m_zs);
            if (result == Z_BUF_ERROR) break;
        }
    }

private:
    std::function<void(std::string_view)> m_out;
    z_stream m_zs{};
    unsigned char m_buffer[1 << 16];
};

// Deflates into gzip as bytes arrive: a rewritten log object stays gzipped if it was.
class GzipStream {
public:
    explicit GzipStream(std::function<void(std::string_view)> out) : m_out(std::move(out)) {
        if (deflateInit2(&m_zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            throw Error::runtime("cannot initialise zlib");
    }
    ~GzipStream() { deflateEnd(&m_zs); }
    GzipStream(const GzipStream&) = delete;
    GzipStream& operator=(const GzipStream&) = delete;

    void feed(std::string_view in) { deflate_all(in, Z_NO_FLUSH); }
    void finish() { deflate_all({}, Z_FINISH); }

private:
    void deflate_all(std::string_view in, int flush) {
        m_zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
        m_zs.avail_in = static_cast<uInt>(in.size());
        int result = Z_OK;
        do {
            m_zs.next_out = m_buffer;
            m_zs.avail_out = sizeof m_buffer;
            result = deflate(&m_zs, flush);
            if (result == Z_STREAM_ERROR) throw Error::runtime("zlib failed to compress");
            m_out(std::string_view(reinterpret_cast<char*>(m_buffer), sizeof m_buffer - m_zs.avail_out));
        } while (m_zs.avail_out == 0 || (flush == Z_FINISH && result != Z_STREAM_END));
    }

    std::function<void(std::string_view)> m_out;
    z_stream m_zs{};
    unsigned char m_buffer[1 << 16];
};

// Cuts bytes that arrive in pieces into lines, each passed without its newline and with
// whether it had one (the last line of an object may not).
class LineSplitter {
public:
    using OnLine = std::function<void(std::string_view line, bool newline)>;
    explicit LineSplitter(OnLine on_line) : m_on_line(std::move(on_line)) {}

    void feed(std::string_view bytes) {
        for (auto end = bytes.find('\n'); end != std::string_view::npos; end = bytes.find('\n')) {
            if (m_partial.empty()) {
                m_on_line(bytes.substr(0, end), true);
            } else {
                m_partial.append(bytes.substr(0, end));
                m_on_line(m_partial, true);
                m_partial.clear();
            }
            bytes.remove_prefix(end + 1);
        }
        m_partial.append(bytes);
    }
    void finish() {
        if (!m_partial.empty()) m_on_line(m_partial, false);
        m_partial.clear();
    }

private:
    OnLine m_on_line;
    std::string m_partial;
};

class S3Connector final : public Connector {
public:
    S3Connector(const config::Source& source, const config::Workspace& workspace) : m_source(source) {
        auto reader = source_reader(source);
        refuse_credentials_in_config(reader);
        m_endpoint.source = source.name;
        m_endpoint.url = endpoint_url(reader);
        m_endpoint.bucket = reader.required_string("bucket");
        m_endpoint.region = reader.optional_string("region").value_or("us-east-1");
        m_endpoint.path_style = addressing(reader) == "path";
        m_endpoint.verify_tls = tls_verify(reader);
        if (auto ca = reader.optional_string("ca_file")) m_endpoint.ca_file = util::resolve(workspace.base_dir, *ca);
        if (auto file = reader.optional_string("credentials_file"))
            m_credentials_file = util::resolve(workspace.base_dir, *file);
        m_prefix = reader.optional_string("prefix").value_or("");
        m_include = reader.string_list("include");
        m_text = reader.has("text") ? reader.string_list("text") : k_default_text;
        m_lines = reader.has("lines") ? reader.string_list("lines") : k_default_lines;
        if (auto line_tenant = reader.optional_object("line_tenant")) {
            m_line_tenant.emplace(compile(*line_tenant, line_tenant->required_string("regex"), "regex"));
            line_tenant->finish();
        }
        auto dataset = config::read_dataset(reader, workspace, "");
        dataset.name = source.name;
        reader.finish();
        m_key_subjects = KeySubjects(reader, dataset.subjects);
        if (dataset.tenant && !dataset.tenant->regex.empty())
            m_tenant_regex.emplace(compile(reader, dataset.tenant->regex, "tenant/regex"));
        if (dataset.timestamp && !dataset.timestamp->regex.empty())
            m_time_regex.emplace(compile(reader, dataset.timestamp->regex, "timestamp/regex"));
        m_datasets.push_back(std::move(dataset));
    }

    const config::Source& source() const override { return m_source; }
    const std::vector<config::Dataset>& datasets() const override { return m_datasets; }

    // Reaches the bucket once: an unreachable endpoint, refused credentials or a missing bucket
    // stop the command before any store is read.
    void validate() override { versioned(); }

    SourceInventory inventory(const Selector& selector, const InventoryOptions&) override {
        SourceInventory result;
        const auto& dataset = m_datasets.front();
        if (takes_lines(selector)) return inventory_by_lines(selector);
        if (!selector.may_match(dataset)) return result;
        InventoryTally tally;
        for_each_object(result, false, [&](const Object& object) {
            if (!in_selector(object, selector)) return;
            tally.add(dataset, object.tenant, object.size, object.time);
            result.bytes_read += object.size;
        });
        result.rows = tally.rows();
        return result;
    }

    void collect(const Selector& selector, RecordSink& sink) override {
        const auto& dataset = m_datasets.front();
        if (takes_lines(selector)) return collect_by_lines(selector, sink);
        if (!selector.may_match(dataset)) return;
        SourceInventory ignored;
        for_each_object(ignored, false, [&](const Object& object) {
            if (in_selector(object, selector)) sink.streamed_blob(dataset, object.tenant, streamed(object));
        });
    }

    Plan plan(const Selector& selector, const Action& action) override {
        Plan plan{m_source.name, action, selector, {}, 0, {}};
        const auto& dataset = m_datasets.front();
        if (takes_lines(selector)) return plan_by_lines(std::move(plan));
        if (!selector.may_match(dataset)) return plan;
        if (action.kind == Action::Kind::anonymise)
            throw Error::config(m_source.file + ": " + m_source.pointer + ": source \"" + m_source.name +
                                    "\" holds objects, which can be deleted but not anonymised",
                                "use a delete rule for this category, or exclude the source with \"datasets\"");
        PlanItem current, older;
        current.dataset = older.dataset = dataset.name;
        current.what = "delete objects";
        older.what = "delete noncurrent versions and delete markers";
        SourceInventory ignored;
        for_each_object(ignored, versioned(), [&](const Object& object) {
            count_in_plan(plan, object);
            if (!in_selector(object, selector)) return;
            add_to(object.is_latest && !object.delete_marker ? current : older, object);
        });
        if (dataset.timestamp && dataset.timestamp->format == config::TimeFormat::mtime)
            current.note = "times come from the objects' Last-Modified, which copies and restores change";
        older.note =
            "the bucket keeps versions: every version and delete marker selected goes, so that none holds "
            "the data on";
        for (auto* item : {&current, &older}) {
            item->snapshot = {{"records", item->records}};
            if (item->records) plan.items.push_back(std::move(*item));
        }
        return plan;
    }

    ApplyReport apply(const Plan& plan, ApplyProgress& progress) override {
        ApplyReport report;
        if (plan.items.empty()) return report;
        if (takes_lines(plan.selector)) return apply_by_lines(plan, progress);
        std::uint64_t planned = 0;
        for (const auto& item : plan.items) {
            planned += item.records;
            report.bytes_changed += item.bytes;
        }
        // What remains selected now: a resumed run finds only what the killed one left.
        std::vector<ObjectRef> selected;
        SourceInventory ignored;
        for_each_object(ignored, versioned(), [&](const Object& object) {
            if (in_selector(object, plan.selector)) selected.push_back({object.key, object.version_id});
        });
        if (selected.size() > planned)
            throw Error::findings("source \"" + m_source.name + "\": " + std::to_string(selected.size()) +
                                      " objects to delete now, the plan covered " + std::to_string(planned),
                                  "the bucket changed since the plan was made: make a new plan");
        delete_in_waves(selected, plan.items.front().dataset, progress);
        // Every selected object is gone now, those an interrupted earlier run deleted included:
        // the plan's count is what the whole run removed.
        report.records_changed = planned;
        return report;
    }

    std::vector<std::string> tenant_markers(const std::string&) override { return {}; }

    VerifyReport verify(const Selector& selector, const pii::IdentifierMatcher& identifiers) override {
        VerifyReport report;
        SourceInventory ignored;
        const auto& dataset = m_datasets.front();
        if (!selector.wants_category(dataset.category)) return report;
        std::uint64_t selected = 0;
        for_each_object(ignored, versioned(), [&](const Object& object) {
            ++report.records_scanned;
            if (in_selector(object, selector)) ++selected;
            std::uint64_t found = selector.text_counts_in(object.tenant) ? identifiers.count(object.relative) : 0;
            if (reads_by_line(object, selector, identifiers)) {
                found += count_by_line(object, selector, identifiers, report.bytes_scanned);
            } else if (!identifiers.empty() && selector.text_counts_in(object.tenant) && !object.delete_marker &&
                       is_read_for_text(object)) {
                found += count_in_object(object, identifiers, report.bytes_scanned);
            }
            if (found) report.residue.push_back({location_of(object), found});
        });
        if (selected) report.residue.push_back({m_source.name + " (objects of the selector)", selected});
        return report;
    }

private:
    struct Object {
        std::string key;
        std::string relative;  // the key below the prefix
        std::string tenant;
        std::uint64_t size = 0;
        util::UnixTime last_modified = 0;
        std::optional<util::UnixTime> time;
        std::string version_id;
        std::string etag;
        bool is_latest = true;
        bool delete_marker = false;
    };

    // How a selector that takes lines (takes_lines) takes one object.
    enum class Hold {
        none,
        named,        // its key names the person, or the tenant: it goes, every version
        lines,        // a line log some of whose lines are taken: rewritten without them
        only_lines,   // a line log every line of which is taken: it goes
        unrewritable  // it holds the person's identifiers, but is not a line log gdprctl may rewrite
    };
    struct Finding {
        Hold hold = Hold::none;
        std::uint64_t lines = 0;  // the lines taken (lines, only_lines)
        std::uint64_t bytes = 0;  // their bytes, newlines included
        std::map<std::string, std::uint64_t> lines_per_tenant;
    };

    StreamedBlob streamed(const Object& object) {
        // Blobs are read after collect() returns (an export's archive takes them in turn), by a
        // client of their own that outlives this connector.
        if (!m_blob_reader) m_blob_reader = std::make_shared<Client>(endpoint());
        StreamedBlob blob;
        blob.relative_path = object.relative;
        blob.size = object.size;
        blob.mtime = object.last_modified;
        blob.read = [reader = m_blob_reader, key = object.key](const std::function<void(std::string_view)>& write) {
            reader->get(key, write);
        };
        return blob;
    }

    static void count_in_plan(Plan& plan, const Object& object) {
        if (!object.is_latest || object.delete_marker) return;
        ++plan.source_records;
        if (object.time) plan.newest = std::max(plan.newest.value_or(0), *object.time);
    }

    static void add_to(PlanItem& item, const Object& object, std::uint64_t records = 1, std::uint64_t bytes = 0) {
        item.records += records;
        item.bytes += bytes ? bytes : object.size;
        if (object.time && (!item.oldest || *object.time < *item.oldest)) item.oldest = object.time;
    }

    // Deletes refs in waves of k_parallel_deletes batches, marking progress after each wave.
    void delete_in_waves(const std::vector<ObjectRef>& refs, const std::string& step, ApplyProgress& progress) {
        for (std::size_t begin = 0; begin < refs.size(); begin += k_delete_batch * k_parallel_deletes) {
            auto end = std::min(refs.size(), begin + k_delete_batch * k_parallel_deletes);
            delete_in_parallel(refs, begin, end);
            progress.mark_done(step + "#" + std::to_string(end));
        }
    }

    bool is_line_log(const Object& object) const { return matches_any(m_lines, object.relative); }
    bool is_read_for_text(const Object& object) const {
        return is_line_log(object) || matches_any(m_text, object.relative);
    }

    // A person's selector, and a whole tenant's where lines say whose they are, take line logs
    // line by line; other selectors take whole objects.
    bool takes_lines(const Selector& selector) const {
        return !selector.subjects.empty() || (m_line_tenant && selector.is_whole_tenant());
    }

    std::string_view tenant_of_line(std::string_view line, const Object& object) const {
        if (m_line_tenant)
            if (auto tenant = m_line_tenant->first_group(line)) return *tenant;
        return object.tenant;
    }

    // A person's lines hold their identifiers, in the tenants where the rescan counts them; a
    // tenant's lines are those whose tenant is theirs.
    bool takes_line(std::string_view line, const Object& object, const Selector& selector,
                    const pii::IdentifierMatcher& identifiers) const {
        auto tenant = tenant_of_line(line, object);
        if (selector.subjects.empty()) return !tenant.empty() && selector.wants_tenant(tenant);
        return selector.text_counts_in(tenant) && identifiers.contains(line);
    }

    // Streams the object's bytes, inflated when it is gzipped, through reader.
    void read_plain(Client& reader, const Object& object, const std::function<void(std::string_view)>& on_plain) {
        if (ends_with(object.relative, ".gz")) {
            auto shown = location_of(object);
            GunzipStream gunzip(on_plain);
            reader.get(
                object.key, [&](std::string_view bytes) { gunzip.feed(bytes, shown); }, object.version_id);
        } else {
            reader.get(object.key, on_plain, object.version_id);
        }
    }

    // Reads a line log, calling on_line(line, number, newline) for each line.
    template <typename F>
    void for_each_line(Client& reader, const Object& object, F&& on_line) {
        std::uint64_t number = 0;
        LineSplitter lines([&](std::string_view line, bool newline) { on_line(line, ++number, newline); });
        read_plain(reader, object, [&](std::string_view bytes) { lines.feed(bytes); });
        lines.finish();
    }

    bool names_person(const Object& object, const Selector& selector, const pii::IdentifierMatcher& identifiers) const {
        return m_key_subjects.name_a_subject_of(selector, object.relative) ||
               (!identifiers.empty() && identifiers.contains(object.relative));
    }

    // Where a selector that takes lines looks in object, before reading any of it: the whole
    // object (its key names the person, or the tenant), its lines (a line log whose lines can
    // be the selector's: the key's tenant is in scope, or lines carry their tenant), or, for a
    // person, its bytes (another text object in scope, as the rescan reads it).
    enum class Look { nowhere, whole, lines, text };
    Look where_to_look(const Object& object, const Selector& selector,
                       const pii::IdentifierMatcher& identifiers) const {
        if (!in_time(object, selector)) return Look::nowhere;
        bool person = !selector.subjects.empty();
        bool key_in_scope = selector.wants_tenant(object.tenant);
        if (key_in_scope && (!person || names_person(object, selector, identifiers))) return Look::whole;
        if (object.delete_marker || (person && identifiers.empty())) return Look::nowhere;
        if (is_line_log(object) && (key_in_scope || m_line_tenant)) return Look::lines;
        if (person && key_in_scope && matches_any(m_text, object.relative)) return Look::text;
        return Look::nowhere;
    }

    // What a selector that takes lines does to object: what the rescan would find, the plan
    // takes or names.
    Finding find_taken(const Object& object, const Selector& selector, const pii::IdentifierMatcher& identifiers,
                       std::uint64_t& bytes_read) {
        Finding finding;
        switch (where_to_look(object, selector, identifiers)) {
            case Look::nowhere:
                break;
            case Look::whole:
                finding.hold = Hold::named;
                break;
            case Look::lines: {
                std::uint64_t lines = 0;
                for_each_line(client(), object, [&](std::string_view line, std::uint64_t, bool newline) {
                    ++lines;
                    if (!takes_line(line, object, selector, identifiers)) return;
                    ++finding.lines;
                    finding.bytes += line.size() + (newline ? 1 : 0);
                    ++finding.lines_per_tenant[std::string(tenant_of_line(line, object))];
                });
                bytes_read += object.size;
                if (finding.lines) finding.hold = finding.lines == lines ? Hold::only_lines : Hold::lines;
                break;
            }
            case Look::text:
                if (count_in_object(object, identifiers, bytes_read)) finding.hold = Hold::unrewritable;
                break;
        }
        return finding;
    }

    // Line logs whose lines say whose they are are rescanned line by line: only the lines in
    // the selector's scope count, and after a tenant's erasure a line of theirs is residue.
    bool reads_by_line(const Object& object, const Selector& selector,
                       const pii::IdentifierMatcher& identifiers) const {
        return m_line_tenant && is_line_log(object) && !object.delete_marker &&
               (!identifiers.empty() || (selector.subjects.empty() && takes_lines(selector)));
    }

    std::uint64_t count_by_line(const Object& object, const Selector& selector,
                                const pii::IdentifierMatcher& identifiers, std::uint64_t& bytes_scanned) {
        std::uint64_t found = 0;
        bool tenants_lines = selector.subjects.empty() && takes_lines(selector);
        for_each_line(client(), object, [&](std::string_view line, std::uint64_t, bool) {
            auto tenant = tenant_of_line(line, object);
            if (selector.text_counts_in(tenant)) found += identifiers.count(line);
            if (tenants_lines && tenant == *selector.tenant) ++found;
        });
        bytes_scanned += object.size;
        return found;
    }

    static pii::IdentifierMatcher text_of(const Selector& selector) {
        return pii::IdentifierMatcher(text_patterns(selector.subjects));
    }

    SourceInventory inventory_by_lines(const Selector& selector) {
        SourceInventory result;
        if (!selector.wants_dataset(m_datasets.front())) return result;
        const auto& dataset = m_datasets.front();
        auto identifiers = text_of(selector);
        InventoryTally tally;
        for_each_object(result, false, [&](const Object& object) {
            auto found = find_taken(object, selector, identifiers, result.bytes_read);
            if (found.hold == Hold::named) tally.add(dataset, object.tenant, object.size, object.time);
            for (const auto& [tenant, lines] : found.lines_per_tenant)
                for (std::uint64_t i = 0; i < lines; ++i)
                    tally.add(dataset, tenant, found.bytes / found.lines, object.time);
        });
        result.rows = tally.rows();
        return result;
    }

    // The objects that are the selector's, whole, and its lines of line logs, as records that
    // say where each was. Text objects that only mention a person are not theirs to take.
    void collect_by_lines(const Selector& selector, RecordSink& sink) {
        if (!selector.wants_dataset(m_datasets.front())) return;
        const auto& dataset = m_datasets.front();
        auto identifiers = text_of(selector);
        SourceInventory ignored;
        for_each_object(ignored, false, [&](const Object& object) {
            auto look = where_to_look(object, selector, identifiers);
            if (look == Look::whole) sink.streamed_blob(dataset, object.tenant, streamed(object));
            if (look != Look::lines) return;
            for_each_line(client(), object, [&](std::string_view line, std::uint64_t number, bool) {
                if (!takes_line(line, object, selector, identifiers)) return;
                sink.record(dataset, std::string(tenant_of_line(line, object)),
                            {{"object", object.relative}, {"line", number}, {"text", std::string(line)}});
            });
        });
    }

    Plan plan_by_lines(Plan plan) {
        const auto& selector = plan.selector;
        if (!selector.wants_dataset(m_datasets.front())) return plan;
        const auto& dataset = m_datasets.front();
        if (plan.action.kind == Action::Kind::anonymise ||
            (!selector.subjects.empty() && dataset.on_erase == config::OnErase::anonymise))
            throw Error::config(m_source.file + ": " + m_source.pointer + ": source \"" + m_source.name +
                                    "\" holds objects and log lines, which can be deleted but not anonymised",
                                "use \"erase\": \"delete\" (the default) for this source");
        auto identifiers = text_of(selector);
        std::string whose = selector.subjects.empty() ? "the tenant's" : "the person's";
        PlanItem named, only_lines, rewrite, older, unrewritable;
        named.dataset = only_lines.dataset = rewrite.dataset = older.dataset = unrewritable.dataset = dataset.name;
        named.what = selector.subjects.empty() ? "delete objects" : "delete objects whose key names the person";
        named.note = "every version of them goes";
        only_lines.what = "delete log objects holding only " + whose + " lines";
        rewrite.what = "rewrite log objects without " + whose + " lines";
        rewrite.note = "everybody else's lines stay, in order; a gzipped object stays gzipped";
        older.what = "delete older versions holding " + whose + " lines";
        older.note =
            "a version cannot be rewritten: it goes whole, and the current version keeps everybody else's lines";
        unrewritable.what = "leave alone";
        nlohmann::json nameds = nlohmann::json::array(), onlys = nlohmann::json::array(),
                       olders = nlohmann::json::array(), rewrites = nlohmann::json::array();
        std::vector<std::string> unrewritable_keys;
        SourceInventory ignored;
        std::uint64_t bytes_read = 0;
        for_each_object(ignored, versioned(), [&](const Object& object) {
            count_in_plan(plan, object);
            auto found = find_taken(object, selector, identifiers, bytes_read);
            switch (found.hold) {
                case Hold::none:
                    return;
                case Hold::named:
                    add_to(named, object);
                    nameds.push_back({object.key, object.version_id});
                    return;
                case Hold::lines:
                case Hold::only_lines:
                    if (object.is_latest && found.hold == Hold::only_lines) {
                        add_to(only_lines, object, found.lines, found.bytes);
                        onlys.push_back({object.key, object.version_id});
                    } else if (object.is_latest) {
                        add_to(rewrite, object, found.lines, found.bytes);
                        rewrites.push_back({object.key, object.version_id, object.etag});
                    } else {
                        add_to(older, object);
                        olders.push_back({object.key, object.version_id});
                    }
                    return;
                case Hold::unrewritable:
                    add_to(unrewritable, object);
                    unrewritable_keys.push_back(location_of(object));
                    return;
            }
        });
        if (!unrewritable_keys.empty()) unrewritable.blocked = unrewritable_reason(unrewritable_keys);
        named.snapshot = {{"delete", nameds}};
        only_lines.snapshot = {{"delete", onlys}};
        older.snapshot = {{"delete", olders}};
        rewrite.snapshot = {{"rewrite", rewrites}};
        unrewritable.snapshot = {{"records", unrewritable.records}};
        for (auto* item : {&named, &only_lines, &rewrite, &older, &unrewritable})
            if (item->records) plan.items.push_back(std::move(*item));
        return plan;
    }

    std::string unrewritable_reason(const std::vector<std::string>& locations) const {
        std::string shown;
        for (std::size_t i = 0; i < locations.size() && i < 5; ++i) shown += (i ? ", " : "") + locations[i];
        if (locations.size() > 5) shown += " and " + std::to_string(locations.size() - 5) + " more";
        return "source \"" + m_source.name + "\": " + std::to_string(locations.size()) +
               " object(s) hold the person's identifiers but are not line logs gdprctl rewrites (" + shown +
               "). Remove the person from them, or delete them, by hand; or, if they are line logs, add their "
               "names to \"lines\" in the source; then run the erasure again";
    }

    Object object_at(const std::string& key, const std::string& version_id = {},
                     const std::optional<ObjectHead>& head = std::nullopt) {
        Object object;
        object.key = key;
        object.relative = key.substr(std::min(m_prefix.size(), key.size()));
        object.version_id = version_id;
        describe(object, head);
        return object;
    }

    struct PlannedRewrite {
        std::string key, version_id, etag;
    };

    ApplyReport apply_by_lines(const Plan& plan, ApplyProgress& progress) {
        for (const auto& item : plan.items)
            if (!item.blocked.empty()) throw Error::findings(item.blocked);
        std::vector<ObjectRef> deletes;
        std::vector<PlannedRewrite> rewrites;
        for (const auto& item : plan.items) {
            for (const auto& ref : item.snapshot.value("delete", nlohmann::json::array()))
                deletes.push_back({ref.at(0).get<std::string>(), ref.at(1).get<std::string>()});
            for (const auto& ref : item.snapshot.value("rewrite", nlohmann::json::array()))
                rewrites.push_back(
                    {ref.at(0).get<std::string>(), ref.at(1).get<std::string>(), ref.at(2).get<std::string>()});
        }
        auto now = listing_by_key();
        auto identifiers = text_of(plan.selector);
        refuse_changed_since_plan(rewrites, now, plan.selector, identifiers, progress);
        // Only what still exists is deleted: a resumed run finds what the killed one left.
        std::vector<ObjectRef> remaining;
        for (const auto& ref : deletes)
            if (now.count(ref.key) && now[ref.key].versions.count(ref.version_id)) remaining.push_back(ref);
        delete_in_waves(remaining, m_datasets.front().name + " by lines", progress);
        for (const auto& planned : rewrites) {
            auto step = "rewrite " + planned.key + " " + planned.etag;
            if (progress.is_done(step)) continue;
            auto listed = now.find(planned.key);
            if (listed != now.end() && listed->second.current_etag == planned.etag)
                rewrite_without(planned, plan.selector, identifiers);
            // The version that held the lines stays as a noncurrent one in a versioned bucket.
            if (!planned.version_id.empty() && listed != now.end() && listed->second.versions.count(planned.version_id))
                Client(endpoint()).delete_objects({{planned.key, planned.version_id}});
            progress.mark_done(step);
        }
        ApplyReport report;
        for (const auto& item : plan.items) {
            report.records_changed += item.records;
            report.bytes_changed += item.bytes;
        }
        return report;
    }

    struct Listed {
        std::string current_etag;        // empty: no current object (deleted, or a delete marker)
        std::set<std::string> versions;  // version ids ("" in a bucket without versions)
    };

    std::map<std::string, Listed> listing_by_key() {
        std::map<std::string, Listed> by_key;
        SourceInventory ignored;
        for_each_object(ignored, versioned(), [&](const Object& object) {
            auto& listed = by_key[object.key];
            listed.versions.insert(object.version_id);
            if (object.is_latest && !object.delete_marker) listed.current_etag = object.etag;
        });
        return by_key;
    }

    // A log object whose content is not what the plan read either was rewritten by a run that
    // was killed before it could mark it done (it holds none of the lines taken), or changed
    // since: then nothing is done, and a new plan is needed.
    void refuse_changed_since_plan(const std::vector<PlannedRewrite>& rewrites,
                                   const std::map<std::string, Listed>& now, const Selector& selector,
                                   const pii::IdentifierMatcher& identifiers, ApplyProgress& progress) {
        for (const auto& planned : rewrites) {
            auto listed = now.find(planned.key);
            if (listed == now.end() || listed->second.current_etag.empty() ||
                listed->second.current_etag == planned.etag ||
                progress.is_done("rewrite " + planned.key + " " + planned.etag))
                continue;
            auto current = object_at(planned.key);
            bool holds_taken = false;
            for_each_line(client(), current, [&](std::string_view line, std::uint64_t, bool) {
                holds_taken = holds_taken || takes_line(line, current, selector, identifiers);
            });
            if (holds_taken)
                throw Error::integrity(
                    "source \"" + m_source.name + "\": " + location_of(current) + " changed since the plan was made",
                    "make a new plan: nothing was changed");
        }
    }

    // Writes the object anew, as the same key, without the lines the selector takes: read from
    // one connection while the result is uploaded on another, in parts, so no copy is kept on
    // disk or whole in memory.
    void rewrite_without(const PlannedRewrite& planned, const Selector& selector,
                         const pii::IdentifierMatcher& identifiers) {
        // The new object keeps the old one's content type and user metadata (a tenant it names).
        auto head = client().head(planned.key, planned.version_id);
        if (!head) return;
        auto source = object_at(planned.key, planned.version_id, head);
        bool gz = ends_with(source.relative, ".gz");
        Client reader(endpoint());
        client().put_stream(
            planned.key,
            [&](const std::function<void(std::string_view)>& write) {
                GzipStream gzip(write);
                auto out = [&](std::string_view bytes) {
                    if (gz)
                        gzip.feed(bytes);
                    else
                        write(bytes);
                };
                for_each_line(reader, source, [&](std::string_view line, std::uint64_t, bool newline) {
                    if (takes_line(line, source, selector, identifiers)) return;
                    out(line);
                    if (newline) out("\n");
                });
                if (gz) gzip.finish();
            },
            8u << 20, &*head);
    }

    // Deletes selected[begin, end) as batches of k_delete_batch sent at the same time, one
    // client each: the server deletes one batch's objects one after the other, so batches in
    // flight together keep more of its threads busy. Returns once every batch is done; the
    // first failure is rethrown then.
    void delete_in_parallel(const std::vector<ObjectRef>& selected, std::size_t begin, std::size_t end) {
        std::vector<std::thread> workers;
        std::vector<std::exception_ptr> failures;
        std::mutex failed;
        const auto& settings = endpoint();
        for (std::size_t from = begin; from < end; from += k_delete_batch) {
            auto to = std::min(end, from + k_delete_batch);
            workers.emplace_back([&, from, to] {
                try {
                    Client own(settings);
                    own.delete_objects(std::vector<ObjectRef>(selected.begin() + static_cast<std::ptrdiff_t>(from),
                                                              selected.begin() + static_cast<std::ptrdiff_t>(to)));
                } catch (...) {
                    std::lock_guard lock(failed);
                    failures.push_back(std::current_exception());
                }
            });
        }
        for (auto& worker : workers) worker.join();
        if (!failures.empty()) std::rethrow_exception(failures.front());
    }

    static void refuse_credentials_in_config(const config::JsonReader& reader) {
        for (const char* key : {"access_key_id", "secret_access_key", "aws_access_key_id", "aws_secret_access_key"})
            if (reader.has(key))
                reader.fail(key,
                            "credentials are never read from the config, which is shared and kept in version "
                            "control",
                            "put them in a file named by \"credentials_file\" (mode 0600), or in AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY");
    }

    static std::string endpoint_url(config::JsonReader& reader) {
        auto url = reader.required_string("endpoint");
        if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
            reader.fail("endpoint", "\"" + url + "\" is not an http:// or https:// URL",
                        "give the server's address, e.g. \"https://s3.eu-central-1.amazonaws.com\"");
        while (!url.empty() && url.back() == '/') url.pop_back();
        return url;
    }

    static std::string addressing(config::JsonReader& reader) {
        auto style = reader.optional_string("addressing").value_or("path");
        if (style != "path" && style != "virtual-host")
            reader.fail("addressing", "unknown addressing \"" + style + "\"",
                        "\"path\" (https://host/bucket/key) or \"virtual-host\" (https://bucket.host/key)");
        return style;
    }

    static bool tls_verify(config::JsonReader& reader) {
        auto value = reader.optional_value("tls_verify");
        if (!value) return true;
        if (!value->is_boolean()) reader.fail("tls_verify", "must be true or false");
        return value->get<bool>();
    }

    static util::Regex compile(const config::JsonReader& reader, const std::string& pattern, const std::string& key) {
        try {
            return util::Regex(pattern);
        } catch (const std::invalid_argument& e) {
            reader.fail_path(key, std::string("invalid regex: ") + e.what());
        }
    }

    // The credentials are read when the bucket is first reached, so that commands that never
    // reach it (a policy check of the config) need none.
    const Endpoint& endpoint() {
        if (m_endpoint.credentials.access_key_id.empty())
            m_endpoint.credentials =
                m_credentials_file.empty() ? credentials_from_environment() : read_credentials_file(m_credentials_file);
        return m_endpoint;
    }

    Client& client() {
        if (!m_client) m_client = std::make_unique<Client>(endpoint());
        return *m_client;
    }

    bool versioned() {
        if (!m_versioned) m_versioned = client().has_versioning();
        return *m_versioned;
    }

    std::string location_of(const Object& object) const {
        auto shown = "s3://" + m_endpoint.bucket + "/" + util::printable(object.key);
        if (!object.version_id.empty() && !object.is_latest) shown += " (version " + object.version_id + ")";
        return shown;
    }

    std::uint64_t count_in_object(const Object& object, const pii::IdentifierMatcher& identifiers,
                                  std::uint64_t& bytes_scanned) {
        StreamingMatchCounter counter(identifiers);
        read_plain(client(), object, [&](std::string_view plain) { counter.feed(plain); });
        bytes_scanned += object.size;
        return counter.finish();
    }

    bool in_time(const Object& object, const Selector& selector) const {
        return !selector.older_than || (object.time && *object.time < *selector.older_than);
    }

    // A person's selector takes only the objects whose key names them (KeySubjects), as for
    // files; their lines of line logs are taken by the line-by-line path (takes_lines).
    bool in_selector(const Object& object, const Selector& selector) const {
        return selector.wants_tenant(object.tenant) && in_time(object, selector) &&
               (selector.subjects.empty() || m_key_subjects.name_a_subject_of(selector, object.relative));
    }

    // The user metadata the data map names ("x-amz-meta-tenant" or "tenant"), as HEAD gives it.
    static std::string metadata_value(const std::optional<ObjectHead>& head, std::string name) {
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (name.rfind("x-amz-meta-", 0) == 0) name.erase(0, 11);
        if (!head) return {};
        auto found = head->metadata.find(name);
        return found == head->metadata.end() ? std::string() : found->second;
    }

    bool uses_metadata() const {
        const auto& dataset = m_datasets.front();
        return (dataset.tenant && !dataset.tenant->metadata.empty()) ||
               (dataset.timestamp && !dataset.timestamp->metadata.empty());
    }

    // The tenant and the time, where the data map takes them from: the key, the object's
    // Last-Modified, or its user metadata (one HEAD request an object, made only then).
    // False when the object is gone since it was listed. known: its HEAD, when the caller has it.
    bool describe(Object& object, const std::optional<ObjectHead>& known = std::nullopt) {
        const auto& dataset = m_datasets.front();
        std::optional<ObjectHead> head = known;
        if (uses_metadata() && !object.delete_marker && !head) {
            head = client().head(object.key, object.version_id);
            if (!head) return false;
        }
        if (dataset.tenant) {
            auto text =
                dataset.tenant->metadata.empty() ? object.relative : metadata_value(head, dataset.tenant->metadata);
            object.tenant = m_tenant_regex ? std::string(m_tenant_regex->first_group(text).value_or("")) : text;
        }
        const auto& spec = dataset.timestamp;
        if (!spec || spec->format == config::TimeFormat::mtime) {
            object.time = object.last_modified;
            return true;
        }
        auto text = spec->metadata.empty() ? object.relative : metadata_value(head, spec->metadata);
        auto date = m_time_regex ? m_time_regex->first_group(text) : std::optional<std::string_view>(text);
        object.time = date && !date->empty() ? config::parse_timestamp(*date, *spec) : std::nullopt;
        return true;
    }

    // Every object under the prefix that "include" takes; with versions, every version and
    // delete marker of them.
    template <typename F>
    void for_each_object(SourceInventory& result, bool versions, F&& on_object) {
        auto visit = [&](const ObjectVersion& listed) {
            Object object;
            object.key = listed.key;
            object.relative = listed.key.substr(std::min(m_prefix.size(), listed.key.size()));
            if (object.relative.empty() || !(m_include.empty() || matches_any(m_include, object.relative))) return;
            object.size = listed.size;
            object.last_modified = listed.last_modified;
            object.version_id = listed.version_id;
            object.etag = listed.etag;
            object.is_latest = listed.is_latest;
            object.delete_marker = listed.delete_marker;
            if (!describe(object)) return;
            // An object whose key carries no readable date is still counted (it is personal
            // data all the same) and reported as malformed.
            if (!object.time && m_datasets.front().timestamp && !result.malformed++)
                result.first_malformed = location_of(object);
            on_object(object);
        };
        if (versions)
            client().list_versions(m_prefix, visit);
        else
            client().list(m_prefix, visit);
    }

    config::Source m_source;
    std::vector<config::Dataset> m_datasets;
    Endpoint m_endpoint;
    std::filesystem::path m_credentials_file;
    std::string m_prefix;
    std::vector<std::string> m_include;
    std::vector<std::string> m_text;
    std::vector<std::string> m_lines;
    KeySubjects m_key_subjects;
    std::optional<util::Regex> m_tenant_regex;
    std::optional<util::Regex> m_time_regex;
    std::optional<util::Regex> m_line_tenant;
    std::unique_ptr<Client> m_client;
    std::shared_ptr<Client> m_blob_reader;
    std::optional<bool> m_versioned;
};

}  // namespace

std::unique_ptr<Connector> open(const config::Source& source, const config::Workspace& workspace) {
    return std::make_unique<S3Connector>(source, workspace);
}

}  // namespace gdprctl::connectors::s3
