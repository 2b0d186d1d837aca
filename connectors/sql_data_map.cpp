#include "connectors/sql_data_map.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/util/time.hpp"

namespace gdprctl::connectors {

std::string quote_identifier(const std::string& identifier) {
    std::string out = "\"";
    for (char c : identifier) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

SqlDataMap read_sql_data_map(config::JsonReader& reader, const config::Source& source,
                             const config::Workspace& workspace) {
    SqlDataMap map;
    for (auto& table : reader.object_list("tables", true)) {
        auto locator = table.required_string("table");
        auto dataset = config::read_dataset(table, workspace, "column");
        dataset.locator = locator;
        dataset.name = source.name + ":" + locator;
        table.finish();
        map.datasets.push_back(std::move(dataset));
    }
    for (auto& table : reader.object_list("tenant_tables", false)) {
        config::Dataset owned;
        owned.pointer = table.pointer();
        owned.locator = table.required_string("table");
        owned.name = source.name + ":" + owned.locator;
        owned.personal = table.string_list("names");
        auto tenant = table.optional_object("tenant");
        if (!tenant) table.fail_here("missing required key \"tenant\"", "say which column holds the tenant");
        owned.tenant = config::read_tenant(*tenant, "column");
        table.finish();
        map.tenant_tables.push_back(std::move(owned));
    }
    map.links = read_declared_links(reader);
    return map;
}

void check_dataset_columns(const config::Dataset& dataset, const RequireColumn& require) {
    for (const auto& subject : dataset.subjects)
        require(dataset.locator, subject.field, dataset.pointer + "/subjects/" + subject.kind);
    for (const auto& column : dataset.personal) require(dataset.locator, column, dataset.pointer + "/personal");
    for (const auto& column : dataset.ignore) require(dataset.locator, column, dataset.pointer + "/ignore");
    if (!dataset.owner.empty()) require(dataset.locator, dataset.owner, dataset.pointer + "/owner");
    if (dataset.timestamp) require(dataset.locator, dataset.timestamp->field, dataset.timestamp->pointer);
    if (!dataset.tenant) return;
    std::string table = dataset.locator;
    for (std::size_t i = 0; i < dataset.tenant->via.size(); ++i) {
        const auto& step = dataset.tenant->via[i];
        std::string pointer = dataset.tenant->pointer + "/via/" + std::to_string(i);
        require(table, step.from, pointer + "/from");
        require(step.table, step.to, pointer + "/to");
        table = step.table;
    }
    require(table, dataset.tenant->field, dataset.tenant->pointer + "/column");
}

void check_link_columns(const std::vector<TableLink>& links, const RequireColumn& require) {
    for (const auto& link : links) {
        if (link.pointer.empty()) continue;
        require(link.table, link.column, link.pointer + "/from");
        require(link.parent, link.parent_column, link.pointer + "/to");
    }
}

namespace {

bool reads_in(const config::TimestampSpec& spec, const std::string& value) {
    switch (spec.format) {
        case config::TimeFormat::unix_seconds:
        case config::TimeFormat::unix_millis:
            return value.find_first_not_of("0123456789-.") == std::string::npos;
        case config::TimeFormat::iso8601:
            return util::parse_iso8601(value).has_value();
        case config::TimeFormat::pattern:
            return util::parse_with_pattern(value, spec.pattern).has_value();
        default:
            return true;
    }
}

}  // namespace

void check_timestamp_samples(const config::Dataset& dataset, const config::Source& source,
                             const std::vector<std::string>& samples) {
    const auto& spec = *dataset.timestamp;
    std::size_t misfits = 0;
    for (const auto& sample : samples) misfits += reads_in(spec, sample) ? 0 : 1;
    if (!misfits) return;
    bool iso_text = std::any_of(samples.begin(), samples.end(),
                                [](const std::string& value) { return util::parse_iso8601(value).has_value(); });
    throw Error::config(source.file + ": " + spec.pointer + "/format: " + std::to_string(misfits) + " of " +
                            std::to_string(samples.size()) + " sampled values of " + dataset.locator + "." +
                            spec.field + " do not read as this format",
                        iso_text ? "they are dates written as text: use \"format\": \"iso8601\""
                                 : "give the format the column holds: iso8601, unix, unix_ms or pattern");
}

std::map<std::string, std::set<std::string>> declared_columns(const std::vector<config::Dataset>& datasets) {
    std::map<std::string, std::set<std::string>> declared;
    for (const auto& dataset : datasets) {
        auto& set = declared[dataset.locator];
        set.insert(dataset.personal.begin(), dataset.personal.end());
        set.insert(dataset.ignore.begin(), dataset.ignore.end());
        for (const auto& subject : dataset.subjects) set.insert(subject.field);
        if (dataset.timestamp) set.insert(dataset.timestamp->field);
        if (!dataset.owner.empty()) set.insert(dataset.owner);
        if (!dataset.tenant) continue;
        std::string table = dataset.locator;
        for (const auto& step : dataset.tenant->via) {
            declared[table].insert(step.from);
            declared[step.table].insert(step.to);
            table = step.table;
        }
        declared[table].insert(dataset.tenant->field);
    }
    return declared;
}

void RowResidue::add(std::size_t column, std::string_view row, std::uint64_t matches) {
    if (!matches) return;
    auto& found = m_found[column];
    found.matches += matches;
    if (found.rows++ < 5) found.first_rows += (found.first_rows.empty() ? "" : " ") + std::string(row);
}

void RowResidue::report(const std::string& table, const std::string& what, VerifyReport& report) const {
    for (std::size_t c = 0; c < m_columns.size(); ++c) {
        const auto& found = m_found[c];
        if (!found.matches) continue;
        report.residue.push_back({table + (m_columns[c].empty() ? "" : "." + m_columns[c]) + " (" + what + ", rows " +
                                      found.first_rows + (found.rows > 5 ? " ..." : "") + ")",
                                  found.matches});
    }
}

void ColumnSample::add(std::string_view value) {
    ++m_finding.sampled;
    if (auto detector = pii::detect(value)) {
        ++m_finding.hits;
        ++m_by_detector[*detector];
    }
}

UndeclaredFinding ColumnSample::finding() const {
    auto finding = m_finding;
    auto top = std::max_element(m_by_detector.begin(), m_by_detector.end(),
                                [](const auto& a, const auto& b) { return a.second < b.second; });
    if (top != m_by_detector.end()) finding.detector = pii::detector_name(top->first);
    return finding;
}

}  // namespace gdprctl::connectors
