#include "core/backup/backup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "core/backup/archive.hpp"
#include "core/erase/ledger.hpp"
#include "core/error.hpp"
#include "core/journal/journal.hpp"
#include "core/util/fs.hpp"
#include "core/util/json_text.hpp"
#include "core/util/hex.hpp"
#include "core/version.hpp"

namespace gdprctl::backup {

namespace {

constexpr std::size_t k_part_bytes = 4u << 20;  // records per tar entry: bounded memory per tenant
constexpr std::size_t k_batch_chunks = 16;      // container chunks per parallel step (1 MiB)
constexpr char k_extension[] = ".gdpb";
constexpr char k_archive_info[] = "gdprctl-backup.json";
constexpr char k_archive_counts[] = "gdprctl-counts.json";

std::filesystem::path manifest_path(const std::filesystem::path& file) {
    auto path = file;
    path += ".json";
    return path;
}

// A file descriptor read as a ByteSource, closed on destruction.
class FileSource {
public:
    explicit FileSource(const std::filesystem::path& path) : m_path(path) {
        m_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (m_fd < 0) throw Error::runtime("cannot read " + path.string() + ": " + std::strerror(errno));
    }
    ~FileSource() { ::close(m_fd); }
    FileSource(const FileSource&) = delete;
    FileSource& operator=(const FileSource&) = delete;

    crypto::ByteSource source() {
        return [this](unsigned char* out, std::size_t size) -> std::size_t {
            for (;;) {
                auto n = ::read(m_fd, out, size);
                if (n >= 0) return static_cast<std::size_t>(n);
                if (errno != EINTR)
                    throw Error::runtime("cannot read " + m_path.string() + ": " + std::strerror(errno));
            }
        };
    }

private:
    std::filesystem::path m_path;
    int m_fd = -1;
};

nlohmann::json dataset_description(const config::Dataset& dataset, const std::string& source) {
    nlohmann::json subjects = nlohmann::json::object();
    for (const auto& subject : dataset.subjects) subjects[subject.kind].push_back(subject.field);
    return {{"name", dataset.name}, {"source", source}, {"category", dataset.category}, {"subjects", subjects}};
}

std::string entry_directory(const config::Dataset& dataset) {
    auto name = dataset.name;
    std::replace(name.begin(), name.end(), ':', '/');
    return name;
}

std::vector<crypto::Recipient> single_recipient(const std::string& key_id, const crypto::SecretBytes& key) {
    std::vector<crypto::Recipient> recipients;
    recipients.push_back(crypto::Recipient::symmetric(*util::from_hex(key_id), key));
    return recipients;
}

// One tenant's backup while it is being written: records and files go into a tar stream,
// the tar stream into a container, the container into a temporary file.
class TenantArchive {
public:
    TenantArchive(std::string tenant, const std::filesystem::path& path,
                  std::pair<std::string, crypto::SecretBytes> key, util::UnixTime created,
                  const nlohmann::json& description)
        : m_tenant(std::move(tenant)),
          m_key_id(std::move(key.first)),
          m_created(created),
          m_file(path, 0600, util::Replace::never),
          m_container([this](const unsigned char* data, std::size_t size) { write_sealed(data, size); },
                      single_recipient(m_key_id, key.second),
                      crypto::WriterOptions{crypto::preferred_suite(), m_tenant, created, 0, k_batch_chunks, {}}),
          m_tar([this](const unsigned char* data, std::size_t size) {
              m_plain_digest.update(data, size);
              m_container.write(data, size);
          }) {
        auto info = description;
        info["tenant"] = m_tenant;
        info["created"] = util::format_iso8601(created);
        m_tar.add(k_archive_info, info.dump(2) + "\n", created);
    }

    void record(const config::Dataset& dataset, const nlohmann::json& record) {
        if (dataset.name != m_dataset) flush_part();
        m_dataset = dataset.name;
        m_directory = entry_directory(dataset);
        util::append_json(m_part, record);
        m_part += '\n';
        m_counts[dataset.name] = m_counts.value(dataset.name, 0) + 1;
        if (m_part.size() >= k_part_bytes) flush_part();
    }

    void blob(const config::Dataset& dataset, const std::filesystem::path& file, const std::string& relative) {
        flush_part();
        auto source = dataset.name.substr(0, dataset.name.find(':'));
        struct stat st {};
        std::int64_t mtime = ::stat(file.c_str(), &st) == 0 ? st.st_mtime : m_created;
        m_tar.add_file("files/" + source + "/" + relative, file, mtime);
        m_counts[dataset.name] = m_counts.value(dataset.name, 0) + 1;
    }

    void streamed_blob(const config::Dataset& dataset, const connectors::StreamedBlob& blob) {
        flush_part();
        auto source = dataset.name.substr(0, dataset.name.find(':'));
        m_tar.add_stream("files/" + source + "/" + blob.relative_path, blob.size, blob.mtime, false, blob.read);
        m_counts[dataset.name] = m_counts.value(dataset.name, 0) + 1;
    }

    BackupFile finish(const nlohmann::json& sources) {
        flush_part();
        m_tar.add(k_archive_counts, m_counts.dump(2) + "\n", m_created);
        m_tar.finish();
        m_container.finish();
        m_file.commit();
        BackupFile result;
        result.tenant = m_tenant;
        result.path = m_file.path();
        result.created = m_created;
        result.container_bytes = m_sealed_bytes;
        result.plaintext_bytes = m_container.plaintext_bytes();
        result.plaintext_sha256 = m_plain_digest.hex();
        result.key_id = m_key_id;
        const auto& object_id = m_container.header().object_id;
        result.object_id = util::to_hex(object_id.data(), object_id.size());
        result.status = "readable";
        result.counts = m_counts;
        auto manifest = result.to_json();
        manifest["sources"] = sources;
        manifest["gdprctl_version"] = k_version;
        manifest["file"] = result.path.filename().string();
        manifest.erase("path");
        manifest.erase("status");
        manifest.erase("detail");
        util::write_file_atomically(manifest_path(result.path), manifest.dump(2) + "\n", 0600, util::Replace::never);
        return result;
    }

private:
    void write_sealed(const unsigned char* data, std::size_t size) {
        m_file.write(data, size);
        m_sealed_bytes += size;
    }

    void flush_part() {
        if (m_part.empty()) return;
        char name[32];
        std::snprintf(name, sizeof name, "%06u.jsonl", ++m_parts[m_dataset]);
        m_tar.add("records/" + m_directory + "/" + name, m_part, m_created);
        OPENSSL_cleanse(m_part.data(), m_part.size());
        m_part.clear();
    }

    std::string m_tenant;
    std::string m_key_id;
    util::UnixTime m_created;
    util::AtomicFile m_file;
    std::uint64_t m_sealed_bytes = 0;
    crypto::Sha256 m_plain_digest;
    crypto::ContainerWriter m_container;
    ArchiveWriter m_tar;
    std::string m_dataset;
    std::string m_directory;
    std::string m_part;
    std::map<std::string, unsigned> m_parts;
    nlohmann::json m_counts = nlohmann::json::object();
};

// Routes what the connectors collect to one archive per tenant, opened on first use.
class BackupSink : public connectors::RecordSink {
public:
    BackupSink(const config::Workspace& workspace, crypto::Keystore& keystore, util::UnixTime now,
               nlohmann::json description)
        : m_workspace(workspace), m_keystore(keystore), m_now(now), m_description(std::move(description)) {}

    void record(const config::Dataset& dataset, const std::string& tenant, const nlohmann::json& record) override {
        if (auto* archive = archive_for(tenant)) archive->record(dataset, record);
    }
    void blob(const config::Dataset& dataset, const std::string& tenant, const std::filesystem::path& file,
              const std::string& relative_path) override {
        if (auto* archive = archive_for(tenant)) archive->blob(dataset, file, relative_path);
    }
    void streamed_blob(const config::Dataset& dataset, const std::string& tenant,
                       const connectors::StreamedBlob& blob) override {
        if (auto* archive = archive_for(tenant)) archive->streamed_blob(dataset, blob);
    }

    void ensure_archive(const std::string& tenant) { archive_for(tenant); }

    CreateReport finish(const nlohmann::json& sources) {
        CreateReport report;
        for (auto& [tenant, archive] : m_archives) {
            if (archive)
                report.backups.push_back(archive->finish(sources));
            else
                report.skipped.push_back(tenant);
        }
        return report;
    }

private:
    TenantArchive* archive_for(const std::string& tenant) {
        auto found = m_archives.find(tenant);
        if (found != m_archives.end()) return found->second.get();
        auto& slot = m_archives[tenant];
        if (m_keystore.destroyed_tenant(tenant) && !tenant.empty()) return nullptr;
        auto dir = m_workspace.backup_dir / tenant_directory(tenant);
        util::ensure_private_directory(m_workspace.backup_dir);
        util::ensure_private_directory(dir);
        auto stem = util::format_utc(m_now, "%Y%m%dT%H%M%SZ");
        auto path = dir / (stem + k_extension);
        for (int n = 2; std::filesystem::exists(path); ++n) path = dir / (stem + "-" + std::to_string(n) + k_extension);
        slot = std::make_unique<TenantArchive>(tenant, path, m_keystore.data_key(tenant), m_now, m_description);
        return slot.get();
    }

    const config::Workspace& m_workspace;
    crypto::Keystore& m_keystore;
    util::UnixTime m_now;
    nlohmann::json m_description;
    std::map<std::string, std::unique_ptr<TenantArchive>> m_archives;
};

BackupFile describe(const std::filesystem::path& file, crypto::Keystore& keystore) {
    BackupFile backup;
    backup.path = file;
    std::error_code ec;
    backup.container_bytes = std::filesystem::file_size(file, ec);
    try {
        FileSource source(file);
        auto header = crypto::read_header(source.source());
        backup.tenant = header.tenant;
        backup.created = header.created;
        backup.object_id = util::to_hex(header.object_id.data(), header.object_id.size());
        auto ids = header.key_ids();
        backup.key_id = ids.empty() ? "" : ids.front();
        backup.status = "unknown key";
        backup.detail = "no key in this keystore has id " + backup.key_id;
        for (const auto& id : ids) {
            if (keystore.key_exists(id)) {
                backup.status = "readable";
                backup.detail.clear();
                break;
            }
            if (auto destroyed = keystore.destroyed_key(id)) {
                backup.status = "shredded";
                backup.detail = "key destroyed on " + destroyed->destroyed;
            }
        }
    } catch (const Error& e) {
        backup.status = "unreadable header";
        backup.detail = e.what();
    }
    std::ifstream manifest(manifest_path(file));
    if (manifest) {
        auto json = nlohmann::json::parse(manifest, nullptr, false);
        if (json.is_object()) {
            backup.plaintext_bytes = json.value("plaintext_bytes", std::uint64_t{0});
            backup.plaintext_sha256 = json.value("plaintext_sha256", "");
            backup.counts = json.value("counts", nlohmann::json::object());
        }
    }
    return backup;
}

void check_empty_destination(const std::filesystem::path& directory) {
    std::error_code ec;
    util::refuse_symbolic_link(directory);
    if (!std::filesystem::exists(directory, ec)) return;
    if (!std::filesystem::is_directory(directory, ec) || !std::filesystem::is_empty(directory, ec))
        throw Error::usage("restore destination " + directory.string() + " exists and is not an empty directory",
                           "restore into a new directory; gdprctl never overwrites files");
}

// rename(2) of a directory replaces only an empty directory; a file, a symbolic link or a
// non-empty directory that appeared at the destination since it was checked makes it fail.
void move_into_place(const std::filesystem::path& staging, const std::filesystem::path& directory) {
    if (::rename(staging.c_str(), directory.c_str()) == 0) return;
    int saved = errno;
    if (saved == ENOTEMPTY || saved == EEXIST || saved == ENOTDIR || saved == EISDIR)
        throw Error::usage("restore destination " + directory.string() +
                               " was taken while the backup was restored: nothing there was replaced",
                           "restore into a new directory");
    throw Error::runtime("cannot move the restored files to " + directory.string() + ": " + std::strerror(saved));
}

std::filesystem::path make_staging_directory(const std::filesystem::path& directory) {
    auto parent = std::filesystem::absolute(directory).parent_path();
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    unsigned char random[6];
    crypto::random_bytes(random, sizeof random);
    auto staging = parent / (".gdprctl-restore-" + util::to_hex(random, sizeof random));
    if (::mkdir(staging.c_str(), 0700) != 0)
        throw Error::runtime("cannot create " + staging.string() + ": " + std::strerror(errno));
    return staging;
}

std::optional<std::string> read_counts_file(const std::filesystem::path& staging) {
    std::ifstream in(staging / k_archive_counts);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Datasets and their subject fields, read from the archive's own description.
struct ArchiveDatasets {
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> subjects;  // entry dir -> kind, field
};

ArchiveDatasets read_datasets(const std::filesystem::path& staging) {
    ArchiveDatasets datasets;
    std::ifstream in(staging / k_archive_info);
    auto json = nlohmann::json::parse(in, nullptr, false);
    if (!json.is_object() || !json.contains("datasets")) return datasets;
    for (const auto& dataset : json["datasets"]) {
        auto name = dataset.value("name", "");
        std::replace(name.begin(), name.end(), ':', '/');
        auto& fields = datasets.subjects[name];
        auto subjects = dataset.value("subjects", nlohmann::json::object());
        for (const auto& [kind, list] : subjects.items())
            for (const auto& field : list) fields.emplace_back(kind, field.get<std::string>());
    }
    return datasets;
}

// What a backup's manifest promises about it, read strictly: verify and restore both hold the
// container to every field.
struct Manifest {
    std::string tenant;
    std::string key_id;
    std::string object_id;
    std::uint64_t plaintext_bytes = 0;
    std::string plaintext_sha256;
    nlohmann::json counts;
};

Manifest read_manifest(const std::filesystem::path& file) {
    auto path = manifest_path(file);
    auto name = path.filename().string();
    std::ifstream in(path);
    if (!in)
        throw Error::integrity("the manifest " + name + " is missing: the backup cannot be checked against it",
                               "keep each .gdpb with its .gdpb.json; restore the manifest from another copy");
    auto json = nlohmann::json::parse(in, nullptr, false);
    auto field = [&](const char* key, auto check) -> const nlohmann::json& {
        if (!json.is_object() || !json.contains(key) || !check(json[key]))
            throw Error::integrity("the manifest " + name + " is unreadable: " +
                                   (json.is_object() ? std::string("its \"") + key + "\" is missing or malformed"
                                                     : "it is not a JSON object"));
        return json[key];
    };
    auto is_string = [](const nlohmann::json& v) { return v.is_string(); };
    Manifest manifest;
    manifest.tenant = field("tenant", is_string).get<std::string>();
    manifest.key_id = field("key_id", is_string).get<std::string>();
    manifest.object_id = field("object_id", is_string).get<std::string>();
    manifest.plaintext_bytes =
        field("plaintext_bytes", [](const nlohmann::json& v) { return v.is_number_unsigned(); }).get<std::uint64_t>();
    manifest.plaintext_sha256 = field("plaintext_sha256", is_string).get<std::string>();
    manifest.counts = field("counts", [](const nlohmann::json& v) { return v.is_object(); });
    return manifest;
}

// The manifest names this container: its tenant, key and object id (read before decrypting,
// authenticated by the header MAC once the container opened).
void check_manifest_names(const Manifest& manifest, const crypto::ContainerHeader& header) {
    auto object_id = util::to_hex(header.object_id.data(), header.object_id.size());
    auto ids = header.key_ids();
    // An archive sealed only to X25519 recipients has no key id; its manifest names none.
    bool key_named =
        manifest.key_id.empty() ? ids.empty() : std::find(ids.begin(), ids.end(), manifest.key_id) != ids.end();
    std::string wrong = manifest.tenant != header.tenant  ? "tenant"
                        : manifest.object_id != object_id ? "object id"
                        : !key_named                      ? "key id"
                                                          : "";
    if (!wrong.empty())
        throw Error::integrity("the manifest names another backup: its " + wrong + " is not the container's",
                               "the .gdpb.json beside it belongs to another file");
}

// The plaintext read is what the manifest describes: its size, digest and per-dataset counts
// (the archive's own gdprctl-counts.json).
void check_manifest_content(const Manifest& manifest, std::uint64_t bytes, const std::string& sha256,
                            const std::optional<std::string>& archive_counts) {
    if (sha256 != manifest.plaintext_sha256 || bytes != manifest.plaintext_bytes)
        throw Error::integrity("the archive does not match its manifest (" + std::to_string(bytes) +
                               " bytes, SHA-256 " + sha256.substr(0, 16) + "…; the manifest says " +
                               std::to_string(manifest.plaintext_bytes) + " bytes, " +
                               manifest.plaintext_sha256.substr(0, 16) + "…)");
    auto counts = archive_counts ? nlohmann::json::parse(*archive_counts, nullptr, false) : nlohmann::json();
    if (!counts.is_object())
        throw Error::integrity("the archive holds no readable " + std::string(k_archive_counts) +
                               ": it was not written by gdprctl backup");
    if (counts != manifest.counts)
        throw Error::integrity("the manifest's record counts differ from the archive's " +
                               std::string(k_archive_counts));
}

std::string value_text(const nlohmann::json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number_integer()) return std::to_string(value.get<std::int64_t>());
    return value.dump();
}

}  // namespace

nlohmann::json BackupFile::to_json() const {
    return {{"tenant", tenant},
            {"path", path.string()},
            {"created", util::format_iso8601(created)},
            {"created_unix", created},
            {"container_bytes", container_bytes},
            {"plaintext_bytes", plaintext_bytes},
            {"plaintext_sha256", plaintext_sha256},
            {"key_id", key_id},
            {"object_id", object_id},
            {"status", status},
            {"detail", detail},
            {"counts", counts}};
}

std::string tenant_directory(const std::string& tenant) {
    if (tenant.empty()) return "_platform";
    std::string out;
    for (std::size_t i = 0; i < tenant.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(tenant[i]);
        bool plain = std::isalnum(c) || c == '-' || c == '_' || (c == '.' && i > 0);
        if (plain && !(i == 0 && c == '_')) {
            out += static_cast<char>(c);
        } else {
            char escaped[4];
            std::snprintf(escaped, sizeof escaped, "%%%02X", c);
            out += escaped;
        }
    }
    return out;
}

CreateReport create(const config::Workspace& workspace, const scan::SourceOpener& open_sources,
                    crypto::Keystore& keystore, const CreateOptions& options) {
    auto started = std::chrono::steady_clock::now();
    auto connectors = open_sources(workspace);
    nlohmann::json description = {
        {"format", 1}, {"platform", workspace.platform}, {"datasets", nlohmann::json::array()}};
    nlohmann::json sources = nlohmann::json::array();
    for (const auto& connector : connectors) {
        sources.push_back(connector->source().name);
        for (const auto& dataset : connector->datasets())
            description["datasets"].push_back(dataset_description(dataset, connector->source().name));
    }
    BackupSink sink(workspace, keystore, options.now, description);
    connectors::Selector selector;
    selector.tenant = options.tenant;
    // A tenant asked for by name gets a backup even when it holds nothing yet: an empty,
    // verifiable archive says so more clearly than a missing file.
    if (options.tenant) sink.ensure_archive(*options.tenant);
    for (auto& connector : connectors) connector->collect(selector, sink);
    auto report = sink.finish(sources);
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    nlohmann::json counts = nlohmann::json::object();
    for (const auto& backup : report.backups)
        counts[backup.tenant.empty() ? "_platform" : backup.tenant] = {{"bytes", backup.container_bytes},
                                                                       {"key_id", backup.key_id}};
    state::StateDb state(workspace.state_dir);
    journal::Journal(state).append("backup create", selector.to_json(), sources, counts,
                                   report.skipped.empty() ? "ok" : "findings");
    return report;
}

std::vector<BackupFile> list(const config::Workspace& workspace, crypto::Keystore& keystore) {
    std::vector<BackupFile> backups;
    std::error_code ec;
    if (!std::filesystem::is_directory(workspace.backup_dir, ec)) return backups;
    for (const auto& tenant_dir : std::filesystem::directory_iterator(workspace.backup_dir)) {
        if (!tenant_dir.is_directory()) continue;
        for (const auto& entry : std::filesystem::directory_iterator(tenant_dir.path())) {
            if (entry.path().extension() != k_extension || !entry.is_regular_file()) continue;
            backups.push_back(describe(entry.path(), keystore));
        }
    }
    std::sort(backups.begin(), backups.end(), [](const BackupFile& a, const BackupFile& b) {
        return std::tie(a.tenant, a.created, a.path) < std::tie(b.tenant, b.created, b.path);
    });
    return backups;
}

VerifyResult verify(const std::filesystem::path& file, crypto::Keystore& keystore) {
    VerifyResult result{describe(file, keystore), "ok", ""};
    if (result.backup.status == "shredded") {
        result.outcome = "shredded";
        return result;
    }
    try {
        if (result.backup.status == "unreadable header") throw Error::integrity(result.backup.detail);
        auto manifest = read_manifest(file);
        FileSource source(file);
        crypto::ContainerReader reader(source.source(), keystore.keyring());
        check_manifest_names(manifest, reader.header());
        crypto::Sha256 digest;
        std::uint64_t bytes = 0;
        crypto::ByteSource plain = [&](unsigned char* out, std::size_t size) {
            auto n = reader.read(out, size);
            digest.update(out, n);
            bytes += n;
            return n;
        };
        auto counts = read_tar_entry(plain, k_archive_counts);
        check_manifest_content(manifest, bytes, digest.hex(), counts);
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::integrity) throw;
        result.outcome = "corrupt";
        result.problem = e.what();
    }
    return result;
}

RestoreReport restore(const config::Workspace& workspace, const std::filesystem::path& file,
                      const std::filesystem::path& directory, crypto::Keystore& keystore) {
    check_empty_destination(directory);
    auto backup = describe(file, keystore);
    state::StateDb state(workspace.state_dir);
    erase::ErasureLedger ledger(state, keystore);
    if (!backup.tenant.empty() && ledger.tenant_erased(backup.tenant))
        throw Error::usage("tenant " + backup.tenant + " was erased; its backups are not restored",
                           "the erasure ledger in the state database records it");
    RestoreReport report{directory, backup.tenant, 0, 0, 0};
    auto manifest = read_manifest(file);
    auto staging = make_staging_directory(directory);
    try {
        FileSource source(file);
        crypto::ContainerReader reader(source.source(), keystore.keyring());
        check_manifest_names(manifest, reader.header());
        crypto::Sha256 digest;
        std::uint64_t plaintext_bytes = 0;
        crypto::ByteSource plain = [&](unsigned char* out, std::size_t size) {
            auto n = reader.read(out, size);
            digest.update(out, n);
            plaintext_bytes += n;
            return n;
        };
        std::optional<ArchiveDatasets> datasets;
        LineFilter filter;
        filter.applies = [](const std::string& path) {
            return path.rfind("records/", 0) == 0 && path.size() > 6 && path.substr(path.size() - 6) == ".jsonl";
        };
        filter.keep = [&](const std::string& path, std::string_view line) {
            if (ledger.subjects() == 0) return true;
            if (!datasets) datasets = read_datasets(staging);
            auto record = nlohmann::json::parse(line, nullptr, false);
            if (!record.is_object()) return true;
            auto dir = path.substr(8, path.rfind('/') - 8);
            auto found = datasets->subjects.find(dir);
            if (found != datasets->subjects.end())
                for (const auto& [kind, field] : found->second)
                    if (record.contains(field) && !record[field].is_null() &&
                        ledger.subject_erased(kind, value_text(record[field])))
                        return false;
            if (record.contains("text") && record["text"].is_string() &&
                ledger.text_mentions_erased(record["text"].get<std::string>()))
                return false;
            return true;
        };
        auto stats = extract_tar(plain, staging, &filter);
        drain(plain);
        check_manifest_content(manifest, plaintext_bytes, digest.hex(), read_counts_file(staging));
        report.files = stats.files;
        report.bytes = stats.bytes;
        report.records_left_out = stats.lines_dropped;
        move_into_place(staging, directory);
    } catch (...) {
        std::error_code ec;
        std::filesystem::remove_all(staging, ec);
        throw;
    }
    journal::Journal(state).append("backup restore", {{"tenant", backup.tenant}}, nlohmann::json::array(),
                                   {{"files", report.files},
                                    {"bytes", report.bytes},
                                    {"records_left_out", report.records_left_out},
                                    {"object_id", backup.object_id}},
                                   "ok");
    return report;
}

const policy::RetentionRule* backup_retention_rule(const policy::PolicySet& policies) {
    const policy::RetentionRule* rule = nullptr;
    for (const auto& candidate : policies.retention)
        if (std::find(candidate.categories.begin(), candidate.categories.end(), "backups") !=
                candidate.categories.end() &&
            (!rule || candidate.max_age_seconds < rule->max_age_seconds))
            rule = &candidate;
    return rule;
}

PruneReport prune(const config::Workspace& workspace, const policy::PolicySet& policies, crypto::Keystore& keystore,
                  const PruneOptions& options) {
    PruneReport report;
    report.dry_run = options.dry_run;
    const auto* rule = backup_retention_rule(policies);
    if (!rule)
        throw Error::config("no retention policy covers the \"backups\" category, so no backup is old enough to prune",
                            "enable retention.backups-90d or add a retention rule for \"backups\"");
    report.rule = rule->id;
    report.max_age_seconds = rule->max_age_seconds;
    auto max_age_for = [&](const std::string& tenant) {
        for (const auto& [name, seconds] : rule->tenant_max_age)
            if (name == tenant) return seconds;
        return rule->max_age_seconds;
    };

    auto backups = list(workspace, keystore);
    std::map<std::string, std::vector<BackupFile>> by_tenant;
    for (auto& backup : backups) by_tenant[backup.tenant].push_back(std::move(backup));
    for (auto& [tenant, files] : by_tenant) {
        auto cutoff = options.now - max_age_for(tenant);
        // The newest readable backup of a tenant that still has its key is its last good copy.
        const BackupFile* last_good = nullptr;
        for (const auto& file : files)
            if (file.status == "readable") last_good = &file;
        for (const auto& file : files) {
            PruneDecision decision{file, false, ""};
            if (file.created >= cutoff) {
                decision.reason = "within retention";
            } else if (options.keep_last && &file == last_good) {
                decision.reason = "older than the limit, but the tenant's last readable backup (kept)";
            } else {
                decision.remove = true;
                decision.reason = "older than " + std::to_string(max_age_for(tenant) / 86400) + " days";
            }
            report.decisions.push_back(std::move(decision));
        }
    }
    std::uint64_t removed = 0, bytes = 0;
    for (const auto& decision : report.decisions) {
        if (!decision.remove) continue;
        ++removed;
        bytes += decision.backup.container_bytes;
        if (options.dry_run) continue;
        std::filesystem::remove(decision.backup.path);
        std::error_code ec;
        std::filesystem::remove(manifest_path(decision.backup.path), ec);
    }
    state::StateDb state(workspace.state_dir);
    journal::Journal(state).append(options.dry_run ? "backup prune --dry-run" : "backup prune",
                                   {{"now", util::format_iso8601(options.now)}, {"rule", report.rule}},
                                   nlohmann::json::array(), {{"removed", removed}, {"bytes", bytes}}, "ok");
    return report;
}

}  // namespace gdprctl::backup
