#include "connectors/sqlite/sqlite_connector.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/pii/detect.hpp"

namespace gdprctl::connectors::sqlite {

namespace {

std::string quote(const std::string& identifier) {
    std::string out = "\"";
    for (char c : identifier) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string time_expression(const config::TimestampSpec& spec) {
    std::string column = "t0." + quote(spec.field);
    switch (spec.format) {
        case config::TimeFormat::unix_seconds:
            return "CAST(" + column + " AS INTEGER)";
        case config::TimeFormat::unix_millis:
            return "(CAST(" + column + " AS INTEGER) / 1000)";
        default:
            return "unixepoch(" + column + ")";
    }
}

// FROM clause and tenant expression for a dataset: t0 is the dataset's table, j1..jN the joins.
struct QueryParts {
    std::string from;
    std::string tenant = "''";
    std::string time = "NULL";
    std::string bytes = "0";
};

QueryParts query_parts(const config::Dataset& dataset) {
    QueryParts parts;
    parts.from = quote(dataset.locator) + " AS t0";
    if (dataset.tenant) {
        std::string previous = "t0";
        int n = 0;
        for (const auto& step : dataset.tenant->via) {
            std::string alias = "j" + std::to_string(++n);
            parts.from += " LEFT JOIN " + quote(step.table) + " AS " + alias + " ON " + previous + "." +
                          quote(step.from) + " = " + alias + "." + quote(step.to);
            previous = alias;
        }
        parts.tenant = "COALESCE(CAST(" + previous + "." + quote(dataset.tenant->field) + " AS TEXT), '')";
    }
    if (dataset.timestamp) parts.time = time_expression(*dataset.timestamp);
    std::string bytes;
    for (const auto& column : dataset.personal)
        bytes += (bytes.empty() ? "" : " + ") + ("COALESCE(length(CAST(t0." + quote(column) + " AS BLOB)), 0)");
    if (!bytes.empty()) parts.bytes = bytes;
    return parts;
}

// WHERE clause for a selector, with its bound values in order.
struct Filter {
    std::string where = "1";
    std::vector<std::string> values;
    std::optional<util::UnixTime> older_than;
};

Filter filter_for(const config::Dataset& dataset, const QueryParts& parts, const Selector& selector) {
    Filter filter;
    if (selector.tenant) {
        filter.where += " AND " + parts.tenant + " = ?";
        filter.values.push_back(*selector.tenant);
    }
    if (!selector.subjects.empty()) {
        std::string any;
        for (const auto& subject : selector.subjects)
            for (const auto& field : dataset.subjects) {
                if (field.kind != subject.kind) continue;
                any += (any.empty() ? "" : " OR ") +
                       ("t0." + quote(field.field) + " = ?" + (subject.kind == "email" ? " COLLATE NOCASE" : ""));
                filter.values.push_back(subject.value);
            }
        filter.where += " AND (" + (any.empty() ? std::string("0") : any) + ")";
    }
    if (selector.older_than) {
        filter.where += " AND " + parts.time + " < ?";
        filter.older_than = selector.older_than;
    }
    return filter;
}

void bind(SQLite::Statement& statement, const Filter& filter) {
    int index = 0;
    for (const auto& value : filter.values) statement.bind(++index, value);
    if (filter.older_than) statement.bind(++index, static_cast<std::int64_t>(*filter.older_than));
}

nlohmann::json column_value(const SQLite::Column& column) {
    if (column.isNull()) return nullptr;
    if (column.isInteger()) return column.getInt64();
    if (column.isFloat()) return column.getDouble();
    if (column.isBlob()) {
        static constexpr char k_hex[] = "0123456789abcdef";
        const auto* data = static_cast<const unsigned char*>(column.getBlob());
        std::string hex;
        for (int i = 0; i < column.getBytes(); ++i) {
            hex += k_hex[data[i] >> 4];
            hex += k_hex[data[i] & 15];
        }
        return hex;
    }
    return column.getString();
}

class SqliteConnector final : public Connector {
public:
    SqliteConnector(const config::Source& source, const config::Workspace& workspace) : m_source(source) {
        auto reader = source_reader(source);
        m_sample_override = reader.optional_integer("sample");
        for (auto& table : reader.object_list("tables", true)) {
            auto locator = table.required_string("table");
            auto dataset = config::read_dataset(table, workspace, "column");
            dataset.locator = locator;
            dataset.name = source.name + ":" + locator;
            table.finish();
            m_datasets.push_back(std::move(dataset));
        }
        reader.finish();
    }

    const config::Source& source() const override { return m_source; }
    const std::vector<config::Dataset>& datasets() const override { return m_datasets; }

    void validate() override {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(m_source.path, ec))
            throw Error::config(m_source.file + ": " + m_source.pointer + "/path: database file " +
                                    m_source.path.string() + " does not exist",
                                "correct \"path\" (relative paths start at the config file's directory)");
        auto& db = database();
        for (const auto& dataset : m_datasets) validate_dataset(db, dataset);
    }

    SourceInventory inventory(const Selector& selector, const InventoryOptions& options) override {
        auto& db = database();
        SourceInventory result;
        for (const auto& dataset : m_datasets) {
            if (!selector.may_match(dataset)) continue;
            auto parts = query_parts(dataset);
            auto filter = filter_for(dataset, parts, selector);
            guarded([&] {
                SQLite::Statement query(db, "SELECT " + parts.tenant + ", count(*), total(" + parts.bytes + "), min(" +
                                                parts.time + "), max(" + parts.time + ") FROM " + parts.from +
                                                " WHERE " + filter.where + " GROUP BY 1 ORDER BY 1");
                bind(query, filter);
                while (query.executeStep()) {
                    InventoryRow row{dataset.name,
                                     dataset.category,
                                     query.getColumn(0).getString(),
                                     static_cast<std::uint64_t>(query.getColumn(1).getInt64()),
                                     static_cast<std::uint64_t>(query.getColumn(2).getDouble()),
                                     {},
                                     {}};
                    if (!query.getColumn(3).isNull()) row.oldest = query.getColumn(3).getInt64();
                    if (!query.getColumn(4).isNull()) row.newest = query.getColumn(4).getInt64();
                    result.bytes_read += row.bytes;
                    result.rows.push_back(std::move(row));
                }
            });
        }
        result.undeclared =
            find_undeclared(db, m_sample_override ? static_cast<std::size_t>(*m_sample_override) : options.sample_size);
        return result;
    }

    void collect(const Selector& selector, RecordSink& sink) override {
        auto& db = database();
        for (const auto& dataset : m_datasets) {
            if (!selector.may_match(dataset)) continue;
            auto parts = query_parts(dataset);
            auto filter = filter_for(dataset, parts, selector);
            guarded([&] {
                SQLite::Statement query(db, "SELECT " + parts.tenant + ", t0.* FROM " + parts.from + " WHERE " +
                                                filter.where + " ORDER BY t0.rowid");
                bind(query, filter);
                while (query.executeStep()) {
                    nlohmann::json record = nlohmann::json::object();
                    for (int i = 1; i < query.getColumnCount(); ++i)
                        record[query.getColumnName(i)] = column_value(query.getColumn(i));
                    sink.record(dataset, query.getColumn(0).getString(), record);
                }
            });
        }
    }

    Plan plan(const Selector&, const Action&) override {
        throw Error::unsupported("source \"" + m_source.name + "\": plan is not implemented for sqlite yet");
    }
    ApplyReport apply(const Plan&) override {
        throw Error::unsupported("source \"" + m_source.name + "\": apply is not implemented for sqlite yet");
    }

    VerifyReport verify(const Selector& selector, const pii::IdentifierMatcher& identifiers) override {
        auto& db = database();
        VerifyReport report;
        for (const auto& dataset : m_datasets) {
            if (!selector.wants_category(dataset.category)) continue;
            auto parts = query_parts(dataset);
            bool by_selector = selector.subjects.empty() || selector.has_subjects_of(dataset.subjects);
            auto filter = filter_for(dataset, parts, selector);
            guarded([&] {
                std::uint64_t still_selected = 0, text_matches = 0;
                SQLite::Statement query(
                    db, "SELECT (" + filter.where + "), " + select_personal(dataset) + " FROM " + parts.from);
                bind(query, filter);
                while (query.executeStep()) {
                    ++report.records_scanned;
                    if (by_selector && query.getColumn(0).getInt() != 0) ++still_selected;
                    for (int i = 1; i < query.getColumnCount(); ++i) {
                        auto column = query.getColumn(i);
                        if (column.isNull()) continue;
                        std::string_view text(static_cast<const char*>(column.getBlob()),
                                              static_cast<std::size_t>(column.getBytes()));
                        report.bytes_scanned += text.size();
                        if (!identifiers.empty()) text_matches += identifiers.count(text);
                    }
                }
                if (still_selected)
                    report.residue.push_back({dataset.name + " (records of the selector)", still_selected});
                if (text_matches) report.residue.push_back({dataset.name + " (identifier occurrences)", text_matches});
            });
        }
        return report;
    }

private:
    SQLite::Database& database() {
        if (m_db) return *m_db;
        try {
            m_db = std::make_unique<SQLite::Database>(m_source.path.string(), SQLite::OPEN_READONLY);
            m_db->exec("PRAGMA query_only = 1");
            SQLite::Statement probe(*m_db, "SELECT count(*) FROM sqlite_schema");
            probe.executeStep();
        } catch (const SQLite::Exception& e) {
            m_db.reset();
            throw Error::runtime(
                "source \"" + m_source.name + "\": cannot read database " + m_source.path.string() + ": " + e.what(),
                "check that the file is a SQLite database and readable");
        }
        return *m_db;
    }

    template <typename F>
    void guarded(F&& work) {
        try {
            work();
        } catch (const SQLite::Exception& e) {
            throw Error::runtime("source \"" + m_source.name + "\": reading " + m_source.path.string() +
                                 " failed: " + e.what());
        }
    }

    std::set<std::string> columns_of(SQLite::Database& db, const std::string& table) {
        std::set<std::string> columns;
        SQLite::Statement info(db, "SELECT name FROM pragma_table_info(?)");
        info.bind(1, table);
        while (info.executeStep()) columns.insert(info.getColumn(0).getString());
        return columns;
    }

    void require_column(SQLite::Database& db, const std::string& table, const std::string& column,
                        const std::string& pointer) {
        auto columns = columns_of(db, table);
        if (columns.empty())
            throw Error::config(m_source.file + ": " + pointer + ": table \"" + table + "\" not found in " +
                                    m_source.path.filename().string(),
                                near_hint(tables(db), table, "tables"));
        if (!columns.count(column))
            throw Error::config(
                m_source.file + ": " + pointer + ": column \"" + column + "\" not found in table " + table,
                near_hint(std::vector<std::string>(columns.begin(), columns.end()), column, "columns"));
    }

    static std::string near_hint(const std::vector<std::string>& names, const std::string& wanted, const char* what) {
        if (auto near = config::closest_match(wanted, names)) return "did you mean \"" + *near + "\"?";
        std::string list;
        for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
        return std::string("existing ") + what + ": " + list;
    }

    std::vector<std::string> tables(SQLite::Database& db) {
        std::vector<std::string> names;
        SQLite::Statement query(
            db, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
        while (query.executeStep()) names.push_back(query.getColumn(0).getString());
        return names;
    }

    void validate_dataset(SQLite::Database& db, const config::Dataset& dataset) {
        auto columns = columns_of(db, dataset.locator);
        if (columns.empty())
            throw Error::config(m_source.file + ": " + dataset.pointer + "/table: table \"" + dataset.locator +
                                    "\" not found in " + m_source.path.filename().string(),
                                near_hint(tables(db), dataset.locator, "tables"));
        for (const auto& column : dataset.personal)
            require_column(db, dataset.locator, column, dataset.pointer + "/personal");
        for (const auto& subject : dataset.subjects)
            require_column(db, dataset.locator, subject.field, dataset.pointer + "/subjects/" + subject.kind);
        for (const auto& column : dataset.ignore)
            require_column(db, dataset.locator, column, dataset.pointer + "/ignore");
        if (dataset.timestamp)
            require_column(db, dataset.locator, dataset.timestamp->field, dataset.timestamp->pointer);
        if (dataset.tenant) {
            std::string table = dataset.locator;
            for (std::size_t i = 0; i < dataset.tenant->via.size(); ++i) {
                const auto& step = dataset.tenant->via[i];
                std::string pointer = dataset.tenant->pointer + "/via/" + std::to_string(i);
                require_column(db, table, step.from, pointer + "/from");
                require_column(db, step.table, step.to, pointer + "/to");
                table = step.table;
            }
            require_column(db, table, dataset.tenant->field, dataset.tenant->pointer + "/column");
        }
    }

    static std::string select_personal(const config::Dataset& dataset) {
        std::string list;
        for (const auto& column : dataset.personal) list += (list.empty() ? "" : ", ") + ("t0." + quote(column));
        return list.empty() ? "NULL" : list;
    }

    std::map<std::string, std::set<std::string>> declared_columns() const {
        std::map<std::string, std::set<std::string>> declared;
        for (const auto& dataset : m_datasets) {
            auto& set = declared[dataset.locator];
            set.insert(dataset.personal.begin(), dataset.personal.end());
            set.insert(dataset.ignore.begin(), dataset.ignore.end());
            if (dataset.timestamp) set.insert(dataset.timestamp->field);
            if (dataset.tenant) {
                std::string table = dataset.locator;
                for (const auto& step : dataset.tenant->via) {
                    declared[table].insert(step.from);
                    declared[step.table].insert(step.to);
                    table = step.table;
                }
                declared[table].insert(dataset.tenant->field);
            }
        }
        return declared;
    }

    std::vector<UndeclaredFinding> find_undeclared(SQLite::Database& db, std::size_t sample_size) {
        std::vector<UndeclaredFinding> findings;
        auto declared = declared_columns();
        guarded([&] {
            for (const auto& table : tables(db)) {
                for (const auto& column : columns_of(db, table)) {
                    if (declared[table].count(column)) continue;
                    auto finding = sample_column(db, table, column, sample_size);
                    if (finding.hits) findings.push_back(std::move(finding));
                }
            }
        });
        return findings;
    }

    UndeclaredFinding sample_column(SQLite::Database& db, const std::string& table, const std::string& column,
                                    std::size_t sample_size) {
        SQLite::Statement sample(db, "SELECT " + quote(column) + " FROM " + quote(table) + " WHERE typeof(" +
                                         quote(column) + ") = 'text' LIMIT ?");
        sample.bind(1, static_cast<std::int64_t>(sample_size));
        std::map<pii::Detector, std::uint64_t> by_detector;
        UndeclaredFinding finding{table + "." + column, "", 0, 0};
        while (sample.executeStep()) {
            ++finding.sampled;
            auto column_value = sample.getColumn(0);
            std::string_view text(static_cast<const char*>(column_value.getBlob()),
                                  static_cast<std::size_t>(column_value.getBytes()));
            if (auto detector = pii::detect(text)) {
                ++finding.hits;
                ++by_detector[*detector];
            }
        }
        auto top = std::max_element(by_detector.begin(), by_detector.end(),
                                    [](const auto& a, const auto& b) { return a.second < b.second; });
        if (top != by_detector.end()) finding.detector = pii::detector_name(top->first);
        return finding;
    }

    config::Source m_source;
    std::vector<config::Dataset> m_datasets;
    std::optional<std::int64_t> m_sample_override;
    std::unique_ptr<SQLite::Database> m_db;
};

}  // namespace

std::unique_ptr<Connector> open(const config::Source& source, const config::Workspace& workspace) {
    return std::make_unique<SqliteConnector>(source, workspace);
}

}  // namespace gdprctl::connectors::sqlite
