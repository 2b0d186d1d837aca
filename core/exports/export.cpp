#include "core/exports/export.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <algorithm>
#include <cstring>
#include <thread>
#include <optional>
#include <mutex>
#include <deque>
#include <condition_variable>
#include <set>
#include <sstream>

#include "core/crypto/workers.hpp"
#include "core/error.hpp"
#include "core/journal/journal.hpp"
#include "core/scan/linked.hpp"
#include "core/util/escape.hpp"
#include "core/util/fs.hpp"
#include "core/util/json_text.hpp"
#include "core/version.hpp"

namespace gdprctl::exports {

namespace {

constexpr char k_manifest[] = "manifest.json";

// Media that is compressed already: stored as it is in a zip.
bool compressed_media(const std::filesystem::path& file) {
    static const std::set<std::string> k_extensions = {".flv", ".mp4",  ".m4s", ".ts",   ".mkv", ".webm", ".mp3",
                                                       ".aac", ".m4a",  ".ogg", ".opus", ".jpg", ".jpeg", ".png",
                                                       ".gif", ".webp", ".gz",  ".zst",  ".zip", ".xz",   ".bz2"};
    return k_extensions.count(file.extension().string()) > 0;
}

bool needs_csv_quotes(std::string_view text) {
    // A plain loop: find_first_of calls memchr once per character, which showed in profiles.
    for (char c : text)
        if (c == ',' || c == '"' || c == '\r' || c == '\n') return true;
    return false;
}

void append_csv_text(std::string& out, std::string_view text) {
    if (!needs_csv_quotes(text)) {
        out += text;
        return;
    }
    out += '"';
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
}

// Appends value as one CSV cell, without copying strings or building temporaries: this runs
// once per column of every exported row.
void append_csv_field(std::string& out, const nlohmann::json& value) {
    if (value.is_string()) return append_csv_text(out, value.get_ref<const std::string&>());
    if (value.is_null()) return;
    if (value.is_number_integer()) {
        char digits[24];
        auto end = value.is_number_unsigned()
                       ? std::to_chars(digits, digits + sizeof digits, value.get<std::uint64_t>()).ptr
                       : std::to_chars(digits, digits + sizeof digits, value.get<std::int64_t>()).ptr;
        out.append(digits, end);
        return;
    }
    append_csv_text(out, value.dump());
}

// A temporary file with no name (O_TMPFILE) beside the export: records of one dataset wait
// here until their size is known, which a tar header needs. It vanishes when closed.
class Spool {
public:
    explicit Spool(const std::filesystem::path& dir) {
        m_fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (m_fd < 0) {
            auto pattern = (dir / ".gdprctl-spool-XXXXXX").string();
            m_fd = ::mkstemp(pattern.data());
            if (m_fd >= 0) ::unlink(pattern.c_str());
        }
        if (m_fd < 0)
            throw Error::runtime("cannot create a temporary file in " + dir.string() + ": " + std::strerror(errno));
    }
    ~Spool() { ::close(m_fd); }
    Spool(const Spool&) = delete;
    Spool& operator=(const Spool&) = delete;

    void append(const std::string& text) {
        m_buffer += text;
        if (m_buffer.size() >= (1u << 20)) flush();
    }
    std::int64_t size() {
        flush();
        return m_size;
    }
    int fd() const { return m_fd; }
    // Writes what is buffered and frees the buffer: a dataset that is complete waits for the
    // archive without holding memory.
    void release_buffer() {
        flush();
        std::string().swap(m_buffer);
    }
    void reset() {
        m_buffer.clear();
        if (::ftruncate(m_fd, 0) != 0 || ::lseek(m_fd, 0, SEEK_SET) != 0)
            throw Error::runtime("cannot reuse a temporary file: " + std::string(std::strerror(errno)));
        m_size = 0;
    }

private:
    void flush() {
        util::write_fully(m_fd, m_buffer, "a temporary file");
        m_size += static_cast<std::int64_t>(m_buffer.size());
        m_buffer.clear();
    }
    int m_fd = -1;
    std::string m_buffer;
    std::int64_t m_size = 0;
};

std::string source_of(const config::Dataset& dataset) { return dataset.name.substr(0, dataset.name.find(':')); }

std::string records_path(const config::Dataset& dataset, const std::string& extension) {
    auto name = dataset.name;
    std::replace(name.begin(), name.end(), ':', '/');
    return "records/" + name + extension;
}

struct ManifestEntry {
    std::string path;
    std::uint64_t bytes = 0;
    std::string sha256;
};

// Counts what an export would hold, writing nothing (--dry-run).
class CountingSink : public connectors::RecordSink {
public:
    void record(const config::Dataset& dataset, const std::string&, const nlohmann::json& record) override {
        m_counted.clear();
        util::append_json(m_counted, record);
        add(dataset, m_counted.size() + 1);
    }
    void blob(const config::Dataset& dataset, const std::string&, const std::filesystem::path& file,
              const std::string&) override {
        auto& count = count_of(dataset);
        ++count.records;
        std::error_code ec;
        count.bytes += std::filesystem::file_size(file, ec);
    }
    void streamed_blob(const config::Dataset& dataset, const std::string&,
                       const connectors::StreamedBlob& blob) override {
        add(dataset, blob.size);
    }
    std::vector<DatasetCount> counts;

protected:
    void add(const config::Dataset& dataset, std::uint64_t bytes) {
        auto& count = count_of(dataset);
        ++count.records;
        count.bytes += bytes;
    }
    DatasetCount& count_of(const config::Dataset& dataset) {
        for (auto& count : counts)
            if (count.dataset == dataset.name) return count;
        counts.push_back({dataset.name, source_of(dataset), dataset.category, 0, 0});
        return counts.back();
    }

private:
    std::string m_counted;  // one record's JSON, reused: only its size is counted
};

// A file a connector found, waiting for the archive writer.
struct PendingBlob {
    const config::Dataset* dataset = nullptr;
    std::filesystem::path file;
    std::string relative_path;
    std::optional<connectors::StreamedBlob> streamed;  // a remote object instead of file
};

// Thrown in a collecting thread once the export failed elsewhere; that failure is the one reported.
struct ExportCancelled {};

// Hands files from the collecting thread to the archiving thread, a few at a time. cancel()
// makes the producer's next push() throw, so that a failed archive stops the collection.
class BlobQueue {
public:
    void push(PendingBlob blob) {
        std::unique_lock lock(m_mutex);
        m_changed.wait(lock, [&] { return m_cancelled || m_items.size() < k_capacity; });
        if (m_cancelled) throw ExportCancelled{};
        m_items.push_back(std::move(blob));
        m_changed.notify_all();
    }
    std::optional<PendingBlob> pop() {
        std::unique_lock lock(m_mutex);
        m_changed.wait(lock, [&] { return m_closed || !m_items.empty(); });
        if (m_items.empty()) return std::nullopt;
        auto blob = std::move(m_items.front());
        m_items.pop_front();
        m_changed.notify_all();
        return blob;
    }
    void close() {
        std::lock_guard lock(m_mutex);
        m_closed = true;
        m_changed.notify_all();
    }
    void cancel() {
        std::lock_guard lock(m_mutex);
        m_cancelled = true;
        m_changed.notify_all();
    }
    void throw_if_cancelled() {
        std::lock_guard lock(m_mutex);
        if (m_cancelled) throw ExportCancelled{};
    }

private:
    static constexpr std::size_t k_capacity = 64;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<PendingBlob> m_items;
    bool m_closed = false;
    bool m_cancelled = false;
};

// The records of one dataset as JSON lines (and CSV for tables), in temporary files until the
// archive takes them, since a tar header needs their size first.
struct SpooledDataset {
    SpooledDataset(const config::Dataset& d, const std::filesystem::path& dir) : dataset(&d), jsonl(dir), csv(dir) {}
    const config::Dataset* dataset;
    Spool jsonl;
    Spool csv;
    std::vector<std::string> columns;  // the CSV header, from the first record
};

// Runs on the collecting thread: serialises records into one spool pair per dataset, counts
// everything, and queues files for the archiving thread.
class RecordSpooler : public CountingSink {
public:
    RecordSpooler(const std::filesystem::path& spool_dir, BlobQueue& blobs) : m_dir(spool_dir), m_blobs(blobs) {}

    void record(const config::Dataset& dataset, const std::string&, const nlohmann::json& record) override {
        if (!m_current || m_current->dataset->name != dataset.name) start(dataset);
        // The archiving thread may have failed; a large table is not read to its end for nothing.
        if ((++m_records & 0xfff) == 0) m_blobs.throw_if_cancelled();
        m_line.clear();
        util::append_json(m_line, record);
        m_line += '\n';
        add(dataset, m_line.size());
        m_current->jsonl.append(m_line);
        if (dataset.locator.empty()) return;
        auto& columns = m_current->columns;
        if (columns.empty()) {
            std::string header;
            for (const auto& [column, value] : record.items()) {
                columns.push_back(column);
                if (!header.empty()) header += ',';
                append_csv_text(header, column);
            }
            m_current->csv.append(header + "\r\n");
        }
        m_row.clear();
        // The records of a table come with the same columns in the same order: walk them side
        // by side, and look a column up only where a record differs.
        auto item = record.begin();
        for (std::size_t i = 0; i < columns.size(); ++i) {
            if (i) m_row += ',';
            if (item != record.end() && item.key() == columns[i]) {
                append_csv_field(m_row, *item++);
                continue;
            }
            auto it = record.find(columns[i]);
            if (it != record.end()) append_csv_field(m_row, *it);
        }
        m_row += "\r\n";
        m_current->csv.append(m_row);
    }

    void blob(const config::Dataset& dataset, const std::string& tenant, const std::filesystem::path& file,
              const std::string& relative_path) override {
        CountingSink::blob(dataset, tenant, file, relative_path);
        m_blobs.push({&dataset, file, relative_path, std::nullopt});
    }
    void streamed_blob(const config::Dataset& dataset, const std::string& tenant,
                       const connectors::StreamedBlob& blob) override {
        CountingSink::streamed_blob(dataset, tenant, blob);
        m_blobs.push({&dataset, {}, blob.relative_path, blob});
    }

    // The spooled datasets, in the order their first record came; call after collecting.
    std::vector<std::unique_ptr<SpooledDataset>>& datasets() {
        finish_current();
        return m_datasets;
    }

private:
    void start(const config::Dataset& dataset) {
        finish_current();
        for (auto& spooled : m_datasets)
            if (spooled->dataset->name == dataset.name) m_current = spooled.get();
        if (!m_current) {
            m_datasets.push_back(std::make_unique<SpooledDataset>(dataset, m_dir));
            m_current = m_datasets.back().get();
        }
    }
    void finish_current() {
        if (m_current) {
            m_current->jsonl.release_buffer();
            m_current->csv.release_buffer();
        }
        m_current = nullptr;
    }

    std::filesystem::path m_dir;
    BlobQueue& m_blobs;
    std::vector<std::unique_ptr<SpooledDataset>> m_datasets;
    SpooledDataset* m_current = nullptr;
    std::uint64_t m_records = 0;
    // Reused for every row: one line buffer, one CSV row buffer.
    std::string m_line;
    std::string m_row;
};

// Runs on the archiving thread: writes files, spooled records and texts into the archive and
// hashes every entry for the manifest.
class ArchiveEntries {
public:
    ArchiveEntries(backup::ArchiveWriter& archive, util::UnixTime now) : m_archive(archive), m_now(now) {
        m_archive.observe([this](const unsigned char* data, std::size_t size) {
            m_entry_hasher.write(data, size);
            m_entry_bytes += size;
        });
    }

    void add_blob(const PendingBlob& blob) {
        if (blob.streamed) {
            auto path = "files/" + source_of(*blob.dataset) + "/" + blob.relative_path;
            const auto& streamed = *blob.streamed;
            entry(path, [&] {
                m_archive.add_stream(path, streamed.size, streamed.mtime, compressed_media(streamed.relative_path),
                                     streamed.read);
            });
            return;
        }
        struct stat st {};
        std::int64_t mtime = ::stat(blob.file.c_str(), &st) == 0 ? st.st_mtime : m_now;
        auto path = "files/" + source_of(*blob.dataset) + "/" + blob.relative_path;
        entry(path, [&] { m_archive.add_file(path, blob.file, mtime, compressed_media(blob.file)); });
    }

    void add_records(SpooledDataset& spooled) {
        auto jsonl = records_path(*spooled.dataset, ".jsonl");
        entry(jsonl, [&] { m_archive.add_descriptor(jsonl, spooled.jsonl.fd(), spooled.jsonl.size(), m_now); });
        if (!spooled.dataset->locator.empty()) {
            auto csv = records_path(*spooled.dataset, ".csv");
            entry(csv, [&] { m_archive.add_descriptor(csv, spooled.csv.fd(), spooled.csv.size(), m_now); });
        }
    }

    void add_text(const std::string& path, const std::string& text) {
        entry(path, [&] { m_archive.add(path, text, m_now); });
    }

    std::vector<ManifestEntry> entries;

private:
    template <typename F>
    void entry(const std::string& path, F&& write) {
        m_entry_hash = std::make_unique<crypto::Sha256>();
        m_entry_bytes = 0;
        write();
        m_entry_hasher.finish();
        entries.push_back({path, m_entry_bytes, m_entry_hash->hex()});
    }

    backup::ArchiveWriter& m_archive;
    util::UnixTime m_now;
    std::unique_ptr<crypto::Sha256> m_entry_hash;
    std::uint64_t m_entry_bytes = 0;
    // Entries are hashed for the manifest on a helper thread, overlapping with reading and
    // compressing the next bytes.
    crypto::BackgroundSink m_entry_hasher{
        [this](const unsigned char* data, std::size_t size) { m_entry_hash->update(data, size); }};
};

// Collects on two helper threads (one source at a time each, so that a database is read and
// serialised while the files of another source are found) while this thread archives the
// files as they come; then adds the spooled records, source by source in config order.
std::vector<DatasetCount> collect_into(ArchiveEntries& archive, scan::Connectors& connectors,
                                       const connectors::Selector& selector, const std::filesystem::path& spool_dir) {
    BlobQueue blobs;
    std::vector<std::unique_ptr<RecordSpooler>> spoolers(connectors.size());
    for (auto& spooler : spoolers) spooler = std::make_unique<RecordSpooler>(spool_dir, blobs);
    std::vector<std::exception_ptr> errors(connectors.size());
    std::atomic<std::size_t> next{0};
    std::atomic<unsigned> running{0};
    auto collect_sources = [&] {
        for (std::size_t i; (i = next++) < connectors.size();) {
            try {
                connectors[i]->collect(selector, *spoolers[i]);
            } catch (const ExportCancelled&) {
            } catch (...) {
                errors[i] = std::current_exception();
                blobs.cancel();  // the other sources stop too: the export has failed
            }
        }
        if (--running == 0) blobs.close();
    };
    unsigned threads = static_cast<unsigned>(std::min<std::size_t>(2, connectors.size()));
    running = threads;
    std::vector<std::thread> collectors;
    for (unsigned t = 0; t < threads; ++t) collectors.emplace_back(collect_sources);
    if (threads == 0) blobs.close();
    std::exception_ptr archive_error;
    try {
        while (auto blob = blobs.pop()) archive.add_blob(*blob);
    } catch (...) {
        archive_error = std::current_exception();
        blobs.cancel();
    }
    for (auto& collector : collectors) collector.join();
    if (archive_error) std::rethrow_exception(archive_error);
    for (auto& error : errors)
        if (error) std::rethrow_exception(error);
    std::vector<DatasetCount> counts;
    for (auto& spooler : spoolers) {
        for (auto& spooled : spooler->datasets()) archive.add_records(*spooled);
        counts.insert(counts.end(), spooler->counts.begin(), spooler->counts.end());
    }
    return counts;
}

std::string describe_selector(const connectors::Selector& selector) {
    if (selector.tenant && selector.subjects.empty())
        return "everything the platform holds for customer \"" + *selector.tenant + "\"";
    return "everything the platform holds about the person identified by the " +
           std::to_string(selector.subjects.size()) + " identifier(s) given in the request" +
           (selector.tenant ? ", within customer \"" + *selector.tenant + "\"" : "");
}

std::string list_text(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : "; ") + item;
    return out.empty() ? "-" : out;
}

// Art. 15(1)(a)-(h) for every category the archive holds, from the register's activities.
std::string processing_text(const ropa::Register& reg, const std::vector<DatasetCount>& counts) {
    std::ostringstream text;
    std::set<std::string> categories;
    for (const auto& count : counts) categories.insert(count.category);
    if (reg.activities.empty() || categories.empty()) {
        text << "The purposes, legal basis, recipients and retention period of each category are in the\n"
                "controller's records of processing; ask the controller for them.\n";
        return text.str();
    }
    text << "How this data is processed (from the records of processing activities, GDPR Art. 30):\n";
    for (const auto& category : categories) {
        text << "\n  Category: " << category << "\n";
        bool any = false;
        for (const auto& activity : reg.activities) {
            if (std::find(activity.categories.begin(), activity.categories.end(), category) ==
                activity.categories.end())
                continue;
            any = true;
            std::vector<std::string> recipients, transfers;
            for (const auto& r : activity.recipients)
                recipients.push_back(r.name + (r.country.empty() ? "" : " (" + r.country + ")"));
            for (const auto& t : activity.transfers)
                transfers.push_back(t.country +
                                    (t.safeguard.empty() ? "" : ", " + ropa::describe_safeguard(t.safeguard)));
            std::string retention = activity.retention.days ? std::to_string(*activity.retention.days) + " days" : "";
            if (!activity.retention.description.empty())
                retention += (retention.empty() ? "" : " - ") + activity.retention.description;
            text << "    " << (activity.name.empty() ? activity.id : activity.name) << "\n"
                 << "      purposes:     " << list_text(activity.purposes) << "\n"
                 << "      legal basis:  "
                 << (activity.legal_basis.empty() ? "-" : ropa::describe_legal_basis(activity.legal_basis)) << "\n"
                 << "      recipients:   " << list_text(recipients) << "\n"
                 << "      transfers:    " << (transfers.empty() ? "none outside the EEA" : list_text(transfers))
                 << "\n"
                 << "      kept:         " << (retention.empty() ? "-" : retention) << "\n"
                 << "      source:       " << list_text(activity.sources) << "\n";
        }
        if (!any) text << "    The records of processing do not describe this category; ask the controller.\n";
    }
    return text.str();
}

std::string readme_text(const ExportOptions& options, const std::vector<DatasetCount>& counts,
                        const std::vector<ManifestEntry>& entries, const std::string& platform) {
    std::ostringstream text;
    text << "Your data from " << platform << "\n\n"
         << "This archive holds " << describe_selector(options.selector) << ", as it was on "
         << util::format_iso8601(options.now) << ".\n\n";
    if (counts.empty()) {
        text << "Nothing was found: the platform holds no records for this request. This archive is the answer\n"
                "to the request all the same.\n\n";
    } else {
        text << "What it holds, per source (category: records or files):\n";
        for (const auto& count : counts)
            text << "  " << count.dataset << " (" << count.category << "): " << count.records << "\n";
        text << "\n";
    }
    text << "Files:\n"
            "  records/<source>/<table>.jsonl   one JSON object per row, every column (machine-readable)\n"
            "  records/<source>/<table>.csv     the same rows as CSV, for spreadsheets\n"
            "  records/<log>.jsonl              log lines: {\"file\", \"line\", \"text\"}\n"
            "  files/<source>/...               recordings, captions and other files, as they are\n"
            "  manifest.json                    every file with its size and SHA-256\n\n";
    for (const auto& entry : entries) text << "  " << entry.path << "  (" << entry.bytes << " bytes)\n";
    text << "\n" << processing_text(options.processing, counts);
    text << "\nYour rights (GDPR Art. 15-22): access to your data and to information about its processing,\n"
            "rectification, erasure, restriction, portability (this archive), and objection. Ask the\n"
            "controller of this service to exercise them; you may also complain to a supervisory authority.\n";
    return text.str();
}

std::string readme_html(const std::string& text) {
    return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your data</title></head>\n"
           "<body><pre>\n" +
           util::markup_escape(text) + "</pre></body></html>\n";
}

// The archive stream of a (possibly encrypted) export, for reading.
class ExportSource {
public:
    ExportSource(const std::filesystem::path& file, const crypto::Keyring& keyring) : m_path(file) {
        m_fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        if (m_fd < 0) throw Error::usage("cannot read " + file.string() + ": " + std::strerror(errno));
        crypto::ByteSource raw = [this](unsigned char* out, std::size_t size) -> std::size_t {
            auto n = ::read(m_fd, out, size);
            if (n < 0) throw Error::runtime("cannot read " + m_path.string() + ": " + std::strerror(errno));
            return static_cast<std::size_t>(n);
        };
        unsigned char magic[8] = {};
        auto n = ::pread(m_fd, magic, sizeof magic, 0);
        if (n == 8 && std::memcmp(magic, crypto::k_magic, 7) == 0) {
            m_reader = std::make_unique<crypto::ContainerReader>(raw, keyring);
            m_source = [this](unsigned char* out, std::size_t size) { return m_reader->read(out, size); };
        } else {
            m_source = raw;
        }
    }
    ~ExportSource() { ::close(m_fd); }
    const crypto::ByteSource& source() const { return m_source; }

private:
    std::filesystem::path m_path;
    int m_fd = -1;
    std::unique_ptr<crypto::ContainerReader> m_reader;
    crypto::ByteSource m_source;
};

}  // namespace

std::uint64_t ExportReport::records() const {
    std::uint64_t total = 0;
    for (const auto& count : datasets) total += count.records;
    return total;
}

nlohmann::json ExportReport::to_json() const {
    nlohmann::json sets = nlohmann::json::array();
    for (const auto& count : datasets)
        sets.push_back({{"dataset", count.dataset},
                        {"source", count.source},
                        {"category", count.category},
                        {"records", count.records},
                        {"bytes", count.bytes}});
    return {{"out", out.string()},
            {"dry_run", dry_run},
            {"encrypted", encrypted},
            {"linked_identifiers", linked_identifiers},
            {"shared_addresses_left_out", shared_addresses},
            {"datasets", sets},
            {"records", records()},
            {"entries", entries},
            {"archive_bytes", archive_bytes},
            {"archive_sha256", archive_sha256}};
}

backup::ArchiveFormat parse_format(const std::string& text) {
    if (text == "zip") return backup::ArchiveFormat::zip;
    if (text == "tar.gz") return backup::ArchiveFormat::tar_gz;
    if (text == "tar.zst") return backup::ArchiveFormat::tar_zst;
    throw Error::usage("unknown export format \"" + text + "\"", "use zip, tar.gz or tar.zst");
}

ExportReport run_export(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                        const ExportOptions& options) {
    if (!options.selector.tenant && options.selector.subjects.empty())
        throw Error::usage("an export is about a tenant or a person", "give --tenant T or --subject KIND:VALUE");
    auto connectors = open_sources(workspace);
    ExportOptions resolved = options;
    auto subjects = scan::resolve_subjects(options.selector, connectors);
    resolved.selector = subjects.selector;
    ExportReport report;
    report.linked_identifiers = subjects.linked;
    report.shared_addresses = subjects.shared.size();
    report.out = options.out;
    report.dry_run = options.dry_run;
    report.encrypted = !options.recipients.empty() || options.passphrase;
    if (!options.recipients.empty() && options.passphrase)
        throw Error::usage("an export is sealed for recipient keys or under a passphrase, not both");
    if (options.dry_run) {
        CountingSink counter;
        for (auto& connector : connectors) connector->collect(resolved.selector, counter);
        report.datasets = counter.counts;
        return report;
    }
    util::refuse_symbolic_link(options.out);
    if (std::filesystem::exists(options.out) && !options.force)
        throw Error::usage(options.out.string() + " exists; gdprctl does not overwrite it",
                           "choose another --out, or give --force to replace it");
    auto dir = std::filesystem::absolute(options.out).parent_path();
    util::AtomicFile file(options.out, 0600, options.force ? util::Replace::allowed : util::Replace::never);
    crypto::Sha256 file_digest;
    // The archive's hash and the writes run on a helper thread, as a compressor would in a
    // shell pipeline.
    crypto::BackgroundSink output([&](const unsigned char* data, std::size_t size) {
        file_digest.update(data, size);
        file.write(data, size);
    });
    crypto::ByteSink to_file = [&](const unsigned char* data, std::size_t size) {
        output.write(data, size);
        report.archive_bytes += size;
    };
    std::unique_ptr<crypto::ContainerWriter> container;
    if (report.encrypted) {
        std::vector<crypto::Recipient> recipients;
        for (const auto& key : options.recipients) recipients.push_back(crypto::Recipient::x25519(key));
        if (options.passphrase)
            recipients.push_back(crypto::Recipient::with_passphrase(*options.passphrase, options.scrypt_log2n));
        crypto::WriterOptions writer_options;
        writer_options.tenant = options.selector.tenant.value_or("");
        writer_options.created = options.now;
        container = std::make_unique<crypto::ContainerWriter>(to_file, recipients, writer_options);
    }
    backup::ArchiveWriter archive(
        container ? crypto::ByteSink([&](const unsigned char* data, std::size_t size) { container->write(data, size); })
                  : to_file,
        options.format);
    ArchiveEntries sink(archive, options.now);
    report.datasets = collect_into(sink, connectors, resolved.selector, dir);
    auto text = readme_text(options, report.datasets, sink.entries, workspace.platform);
    sink.add_text("README.txt", text);
    sink.add_text("README.html", readme_html(text));

    nlohmann::json manifest = {{"gdprctl_version", k_version},       {"created", util::format_iso8601(options.now)},
                               {"platform", workspace.platform},     {"selector", options.selector.to_json()},
                               {"entries", nlohmann::json::array()}, {"counts", nlohmann::json::object()}};
    for (const auto& entry : sink.entries)
        manifest["entries"].push_back({{"path", entry.path}, {"bytes", entry.bytes}, {"sha256", entry.sha256}});
    for (const auto& count : report.datasets) manifest["counts"][count.dataset] = count.records;
    archive.add(k_manifest, manifest.dump(2) + "\n", options.now);
    archive.finish();
    if (container) container->finish();
    output.finish();
    file.commit();
    report.entries = sink.entries.size();
    report.archive_sha256 = file_digest.hex();

    state::StateDb state(workspace.state_dir);
    nlohmann::json sources = nlohmann::json::array();
    for (const auto& connector : connectors) sources.push_back(connector->source().name);
    journal::Journal(state).append("export", options.selector.to_json(), sources,
                                   {{"records", report.records()},
                                    {"entries", report.entries},
                                    {"archive_sha256", report.archive_sha256},
                                    {"encrypted", report.encrypted}},
                                   "ok");
    return report;
}

ExportVerification verify_export(const std::filesystem::path& file, const crypto::Keyring& keyring) {
    ExportVerification result;
    ExportSource input(file, keyring);
    backup::ArchiveSourceClient client(input.source());
    std::unique_ptr<struct archive, int (*)(struct archive*)> archive(archive_read_new(), archive_read_free);
    archive_read_support_format_all(archive.get());
    archive_read_support_filter_all(archive.get());
    auto fail = [&](const std::string& what) {
        client.rethrow_source_error();
        const char* message = archive_error_string(archive.get());
        throw Error::integrity(file.string() + ": " + what + (message ? std::string(": ") + message : ""));
    };
    if (archive_read_open(archive.get(), &client, nullptr, backup::ArchiveSourceClient::read, nullptr) != ARCHIVE_OK)
        fail("not an archive");
    std::map<std::string, ManifestEntry> found;
    std::string manifest_text;
    for (;;) {
        struct archive_entry* entry = nullptr;
        int rc = archive_read_next_header(archive.get(), &entry);
        if (rc == ARCHIVE_EOF) break;
        if (rc < ARCHIVE_WARN) fail("bad entry");
        std::string path = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
        crypto::Sha256 digest;
        ManifestEntry seen{path, 0, ""};
        const void* block = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        for (;;) {
            rc = archive_read_data_block(archive.get(), &block, &size, &offset);
            if (rc == ARCHIVE_EOF) break;
            if (rc < ARCHIVE_WARN) fail("entry " + path + " cannot be read");
            digest.update(static_cast<const unsigned char*>(block), size);
            seen.bytes += size;
            if (path == k_manifest) manifest_text.append(static_cast<const char*>(block), size);
        }
        seen.sha256 = digest.hex();
        if (path != k_manifest) found[path] = seen;
    }
    auto manifest = nlohmann::json::parse(manifest_text, nullptr, false);
    if (!manifest.is_object() || !manifest.contains("entries")) {
        result.intact = false;
        result.problem = "manifest.json is missing or not valid JSON";
        return result;
    }
    const auto& listed = manifest["entries"];
    for (const auto& item : listed) {
        auto path = item.value("path", "");
        auto it = found.find(path);
        if (it == found.end()) {
            result.intact = false;
            result.problem = "entry " + util::printable(path) + " is listed in the manifest but missing";
            return result;
        }
        if (it->second.sha256 != item.value("sha256", "") ||
            it->second.bytes != item.value("bytes", std::uint64_t{0})) {
            result.intact = false;
            result.problem =
                "entry " + util::printable(path) + " was changed (its SHA-256 no longer matches the manifest)";
            return result;
        }
        found.erase(it);
        ++result.entries;
    }
    if (!found.empty()) {
        result.intact = false;
        result.problem = "entry " + util::printable(found.begin()->first) + " is not in the manifest (it was added)";
    }
    return result;
}

}  // namespace gdprctl::exports
