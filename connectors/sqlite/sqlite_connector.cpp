#include "connectors/sqlite/sqlite_connector.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <set>

#include "connectors/sql_data_map.hpp"
#include "connectors/sql_links.hpp"
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
        m_declared_links = std::move(map.links);
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
        check_link_columns(m_declared_links,
                           [&](const std::string& table, const std::string& column, const std::string& pointer) {
                               require_column(db, table, column, pointer);
                           });
        ownership(db).check(m_source);
        for (const auto& dataset : m_datasets)
            if (dataset.timestamp) check_timestamp_samples(dataset, m_source, timestamp_samples(db, dataset));
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
                if (erases_people(selector, action)) plan_for_others(db, *dataset, selector, action, item, plan);
                if (purges(selector, action)) check_purge_effects(db, *dataset, selector, action, item);
                plan.items.push_back(std::move(item));
            });
        }
        if (erases_people(selector, action)) guarded([&] { plan_redactions(db, selector, action, plan); });
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
        // A person's erasure is one transaction; retention and a tenant's erasure go in batches.
        bool one_transaction = erases_people(plan.selector, plan.action);
        if (one_transaction) guarded([&] { apply_in_one_transaction(db, plan, progress, report); });
        static const std::vector<PlanItem> k_done_already;
        for (const auto& item : one_transaction ? k_done_already : plan.items) {
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
                RowResidue selected({""}), occurrences(dataset->personal);
                SQLite::Statement query(db, "SELECT (" + filter.where + "), " + parts.tenant + ", t0.rowid, " +
                                                select_personal(*dataset) + " FROM " + parts.from);
                bind(query, filter);
                while (query.executeStep()) {
                    ++report.records_scanned;
                    auto row = query.getColumn(2).getString();
                    if (by_selector && query.getColumn(0).getInt() != 0) selected.add(0, row, 1);
                    if (!selector.text_counts_in(query.getColumn(1).getText(""))) continue;
                    for (int i = 3; i < query.getColumnCount(); ++i) {
                        auto column = query.getColumn(i);
                        if (column.isNull()) continue;
                        std::string_view text(static_cast<const char*>(column.getBlob()),
                                              static_cast<std::size_t>(column.getBytes()));
                        report.bytes_scanned += text.size();
                        if (!identifiers.empty())
                            occurrences.add(static_cast<std::size_t>(i - 3), row, identifiers.count(text));
                    }
                }
                selected.report(dataset->name, "records of the selector", report);
                occurrences.report(dataset->name, "identifier occurrences", report);
            });
        }
        if (!identifiers.empty() && selector.text_counts_everywhere()) {
            guarded([&] { scan_every_value(db, identifiers, report); });
            scan_bytes_on_disk(identifiers, report);
        }
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
    // ---- A person's erasure: other people's rows, one transaction ----

    // SQL selecting `what` of the rows of dataset the selector picks; binds into values.
    std::string selected_rows(SQLite::Database& db, const config::Dataset& dataset, const Selector& selector,
                              const std::string& what, std::vector<std::string>& values) {
        auto parts = query_parts(dataset);
        auto filter = selection_filter(db, dataset, parts, selector, integer_time(db, dataset));
        values.insert(values.end(), filter.values.begin(), filter.values.end());
        // The cut-off is the filter's last placeholder, bound as an integer: it goes in as one (a
        // number, never personal data), since values are bound as text.
        if (filter.older_than) filter.where.replace(filter.where.rfind('?'), 1, std::to_string(*filter.older_than));
        return "SELECT " + what + " FROM " + parts.from + " WHERE " + filter.where;
    }

    EffectQueries effect_queries(SQLite::Database& db, const Selector& selector, const Action& action,
                                 std::vector<std::string>& values) {
        EffectQueries queries;
        queries.deleted_values = [&, this](const std::string& table, const std::string& column) {
            return selected_rows(db, *ownership(db).dataset_of(table), selector, "t0." + quote(column), values);
        };
        queries.released = [&, this](const std::string& table, const std::string& column,
                                     const std::string& alias) -> std::string {
            const auto* dataset = ownership(db).dataset_of(table);
            if (!dataset || !selects(db, *dataset, selector) || !releases(*dataset, action, selector, column))
                return "";
            return alias + ".rowid IN (" + selected_rows(db, *dataset, selector, "t0.rowid", values) + ")";
        };
        queries.not_null = [&, this](const std::string& table, const std::string& column) {
            return column_not_null(db, table, column);
        };
        return queries;
    }

    bool column_not_null(SQLite::Database& db, const std::string& table, const std::string& column) {
        SQLite::Statement info(db, "SELECT \"notnull\" FROM pragma_table_info(?) WHERE name = ?");
        info.bind(1, table);
        info.bind(2, column);
        return info.executeStep() && info.getColumn(0).getInt() != 0;
    }

    static void bind_all(SQLite::Statement& statement, const std::vector<std::string>& values) {
        int index = 0;
        for (const auto& value : values) statement.bind(++index, value);
    }

    // The SQL and values of what an effect does to the rows it reaches.
    std::pair<std::string, std::vector<std::string>> effect_statement(SQLite::Database& db, const LinkEffect& effect,
                                                                      const Selector& selector, const Action& action,
                                                                      const std::string& head) {
        std::vector<std::string> values;
        auto queries = effect_queries(db, selector, action, values);
        auto where = effect_rows(effect.path, "e", ownership(db), queries);
        return {head + " WHERE " + where, values};
    }

    // Counts the rows a link path reaches from the rows the selector deletes.
    std::function<std::uint64_t(const std::vector<TableLink>&)> effect_counter(SQLite::Database& db,
                                                                               const Selector& selector,
                                                                               const Action& action) {
        return [&db, &selector, &action, this](const std::vector<TableLink>& path) {
            LinkEffect probe;
            probe.path = path;
            auto [sql, values] = effect_statement(db, probe, selector, action,
                                                  "SELECT count(*) FROM " + quote(path.back().table) + " AS e");
            SQLite::Statement count(db, sql);
            bind_all(count, values);
            count.executeStep();
            return static_cast<std::uint64_t>(count.getColumn(0).getInt64());
        };
    }

    // Before a dataset's rows of the person go: what becomes of other people's rows that point at
    // them (items placed before the dataset's own); before they are rewritten: whether every
    // column emptied may be.
    void plan_for_others(SQLite::Database& db, const config::Dataset& dataset, const Selector& selector,
                         const Action& action, PlanItem& item, Plan& plan) {
        auto change = record_change(dataset, action, selector);
        if (!change.remove) {
            item.blocked = not_null_conflict(dataset, change, [&](const std::string& table, const std::string& column) {
                return column_not_null(db, table, column);
            });
            return;
        }
        std::vector<std::string> unbound;
        auto queries = effect_queries(db, selector, action, unbound);
        auto effects = plan_link_effects(dataset.locator, ownership(db), queries, effect_counter(db, selector, action));
        for (const auto& effect : effects)
            plan.items.push_back(effect_item(effect, dataset.name, ownership(db), m_source.name));
    }

    // A purge's deletion of expired rows must not take, through a key, rows no rule expires.
    void check_purge_effects(SQLite::Database& db, const config::Dataset& dataset, const Selector& selector,
                             const Action& action, PlanItem& item) {
        auto effects = plan_purge_effects(dataset.locator, ownership(db), effect_counter(db, selector, action));
        item.blocked = effects.blocked;
        for (const auto& note : effects.notes) item.note += (item.note.empty() ? "" : "; ") + note;
    }

    // Mentions of the person in rows that are not theirs and stay: a reply quoting their address,
    // a follow of their actor, a queued job addressed to them. Each column with any is one item.
    void plan_redactions(SQLite::Database& db, const Selector& selector, const Action& action, Plan& plan) {
        if (!register_redaction(db, selector)) return;
        for (const auto& table : tables(db)) {
            // One pass over the table, a count per column.
            auto names = columns_of(db, table);
            std::vector<std::string> columns(names.begin(), names.end()), values;
            std::string counts;
            for (const auto& column : columns) {
                auto where = redaction_scope(db, table, column, selector, values);
                where += " AND NOT COALESCE((" + rewritten_by_plan(db, table, column, selector, action, plan, values) +
                         "), 0)";
                counts += std::string(counts.empty() ? "" : ", ") + "count(*) FILTER (WHERE " + where + ")";
            }
            if (columns.empty()) continue;
            SQLite::Statement count(db, "SELECT " + counts + " FROM " + quote(table) + " AS t0");
            bind_all(count, values);
            count.executeStep();
            for (std::size_t c = 0; c < columns.size(); ++c)
                if (auto rows = static_cast<std::uint64_t>(count.getColumn(static_cast<int>(c)).getInt64()))
                    plan.items.push_back(redaction_item(table, columns[c], rows, ownership(db), m_source.name));
        }
    }

    // SQL true for the rows of table whose column mentions the person and may be redacted: for
    // people within one tenant, only that tenant's rows of mapped tables.
    std::string redaction_scope(SQLite::Database& db, const std::string& table, const std::string& column,
                                const Selector& selector, std::vector<std::string>& values) {
        std::string where = "typeof(t0." + quote(column) + ") = 'text' AND gdprctl_mentions(t0." + quote(column) + ")";
        if (selector.text_counts_everywhere()) return where;
        const auto* dataset = ownership(db).dataset_of(table);
        if (!dataset || !dataset->tenant) return "0";
        auto parts = query_parts(*dataset);
        values.push_back(*selector.tenant);
        return where + " AND t0.rowid IN (SELECT t0.rowid FROM " + parts.from + " WHERE " + parts.tenant + " = ?)";
    }

    // SQL true for the rows of table the plan deletes, or whose column it rewrites.
    std::string rewritten_by_plan(SQLite::Database& db, const std::string& table, const std::string& column,
                                  const Selector& selector, const Action& action, const Plan& plan,
                                  std::vector<std::string>& values) {
        std::string any = "0";
        auto queries = effect_queries(db, selector, action, values);
        auto own = queries.released(table, column, "t0");
        if (!own.empty()) any += " OR " + own;
        for (const auto& item : plan.items) {
            if (!item.snapshot.contains("effect")) continue;
            auto effect = LinkEffect::from_json(item.snapshot.at("effect"));
            if (effect.kind != LinkEffect::Kind::remove || effect.link().table != table) continue;
            any += " OR (" + effect_rows(effect.path, "t0", ownership(db), queries) + ")";
        }
        return any;
    }

    // gdprctl_mentions(text) and gdprctl_redact(text) for the selector's identifiers; false when
    // it has none that can be written as text.
    bool register_redaction(SQLite::Database& db, const Selector& selector) {
        auto patterns = text_patterns(selector.subjects);
        if (patterns.empty()) return false;
        m_mentions = std::make_unique<pii::IdentifierMatcher>(patterns);
        sqlite3_create_function_v2(
            db.getHandle(), "gdprctl_mentions", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, m_mentions.get(),
            [](sqlite3_context* context, int, sqlite3_value** args) {
                auto* matcher = static_cast<pii::IdentifierMatcher*>(sqlite3_user_data(context));
                sqlite3_result_int(
                    context, sqlite3_value_type(args[0]) == SQLITE_TEXT && matcher->contains(value_text(args[0])));
            },
            nullptr, nullptr, nullptr);
        sqlite3_create_function_v2(
            db.getHandle(), "gdprctl_redact", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, m_mentions.get(),
            [](sqlite3_context* context, int, sqlite3_value** args) {
                if (sqlite3_value_type(args[0]) != SQLITE_TEXT) return sqlite3_result_value(context, args[0]);
                auto* matcher = static_cast<pii::IdentifierMatcher*>(sqlite3_user_data(context));
                auto redacted = matcher->replace(value_text(args[0]), k_redacted);
                sqlite3_result_text(context, redacted.data(), static_cast<int>(redacted.size()), SQLITE_TRANSIENT);
            },
            nullptr, nullptr, nullptr);
        return true;
    }

    // Every item of a person's erasure in one transaction: either all of it is done or none. A
    // table that loses rows the plan does not account for (a trigger, a key it did not see)
    // rolls it all back.
    void apply_in_one_transaction(SQLite::Database& db, const Plan& plan, ApplyProgress& progress,
                                  ApplyReport& report) {
        const std::string step = m_source.name + ": the erasure's transaction";
        if (!plan.blocked().empty())
            throw Error::findings("source \"" + m_source.name + "\": the plan is blocked: " + plan.blocked().front());
        register_redaction(db, plan.selector);
        if (!progress.is_done(step)) {
            SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
            apply_items_checked(
                m_source.name, plan, [&](const PlanItem& item) { return apply_person_item(db, plan, item); },
                [&] { return row_counts(db); },
                [&](const PlanItem& item) {
                    return table_of(item, [&](const std::string& name) { return dataset_named(name).locator; });
                });
            transaction.commit();
            progress.mark_done(step);
        }
        report.records_changed = plan.records();
        for (const auto& item : plan.items) report.bytes_changed += item.bytes;
    }

    std::map<std::string, std::uint64_t> row_counts(SQLite::Database& db) {
        std::map<std::string, std::uint64_t> counts;
        for (const auto& table : tables(db)) {
            SQLite::Statement count(db, "SELECT count(*) FROM " + quote(table));
            count.executeStep();
            counts[table] = static_cast<std::uint64_t>(count.getColumn(0).getInt64());
        }
        return counts;
    }

    // Carries out one item of a person's erasure; the rows it changed.
    std::uint64_t apply_person_item(SQLite::Database& db, const Plan& plan, const PlanItem& item) {
        const auto& snapshot = item.snapshot;
        if (snapshot.contains("effect")) {
            auto effect = LinkEffect::from_json(snapshot.at("effect"));
            auto head = effect_statement_head(effect, ownership(db).dialect());
            if (!head) return 0;
            auto [sql, values] = effect_statement(db, effect, plan.selector, plan.action, *head);
            SQLite::Statement statement(db, sql);
            bind_all(statement, values);
            return static_cast<std::uint64_t>(statement.exec());
        }
        if (snapshot.contains("redact")) {
            auto table = snapshot.at("redact").at("table").get<std::string>();
            auto column = snapshot.at("redact").at("column").get<std::string>();
            std::vector<std::string> values;
            auto where = redaction_scope(db, table, column, plan.selector, values);
            SQLite::Statement statement(db, "UPDATE " + quote(table) + " AS t0 SET " + quote(column) +
                                                " = gdprctl_redact(" + quote(column) + ") WHERE " + where);
            bind_all(statement, values);
            return static_cast<std::uint64_t>(statement.exec());
        }
        const auto& dataset = dataset_named(item.dataset);
        auto change = change_for(dataset, plan.action, plan.selector);
        std::vector<std::string> values;
        auto rows = selected_rows(db, dataset, plan.selector, "t0.rowid", values);
        auto sql = change.remove ? "DELETE FROM " + quote(dataset.locator)
                                 : "UPDATE " + quote(dataset.locator) + " SET " + change.assignments;
        SQLite::Statement statement(db, sql + " WHERE rowid IN (" + rows + change.still_to_change + ")");
        bind_all(statement, values);
        return static_cast<std::uint64_t>(statement.exec());
    }

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

    // Every single-column foreign key of the database, tables outside the data map included,
    // with what it does ON DELETE, and the data map's links laid over them.
    std::vector<TableLink> database_links(SQLite::Database& db) {
        std::vector<TableLink> keys;
        guarded([&] {
            for (const auto& table : tables(db)) {
                SQLite::Statement query(db,
                                        "SELECT \"table\", \"from\", \"to\", upper(on_delete) FROM "
                                        "pragma_foreign_key_list(?1) WHERE id IN (SELECT id FROM "
                                        "pragma_foreign_key_list(?1) GROUP BY id HAVING count(*) = 1)");
                query.bind(1, table);
                while (query.executeStep()) {
                    TableLink key;
                    key.table = table;
                    key.column = query.getColumn(1).getString();
                    key.parent = query.getColumn(0).getString();
                    key.parent_column =
                        query.getColumn(2).isNull() ? primary_key_of(db, key.parent) : query.getColumn(2).getString();
                    auto action = query.getColumn(3).getString();
                    key.on_delete = action == "CASCADE"    ? OnDelete::cascade
                                    : action == "SET NULL" ? OnDelete::set_null
                                                           : OnDelete::restrict;
                    keys.push_back(std::move(key));
                }
            }
        });
        return merge_links(std::move(keys), m_declared_links);
    }

    std::string primary_key_of(SQLite::Database& db, const std::string& table) {
        SQLite::Statement query(db, "SELECT name FROM pragma_table_info(?) WHERE pk = 1");
        query.bind(1, table);
        return query.executeStep() ? query.getColumn(0).getString() : "rowid";
    }

    const SqlOwnership& ownership(SQLite::Database& db) {
        if (!m_ownership_ready) {
            m_ownership = SqlOwnership(&m_datasets, database_links(db),
                                       SqlDialect{[](const std::string& table) { return quote(table); }, "0"});
            m_ownership_ready = true;
        }
        return m_ownership;
    }

    SubjectCondition subject_condition(SQLite::Database& db, const config::Dataset& dataset, const Selector& selector) {
        SubjectCondition condition;
        if (selector.subjects.empty()) return condition;
        condition.sql = ownership(db).owned(dataset, "t0", selector,
                                            [&](const config::Dataset&, const config::SubjectField& field,
                                                const Identifier& subject, const std::string& alias) {
                                                condition.values.push_back(subject.value);
                                                return alias + "." + quote(field.field) + " = ?" +
                                                       (subject.kind == "email" ? " COLLATE NOCASE" : "");
                                            });
        return condition;
    }

    Filter selection_filter(SQLite::Database& db, const config::Dataset& dataset, const QueryParts& parts,
                            const Selector& selector, bool integer_time = false) {
        return filter_for(dataset, parts, selector, integer_time, subject_condition(db, dataset, selector));
    }

    // Like Selector::may_match, but a dataset without identifier columns of its own is matched
    // through the link to its owner too.
    bool selects(SQLite::Database& db, const config::Dataset& dataset, const Selector& selector) {
        if (selector.may_match(dataset)) return true;
        if (selector.subjects.empty()) return false;
        const auto& wanted = selector.datasets;
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), dataset.name) == wanted.end()) return false;
        if (!selector.wants_category(dataset.category)) return false;
        return ownership(db).can_own(dataset, selector);
    }

    std::vector<const config::Dataset*> datasets_in_change_order(SQLite::Database& db, const Selector& selector,
                                                                 const Action& action) {
        return in_change_order(m_datasets, m_tenant_tables, selector, action, [&](const std::string& table) {
            std::vector<std::string> parents;
            for (const auto& link : ownership(db).links())
                if (link.table == table) parents.push_back(link.parent);
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

    // Every value of every table that the data map does not have read already, text and BLOB,
    // each matched on its own: in a record, values lie back to back
    // ("bob@mailbox.examplepending"), so only a value has the bounds an identifier ends at. A
    // residue names the table, the column and the first rows (never the value).
    void scan_every_value(SQLite::Database& db, const pii::IdentifierMatcher& identifiers, VerifyReport& report) {
        std::map<std::string, std::set<std::string>> read;  // what the datasets' own pass read
        for (const auto& dataset : m_datasets)
            read[dataset.locator].insert(dataset.personal.begin(), dataset.personal.end());
        for (const auto& table : tables(db)) {
            std::vector<std::string> columns;
            for (const auto& column : columns_of(db, table))
                if (!read[table].count(column)) columns.push_back(column);
            if (columns.empty()) continue;
            bool has_rowid = !without_rowid(db, table);
            std::string list = has_rowid ? "rowid" : "'?'";
            for (const auto& column : columns) list += ", " + quote(column);
            SQLite::Statement query(db, "SELECT " + list + " FROM " + quote(table));
            RowResidue found(columns);
            while (query.executeStep()) {
                ++report.records_scanned;
                auto row = query.getColumn(0).getString();
                for (std::size_t c = 0; c < columns.size(); ++c) {
                    auto value = query.getColumn(static_cast<int>(c + 1));
                    if (value.getType() != SQLITE_TEXT && value.getType() != SQLITE_BLOB) continue;
                    std::string_view bytes(static_cast<const char*>(value.getBlob()),
                                           static_cast<std::size_t>(value.getBytes()));
                    report.bytes_scanned += bytes.size();
                    found.add(c, row, identifiers.count(bytes));
                }
            }
            found.report(table, "not in the data map", report);
        }
    }

    bool without_rowid(SQLite::Database& db, const std::string& table) {
        SQLite::Statement query(db, "SELECT wr FROM pragma_table_list WHERE name = ? AND schema = 'main'");
        query.bind(1, table);
        return query.executeStep() && query.getColumn(0).getInt() != 0;
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

    // Up to 100 values of a dataset's timestamp column, as text; numbers stand for themselves.
    std::vector<std::string> timestamp_samples(SQLite::Database& db, const config::Dataset& dataset) {
        std::vector<std::string> samples;
        guarded([&] {
            auto column = quote(dataset.timestamp->field);
            SQLite::Statement query(db, "SELECT CAST(" + column + " AS TEXT) FROM " + quote(dataset.locator) +
                                            " WHERE " + column + " IS NOT NULL LIMIT 100");
            while (query.executeStep()) samples.push_back(query.getColumn(0).getString());
        });
        return samples;
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
    std::vector<TableLink> m_declared_links;
    SqlOwnership m_ownership;
    bool m_ownership_ready = false;
    std::optional<std::int64_t> m_sample_override;
    std::unique_ptr<SQLite::Database> m_db;
    std::unique_ptr<SQLite::Database> m_writable;
    FunctionContext m_function_context;
    std::unique_ptr<pii::IdentifierMatcher> m_mentions;  // a person's erasure: what redaction replaces
};

}  // namespace

std::unique_ptr<Connector> open(const config::Source& source, const config::Workspace& workspace) {
    return std::make_unique<SqliteConnector>(source, workspace);
}

}  // namespace gdprctl::connectors::sqlite
