#include "connectors/connector.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/pii/detect.hpp"
#include "core/util/fs.hpp"

namespace gdprctl::connectors {

namespace {

std::string lower_ascii(std::string text) {
    for (auto& c : text)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
    return text;
}

}  // namespace

Identifier parse_identifier(const std::string& text) {
    auto colon = text.find(':');
    if (colon == std::string::npos || colon + 1 == text.size())
        throw Error::usage("subject \"" + text + "\" is not KIND:VALUE",
                           "write e.g. email:ann@example.org, ip:192.0.2.7, user:42");
    Identifier id{text.substr(0, colon), text.substr(colon + 1)};
    const auto& kinds = config::identifier_kinds();
    if (std::find(kinds.begin(), kinds.end(), id.kind) == kinds.end())
        throw Error::usage(
            "unknown identifier kind \"" + id.kind + "\"",
            "use one of: " + config::identifier_kinds_text() + " (a workspace declares more in \"identifier_kinds\")");
    if (id.kind == "email") id.value = lower_ascii(id.value);
    if (id.kind == "ip") {
        auto canonical = pii::canonical_ip(id.value);
        if (!canonical) throw Error::usage("\"" + id.value + "\" is not an IPv4 or IPv6 address");
        id.value = *canonical;
    }
    return id;
}

bool Selector::wants_category(const std::string& category) const {
    return categories.empty() || std::find(categories.begin(), categories.end(), category) != categories.end();
}

std::vector<std::string> text_patterns(const std::vector<Identifier>& identifiers) {
    std::vector<std::string> patterns;
    for (const auto& id : identifiers) {
        // A numeric user id occurs everywhere as some other number; an IRI or a handle does not.
        if (id.kind == "user" && (id.value.size() < 3 || id.value.find_first_not_of("0123456789") == std::string::npos))
            continue;
        if (id.kind == "ip") {
            for (auto& form : pii::ip_text_forms(id.value)) patterns.push_back(std::move(form));
        } else {
            patterns.push_back(id.value);
        }
    }
    return patterns;
}

bool Selector::matches_subject(const std::string& kind, std::string_view value) const {
    for (const auto& subject : subjects) {
        if (subject.kind != kind) continue;
        if (kind == "email" ? lower_ascii(std::string(value)) == subject.value : value == subject.value) return true;
        if (kind == "ip") {
            auto canonical = pii::canonical_ip(value);
            if (canonical && *canonical == subject.value) return true;
        }
    }
    return false;
}

bool Selector::has_subjects_of(const std::vector<config::SubjectField>& fields) const {
    for (const auto& subject : subjects)
        for (const auto& field : fields)
            if (field.kind == subject.kind) return true;
    return false;
}

bool Selector::wants_dataset(const config::Dataset& dataset) const {
    if (!datasets.empty() && std::find(datasets.begin(), datasets.end(), dataset.name) == datasets.end()) return false;
    return wants_category(dataset.category);
}

bool Selector::may_match(const config::Dataset& dataset) const {
    return wants_dataset(dataset) && (subjects.empty() || has_subjects_of(dataset.subjects));
}

bool Selector::is_whole_tenant() const {
    return tenant && exclude_tenants.empty() && subjects.empty() && categories.empty() && datasets.empty() &&
           !older_than;
}

bool Selector::wants_tenant(std::string_view value) const {
    if (tenant && value != *tenant) return false;
    for (const auto& excluded : exclude_tenants)
        if (value == excluded) return false;
    return true;
}

namespace {

// The parts of a selector that the journal and plan files write alike.
nlohmann::json scope_json(const Selector& selector) {
    nlohmann::json out = nlohmann::json::object();
    if (selector.tenant) out["tenant"] = *selector.tenant;
    if (!selector.exclude_tenants.empty()) out["exclude_tenants"] = selector.exclude_tenants;
    if (!selector.categories.empty()) out["categories"] = selector.categories;
    if (!selector.datasets.empty()) out["datasets"] = selector.datasets;
    return out;
}

}  // namespace

nlohmann::json Selector::to_plan_json() const {
    auto out = scope_json(*this);
    if (older_than) out["older_than"] = *older_than;
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& subject : subjects) ids.push_back(subject.text());
    if (!ids.empty()) out["subjects"] = ids;
    return out;
}

Selector Selector::from_plan_json(const nlohmann::json& json) {
    Selector selector;
    if (json.contains("tenant")) selector.tenant = json.at("tenant").get<std::string>();
    selector.exclude_tenants = json.value("exclude_tenants", std::vector<std::string>{});
    selector.categories = json.value("categories", std::vector<std::string>{});
    selector.datasets = json.value("datasets", std::vector<std::string>{});
    if (json.contains("older_than")) selector.older_than = json.at("older_than").get<util::UnixTime>();
    for (const auto& text : json.value("subjects", std::vector<std::string>{}))
        selector.subjects.push_back(parse_identifier(text));
    return selector;
}

nlohmann::json Action::to_plan_json() const {
    nlohmann::json out = {{"kind", kind == Kind::remove ? "delete" : kind == Kind::erase ? "erase" : "anonymise"}};
    if (kind == Kind::anonymise) {
        out["method"] = method;
        out["fields"] = fields;
    }
    return out;
}

Action Action::from_plan_json(const nlohmann::json& json) {
    Action action;
    auto kind = json.at("kind").get<std::string>();
    action.kind = kind == "delete" ? Kind::remove : kind == "erase" ? Kind::erase : Kind::anonymise;
    action.method = json.value("method", "");
    action.fields = json.value("fields", std::vector<std::string>{});
    return action;
}

nlohmann::json Plan::to_json() const {
    nlohmann::json out = {{"source", source},
                          {"action", action.to_plan_json()},
                          {"selector", selector.to_plan_json()},
                          {"source_records", source_records},
                          {"newest", newest ? nlohmann::json(*newest) : nlohmann::json(nullptr)},
                          {"items", nlohmann::json::array()}};
    for (const auto& item : items) out["items"].push_back(item.to_json());
    return out;
}

Plan Plan::from_json(const nlohmann::json& json) {
    Plan plan;
    plan.source = json.at("source").get<std::string>();
    plan.action = Action::from_plan_json(json.at("action"));
    plan.selector = Selector::from_plan_json(json.at("selector"));
    plan.source_records = json.at("source_records").get<std::uint64_t>();
    if (!json.at("newest").is_null()) plan.newest = json.at("newest").get<util::UnixTime>();
    for (const auto& item : json.at("items")) plan.items.push_back(PlanItem::from_json(item));
    return plan;
}

nlohmann::json PlanItem::to_json() const {
    nlohmann::json out = {{"dataset", dataset}, {"what", what}, {"records", records}, {"bytes", bytes}};
    out["oldest"] = oldest ? nlohmann::json(*oldest) : nlohmann::json(nullptr);
    if (!note.empty()) out["note"] = note;
    if (!snapshot.is_null()) out["snapshot"] = snapshot;
    if (other_people) out["other_people"] = true;
    if (!blocked.empty()) out["blocked"] = blocked;
    return out;
}

PlanItem PlanItem::from_json(const nlohmann::json& json) {
    PlanItem item;
    item.dataset = json.at("dataset").get<std::string>();
    item.what = json.at("what").get<std::string>();
    item.records = json.at("records").get<std::uint64_t>();
    item.bytes = json.at("bytes").get<std::uint64_t>();
    if (!json.at("oldest").is_null()) item.oldest = json.at("oldest").get<util::UnixTime>();
    item.note = json.value("note", "");
    if (json.contains("snapshot")) item.snapshot = json.at("snapshot");
    item.other_people = json.value("other_people", false);
    item.blocked = json.value("blocked", "");
    return item;
}

std::uint64_t Plan::records() const {
    std::uint64_t total = 0;
    for (const auto& item : items)
        if (item.erases_records()) total += item.records;
    return total;
}

std::vector<std::string> Plan::blocked() const {
    std::vector<std::string> reasons;
    for (const auto& item : items)
        if (!item.blocked.empty()) reasons.push_back(item.blocked);
    return reasons;
}

nlohmann::json Selector::to_json() const {
    auto out = scope_json(*this);
    if (!subjects.empty()) out["subjects"] = subjects.size();
    if (older_than) out["older_than"] = util::format_iso8601(*older_than);
    return out;
}

bool RecordChange::changes(const Column& column, const std::optional<std::string_view>& value) const {
    if (!value) return false;
    return !column.anonymised || pii::needs_anonymising(*value, method, key);
}

std::optional<std::string> RecordChange::rewritten(const Column& column, std::string_view value) const {
    if (!column.anonymised) return std::nullopt;
    return pii::anonymise(value, method, key);
}

namespace {

// The columns an anonymise action names in dataset: the identifier columns of the kinds it
// names, and personal columns it names directly.
std::vector<std::string> named_columns(const config::Dataset& dataset, const Action& action) {
    std::vector<std::string> columns;
    auto add = [&](const std::string& column) {
        if (std::find(columns.begin(), columns.end(), column) == columns.end()) columns.push_back(column);
    };
    for (const auto& field : action.fields) {
        for (const auto& subject : dataset.subjects)
            if (subject.kind == field) add(subject.field);
        if (std::find(dataset.personal.begin(), dataset.personal.end(), field) != dataset.personal.end()) add(field);
    }
    return columns;
}

}  // namespace

pii::AnonymiseMethod anonymisation_method(const Action& action) {
    if (action.kind != Action::Kind::anonymise) return pii::AnonymiseMethod::ip_truncate;
    auto method = pii::anonymise_method(action.method);
    if (!method) throw Error::config("unknown anonymisation method \"" + action.method + "\"");
    return *method;
}

RecordChange record_change(const config::Dataset& dataset, const Action& action, const Selector& selector) {
    RecordChange change;
    if (action.kind == Action::Kind::remove) return change;
    if (action.kind == Action::Kind::erase &&
        (selector.is_whole_tenant() || dataset.on_erase == config::OnErase::remove))
        return change;
    change.remove = false;
    change.method = anonymisation_method(action);
    change.key = action.hmac_key;
    if (action.kind == Action::Kind::anonymise) {
        for (const auto& column : named_columns(dataset, action)) change.columns.push_back({column, true});
        return change;
    }
    for (const auto& column : dataset.personal) {
        if (std::any_of(change.columns.begin(), change.columns.end(),
                        [&](const RecordChange::Column& c) { return c.name == column; }))
            continue;
        bool address = std::any_of(dataset.subjects.begin(), dataset.subjects.end(),
                                   [&](const config::SubjectField& f) { return f.kind == "ip" && f.field == column; });
        change.columns.push_back({column, address});
    }
    return change;
}

std::vector<const config::Dataset*> in_change_order(
    const std::vector<config::Dataset>& datasets, const std::vector<config::Dataset>& tenant_tables,
    const Selector& selector, const Action& action,
    const std::function<std::vector<std::string>(const std::string& table)>& parents) {
    std::vector<const config::Dataset*> remaining;
    for (const auto& dataset : datasets) remaining.push_back(&dataset);
    // Deletions go children first (a row that points at another's is removed before it, so that
    // no key refuses or cascades); a rewrite changes no key and keeps the config's order.
    if (action.kind == Action::Kind::anonymise) return remaining;
    if (selector.is_whole_tenant())
        for (const auto& table : tenant_tables) remaining.push_back(&table);
    std::map<std::string, std::vector<std::string>> parents_of;
    for (const auto* dataset : remaining) parents_of[dataset->locator] = parents(dataset->locator);
    auto points_at = [&](const config::Dataset& child, const std::string& table) {
        if (child.locator == table) return false;
        const auto& keys = parents_of[child.locator];
        if (std::find(keys.begin(), keys.end(), table) != keys.end()) return true;
        if (child.tenant)
            for (const auto& step : child.tenant->via)
                if (step.table == table) return true;
        return false;
    };
    std::vector<const config::Dataset*> ordered;
    while (!remaining.empty()) {
        auto next = std::find_if(remaining.begin(), remaining.end(), [&](const config::Dataset* candidate) {
            return std::none_of(remaining.begin(), remaining.end(),
                                [&](const config::Dataset* other) { return points_at(*other, candidate->locator); });
        });
        if (next == remaining.end()) next = remaining.begin();  // a cycle: keep the config's order
        ordered.push_back(*next);
        remaining.erase(next);
    }
    return ordered;
}

config::JsonReader source_reader(const config::Source& source) {
    config::JsonReader reader(source.spec, source.pointer, source.file);
    reader.optional_string("name");
    reader.optional_string("kind");
    reader.optional_string("path");
    return reader;
}

namespace {

// Walks [begin, end) of the file open at fd (size bytes long) in blocks. Each block is read
// with enough bytes before it to hold any match and its left context, and the context bytes
// after it. on_block(text, from, to, base) gets the block, base (the file offset of text[0]) and
// the indices [from, to) it is responsible for: those of the blocks tile [begin, end), and a
// match whose last byte is at one of them has its right-hand context complete in that block.
template <typename F>
void for_each_block_of_range(int fd, const std::filesystem::path& file, const pii::IdentifierMatcher& identifiers,
                             std::uint64_t size, std::uint64_t begin, std::uint64_t end, F&& on_block) {
    constexpr std::size_t block = 4 << 20;
    constexpr std::size_t context = pii::IdentifierMatcher::k_context;
    const std::size_t carry = identifiers.longest() + 2 * context;
    const std::uint64_t stop = std::min<std::uint64_t>(size, end + context);
    std::uint64_t next = begin > carry ? begin - carry : 0;
    std::vector<char> buffer(carry + block);
    std::size_t held = 0, carried = 0;
    std::uint64_t base = next;  // file offset of buffer[0]
    while (next < stop) {
        auto want = static_cast<std::size_t>(std::min<std::uint64_t>(block, stop - next));
        ssize_t got = ::pread(fd, buffer.data() + held, want, static_cast<off_t>(next));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            throw Error::runtime("cannot read " + file.string() + ": " +
                                 (got < 0 ? std::strerror(errno) : "the file shrank while it was read"));
        held += static_cast<std::size_t>(got);
        next += static_cast<std::uint64_t>(got);
        bool last = next >= stop;
        std::size_t from = carried > context ? carried - context : 0;
        std::size_t to = (last && stop == size) ? held : (held > context ? held - context : 0);
        if (begin > base) from = std::max<std::size_t>(from, static_cast<std::size_t>(begin - base));
        to = end > base ? std::min<std::size_t>(to, static_cast<std::size_t>(std::min<std::uint64_t>(end - base, held)))
                        : 0;
        if (to > from) on_block(std::string_view(buffer.data(), held), from, to, base);
        carried = std::min(carry, held);
        std::memmove(buffer.data(), buffer.data() + held - carried, carried);
        base += held - carried;
        held = carried;
    }
}

// Runs work(k, begin, end) for the k-th of `threads` byte ranges that tile [0, size), each on
// its own thread (the first on the caller's); rethrows the first failure.
template <typename F>
void for_each_range_in_parallel(std::uint64_t size, unsigned threads, F&& work) {
    std::vector<std::exception_ptr> failures(threads);
    auto range = [&](unsigned k) {
        try {
            work(k, size * k / threads, size * (k + 1) / threads);
        } catch (...) {
            failures[k] = std::current_exception();
        }
    };
    std::vector<std::thread> workers;
    for (unsigned k = 1; k < threads; ++k) workers.emplace_back(range, k);
    range(0);
    for (auto& worker : workers) worker.join();
    for (const auto& failure : failures)
        if (failure) std::rethrow_exception(failure);
}

// memchr is vectorised in the C library; a plain counting loop over bytes costs as much as the
// matcher itself.
std::uint64_t newlines_in(std::string_view text) {
    std::uint64_t newlines = 0;
    for (const char *at = text.data(), *end = text.data() + text.size();; ++newlines, ++at) {
        at = static_cast<const char*>(std::memchr(at, '\n', static_cast<std::size_t>(end - at)));
        if (!at) return newlines;
    }
}

// Small files are not worth a thread; large ones are cut into one byte range per thread.
unsigned threads_for(std::uint64_t size, unsigned threads) { return size < (32ull << 20) ? 1 : std::max(1u, threads); }

}  // namespace

std::uint64_t count_in_raw_bytes(const std::filesystem::path& file, const pii::IdentifierMatcher& identifiers,
                                 std::uint64_t& bytes_scanned, unsigned threads) {
    util::ReadOnlyFile in(file, true);
    if (!in.is_open()) return 0;
    bytes_scanned += in.size();
    if (identifiers.empty() || in.size() == 0) return 0;
    threads = threads_for(in.size(), threads);
    std::vector<std::uint64_t> counts(threads, 0);
    for_each_range_in_parallel(in.size(), threads, [&](unsigned k, std::uint64_t begin, std::uint64_t end) {
        for_each_block_of_range(in.fd(), file, identifiers, in.size(), begin, end,
                                [&](std::string_view text, std::size_t from, std::size_t to, std::uint64_t) {
                                    counts[k] += identifiers.count_ending_in(text, from, to);
                                });
    });
    std::uint64_t total = 0;
    for (auto count : counts) total += count;
    return total;
}

RawOccurrences find_in_raw_bytes(const std::filesystem::path& file, const pii::IdentifierMatcher& identifiers,
                                 unsigned threads) {
    util::ReadOnlyFile in(file);
    RawOccurrences found;
    found.size = in.size();
    if (in.size() == 0) return found;
    threads = threads_for(in.size(), threads);
    std::vector<RawOccurrences> parts(threads);
    for_each_range_in_parallel(in.size(), threads, [&](unsigned k, std::uint64_t begin, std::uint64_t end) {
        std::vector<std::size_t> ends;
        for_each_block_of_range(in.fd(), file, identifiers, in.size(), begin, end,
                                [&](std::string_view text, std::size_t from, std::size_t to, std::uint64_t base) {
                                    parts[k].newlines += newlines_in(text.substr(from, to - from));
                                    ends.clear();
                                    identifiers.append_match_ends(text, from, to, ends);
                                    for (auto match_end : ends) parts[k].match_ends.push_back(base + match_end);
                                    if (base + to == in.size()) found.ends_in_newline = text[to - 1] == '\n';
                                });
    });
    for (auto& part : parts) {
        found.newlines += part.newlines;
        found.match_ends.insert(found.match_ends.end(), part.match_ends.begin(), part.match_ends.end());
    }
    return found;
}

void StreamingMatchCounter::feed(std::string_view bytes) {
    if (m_identifiers.empty()) return;
    m_window.append(bytes);
    // A match ending within the last bytes may still grow, or lose its bound, with what comes.
    if (m_window.size() <= pii::IdentifierMatcher::k_context) return;
    auto countable = m_window.size() - pii::IdentifierMatcher::k_context;
    if (countable <= m_counted) return;
    m_matches += m_identifiers.count_ending_in(m_window, m_counted, countable);
    auto keep = m_identifiers.longest() + 2 * pii::IdentifierMatcher::k_context;
    auto drop = countable > keep ? countable - keep : 0;
    m_window.erase(0, drop);
    m_counted = countable - drop;
}

std::uint64_t StreamingMatchCounter::finish() {
    if (!m_identifiers.empty() && m_window.size() > m_counted)
        m_matches += m_identifiers.count_ending_in(m_window, m_counted, m_window.size());
    m_window.clear();
    m_counted = 0;
    return m_matches;
}

std::int64_t day_of(util::UnixTime time) { return time >= 0 ? time / 86400 : (time - 86399) / 86400; }

void InventoryTally::add(const config::Dataset& dataset, std::string_view tenant, std::uint64_t bytes,
                         std::optional<util::UnixTime> time) {
    // Consecutive records mostly share dataset and tenant; check the last row before searching.
    auto same = [&](const InventoryRow& row) { return row.tenant == tenant && row.dataset == dataset.name; };
    if (m_last >= m_rows.size() || !same(m_rows[m_last])) {
        auto it = std::find_if(m_rows.begin(), m_rows.end(), same);
        if (it == m_rows.end()) {
            m_rows.push_back(InventoryRow{dataset.name, dataset.category, std::string(tenant), 0, 0, {}, {}, {}});
            it = m_rows.end() - 1;
        }
        m_last = static_cast<std::size_t>(it - m_rows.begin());
    }
    auto& row = m_rows[m_last];
    ++row.records;
    row.bytes += bytes;
    if (time) {
        if (!row.oldest || *time < *row.oldest) row.oldest = time;
        if (!row.newest || *time > *row.newest) row.newest = time;
        ++row.records_per_day[day_of(*time)];
    }
}

std::vector<InventoryRow> InventoryTally::rows() const { return m_rows; }

void InventoryTally::merge(const InventoryTally& other) {
    for (const auto& theirs : other.m_rows) {
        auto it = std::find_if(m_rows.begin(), m_rows.end(), [&](const InventoryRow& row) {
            return row.tenant == theirs.tenant && row.dataset == theirs.dataset;
        });
        if (it == m_rows.end()) {
            m_rows.push_back(theirs);
            continue;
        }
        it->records += theirs.records;
        it->bytes += theirs.bytes;
        for (const auto& [day, count] : theirs.records_per_day) it->records_per_day[day] += count;
        if (theirs.oldest && (!it->oldest || *theirs.oldest < *it->oldest)) it->oldest = theirs.oldest;
        if (theirs.newest && (!it->newest || *theirs.newest > *it->newest)) it->newest = theirs.newest;
    }
    m_last = static_cast<std::size_t>(-1);
}

}  // namespace gdprctl::connectors
