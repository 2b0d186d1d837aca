#include "connectors/sqlite/sqlite_connector.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <set>

#include "connectors/sql_data_map.hpp"
#include "core/error.hpp"
#include "core/pii/anonymise.hpp"
#include "core/pii/detect.hpp"
#include "core/util/hex.hpp"

namespace gdprctl::connectors::sqlite {

namespace {

std::string_view value_text(sqlite3_value* value) {
    return std::string_view(reinterpret_cast<const char*>(sqlite3_value_text(value)),
                            static_cast<std::size_t>(sqlite3_value_bytes(value)));
}

std::string quote(const std::string& identifier) { return quote_identifier(identifier); }

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
    std::string joins;  // the part of `from` after the dataset's own table
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
            parts.joins += " LEFT JOIN " + quote(step.table) + " AS " + alias + " ON " + previous + "." +
                           quote(step.from) + " = " + alias + "." + quote(step.to);
            previous = alias;
        }
        parts.tenant = "COALESCE(CAST(" + previous + "." + quote(dataset.tenant->field) + " AS TEXT), '')";
        parts.from += parts.joins;
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

// The cut-off test for a timestamp column. Integer columns are compared directly, so that an
// index on them serves the purge; text goes through unixepoch(), which no index serves.
std::string older_than_test(const config::TimestampSpec& spec, bool integer_column) {
    std::string column = "t0." + quote(spec.field);
    switch (spec.format) {
        case config::TimeFormat::unix_seconds:
            return (integer_column ? column : "CAST(" + column + " AS INTEGER)") + " < ?";
        case config::TimeFormat::unix_millis:
            return (integer_column ? column : "CAST(" + column + " AS INTEGER)") + " < ? * 1000";
        default:
            return "unixepoch(" + column + ") < ?";
    }
}

// The part of a WHERE clause that picks the records of a selector's subjects, with its values.
struct SubjectCondition {
    std::string sql = "0";
    std::vector<std::string> values;
};

Filter filter_for(const config::Dataset& dataset, const QueryParts& parts, const Selector& selector, bool integer_time,
                  const SubjectCondition& subjects) {
    Filter filter;
    if (selector.tenant) {
        filter.where += " AND " + parts.tenant + " = ?";
        filter.values.push_back(*selector.tenant);
    }
    for (const auto& excluded : selector.exclude_tenants) {
        filter.where += " AND " + parts.tenant + " != ?";
        filter.values.push_back(excluded);
    }
    if (!selector.subjects.empty()) {
        filter.where += " AND " + subjects.sql;
        filter.values.insert(filter.values.end(), subjects.values.begin(), subjects.values.end());
    }
    if (selector.older_than) {
        // A record without a timestamp (or tenant rule) is never expired: NULL < x is not true.
        filter.where += dataset.timestamp ? " AND " + older_than_test(*dataset.timestamp, integer_time) : " AND 0";
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
    switch (column.getType()) {
        case SQLITE_NULL:
            return nullptr;
        case SQLITE_INTEGER:
            return column.getInt64();
        case SQLITE_FLOAT:
            return column.getDouble();
        case SQLITE_BLOB:
            return util::to_hex(static_cast<const unsigned char*>(column.getBlob()),
                                static_cast<std::size_t>(column.getBytes()));
        default:
            return column.getString();
    }
}

// Sets a record's cell to the column's value, reusing the cell's string where the column is text
// again: collect() sets every cell of every row, and a new string per cell was a malloc and a
// free each.
void assign_column_value(nlohmann::json& cell, const SQLite::Column& column) {
    if (column.getType() == SQLITE3_TEXT && cell.is_string()) {
        const char* text = column.getText();
        cell.get_ref<std::string&>().assign(text, static_cast<std::size_t>(column.getBytes()));
        return;
    }
    cell = column_value(column);
}

class SqliteConnector final : public Connector {
public:
    SqliteConnector(const config::Source& source, const config::Workspace& workspace) : m_source(source) {
        auto reader = source_reader(source);
        m_sample_override = reader.optional_integer("sample");
        auto map = read_sql_data_map(reader, source, workspace);
        m_datasets = std::move(map.datasets);
        m_tenant_tables = std::move(map.tenant_tables);
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
        for (const auto& table : m_tenant_tables) validate_dataset(db, table);
    }

    SourceInventory inventory(const Selector& selector, const InventoryOptions& options) override {
        auto& db = database();
        SourceInventory result;
        for (const auto& dataset : m_datasets) {
            if (!selects(db, dataset, selector)) continue;
            auto parts = query_parts(dataset);
            auto filter = selection_filter(db, dataset, parts, selector);
            guarded([&] {
                // Grouped by day as well, for the audit report's age histograms; the rows of one
                // tenant are consecutive and folded into one InventoryRow.
                SQLite::Statement query(db, "SELECT " + parts.tenant + ", count(*), total(" + parts.bytes + "), min(" +
                                                parts.time + "), max(" + parts.time + "), (" + parts.time +
                                                ") / 86400 - ((" + parts.time + ") < 0) FROM " + parts.from +
                                                " WHERE " + filter.where + " GROUP BY 1, 6 ORDER BY 1, 6");
                bind(query, filter);
                while (query.executeStep()) {
                    auto tenant = query.getColumn(0).getString();
                    if (result.rows.empty() || result.rows.back().dataset != dataset.name ||
                        result.rows.back().tenant != tenant)
                        result.rows.push_back(InventoryRow{dataset.name, dataset.category, tenant, 0, 0, {}, {}, {}});
                    auto& row = result.rows.back();
                    auto records = static_cast<std::uint64_t>(query.getColumn(1).getInt64());
                    auto bytes = static_cast<std::uint64_t>(query.getColumn(2).getDouble());
                    row.records += records;
                    row.bytes += bytes;
                    result.bytes_read += bytes;
                    if (!query.getColumn(3).isNull()) {
                        auto oldest = query.getColumn(3).getInt64(), newest = query.getColumn(4).getInt64();
                        row.oldest = std::min(row.oldest.value_or(oldest), oldest);
                        row.newest = std::max(row.newest.value_or(newest), newest);
                        row.records_per_day[query.getColumn(5).getInt64()] += records;
                    }
                }
            });
        }
        result.undeclared =
            find_undeclared(db, m_sample_override ? static_cast<std::size_t>(*m_sample_override) : options.sample_size);
        return result;
    }

    void collect(const Selector& selector, RecordSink& sink) override {
        auto& db = database();
        // One read transaction over every table: an export or backup is a consistent snapshot
        // even while the platform keeps writing (WAL readers see the state at its start).
        guarded([&] { db.exec("BEGIN"); });
        struct EndRead {
            SQLite::Database& db;
            ~EndRead() {
                try {
                    db.exec("COMMIT");
                } catch (const SQLite::Exception&) {
                }
            }
        } end_read{db};
        for (const auto& dataset : m_datasets) {
            if (!selects(db, dataset, selector)) continue;
            auto parts = query_parts(dataset);
            auto filter = selection_filter(db, dataset, parts, selector);
            guarded([&] {
                SQLite::Statement query(db, "SELECT " + parts.tenant + ", t0.* FROM " + parts.from + " WHERE " +
                                                filter.where + " ORDER BY t0.rowid");
                bind(query, filter);
                // One record object for every row: its keys (the columns) are built once and
                // only the values change, which saves a map node and a key string per cell.
                nlohmann::json record = nlohmann::json::object();
                std::vector<nlohmann::json*> cells;
                for (int i = 1; i < query.getColumnCount(); ++i) cells.push_back(&record[query.getColumnName(i)]);
                std::string tenant;
                while (query.executeStep()) {
                    for (int i = 1; i < query.getColumnCount(); ++i)
                        assign_column_value(*cells[static_cast<std::size_t>(i - 1)], query.getColumn(i));
                    tenant.assign(query.getColumn(0).getText(""));
                    sink.record(dataset, tenant, record);
                }
            });
        }
    }

    Plan plan(const Selector& selector, const Action& action) override {
        auto& db = database();
        Plan plan{m_source.name, action, selector, {}, 0, {}};
        register_functions(db, action);
        for (const auto* dataset : datasets_in_change_order(db, selector, action)) {
            if (!selects(db, *dataset, selector)) continue;
            auto change = change_for(*dataset, action, selector);
            if (!change.remove && change.columns.empty()) continue;
            auto parts = query_parts(*dataset);
            auto filter = selection_filter(db, *dataset, parts, selector, integer_time(db, *dataset));
            guarded([&] {
                // An integer timestamp's maximum comes straight from its index, where there is one.
                std::string newest = "max(" + parts.time + ")";
                if (integer_time(db, *dataset))
                    newest = "max(t0." + quote(dataset->timestamp->field) + ")" +
                             (dataset->timestamp->format == config::TimeFormat::unix_millis ? " / 1000" : "");
                SQLite::Statement total(db, "SELECT count(*), " + newest + " FROM " + parts.from);
                total.executeStep();
                plan.source_records += static_cast<std::uint64_t>(total.getColumn(0).getInt64());
                if (!total.getColumn(1).isNull())
                    plan.newest = std::max(plan.newest.value_or(0), total.getColumn(1).getInt64());
                SQLite::Statement query(db, "SELECT count(*), total(" + parts.bytes + "), min(" + parts.time +
                                                ") FROM " + parts.from + " WHERE " + filter.where +
                                                change.still_to_change);
                bind(query, filter);
                query.executeStep();
                auto records = static_cast<std::uint64_t>(query.getColumn(0).getInt64());
                if (!records) return;
                PlanItem item;
                item.dataset = dataset->name;
                item.what = change.remove ? "delete" : "anonymise " + join(change.columns);
                item.records = records;
                item.bytes = static_cast<std::uint64_t>(query.getColumn(1).getDouble());
                if (!query.getColumn(2).isNull()) item.oldest = query.getColumn(2).getInt64();
                item.note = index_note(db, *dataset);
                item.snapshot = {{"records", records}};
                plan.items.push_back(std::move(item));
            });
        }
        return plan;
    }

    ApplyReport apply(const Plan& plan, ApplyProgress& progress) override {
        auto& db = writable_database();
        register_functions(db, plan.action);
        bool erasing = plan.action.kind == Action::Kind::erase;
        // An erasure overwrites what it deletes in every page it touches, not only where that
        // is free; retention keeps the cheaper FAST mode.
        guarded([&] { db.exec(erasing ? "PRAGMA secure_delete = ON" : "PRAGMA secure_delete = FAST"); });
        ApplyReport report;
        for (const auto& item : plan.items) {
            const auto& dataset = dataset_named(item.dataset);
            auto change = change_for(dataset, plan.action, plan.selector);
            auto parts = query_parts(dataset);
            auto filter = selection_filter(database(), dataset, parts, plan.selector, integer_time(db, dataset));
            std::string where = filter.where + change.still_to_change;
            guarded([&] {
                auto selection = selection_extent(db, parts, filter, where);
                if (selection.rows > item.records)
                    throw Error::findings("source \"" + m_source.name + "\": " + item.dataset + " now has " +
                                              std::to_string(selection.rows) + " records to change, the plan covered " +
                                              std::to_string(item.records),
                                          "the store changed since the plan was made: make a new plan");
                if (selection.rows)
                    change_in_rowid_batches(db, dataset, parts, filter, where, change, item, selection, progress);
                auto after = count_where(db, parts, filter, where);
                report.records_changed += item.records - std::min(item.records, after);
                report.bytes_changed += after ? 0 : item.bytes;
            });
        }
        guarded([&] {
            db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
            if (!erasing) return;
            // Deleted rows live on in free pages and in the write-ahead log: VACUUM rewrites the
            // file without them, and the checkpoint empties the log VACUUM wrote through.
            db.exec("VACUUM");
            db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        });
        if (erasing)
            report.notes.push_back(m_source.path.filename().string() + ": secure_delete, VACUUM, WAL truncated");
        return report;
    }

    VerifyReport verify(const Selector& selector, const pii::IdentifierMatcher& identifiers) override {
        auto& db = database();
        VerifyReport report;
        std::vector<const config::Dataset*> scanned;
        for (const auto& dataset : m_datasets) scanned.push_back(&dataset);
        if (selector.is_whole_tenant())
            for (const auto& table : m_tenant_tables) scanned.push_back(&table);
        for (const auto* dataset : scanned) {
            if (!selector.wants_category(dataset->category) && !dataset->category.empty()) continue;
            auto parts = query_parts(*dataset);
            bool by_selector = selects(db, *dataset, selector);
            auto filter = selection_filter(db, *dataset, parts, selector);
            guarded([&] {
                std::uint64_t still_selected = 0, text_matches = 0;
                SQLite::Statement query(db, "SELECT (" + filter.where + "), " + parts.tenant + ", " +
                                                select_personal(*dataset) + " FROM " + parts.from);
                bind(query, filter);
                while (query.executeStep()) {
                    ++report.records_scanned;
                    if (by_selector && query.getColumn(0).getInt() != 0) ++still_selected;
                    if (!selector.text_counts_in(query.getColumn(1).getText(""))) continue;
                    for (int i = 2; i < query.getColumnCount(); ++i) {
                        auto column = query.getColumn(i);
                        if (column.isNull()) continue;
                        std::string_view text(static_cast<const char*>(column.getBlob()),
                                              static_cast<std::size_t>(column.getBytes()));
                        report.bytes_scanned += text.size();
                        if (!identifiers.empty()) text_matches += identifiers.count(text);
                    }
                }
                if (still_selected)
                    report.residue.push_back({dataset->name + " (records of the selector)", still_selected});
                if (text_matches) report.residue.push_back({dataset->name + " (identifier occurrences)", text_matches});
            });
        }
        if (!identifiers.empty() && selector.text_counts_everywhere()) scan_bytes_on_disk(identifiers, report);
        return report;
    }

    std::vector<std::string> tenant_markers(const std::string& tenant) override {
        auto& db = database();
        std::set<std::string> markers;
        auto add_values = [&](const config::Dataset& dataset, const std::vector<std::string>& columns) {
            if (columns.empty()) return;
            auto parts = query_parts(dataset);
            Selector only_tenant;
            only_tenant.tenant = tenant;
            auto filter = filter_for(dataset, parts, only_tenant, false, {});
            std::string list;
            for (const auto& column : columns) list += (list.empty() ? "" : ", ") + ("t0." + quote(column));
            guarded([&] {
                SQLite::Statement query(db, "SELECT " + list + " FROM " + parts.from + " WHERE " + filter.where);
                bind(query, filter);
                while (query.executeStep())
                    for (int i = 0; i < query.getColumnCount(); ++i)
                        if (!query.getColumn(i).isNull() && !query.getColumn(i).getString().empty())
                            markers.insert(query.getColumn(i).getString());
            });
        };
        for (const auto& table : m_tenant_tables) add_values(table, table.personal);
        for (const auto& dataset : m_datasets) {
            if (!dataset.tenant) continue;
            std::vector<std::string> keys;
            for (const auto& subject : dataset.subjects)
                if (subject.kind == "stream_key") keys.push_back(subject.field);
            add_values(dataset, keys);
        }
        return {markers.begin(), markers.end()};
    }

private:
    SQLite::Database& database() {
        if (m_db) return *m_db;
        try {
            try {
                open_read_only();
            } catch (const SQLite::Exception& e) {
                if ((e.getErrorCode() & 0xff) != SQLITE_READONLY) throw;
                // A writer was killed mid-transaction (a hot rollback journal, or a write-ahead
                // log to recover): only a connection that may write can put the database back
                // as it was before that transaction, which is what SQLite does on opening it.
                finish_interrupted_write();
                open_read_only();
            }
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

    static constexpr int k_batch = 100000;

    // Deletes go through a second, writable connection opened only for apply. secure_delete
    // overwrites deleted content in the pages it touches anyway, so it costs no extra I/O.
    void open_read_only() {
        m_db.reset();
        // A connector is used by one thread (connector.hpp): SQLite's per-call connection
        // mutex would only cost a lock per column read.
        m_db = std::make_unique<SQLite::Database>(m_source.path.string(), SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX);
        m_db->exec("PRAGMA query_only = 1");
        SQLite::Statement probe(*m_db, "SELECT count(*) FROM sqlite_schema");
        probe.executeStep();
    }

    void finish_interrupted_write() {
        m_db.reset();
        SQLite::Database recovering(m_source.path.string(), SQLite::OPEN_READWRITE);
        recovering.setBusyTimeout(10000);
        SQLite::Statement probe(recovering, "SELECT count(*) FROM sqlite_schema");
        probe.executeStep();
    }

    SQLite::Database& writable_database() {
        if (m_writable) return *m_writable;
        database();  // the same checks and error messages as reading
        try {
            m_writable = std::make_unique<SQLite::Database>(m_source.path.string(), SQLite::OPEN_READWRITE);
            m_writable->setBusyTimeout(10000);
            m_writable->exec("PRAGMA secure_delete = FAST");
        } catch (const SQLite::Exception& e) {
            m_writable.reset();
            throw Error::runtime("source \"" + m_source.name + "\": cannot open " + m_source.path.string() +
                                 " for writing: " + e.what());
        }
        return *m_writable;
    }

    const config::Dataset& dataset_named(const std::string& name) const {
        for (const auto& dataset : m_datasets)
            if (dataset.name == name) return dataset;
        for (const auto& table : m_tenant_tables)
            if (table.name == name) return table;
        throw Error::findings(
            "source \"" + m_source.name + "\": the plan names dataset " + name + ", which the data map no longer has",
            "make a new plan");
    }

    static std::string join(const std::vector<std::string>& items) {
        std::string out;
        for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
        return out;
    }

    // A foreign key of a table: its column `from` holds values of parent.to.
    struct ForeignKey {
        std::string from;
        std::string parent;
        std::string to;
    };

    const std::vector<ForeignKey>& foreign_keys(SQLite::Database& db, const std::string& table) {
        auto known = m_foreign_keys.find(table);
        if (known != m_foreign_keys.end()) return known->second;
        std::vector<ForeignKey> keys;
        guarded([&] {
            SQLite::Statement query(db, "SELECT \"from\", \"table\", \"to\" FROM pragma_foreign_key_list(?)");
            query.bind(1, table);
            while (query.executeStep())
                keys.push_back({query.getColumn(0).getString(), query.getColumn(1).getString(),
                                query.getColumn(2).isNull() ? "rowid" : query.getColumn(2).getString()});
        });
        return m_foreign_keys.emplace(table, std::move(keys)).first->second;
    }

    const config::Dataset* dataset_of_table(const std::string& table) const {
        for (const auto& dataset : m_datasets)
            if (dataset.locator == table) return &dataset;
        return nullptr;
    }

    // SQL, true when the row of dataset at alias belongs to one of the selector's subjects: one
    // of its identifier columns holds a subject's identifier, or a foreign key points at a row
    // of a mapped table that belongs to one (the chat messages of a person's registrations).
    // "0" when nothing can. path holds the tables above this one, so cycles end.
    std::string subject_match(SQLite::Database& db, const config::Dataset& dataset, const std::string& alias,
                              const Selector& selector, std::vector<std::string>& values, std::set<std::string>& path) {
        std::string any;
        for (const auto& subject : selector.subjects)
            for (const auto& field : dataset.subjects) {
                if (field.kind != subject.kind) continue;
                any += (any.empty() ? "" : " OR ") +
                       (alias + "." + quote(field.field) + " = ?" + (subject.kind == "email" ? " COLLATE NOCASE" : ""));
                values.push_back(subject.value);
            }
        path.insert(dataset.locator);
        for (const auto& key : foreign_keys(db, dataset.locator)) {
            const auto* parent = dataset_of_table(key.parent);
            if (!parent || path.count(parent->locator)) continue;
            std::string parent_alias = "p" + std::to_string(path.size());
            auto parent_match = subject_match(db, *parent, parent_alias, selector, values, path);
            if (parent_match == "0") continue;
            any += (any.empty() ? "" : " OR ") +
                   (alias + "." + quote(key.from) + " IN (SELECT " + parent_alias + "." + quote(key.to) + " FROM " +
                    quote(parent->locator) + " AS " + parent_alias + " WHERE " + parent_match + ")");
        }
        path.erase(dataset.locator);
        return any.empty() ? "0" : "(" + any + ")";
    }

    SubjectCondition subject_condition(SQLite::Database& db, const config::Dataset& dataset, const Selector& selector) {
        SubjectCondition condition;
        if (selector.subjects.empty()) return condition;
        std::set<std::string> path;
        condition.sql = subject_match(db, dataset, "t0", selector, condition.values, path);
        return condition;
    }

    Filter selection_filter(SQLite::Database& db, const config::Dataset& dataset, const QueryParts& parts,
                            const Selector& selector, bool integer_time = false) {
        return filter_for(dataset, parts, selector, integer_time, subject_condition(db, dataset, selector));
    }

    // Like Selector::may_match, but a dataset without identifier columns of its own is matched
    // through its foreign keys too.
    bool selects(SQLite::Database& db, const config::Dataset& dataset, const Selector& selector) {
        if (selector.may_match(dataset)) return true;
        if (selector.subjects.empty()) return false;
        const auto& wanted = selector.datasets;
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), dataset.name) == wanted.end()) return false;
        if (!selector.wants_category(dataset.category)) return false;
        return subject_condition(db, dataset, selector).sql != "0";
    }

    std::vector<const config::Dataset*> datasets_in_change_order(SQLite::Database& db, const Selector& selector,
                                                                 const Action& action) {
        return in_change_order(m_datasets, m_tenant_tables, selector, action, [&](const std::string& table) {
            std::vector<std::string> parents;
            for (const auto& key : foreign_keys(db, table)) parents.push_back(key.parent);
            return parents;
        });
    }

    // How an action changes the selected rows of one dataset.
    struct Change {
        bool remove = true;
        std::vector<std::string> columns;  // anonymisation: the columns it changes
        std::string assignments;           // anonymisation: "column = expression, ..."
        std::string still_to_change;       // anonymisation: " AND (...)", so a second run changes nothing
    };

    Change change_for(const config::Dataset& dataset, const Action& action, const Selector& selector) const {
        Change change;
        auto planned = record_change(dataset, action, selector);
        if (planned.remove) return change;
        change.remove = false;
        std::string pending;
        for (const auto& column : planned.columns) {
            change.columns.push_back(column.name);
            std::string value = column.anonymised ? "gdprctl_anonymise(" + quote(column.name) + ")" : "NULL";
            std::string test = column.anonymised ? "gdprctl_needs_anonymising(t0." + quote(column.name) + ")"
                                                 : "t0." + quote(column.name) + " IS NOT NULL";
            change.assignments += (change.assignments.empty() ? "" : ", ") + quote(column.name) + " = " + value;
            pending += (pending.empty() ? "" : " OR ") + test;
        }
        if (!pending.empty()) change.still_to_change = " AND (" + pending + ")";
        return change;
    }

    // Every match of identifiers in the files SQLite keeps: rows an API no longer shows can live
    // on in free pages, the write-ahead log or a rollback journal.
    void scan_bytes_on_disk(const pii::IdentifierMatcher& identifiers, VerifyReport& report) {
        for (const auto& suffix : {"", "-wal", "-journal"}) {
            std::filesystem::path file = m_source.path.string() + suffix;
            if (auto n = count_in_raw_bytes(file, identifiers, report.bytes_scanned))
                report.residue.push_back({file.filename().string() + " (bytes on disk)", n});
        }
    }

    // How many rows the selection holds, and the rowids it spans.
    struct Extent {
        std::uint64_t rows = 0;
        std::int64_t first = 0;
        std::int64_t last = 0;
    };

    // Changes the selected rows in batches of neighbouring rowids, one transaction each. Rows
    // picked in timestamp order lie all over the table, and every batch would journal nearly
    // every page; a batch that is a rowid range touches each page once. Within a range the
    // table is read by rowid (NOT INDEXED), and each row is checked against the selection.
    void change_in_rowid_batches(SQLite::Database& db, const config::Dataset& dataset, const QueryParts& parts,
                                 const Filter& filter, const std::string& where, const Change& change,
                                 const PlanItem& item, const Extent& selection, ApplyProgress& progress) {
        std::int64_t first = selection.first, last = selection.last;
        std::int64_t rows = static_cast<std::int64_t>(std::max<std::uint64_t>(1, selection.rows));
        std::int64_t width = std::max<std::int64_t>(1, (last - first + 1) * k_batch / rows);
        std::string target = change.remove ? "DELETE FROM " + quote(dataset.locator)
                                           : "UPDATE " + quote(dataset.locator) + " SET " + change.assignments;
        std::string change_sql = target + " WHERE rowid IN (SELECT t0.rowid FROM " + quote(dataset.locator) +
                                 " AS t0 NOT INDEXED" + parts.joins + " WHERE t0.rowid >= ? AND t0.rowid < ? AND " +
                                 where + ")";
        std::size_t batch = 0;
        // Each commit costs a few fsyncs: batches grow while they run quicker than a second,
        // up to eight times the first, so that a killed run redoes at most a second's work.
        const std::int64_t max_width = width * 8;
        for (std::int64_t low = first; low <= last;) {
            auto started = std::chrono::steady_clock::now();
            SQLite::Statement change(db, change_sql);
            change.bind(1, low);
            change.bind(2, low + width);
            int index = 2;
            for (const auto& value : filter.values) change.bind(++index, value);
            if (filter.older_than) change.bind(++index, static_cast<std::int64_t>(*filter.older_than));
            SQLite::Transaction transaction(db);
            change.exec();
            transaction.commit();
            progress.mark_done(item.dataset + "#" + std::to_string(++batch));
            low += width;
            if (std::chrono::steady_clock::now() - started < std::chrono::seconds(1) && width < max_width) width *= 2;
        }
    }

    Extent selection_extent(SQLite::Database& db, const QueryParts& parts, const Filter& filter,
                            const std::string& where) {
        SQLite::Statement query(db,
                                "SELECT count(*), min(t0.rowid), max(t0.rowid) FROM " + parts.from + " WHERE " + where);
        bind(query, filter);
        query.executeStep();
        Extent extent;
        extent.rows = static_cast<std::uint64_t>(query.getColumn(0).getInt64());
        if (extent.rows) {
            extent.first = query.getColumn(1).getInt64();
            extent.last = query.getColumn(2).getInt64();
        }
        return extent;
    }

    std::uint64_t count_where(SQLite::Database& db, const QueryParts& parts, const Filter& filter,
                              const std::string& where) {
        SQLite::Statement count(db, "SELECT count(*) FROM " + parts.from + " WHERE " + where);
        bind(count, filter);
        count.executeStep();
        return static_cast<std::uint64_t>(count.getColumn(0).getInt64());
    }

    bool integer_time(SQLite::Database& db, const config::Dataset& dataset) {
        if (!dataset.timestamp) return false;
        SQLite::Statement info(db, "SELECT upper(type) FROM pragma_table_info(?) WHERE name = ?");
        info.bind(1, dataset.locator);
        info.bind(2, dataset.timestamp->field);
        return info.executeStep() && info.getColumn(0).getString().find("INT") != std::string::npos;
    }

    // Tells the user when a purge will read every row of a table.
    std::string index_note(SQLite::Database& db, const config::Dataset& dataset) {
        if (!dataset.timestamp) return "";
        if (!integer_time(db, dataset))
            return "timestamps stored as text are compared through unixepoch(): each batch reads the whole table";
        SQLite::Statement indexes(db,
                                  "SELECT 1 FROM pragma_index_list(?1) AS l, pragma_index_info(l.name) AS i "
                                  "WHERE i.seqno = 0 AND i.name = ?2");
        indexes.bind(1, dataset.locator);
        indexes.bind(2, dataset.timestamp->field);
        if (indexes.executeStep()) return "";
        return "no index on " + dataset.locator + "(" + dataset.timestamp->field +
               "): each batch reads the whole table; CREATE INDEX ON " + dataset.locator + "(" +
               dataset.timestamp->field + ") makes the purge fast";
    }

    struct FunctionContext {
        pii::AnonymiseMethod method = pii::AnonymiseMethod::ip_truncate;
        std::string key;
    };

    // gdprctl_anonymise(value) and gdprctl_needs_anonymising(value) for the action's method.
    void register_functions(SQLite::Database& db, const Action& action) {
        if (action.kind == Action::Kind::remove) return;
        m_function_context = {anonymisation_method(action), action.hmac_key};
        sqlite3_create_function_v2(
            db.getHandle(), "gdprctl_anonymise", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, &m_function_context,
            [](sqlite3_context* context, int, sqlite3_value** args) {
                if (sqlite3_value_type(args[0]) == SQLITE_NULL) return sqlite3_result_null(context);
                auto* self = static_cast<FunctionContext*>(sqlite3_user_data(context));
                auto result = pii::anonymise(value_text(args[0]), self->method, self->key);
                if (!result) return sqlite3_result_null(context);
                sqlite3_result_text(context, result->data(), static_cast<int>(result->size()), SQLITE_TRANSIENT);
            },
            nullptr, nullptr, nullptr);
        sqlite3_create_function_v2(
            db.getHandle(), "gdprctl_needs_anonymising", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, &m_function_context,
            [](sqlite3_context* context, int, sqlite3_value** args) {
                if (sqlite3_value_type(args[0]) == SQLITE_NULL) return sqlite3_result_int(context, 0);
                auto* self = static_cast<FunctionContext*>(sqlite3_user_data(context));
                sqlite3_result_int(context, pii::needs_anonymising(value_text(args[0]), self->method, self->key));
            },
            nullptr, nullptr, nullptr);
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
        check_dataset_columns(dataset, [&](const std::string& table, const std::string& column,
                                           const std::string& pointer) { require_column(db, table, column, pointer); });
    }

    static std::string select_personal(const config::Dataset& dataset) {
        std::string list;
        for (const auto& column : dataset.personal) list += (list.empty() ? "" : ", ") + ("t0." + quote(column));
        return list.empty() ? "NULL" : list;
    }

    std::vector<UndeclaredFinding> find_undeclared(SQLite::Database& db, std::size_t sample_size) {
        std::vector<UndeclaredFinding> findings;
        auto declared = declared_columns(m_datasets);
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
        ColumnSample column_sample(table + "." + column);
        while (sample.executeStep()) {
            auto value = sample.getColumn(0);
            column_sample.add(std::string_view(static_cast<const char*>(value.getBlob()),
                                               static_cast<std::size_t>(value.getBytes())));
        }
        return column_sample.finding();
    }

    config::Source m_source;
    std::vector<config::Dataset> m_datasets;
    // Rows that belong to a tenant and hold no personal data (the tenant's own record, its
    // settings): removed when the whole tenant is erased, never otherwise.
    std::vector<config::Dataset> m_tenant_tables;
    std::map<std::string, std::vector<ForeignKey>> m_foreign_keys;
    std::optional<std::int64_t> m_sample_override;
    std::unique_ptr<SQLite::Database> m_db;
    std::unique_ptr<SQLite::Database> m_writable;
    FunctionContext m_function_context;
};

}  // namespace

std::unique_ptr<Connector> open(const config::Source& source, const config::Workspace& workspace) {
    return std::make_unique<SqliteConnector>(source, workspace);
}

}  // namespace gdprctl::connectors::sqlite
