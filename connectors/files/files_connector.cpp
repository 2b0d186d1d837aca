#include "connectors/files/files_connector.hpp"

#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <set>

#include "connectors/key_subjects.hpp"
#include "core/error.hpp"
#include "core/util/regex.hpp"

namespace gdprctl::connectors::files {

namespace {

// Text objects that may carry identifiers inside (captions, playlists, metadata); media is
// matched by path only.
bool is_text_object(const std::filesystem::path& path) {
    auto ext = path.extension().string();
    return ext == ".vtt" || ext == ".srt" || ext == ".m3u8" || ext == ".txt" || ext == ".json" || ext == ".csv";
}

class FilesConnector final : public Connector {
public:
    FilesConnector(const config::Source& source, const config::Workspace& workspace) : m_source(source) {
        auto reader = source_reader(source);
        m_include = reader.string_list("include");
        auto dataset = config::read_dataset(reader, workspace, "");
        dataset.name = source.name;
        reader.finish();
        m_key_subjects = KeySubjects(reader, dataset.subjects);
        refuse_metadata(reader, dataset);
        if (dataset.tenant) m_tenant_regex.emplace(compile(reader, dataset.tenant->regex, "tenant/regex"));
        if (dataset.timestamp && !dataset.timestamp->regex.empty())
            m_time_regex.emplace(compile(reader, dataset.timestamp->regex, "timestamp/regex"));
        m_datasets.push_back(std::move(dataset));
    }

    const config::Source& source() const override { return m_source; }
    const std::vector<config::Dataset>& datasets() const override { return m_datasets; }

    void validate() override {
        std::error_code ec;
        if (!std::filesystem::is_directory(m_source.path, ec))
            throw Error::config(m_source.file + ": " + m_source.pointer + "/path: directory " + m_source.path.string() +
                                    " does not exist",
                                "correct \"path\" (relative paths start at the config file's directory)");
    }

    SourceInventory inventory(const Selector& selector, const InventoryOptions&) override {
        SourceInventory result;
        const auto& dataset = m_datasets.front();
        if (!selector.may_match(dataset)) return result;
        InventoryTally tally;
        for_each_object(result, [&](const Object& object) {
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
        for_each_object(ignored, [&](const Object& object) {
            if (in_selector(object, selector)) sink.blob(dataset, object.tenant, object.path, object.relative);
        });
    }

    Plan plan(const Selector& selector, const Action& action) override {
        Plan plan{m_source.name, action, selector, {}, 0, {}};
        const auto& dataset = m_datasets.front();
        if (!selector.may_match(dataset)) return plan;
        if (action.kind == Action::Kind::anonymise)
            throw Error::config(m_source.file + ": " + m_source.pointer + ": source \"" + m_source.name +
                                    "\" holds files, which can be deleted but not anonymised",
                                "use a delete rule for this category, or exclude the source with \"datasets\"");
        PlanItem item;
        item.dataset = dataset.name;
        item.what = "delete files";
        SourceInventory ignored;
        for_each_object(ignored, [&](const Object& object) {
            ++plan.source_records;
            if (object.time) plan.newest = std::max(plan.newest.value_or(0), *object.time);
            if (!in_selector(object, selector)) return;
            ++item.records;
            item.bytes += object.size;
            if (object.time && (!item.oldest || *object.time < *item.oldest)) item.oldest = object.time;
        });
        if (dataset.timestamp && dataset.timestamp->format == config::TimeFormat::mtime)
            item.note = "times come from file mtimes, which copies and restores change";
        item.snapshot = {{"records", item.records}};
        if (item.records) plan.items.push_back(std::move(item));
        return plan;
    }

    ApplyReport apply(const Plan& plan, ApplyProgress& progress) override {
        ApplyReport report;
        if (plan.items.empty()) return report;
        const auto& item = plan.items.front();
        SourceInventory ignored;
        std::vector<Object> expired;
        for_each_object(ignored, [&](const Object& object) {
            if (in_selector(object, plan.selector)) expired.push_back(object);
        });
        if (expired.size() > item.records)
            throw Error::findings("source \"" + m_source.name + "\": " + std::to_string(expired.size()) +
                                      " files to delete now, the plan covered " + std::to_string(item.records),
                                  "the store changed since the plan was made: make a new plan");
        std::size_t done = 0;
        std::set<std::filesystem::path> parents;
        for (const auto& object : expired) {
            if (::unlink(object.path.c_str()) != 0 && errno != ENOENT)
                throw Error::runtime("source \"" + m_source.name + "\": cannot delete " + object.path.string() + ": " +
                                     std::strerror(errno));
            parents.insert(object.path.parent_path());
            if (++done % 1000 == 0) progress.mark_done(item.dataset + "#" + std::to_string(done));
        }
        remove_emptied_directories(parents);
        // Every expired file is gone now, those an interrupted earlier run deleted included: the
        // plan's count is what the whole run removed.
        report.records_changed = item.records;
        report.bytes_changed = item.bytes;
        return report;
    }

    std::vector<std::string> tenant_markers(const std::string&) override { return {}; }

    VerifyReport verify(const Selector& selector, const pii::IdentifierMatcher& identifiers) override {
        VerifyReport report;
        SourceInventory ignored;
        const auto& dataset = m_datasets.front();
        if (!selector.wants_category(dataset.category)) return report;
        std::uint64_t selected = 0;
        for_each_object(ignored, [&](const Object& object) {
            ++report.records_scanned;
            if (in_selector(object, selector)) ++selected;
            if (identifiers.empty() || !selector.text_counts_in(object.tenant)) return;
            std::uint64_t in_name = identifiers.count(object.relative);
            std::uint64_t in_body =
                is_text_object(object.path) ? count_in_raw_bytes(object.path, identifiers, report.bytes_scanned) : 0;
            if (in_name + in_body) report.residue.push_back({object.relative, in_name + in_body});
        });
        if (selected) report.residue.push_back({m_source.name + " (files of the selector)", selected});
        return report;
    }

private:
    struct Object {
        std::filesystem::path path;
        std::string relative;
        std::string tenant;
        std::uint64_t size = 0;
        std::optional<util::UnixTime> time;
    };

    // Directories the purge emptied go too, up to (not including) the source's root. rmdir
    // fails, harmlessly, on a directory that still holds anything.
    void remove_emptied_directories(const std::set<std::filesystem::path>& parents) {
        std::vector<std::filesystem::path> deepest_first(parents.rbegin(), parents.rend());
        for (auto directory : deepest_first) {
            while (directory != m_source.path && directory.string().size() > m_source.path.string().size() &&
                   ::rmdir(directory.c_str()) == 0)
                directory = directory.parent_path();
        }
    }

    // Object storage keeps metadata beside an object's bytes; a file has none to read.
    static void refuse_metadata(const config::JsonReader& reader, const config::Dataset& dataset) {
        for (const auto& [key, metadata] :
             {std::pair{"tenant", dataset.tenant ? dataset.tenant->metadata : ""},
              std::pair{"timestamp", dataset.timestamp ? dataset.timestamp->metadata : ""}})
            if (!metadata.empty())
                reader.fail_path(std::string(key) + "/metadata", "files have no metadata",
                                 "take it from the path with \"regex\" (or the timestamp from \"mtime\")");
    }

    static util::Regex compile(const config::JsonReader& reader, const std::string& pattern, const std::string& key) {
        try {
            return util::Regex(pattern);
        } catch (const std::invalid_argument& e) {
            reader.fail_path(key, std::string("invalid regex: ") + e.what());
        }
    }

    bool included(const std::string& relative) const {
        if (m_include.empty()) return true;
        for (const auto& pattern : m_include)
            if (::fnmatch(pattern.c_str(), relative.c_str(), 0) == 0) return true;
        return false;
    }

    // A person's selector takes only the files whose path names them (KeySubjects); without
    // subject patterns, none: it never widens to every file of the tenant.
    bool in_selector(const Object& object, const Selector& selector) const {
        if (!selector.wants_tenant(object.tenant)) return false;
        if (selector.older_than && (!object.time || *object.time >= *selector.older_than)) return false;
        return selector.subjects.empty() || m_key_subjects.name_a_subject_of(selector, object.relative);
    }

    std::optional<util::UnixTime> time_of(util::UnixTime mtime, const std::string& relative) {
        const auto& spec = m_datasets.front().timestamp;
        if (!spec || spec->format == config::TimeFormat::mtime) return mtime;
        auto text = m_time_regex->first_group(relative);
        if (!text) return std::nullopt;
        return config::parse_timestamp(*text, *spec);
    }

    template <typename F>
    void for_each_object(SourceInventory& result, F&& on_object) {
        std::error_code ec;
        std::filesystem::recursive_directory_iterator it(m_source.path, ec), end;
        if (ec)
            throw Error::runtime("source \"" + m_source.name + "\": cannot read directory " + m_source.path.string() +
                                 ": " + ec.message());
        for (; it != end; it.increment(ec)) {
            if (ec)
                throw Error::runtime("source \"" + m_source.name + "\": cannot walk " + m_source.path.string() + ": " +
                                     ec.message());
            // One lstat a file: symbolic links are never followed, and size and time come along.
            struct stat info {};
            if (::lstat(it->path().c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
            Object object;
            object.path = it->path();
            object.relative = object.path.lexically_relative(m_source.path).string();
            if (!included(object.relative)) continue;
            if (m_tenant_regex) object.tenant = std::string(m_tenant_regex->first_group(object.relative).value_or(""));
            object.size = static_cast<std::uint64_t>(info.st_size);
            object.time = time_of(info.st_mtim.tv_sec, object.relative);
            // An object whose name carries no readable date is still counted (it is personal
            // data all the same) and reported as malformed.
            if (!object.time && m_datasets.front().timestamp && !result.malformed++)
                result.first_malformed = object.relative;
            on_object(object);
        }
    }

    config::Source m_source;
    std::vector<config::Dataset> m_datasets;
    KeySubjects m_key_subjects;
    std::vector<std::string> m_include;
    std::optional<util::Regex> m_tenant_regex;
    std::optional<util::Regex> m_time_regex;
};

}  // namespace

std::unique_ptr<Connector> open(const config::Source& source, const config::Workspace& workspace) {
    return std::make_unique<FilesConnector>(source, workspace);
}

}  // namespace gdprctl::connectors::files
