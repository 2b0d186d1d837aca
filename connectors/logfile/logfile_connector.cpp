#include "connectors/logfile/logfile_connector.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "connectors/logfile/line_format.hpp"
#include "connectors/logfile/line_reader.hpp"
#include "core/error.hpp"
#include "core/pii/detect.hpp"
#include "core/util/fs.hpp"
#include "core/util/regex.hpp"

namespace gdprctl::connectors::logfile {

namespace {

constexpr std::size_t k_no_field = static_cast<std::size_t>(-1);

// What one line says once parsed: its fields (by index into the connector's field names),
// its tenant and its time.
struct LineView {
    std::vector<std::string_view> fields;
    std::vector<std::string> owned;  // JSON lines: field values rendered as text
    std::string_view tenant;
    std::optional<util::UnixTime> time;
};

// Parsing "23/Nov/2026:15:25:10 +0000" is cheap, but most neighbouring lines share the second.
class TimeCache {
public:
    std::optional<util::UnixTime> parse(std::string_view text, const config::TimestampSpec& spec) {
        if (text == m_text && !m_text.empty()) return m_value;
        m_text.assign(text);
        m_value = config::parse_timestamp(text, spec);
        return m_value;
    }

private:
    std::string m_text;
    std::optional<util::UnixTime> m_value;
};

// What one thread needs to split and interpret lines: parallel workers each own one.
struct LineContext {
    LineView view;
    TimeCache times;
    std::optional<util::Regex> tenant_regex;
};

// What one worker counted in its byte range of a file.
struct RangeCount {
    InventoryTally tally;
    std::uint64_t lines = 0;
    std::uint64_t malformed = 0;
    std::uint64_t first_malformed_line = 0;
};

// Writes a log file line by line, plain or gzip, with the original's mode and owner.
class LogWriter {
public:
    LogWriter(const std::filesystem::path& path, bool gz, const struct stat& original) : m_path(path) {
        m_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, original.st_mode & 07777);
        if (m_fd < 0) fail();
        ::fchmod(m_fd, original.st_mode & 07777);
        if (::fchown(m_fd, original.st_uid, original.st_gid) != 0 && errno != EPERM) fail();
        if (gz) {
            m_gz = gzdopen(::dup(m_fd), "wb6");
            if (!m_gz) fail();
        }
        m_buffer.reserve(1 << 20);
    }
    ~LogWriter() {
        if (m_gz) gzclose(m_gz);
        if (m_fd >= 0) ::close(m_fd);
    }
    LogWriter(const LogWriter&) = delete;
    LogWriter& operator=(const LogWriter&) = delete;

    void write_line(std::string_view line, bool newline) {
        m_buffer.append(line);
        if (newline) m_buffer += '\n';
        if (m_buffer.size() >= (1 << 20)) flush();
    }

    // Appends length bytes from offset of the plain file open at in, as they are; in the kernel
    // where the file system can (no copy through this process).
    void copy_from(int in, const std::filesystem::path& from, std::uint64_t offset, std::uint64_t length) {
        flush();
        auto position = static_cast<off_t>(offset);
        while (length > 0 && !m_gz) {
            ssize_t n = ::copy_file_range(in, &position, m_fd, nullptr, length, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) break;
            if (n < 0) fail();
            if (n == 0) throw Error::runtime("cannot read " + from.string() + ": the file shrank while it was read");
            length -= static_cast<std::uint64_t>(n);
        }
        std::string chunk;
        while (length > 0) {
            chunk.resize(static_cast<std::size_t>(std::min<std::uint64_t>(length, 1 << 20)));
            read_exactly(in, from, chunk.data(), chunk.size(), static_cast<std::uint64_t>(position));
            position += static_cast<off_t>(chunk.size());
            length -= chunk.size();
            write_line(chunk, false);
        }
    }

    // Flushes, syncs and closes; the file is complete on disk when this returns.
    void finish() {
        flush();
        if (m_gz) {
            if (gzclose(m_gz) != Z_OK) fail();
            m_gz = nullptr;
        }
        if (::fsync(m_fd) != 0) fail();
        ::close(m_fd);
        m_fd = -1;
    }

private:
    void flush() {
        if (m_buffer.empty()) return;
        if (m_gz) {
            if (gzwrite(m_gz, m_buffer.data(), static_cast<unsigned>(m_buffer.size())) == 0) fail();
        } else {
            try {
                util::write_fully(m_fd, m_buffer, m_path);
            } catch (const Error&) {
                ::unlink(m_path.c_str());  // as fail() does: no half-written rewrite is left
                throw;
            }
        }
        m_buffer.clear();
    }
    [[noreturn]] void fail() {
        int saved = errno;
        ::unlink(m_path.c_str());
        throw Error::runtime("cannot write " + m_path.string() + ": " + std::strerror(saved));
    }

    std::filesystem::path m_path;
    int m_fd = -1;
    gzFile m_gz = nullptr;
    std::string m_buffer;
};

std::string json_text(const nlohmann::json& value) {
    return value.is_string() ? value.get<std::string>() : value.dump();
}

class LogfileConnector final : public Connector {
public:
    LogfileConnector(const config::Source& source, const config::Workspace& workspace) : m_source(source) {
        auto reader = source_reader(source);
        auto format_text = reader.required_string("format");
        m_sample_override = reader.optional_integer("sample");
        read_live_file(reader, workspace.base_dir);
        auto dataset = config::read_dataset(reader, workspace, "field");
        dataset.name = source.name;
        reader.finish();
        compile_format(reader, format_text);
        default_timestamp(dataset);
        m_datasets.push_back(std::move(dataset));
        resolve_fields(reader);
        m_context = make_context();
    }

    const config::Source& source() const override { return m_source; }
    const std::vector<config::Dataset>& datasets() const override { return m_datasets; }

    void validate() override {
        auto directory = m_source.path.parent_path();
        std::error_code ec;
        if (!std::filesystem::is_directory(directory, ec))
            throw Error::config(
                m_source.file + ": " + m_source.pointer + "/path: directory " + directory.string() + " does not exist",
                "correct \"path\" (a file or glob; relative paths start at the config file's directory)");
        bool has_wildcard = m_source.path_text.find_first_of("*?[") != std::string::npos;
        if (!has_wildcard && !std::filesystem::exists(m_source.path, ec))
            throw Error::config(m_source.file + ": " + m_source.pointer + "/path: log file " + m_source.path.string() +
                                    " does not exist",
                                "correct \"path\", or use a glob such as access.log* to include rotated files");
    }

    SourceInventory inventory(const Selector& selector, const InventoryOptions& options) override {
        SourceInventory result;
        const auto& dataset = m_datasets.front();
        if (!selector.may_match(dataset)) return result;
        auto files = source_files();
        result.undeclared = sample_undeclared(
            files, m_sample_override ? static_cast<std::size_t>(*m_sample_override) : options.sample_size);
        // Most of a scan's time is splitting lines: split each only as far as the selector needs.
        std::size_t enough = selector.subjects.empty() ? m_last_for_tenant_and_time : m_last_for_subjects;
        InventoryTally tally;
        for (const auto& file : files) {
            auto counts = count_file(file, selector, m_jsonl ? all_fields() : enough, options);
            std::uint64_t lines_before = 0;
            for (const auto& count : counts) {
                tally.merge(count.tally);
                if (count.malformed && !result.malformed)
                    result.first_malformed =
                        file.filename().string() + ":" + std::to_string(lines_before + count.first_malformed_line);
                result.malformed += count.malformed;
                lines_before += count.lines;
            }
            std::error_code ec;
            result.bytes_read += std::filesystem::file_size(file, ec);
        }
        result.rows = tally.rows();
        return result;
    }

    void collect(const Selector& selector, RecordSink& sink) override {
        SourceInventory ignored;
        const auto& dataset = m_datasets.front();
        if (!selector.may_match(dataset)) return;
        for_each_view(ignored, [&](std::string_view line, LineView& view, const std::filesystem::path& file,
                                   std::uint64_t number) {
            if (!in_selector(view, selector)) return;
            nlohmann::json record = {{"file", file.filename().string()}, {"line", number}, {"text", std::string(line)}};
            sink.record(dataset, std::string(view.tenant), record);
        });
    }

    Plan plan(const Selector& selector, const Action& action) override {
        Plan plan{m_source.name, action, selector, {}, 0, {}};
        const auto& dataset = m_datasets.front();
        if (!selector.may_match(dataset)) return plan;
        bool anonymise =
            action.kind == Action::Kind::anonymise ||
            (action.kind == Action::Kind::erase && !selector.tenant && dataset.on_erase == config::OnErase::anonymise);
        if (anonymise)
            throw Error::config(
                m_source.file + ": " + m_source.pointer + ": anonymising log lines is not supported yet",
                "use a delete rule, and \"erase\": \"delete\", for log sources");
        for (const auto& file : source_files()) {
            auto tally = tally_file(file, selector);
            plan.source_records += tally.lines;
            if (tally.newest) plan.newest = std::max(plan.newest.value_or(0), *tally.newest);
            if (!tally.expired) continue;
            plan.items.push_back(plan_file(file, tally, action));
        }
        return plan;
    }

    ApplyReport apply(const Plan& plan, ApplyProgress& progress) override {
        ApplyReport report;
        remove_stale_temporaries();
        for (const auto& item : plan.items) {
            const auto& snapshot = item.snapshot;
            std::string step = snapshot.at("dev").dump() + ":" + snapshot.at("ino").dump();
            if (item.what == "leave alone") {
                report.notes.push_back(item.note);
                continue;
            }
            auto found =
                find_by_inode(snapshot.at("dev").get<std::uint64_t>(), snapshot.at("ino").get<std::uint64_t>());
            if (progress.is_done(step) || !found) {
                // Done by an earlier run that was interrupted (a rewrite gives a new inode).
                report.records_changed += item.records;
                continue;
            }
            auto file = *found;
            if (snapshot.at("live").get<bool>() && server_running()) file = rotate_live_file(file);
            reading([&] {
                process_planned_file(file, item, plan.selector);
                return 0;
            });
            progress.mark_done(step);
            report.records_changed += item.records;
            report.bytes_changed += item.bytes;
        }
        return report;
    }

    std::vector<std::string> tenant_markers(const std::string&) override { return {}; }

    VerifyReport verify(const Selector& selector, const pii::IdentifierMatcher& identifiers) override {
        VerifyReport report;
        const auto& dataset = m_datasets.front();
        if (!selector.wants_category(dataset.category)) return report;
        if (text_finds_every_line_of(selector, dataset)) return scan_text(identifiers);
        SourceInventory ignored;
        bool by_selector = selector.subjects.empty() || selector.has_subjects_of(dataset.subjects);
        std::map<std::string, std::uint64_t> selected, occurrences;
        for_each_view(ignored,
                      [&](std::string_view line, LineView& view, const std::filesystem::path& file, std::uint64_t) {
                          ++report.records_scanned;
                          report.bytes_scanned += line.size() + 1;
                          if (by_selector && in_selector(view, selector)) ++selected[file.filename().string()];
                          if (identifiers.empty() || !selector.text_counts_in(view.tenant)) return;
                          if (auto n = identifiers.count(line)) occurrences[file.filename().string()] += n;
                      });
        for (const auto& [file, n] : selected) report.residue.push_back({file + " (lines of the selector)", n});
        for (const auto& [file, n] : occurrences) report.residue.push_back({file + " (identifier occurrences)", n});
        return report;
    }

private:
    // Samples the fields the data map does not declare, looking for personal data.
    class Sampler {
    public:
        Sampler(const LogfileConnector& owner, std::size_t limit) : m_owner(owner), m_limit(limit) {}
        bool wants_more() const { return m_taken < m_limit; }
        void take(const LineView& view) {
            if (m_taken >= m_limit) return;
            ++m_taken;
            for (std::size_t i = 0; i < view.fields.size(); ++i) {
                if (m_owner.m_declared.count(m_owner.m_names[i])) continue;
                auto& stats = m_stats[i];
                ++stats.sampled;
                if (auto detector = pii::detect(view.fields[i])) {
                    ++stats.hits;
                    ++stats.by_detector[*detector];
                }
            }
        }
        std::vector<UndeclaredFinding> findings() const {
            std::vector<UndeclaredFinding> out;
            for (const auto& [index, stats] : m_stats) {
                if (!stats.hits) continue;
                auto top = std::max_element(stats.by_detector.begin(), stats.by_detector.end(),
                                            [](const auto& a, const auto& b) { return a.second < b.second; });
                out.push_back({m_owner.m_names[index], pii::detector_name(top->first), stats.hits, stats.sampled});
            }
            return out;
        }

    private:
        struct Stats {
            std::uint64_t hits = 0, sampled = 0;
            std::map<pii::Detector, std::uint64_t> by_detector;
        };
        const LogfileConnector& m_owner;
        std::size_t m_limit;
        std::size_t m_taken = 0;
        std::map<std::size_t, Stats> m_stats;
    };

    void read_live_file(config::JsonReader& reader, const std::filesystem::path& base_dir) {
        auto pattern = m_source.path.filename().string();
        m_live_file = pattern.substr(0, pattern.find_first_of("*?["));
        if (auto live = reader.optional_string("live_file")) m_live_file = *live == "none" ? "" : *live;
        if (auto reopen = reader.optional_object("reopen")) {
            Reopen settings;
            settings.pid_file = util::resolve(base_dir, reopen->required_string("pid_file"));
            auto signal_name = reopen->optional_string("signal").value_or("USR1");
            if (signal_name == "USR1")
                settings.signal = SIGUSR1;
            else if (signal_name == "HUP")
                settings.signal = SIGHUP;
            else
                reopen->fail("signal", "unknown signal \"" + signal_name + "\"", "use USR1 (nginx) or HUP");
            reopen->finish();
            m_reopen = settings;
        }
        if (m_reopen && !m_live_file.empty() &&
            ::fnmatch(pattern.c_str(), (m_live_file + ".purge-20260101T000000").c_str(), 0) != 0)
            reader.fail("path",
                        "the glob does not match the names the live file is rotated to (" + m_live_file + ".purge-...)",
                        "end the glob with *, e.g. access.log*");
    }

    void compile_format(config::JsonReader& reader, const std::string& format_text) {
        if (format_text == "jsonl") {
            m_jsonl = true;
            return;
        }
        auto named = LineFormat::named_format(format_text);
        if (!named && format_text.find('$') == std::string::npos)
            reader.fail("format", "unknown log format \"" + format_text + "\"",
                        "use combined, rtmp, jsonl, or an nginx log_format string with $variables");
        try {
            m_format.emplace(named ? *named : format_text);
        } catch (const std::invalid_argument& e) {
            reader.fail("format", std::string("cannot use this log_format: ") + e.what(),
                        "separate every two $variables by at least one literal character");
        }
        m_names = m_format->variables();
    }

    void default_timestamp(config::Dataset& dataset) {
        if (dataset.timestamp || m_jsonl) return;
        if (m_format->variable_index("time_local"))
            dataset.timestamp =
                config::TimestampSpec{"time_local", config::TimeFormat::nginx, "", "", m_source.pointer, ""};
        else if (m_format->variable_index("time_iso8601"))
            dataset.timestamp =
                config::TimestampSpec{"time_iso8601", config::TimeFormat::iso8601, "", "", m_source.pointer, ""};
    }

    std::size_t field_index(const config::JsonReader& reader, const std::string& name, const std::string& key) {
        auto it = std::find(m_names.begin(), m_names.end(), name);
        if (it != m_names.end()) return static_cast<std::size_t>(it - m_names.begin());
        if (m_jsonl) {
            m_names.push_back(name);
            return m_names.size() - 1;
        }
        auto near = config::closest_match(name, m_names);
        reader.fail_path(
            key, "field \"" + name + "\" is not in the log format",
            near ? "did you mean \"" + *near + "\"?" : "the format's fields are its $variables, without the $");
    }

    void resolve_fields(const config::JsonReader& reader) {
        const auto& dataset = m_datasets.front();
        for (const auto& field : dataset.personal) {
            m_declared.insert(field);
            field_index(reader, field, "personal");
        }
        for (const auto& subject : dataset.subjects)
            m_subjects.emplace_back(subject.kind, field_index(reader, subject.field, "subjects/" + subject.kind));
        for (const auto& field : dataset.ignore) {
            m_declared.insert(field);
            field_index(reader, field, "ignore");
        }
        if (dataset.tenant) {
            m_tenant_field = field_index(reader, dataset.tenant->field, "tenant/field");
            m_declared.insert(dataset.tenant->field);
            if (!dataset.tenant->regex.empty()) {
                try {
                    m_tenant_regex.emplace(dataset.tenant->regex);
                } catch (const std::invalid_argument& e) {
                    reader.fail_path("tenant/regex", std::string("invalid regex: ") + e.what());
                }
            }
        }
        if (dataset.timestamp && !dataset.timestamp->field.empty()) {
            m_time_field = field_index(reader, dataset.timestamp->field, "timestamp/field");
            m_declared.insert(dataset.timestamp->field);
        }
        m_last_for_tenant_and_time = 0;
        for (std::size_t index : {m_tenant_field, m_time_field})
            if (index != k_no_field) m_last_for_tenant_and_time = std::max(m_last_for_tenant_and_time, index);
        m_last_for_subjects = m_last_for_tenant_and_time;
        for (const auto& [kind, index] : m_subjects) m_last_for_subjects = std::max(m_last_for_subjects, index);
    }

    std::optional<std::size_t> index_of(const std::string& name) const {
        auto it = std::find(m_names.begin(), m_names.end(), name);
        if (it == m_names.end()) return std::nullopt;
        return static_cast<std::size_t>(it - m_names.begin());
    }

    std::size_t all_fields() const { return m_names.empty() ? 0 : m_names.size() - 1; }

    // How far a line must be split to decide whether selector takes it.
    std::size_t fields_needed(const Selector& selector) const {
        if (m_jsonl) return all_fields();
        return selector.subjects.empty() ? m_last_for_tenant_and_time : m_last_for_subjects;
    }

    bool parse_line(std::string_view line, LineView& view, std::size_t limit) {
        if (m_jsonl) return parse_json_line(line, view);
        return m_format->parse(line, view.fields, limit);
    }

    bool parse_json_line(std::string_view line, LineView& view) {
        auto object = nlohmann::json::parse(line, nullptr, false);
        if (object.is_discarded() || !object.is_object()) return false;
        // Keys the data map does not name get an index too, so that sampling can look at them.
        for (const auto& item : object.items())
            if (!index_of(item.key())) m_names.push_back(item.key());
        view.owned.assign(m_names.size(), std::string());
        for (const auto& item : object.items())
            if (!item.value().is_null()) view.owned[*index_of(item.key())] = json_text(item.value());
        view.fields.assign(view.owned.begin(), view.owned.end());
        return true;
    }

    // Fills tenant and time; false when the line's time cannot be read.
    bool interpret(LineContext& context) const {
        auto& view = context.view;
        view.tenant = {};
        if (m_tenant_field != k_no_field) {
            std::string_view raw = view.fields[m_tenant_field];
            if (context.tenant_regex)
                view.tenant = context.tenant_regex->first_group(raw).value_or(std::string_view());
            else if (raw != "-")
                view.tenant = raw;
        }
        view.time.reset();
        if (m_time_field != k_no_field) {
            view.time = context.times.parse(view.fields[m_time_field], *m_datasets.front().timestamp);
            if (!view.time) return false;
        }
        return true;
    }

    LineContext make_context() const {
        LineContext context;
        if (m_tenant_regex) context.tenant_regex.emplace(m_tenant_regex->pattern());
        return context;
    }

    bool in_selector(const LineView& view, const Selector& selector) const {
        if (!selector.wants_tenant(view.tenant)) return false;
        if (selector.older_than && (!view.time || *view.time >= *selector.older_than)) return false;
        if (selector.subjects.empty()) return true;
        for (const auto& [kind, index] : m_subjects) {
            std::string_view value = view.fields[index];
            if (kind == "ip") {
                bool hit = false;
                pii::for_each_ip(value,
                                 [&](const std::string& ip) { hit = hit || selector.matches_subject("ip", ip); });
                if (hit) return true;
            } else if (selector.matches_subject(kind, value)) {
                return true;
            }
        }
        return false;
    }

    struct FileTally {
        std::uint64_t lines = 0;
        std::uint64_t expired = 0;
        std::uint64_t expired_bytes = 0;
        std::uint64_t malformed = 0;
        std::uint64_t bytes_read = 0;  // uncompressed bytes the plan covers
        std::optional<util::UnixTime> oldest;
        std::optional<util::UnixTime> newest;
        // Where the selected lines are (offset, length with the newline), when the plan read
        // only the lines around the identifiers' occurrences.
        std::optional<std::vector<std::pair<std::uint64_t, std::uint64_t>>> selected_at;
    };

    FileTally tally_file(const std::filesystem::path& file, const Selector& selector) {
        auto prefilter = prefilter_for(selector);
        if (prefilter && file.extension() != ".gz") return tally_lines_around(file, selector, *prefilter);
        FileTally tally;
        tally.bytes_read = reading([&] {
            return each_line(file, prefilter, [&](std::string_view line, bool may_be_selected) {
                if (line.empty()) return true;
                if (!may_be_selected) {
                    ++tally.lines;  // not the selector's: kept, and not worth parsing
                    return true;
                }
                if (tally_line(tally, line, line.size() + 1, selector) != LineTally::malformed) ++tally.lines;
                return true;
            });
        });
        return tally;
    }

    enum class LineTally { malformed, kept, selected };

    // Adds one line, which may hold the selector's record, to tally: malformed (its age is
    // unknown: it is kept), or its time counted and, when the selector takes it, its bytes.
    LineTally tally_line(FileTally& tally, std::string_view line, std::uint64_t bytes, const Selector& selector) {
        if (!parse_line(line, m_context.view, fields_needed(selector)) || !interpret(m_context)) {
            ++tally.malformed;
            return LineTally::malformed;
        }
        const auto& time = m_context.view.time;
        if (time) tally.newest = std::max(tally.newest.value_or(0), *time);
        if (!in_selector(m_context.view, selector)) return LineTally::kept;
        ++tally.expired;
        tally.expired_bytes += bytes;
        if (time && (!tally.oldest || *time < *tally.oldest)) tally.oldest = time;
        return LineTally::selected;
    }

    // True when line is well formed and the selector takes its record.
    bool selects_line(std::string_view line, const Selector& selector) {
        return !line.empty() && parse_line(line, m_context.view, fields_needed(selector)) && interpret(m_context) &&
               in_selector(m_context.view, selector);
    }

    // For people known by identifiers as text, in a plain file: one scan of the raw bytes on
    // every core finds where the identifiers occur and counts the lines; only the lines around
    // the occurrences are read and parsed.
    FileTally tally_lines_around(const std::filesystem::path& file, const Selector& selector,
                                 const pii::IdentifierMatcher& identifiers) {
        FileTally tally;
        auto found = reading([&] { return find_in_raw_bytes(file, identifiers, std::thread::hardware_concurrency()); });
        tally.bytes_read = found.size;
        tally.selected_at.emplace();
        reading([&] {
            for_each_line_around(file, found.match_ends,
                                 [&](std::string_view line, std::uint64_t offset, std::uint64_t length) {
                                     if (tally_line(tally, line, length, selector) == LineTally::selected)
                                         tally.selected_at->emplace_back(offset, length);
                                 });
            return 0;
        });
        // Empty lines count here, unlike in a line-by-line tally: a file of one person's lines
        // and an empty one is rewritten (keeping the empty line), not removed.
        tally.lines = found.lines() - tally.malformed;
        return tally;
    }

    // Beyond this many selected lines a plan does not list where they are; the rewrite then
    // reads every line again.
    static constexpr std::size_t k_most_listed_lines = 100000;

    PlanItem plan_file(const std::filesystem::path& file, const FileTally& tally, const Action& action) {
        struct stat info {};
        ::stat(file.c_str(), &info);
        bool live = is_live_file(file);
        bool whole = tally.expired == tally.lines && tally.malformed == 0;
        PlanItem item;
        item.dataset = m_datasets.front().name;
        item.what = whole ? "remove file" : "rewrite file";
        item.records = tally.expired;
        item.bytes = tally.expired_bytes;
        item.oldest = tally.oldest;
        item.snapshot = {{"file", file.filename().string()},
                         {"dev", static_cast<std::uint64_t>(info.st_dev)},
                         {"ino", static_cast<std::uint64_t>(info.st_ino)},
                         {"size", static_cast<std::uint64_t>(info.st_size)},
                         {"read", tally.bytes_read},
                         {"live", live}};
        if (live && !m_reopen && action.kind == Action::Kind::erase) {
            // An erasure cannot leave a person's lines behind: it stops, saying how to proceed.
            item.what = "leave alone";
            item.blocked = "source \"" + m_source.name + "\": " + file.filename().string() + " holds " +
                           std::to_string(tally.expired) +
                           " lines to erase, and a server may be appending to it: gdprctl erases from a live log "
                           "only after rotating it. Set \"reopen\" for this source ({\"pid_file\": \"...\", "
                           "\"signal\": \"USR1\"}), then run the erasure again";
        } else if (live && !m_reopen) {
            item.what = "leave alone";
            item.note = "source \"" + m_source.name + "\": " + file.filename().string() + " holds " +
                        std::to_string(tally.expired) +
                        " expired lines but a server may be appending to it; gdprctl rewrites a live log only "
                        "after rotating it: set \"reopen\" for this source, or rotate the log daily";
            item.records = 0;
            item.bytes = 0;
        } else if (live) {
            item.what = whole ? "rotate, then remove" : "rotate, then rewrite";
            item.note = "the live file is renamed and the server told to reopen its log before the purge";
        }
        item.snapshot["lines"] = tally.lines;
        if (tally.selected_at && tally.selected_at->size() <= k_most_listed_lines)
            item.snapshot["selected_at"] = *tally.selected_at;
        if (tally.malformed)
            item.note += std::string(item.note.empty() ? "" : "; ") + std::to_string(tally.malformed) +
                         " malformed lines are kept: their age cannot be read";
        return item;
    }

    // The file a server keeps appending to: "live_file" in the config, by default the glob's
    // fixed prefix ("access.log" for "access.log*").
    bool is_live_file(const std::filesystem::path& file) const {
        return !m_live_file.empty() && file.filename().string() == m_live_file;
    }

    std::optional<pid_t> server_pid() const {
        if (!m_reopen) return std::nullopt;
        std::ifstream in(m_reopen->pid_file);
        long pid = 0;
        if (!(in >> pid) || pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) != 0) return std::nullopt;
        return static_cast<pid_t>(pid);
    }

    bool server_running() const { return server_pid().has_value(); }

    // Renames the live file aside (the glob still matches the new name), tells the server to
    // reopen its log, and waits until it writes to the new file and the old one is quiet.
    // Lines written meanwhile are in the renamed file, beyond what the plan covered: kept.
    std::filesystem::path rotate_live_file(const std::filesystem::path& file) {
        auto rotated = file;
        rotated += ".purge-" + util::format_utc(util::now(), "%Y%m%dT%H%M%S");
        if (::rename(file.c_str(), rotated.c_str()) != 0)
            throw Error::runtime("source \"" + m_source.name + "\": cannot rename " + file.string() + ": " +
                                 std::strerror(errno));
        if (auto pid = server_pid()) ::kill(*pid, m_reopen->signal);
        using namespace std::chrono_literals;
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!std::filesystem::exists(file) && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(20ms);
        std::error_code ec;
        auto size = std::filesystem::file_size(rotated, ec);
        for (int quiet = 0; quiet < 3 && std::chrono::steady_clock::now() < deadline;) {
            std::this_thread::sleep_for(100ms);
            auto now_size = std::filesystem::file_size(rotated, ec);
            quiet = now_size == size ? quiet + 1 : 0;
            size = now_size;
        }
        return rotated;
    }

    // Writes file anew without the lines the plan covered and the selector still selects;
    // bytes beyond what the plan read (appended since) are copied as they are. gzip stays
    // gzip; mode and owner are kept; the result replaces file atomically (or file is removed
    // when nothing is left).
    void process_planned_file(const std::filesystem::path& file, const PlanItem& item, const Selector& selector) {
        struct stat info {};
        if (::stat(file.c_str(), &info) != 0)
            throw Error::runtime("cannot read " + file.string() + ": " + std::strerror(errno));
        std::uint64_t covered = item.snapshot.at("read").get<std::uint64_t>();
        bool gz = file.extension() == ".gz";
        if (item.what.find("remove") != std::string::npos &&
            static_cast<std::uint64_t>(info.st_size) == item.snapshot.at("size").get<std::uint64_t>()) {
            if (::unlink(file.c_str()) != 0)
                throw Error::runtime("cannot remove " + file.string() + ": " + std::strerror(errno));
            return;
        }
        if (!gz && item.snapshot.contains("selected_at") &&
            rewrite_without(file, info, item.snapshot.at("selected_at"), selector))
            return;
        auto temp = temporary_for(file);
        LogWriter writer(temp, gz, info);
        std::uint64_t offset = 0, kept = 0;
        auto prefilter = prefilter_for(selector);
        // Lines as written: the lines kept go back byte for byte, "\r" included.
        each_line(
            file, prefilter,
            [&](std::string_view written, bool may_be_selected) {
                bool planned = offset < covered && may_be_selected;
                offset += written.size() + 1;
                if (planned && selects_line(without_cr(written), selector)) return true;
                // Only an unterminated last line of a plain file goes back without its newline.
                writer.write_line(written, gz || offset <= static_cast<std::uint64_t>(info.st_size));
                ++kept;
                return true;
            },
            Ending::as_written);
        writer.finish();
        replace_with(file, temp, kept > 0);
    }

    static std::filesystem::path temporary_for(const std::filesystem::path& file) {
        return file.parent_path() / (".gdprctl-tmp-" + file.filename().string());
    }

    // The rewritten temp takes file's place, or both go when nothing was kept.
    static void replace_with(const std::filesystem::path& file, const std::filesystem::path& temp, bool anything_kept) {
        if (!anything_kept) {
            ::unlink(temp.c_str());
            if (::unlink(file.c_str()) != 0)
                throw Error::runtime("cannot remove " + file.string() + ": " + std::strerror(errno));
            return;
        }
        if (::rename(temp.c_str(), file.c_str()) != 0) {
            int saved = errno;
            ::unlink(temp.c_str());
            throw Error::runtime("cannot replace " + file.string() + ": " + std::strerror(saved));
        }
    }

    // Writes a plain file anew without the lines the plan found the selector's lines at, every
    // other byte copied as it is, without splitting lines. Each listed line must still be there
    // whole and still be selected; when one is not (the file was changed in place since the
    // plan), nothing is written and false tells the caller to read every line instead.
    bool rewrite_without(const std::filesystem::path& file, const struct stat& info, const nlohmann::json& listed,
                         const Selector& selector) {
        util::ReadOnlyFile in(file);
        int fd = in.fd();
        auto ranges = listed.get<std::vector<std::pair<std::uint64_t, std::uint64_t>>>();
        auto size = static_cast<std::uint64_t>(info.st_size);
        if (!lines_still_selected(fd, file, size, ranges, selector)) return false;
        auto temp = temporary_for(file);
        LogWriter writer(temp, false, info);
        std::uint64_t at = 0, kept = 0;
        for (const auto& [offset, length] : ranges) {
            writer.copy_from(fd, file, at, offset - at);
            kept += offset - at;
            at = offset + length;
        }
        writer.copy_from(fd, file, at, size - at);
        kept += size - at;
        writer.finish();
        replace_with(file, temp, kept > 0);
        return true;
    }

    bool lines_still_selected(int fd, const std::filesystem::path& file, std::uint64_t size,
                              const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges,
                              const Selector& selector) {
        std::uint64_t previous_end = 0;
        std::string bytes;
        for (const auto& [offset, length] : ranges) {
            if (length == 0 || offset < previous_end || offset > size || length > size - offset) return false;
            // With the byte before: a line starts at offset only after a newline.
            std::uint64_t from = offset > 0 ? offset - 1 : 0;
            bytes.resize(static_cast<std::size_t>(offset + length - from));
            read_exactly(fd, file, bytes.data(), bytes.size(), from);
            std::string_view line(bytes);
            if (offset > 0 && line.front() != '\n') return false;
            if (offset > 0) line.remove_prefix(1);
            bool last = offset + length == size;
            if (line.back() == '\n')
                line.remove_suffix(1);
            else if (!last)
                return false;
            if (line.find('\n') != std::string_view::npos) return false;
            if (!selects_line(without_cr(line), selector)) return false;
            previous_end = offset + length;
        }
        return true;
    }

    std::optional<std::filesystem::path> find_by_inode(std::uint64_t dev, std::uint64_t ino) const {
        for (const auto& file : source_files()) {
            struct stat info {};
            if (::stat(file.c_str(), &info) == 0 && static_cast<std::uint64_t>(info.st_dev) == dev &&
                static_cast<std::uint64_t>(info.st_ino) == ino)
                return file;
        }
        return std::nullopt;
    }

    // A run killed mid-rewrite leaves its temporary file; the original is intact.
    void remove_stale_temporaries() const {
        for (const auto& temp : util::expand_glob(m_source.path.parent_path(), ".gdprctl-tmp-*"))
            ::unlink(temp.c_str());
    }

    std::vector<std::filesystem::path> source_files() const {
        std::vector<std::filesystem::path> files;
        for (const auto& file : util::expand_glob(m_source.path.parent_path(), m_source.path.filename().string())) {
            std::error_code ec;
            if (std::filesystem::is_regular_file(file, ec)) files.push_back(file);
        }
        return files;
    }

    template <typename F>
    auto reading(F&& work) const -> decltype(work()) {
        try {
            return work();
        } catch (const Error& e) {
            throw Error::runtime("source \"" + m_source.name + "\": " + e.what(), e.hint());
        }
    }

    // Splits the first `limit` well-formed lines into every field and looks for personal data
    // in the fields the data map does not declare.
    std::vector<UndeclaredFinding> sample_undeclared(const std::vector<std::filesystem::path>& files,
                                                     std::size_t limit) {
        Sampler sampler(*this, limit);
        auto context = make_context();
        for (const auto& file : files) {
            if (!sampler.wants_more()) break;
            reading([&] {
                return for_each_line(file, [&](std::string_view line, std::uint64_t) {
                    if (!line.empty() && parse_line(line, context.view, all_fields()) && interpret(context))
                        sampler.take(context.view);
                    return sampler.wants_more();
                });
            });
        }
        return sampler.findings();
    }

    RangeCount count_range(const std::filesystem::path& file, std::uint64_t begin, std::uint64_t end, bool whole,
                           const Selector& selector, std::size_t limit, LineContext& context) {
        RangeCount count;
        const auto& dataset = m_datasets.front();
        auto on_line = [&](std::string_view line, std::uint64_t number) {
            count.lines = number;
            if (line.empty()) return true;
            if (!parse_line(line, context.view, limit) || !interpret(context)) {
                if (!count.malformed++) count.first_malformed_line = number;
                return true;
            }
            if (in_selector(context.view, selector))
                count.tally.add(dataset, context.view.tenant, line.size() + 1, context.view.time);
            return true;
        };
        reading(
            [&] { return whole ? for_each_line(file, on_line) : for_each_line_in_range(file, begin, end, on_line); });
        return count;
    }

    // Counts one file: gzip, JSON lines and small files in this thread; large plain files in
    // byte ranges, one thread each. The results come in file order.
    std::vector<RangeCount> count_file(const std::filesystem::path& file, const Selector& selector, std::size_t limit,
                                       const InventoryOptions& options) {
        std::error_code ec;
        std::uint64_t size = std::filesystem::file_size(file, ec);
        unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
        bool parallel = !m_jsonl && file.extension() != ".gz" && size >= options.parallel_min_bytes && threads > 1;
        if (!parallel) {
            auto context = make_context();
            return {count_range(file, 0, size, true, selector, limit, context)};
        }
        threads = static_cast<unsigned>(std::min<std::uint64_t>(threads, std::max<std::uint64_t>(1, size / 4096)));
        std::vector<RangeCount> counts(threads);
        std::vector<std::exception_ptr> failures(threads);
        std::vector<std::thread> workers;
        for (unsigned i = 0; i < threads; ++i) {
            workers.emplace_back([&, i] {
                try {
                    auto context = make_context();
                    counts[i] = count_range(file, size * i / threads, size * (i + 1) / threads, false, selector, limit,
                                            context);
                } catch (...) {
                    failures[i] = std::current_exception();
                }
            });
        }
        for (auto& worker : workers) worker.join();
        for (auto& failure : failures)
            if (failure) std::rethrow_exception(failure);
        return counts;
    }

    // True when a line of the selector must hold one of its identifiers as text: people in
    // every tenant, known only by identifiers the text scan looks for (a user id is a number
    // that occurs everywhere; it needs the parsed field). Then one scan of the raw bytes finds
    // both the selector's lines and every other occurrence, and no line needs parsing.
    static bool text_finds_every_line_of(const Selector& selector, const config::Dataset& dataset) {
        if (selector.tenant || selector.subjects.empty() || selector.older_than) return false;
        for (const auto& field : dataset.subjects)
            if (field.kind == "user" && selector.has_subjects_of({field})) return false;
        return true;
    }

    // Every line of file; may_be_selected is false only for lines the prefilter rules out.
    template <typename F>
    static std::uint64_t each_line(const std::filesystem::path& file,
                                   const std::optional<pii::IdentifierMatcher>& prefilter, F&& on_line,
                                   Ending ending = Ending::without_cr) {
        if (!prefilter)
            return for_each_line(
                file, [&](std::string_view line, std::uint64_t) { return on_line(line, true); }, ending);
        return for_each_line_marked(
            file, *prefilter, [&](std::string_view line, std::uint64_t, bool holds) { return on_line(line, holds); },
            ending);
    }

    // For people known by identifiers that appear as text in every line of theirs: a matcher
    // that rules out, without parsing, the lines that hold none of them (nearly all).
    std::optional<pii::IdentifierMatcher> prefilter_for(const Selector& selector) const {
        if (!text_finds_every_line_of(selector, m_datasets.front())) return std::nullopt;
        return pii::IdentifierMatcher(text_patterns(selector.subjects));
    }

    VerifyReport scan_text(const pii::IdentifierMatcher& identifiers) {
        VerifyReport report;
        unsigned threads = std::max(1u, std::thread::hardware_concurrency());
        for (const auto& file : source_files()) {
            std::uint64_t matches = 0;
            if (file.extension() == ".gz") {
                report.bytes_scanned += reading([&] {
                    return for_each_line(file, [&](std::string_view line, std::uint64_t) {
                        matches += identifiers.count(line);
                        return true;
                    });
                });
            } else {
                matches = reading([&] { return count_in_raw_bytes(file, identifiers, report.bytes_scanned, threads); });
            }
            if (matches) report.residue.push_back({file.filename().string() + " (identifier occurrences)", matches});
        }
        return report;
    }

    // Calls on_line for every well-formed line of every file of the source, in file order,
    // split into every field.
    template <typename F>
    void for_each_view(SourceInventory& result, F&& on_line) {
        for (const auto& file : source_files()) {
            reading([&] {
                return for_each_line(file, [&](std::string_view line, std::uint64_t number) {
                    if (line.empty()) return true;
                    if (!parse_line(line, m_context.view, all_fields()) || !interpret(m_context)) {
                        if (!result.malformed++)
                            result.first_malformed = file.filename().string() + ":" + std::to_string(number);
                        return true;
                    }
                    on_line(line, m_context.view, file, number);
                    return true;
                });
            });
        }
    }

    config::Source m_source;
    std::vector<config::Dataset> m_datasets;
    std::optional<std::int64_t> m_sample_override;
    bool m_jsonl = false;
    std::optional<LineFormat> m_format;
    std::vector<std::string> m_names;  // field names by index
    std::set<std::string> m_declared;  // fields the data map accounts for
    std::vector<std::pair<std::string, std::size_t>> m_subjects;
    std::size_t m_tenant_field = k_no_field;
    std::size_t m_time_field = k_no_field;
    std::size_t m_last_for_tenant_and_time = 0;
    std::size_t m_last_for_subjects = 0;
    std::optional<util::Regex> m_tenant_regex;
    std::string m_live_file;
    struct Reopen {
        std::filesystem::path pid_file;
        int signal = SIGUSR1;
    };
    std::optional<Reopen> m_reopen;
    LineContext m_context;  // for the sequential paths (collect, verify)
};

}  // namespace

std::unique_ptr<Connector> open(const config::Source& source, const config::Workspace& workspace) {
    return std::make_unique<LogfileConnector>(source, workspace);
}

}  // namespace gdprctl::connectors::logfile
