#include "connectors/connector.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/pii/detect.hpp"

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
        throw Error::usage("unknown identifier kind \"" + id.kind + "\"",
                           "use one of: email, ip, user, phone, stream_key");
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

bool Selector::may_match(const config::Dataset& dataset) const {
    if (!datasets.empty() && std::find(datasets.begin(), datasets.end(), dataset.name) == datasets.end()) return false;
    return wants_category(dataset.category) && (subjects.empty() || has_subjects_of(dataset.subjects));
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
    nlohmann::json out = {{"kind", kind == Kind::remove ? "delete" : "anonymise"}};
    if (kind == Kind::anonymise) {
        out["method"] = method;
        out["fields"] = fields;
    }
    return out;
}

Action Action::from_plan_json(const nlohmann::json& json) {
    Action action;
    action.kind = json.at("kind").get<std::string>() == "delete" ? Kind::remove : Kind::anonymise;
    action.method = json.value("method", "");
    action.fields = json.value("fields", std::vector<std::string>{});
    return action;
}

nlohmann::json PlanItem::to_json() const {
    nlohmann::json out = {{"dataset", dataset}, {"what", what}, {"records", records}, {"bytes", bytes}};
    out["oldest"] = oldest ? nlohmann::json(*oldest) : nlohmann::json(nullptr);
    if (!note.empty()) out["note"] = note;
    if (!snapshot.is_null()) out["snapshot"] = snapshot;
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
    return item;
}

std::uint64_t Plan::records() const {
    std::uint64_t total = 0;
    for (const auto& item : items) total += item.records;
    return total;
}

nlohmann::json Selector::to_json() const {
    auto out = scope_json(*this);
    if (!subjects.empty()) out["subjects"] = subjects.size();
    if (older_than) out["older_than"] = util::format_iso8601(*older_than);
    return out;
}

config::JsonReader source_reader(const config::Source& source) {
    config::JsonReader reader(source.spec, source.pointer, source.file);
    reader.optional_string("name");
    reader.optional_string("kind");
    reader.optional_string("path");
    return reader;
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
