#include "connectors/s3/s3_connector.hpp"

#include <fnmatch.h>
#include <zlib.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>

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
        auto dataset = config::read_dataset(reader, workspace, "");
        dataset.name = source.name;
        reader.finish();
        if (dataset.tenant) m_tenant_regex.emplace(compile(reader, dataset.tenant->regex, "tenant/regex"));
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
        SourceInventory ignored;
        const auto& dataset = m_datasets.front();
        if (!selector.may_match(dataset)) return;
        // Blobs are read after collect() returns (an export's archive takes them in turn), by a
        // client of their own that outlives this connector.
        auto reader = std::make_shared<Client>(endpoint());
        for_each_object(ignored, false, [&](const Object& object) {
            if (!in_selector(object, selector)) return;
            StreamedBlob blob;
            blob.relative_path = object.relative;
            blob.size = object.size;
            blob.mtime = object.last_modified;
            blob.read = [reader, key = object.key](const std::function<void(std::string_view)>& write) {
                reader->get(key, write);
            };
            sink.streamed_blob(dataset, object.tenant, blob);
        });
    }

    Plan plan(const Selector& selector, const Action& action) override {
        Plan plan{m_source.name, action, selector, {}, 0, {}};
        const auto& dataset = m_datasets.front();
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
            if (object.is_latest && !object.delete_marker) {
                ++plan.source_records;
                if (object.time) plan.newest = std::max(plan.newest.value_or(0), *object.time);
            }
            if (!in_selector(object, selector)) return;
            auto& item = object.is_latest && !object.delete_marker ? current : older;
            ++item.records;
            item.bytes += object.size;
            if (object.time && (!item.oldest || *object.time < *item.oldest)) item.oldest = object.time;
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
        for (std::size_t begin = 0; begin < selected.size(); begin += k_delete_batch * k_parallel_deletes) {
            auto end = std::min(selected.size(), begin + k_delete_batch * k_parallel_deletes);
            delete_in_parallel(selected, begin, end);
            progress.mark_done(plan.items.front().dataset + "#" + std::to_string(end));
        }
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
            if (selector.subjects.empty() && in_selector(object, selector)) ++selected;
            if (identifiers.empty() || !selector.text_counts_in(object.tenant)) return;
            std::uint64_t found = identifiers.count(object.relative);
            if (!object.delete_marker && matches_any(m_text, object.relative))
                found += count_in_object(object, identifiers, report.bytes_scanned);
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
        bool is_latest = true;
        bool delete_marker = false;
    };

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
        auto shown = location_of(object);
        if (ends_with(object.relative, ".gz")) {
            GunzipStream gunzip([&](std::string_view plain) { counter.feed(plain); });
            client().get(
                object.key, [&](std::string_view bytes) { gunzip.feed(bytes, shown); }, object.version_id);
        } else {
            client().get(
                object.key, [&](std::string_view bytes) { counter.feed(bytes); }, object.version_id);
        }
        bytes_scanned += object.size;
        return counter.finish();
    }

    bool in_selector(const Object& object, const Selector& selector) const {
        if (!selector.wants_tenant(object.tenant)) return false;
        if (selector.older_than && (!object.time || *object.time >= *selector.older_than)) return false;
        return true;
    }

    std::optional<util::UnixTime> time_of(const Object& object) const {
        const auto& spec = m_datasets.front().timestamp;
        if (!spec || spec->format == config::TimeFormat::mtime) return object.last_modified;
        auto text = m_time_regex->first_group(object.relative);
        if (!text) return std::nullopt;
        return config::parse_timestamp(*text, *spec);
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
            if (m_tenant_regex) object.tenant = std::string(m_tenant_regex->first_group(object.relative).value_or(""));
            object.size = listed.size;
            object.last_modified = listed.last_modified;
            object.version_id = listed.version_id;
            object.is_latest = listed.is_latest;
            object.delete_marker = listed.delete_marker;
            object.time = time_of(object);
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
    std::optional<util::Regex> m_tenant_regex;
    std::optional<util::Regex> m_time_regex;
    std::unique_ptr<Client> m_client;
    std::optional<bool> m_versioned;
};

}  // namespace

std::unique_ptr<Connector> open(const config::Source& source, const config::Workspace& workspace) {
    return std::make_unique<S3Connector>(source, workspace);
}

}  // namespace gdprctl::connectors::s3
