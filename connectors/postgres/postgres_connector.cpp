#include "connectors/postgres/postgres_connector.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <utility>

#include "connectors/sql_data_map.hpp"
#include "connectors/sql_links.hpp"
#include "core/error.hpp"
#include "core/pii/detect.hpp"
#include "core/util/fs.hpp"

namespace gdprctl::connectors::postgres {

namespace {

// Rows fetched per round trip from a cursor, and deleted per transaction by default ("batch_rows":
// larger batches finish sooner, smaller ones hold their row locks for less time).
constexpr int k_fetch_rows = 5000;
constexpr std::int64_t k_default_batch_rows = 50000;

std::string quote(const std::string& identifier) { return quote_identifier(identifier); }

// "schema.table" or "table" (found through the search path).
std::string quote_table(const std::string& locator) {
    auto dot = locator.find('.');
    return dot == std::string::npos ? quote(locator)
                                    : quote(locator.substr(0, dot)) + "." + quote(locator.substr(dot + 1));
}

std::pair<std::string, std::string> schema_and_name(const std::string& locator) {
    auto dot = locator.find('.');
    if (dot == std::string::npos) return {"", locator};
    return {locator.substr(0, dot), locator.substr(dot + 1)};
}

// A libpq result, cleared when it goes.
class Result {
public:
    explicit Result(PGresult* result) : m_result(result) {}
    ~Result() { PQclear(m_result); }
    Result(Result&& other) noexcept : m_result(std::exchange(other.m_result, nullptr)) {}
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
    Result& operator=(Result&&) = delete;

    int rows() const { return PQntuples(m_result); }
    int columns() const { return PQnfields(m_result); }
    bool null(int row, int column) const { return PQgetisnull(m_result, row, column) != 0; }
    std::string_view text(int row, int column) const {
        return {PQgetvalue(m_result, row, column), static_cast<std::size_t>(PQgetlength(m_result, row, column))};
    }
    std::int64_t integer(int row, int column) const {
        auto value = text(row, column);
        std::int64_t number = 0;
        std::from_chars(value.data(), value.data() + value.size(), number);
        return number;
    }
    std::optional<std::int64_t> optional_integer(int row, int column) const {
        if (null(row, column)) return std::nullopt;
        return integer(row, column);
    }
    PGresult* get() const { return m_result; }

private:
    PGresult* m_result;
};

// One connection. Every failure names the source; the server's message is passed on, the
// connection string (which may name a password file) and the password never are.
class Session {
public:
    Session(std::string source, const std::string& connection, const std::optional<std::string>& password)
        : m_source(std::move(source)) {
        std::vector<const char*> keys = {"dbname", "fallback_application_name"};
        std::vector<const char*> values = {connection.c_str(), "gdprctl"};
        if (password) {
            keys.push_back("password");
            values.push_back(password->c_str());
        }
        keys.push_back(nullptr);
        values.push_back(nullptr);
        m_connection.reset(PQconnectdbParams(keys.data(), values.data(), 1));
        if (!m_connection || PQstatus(m_connection.get()) != CONNECTION_OK)
            throw Error::runtime("source \"" + m_source + "\": cannot connect to PostgreSQL: " + last_error(),
                                 "check that the server runs and \"connection\"; the password comes from "
                                 "PGPASSWORD, PGPASSFILE or \"password_file\"");
        // Timestamps without a time zone are read as UTC, whatever the server's setting.
        execute("SET TimeZone = 'UTC'");
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    Result query(const std::string& sql, const std::vector<std::string>& parameters = {}) {
        std::vector<const char*> values;
        for (const auto& parameter : parameters) values.push_back(parameter.c_str());
        return run(sql, values);
    }
    // With parameters that may be NULL.
    Result query_nullable(const std::string& sql, const std::vector<std::optional<std::string>>& parameters) {
        std::vector<const char*> values;
        for (const auto& parameter : parameters) values.push_back(parameter ? parameter->c_str() : nullptr);
        return run(sql, values);
    }
    void execute(const std::string& sql) { query(sql); }
    // The rows a command changed.
    std::uint64_t changed(const std::string& sql, const std::vector<std::string>& parameters) {
        auto result = query(sql, parameters);
        return std::strtoull(PQcmdTuples(result.get()), nullptr, 10);
    }

private:
    Result run(const std::string& sql, const std::vector<const char*>& values) {
        Result result(PQexecParams(m_connection.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                                   values.data(), nullptr, nullptr, 0));
        auto status = PQresultStatus(result.get());
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            if (result.get() && PQresultErrorField(result.get(), PG_DIAG_SQLSTATE)) fail_with(result.get());
            fail();
        }
        return result;
    }
    // The server's diagnosis without the parts that quote row values: DETAIL ("Failing row
    // contains (...)", "Key (email)=(...)"), CONTEXT and, for data exceptions (SQLSTATE class
    // 22, "invalid input syntax for type integer: \"...\""), the primary message. What is left
    // names the statement's objects: SQLSTATE, table, column, constraint.
    [[noreturn]] void fail_with(const PGresult* result) {
        auto field = [&](int code) {
            const char* value = PQresultErrorField(result, code);
            return std::string(value ? value : "");
        };
        auto sqlstate = field(PG_DIAG_SQLSTATE);
        std::string message =
            sqlstate.rfind("22", 0) == 0 ? "a value does not suit its column's type" : field(PG_DIAG_MESSAGE_PRIMARY);
        message += " (SQLSTATE " + sqlstate;
        for (auto [code, label] : {std::pair{PG_DIAG_TABLE_NAME, "table"}, std::pair{PG_DIAG_COLUMN_NAME, "column"},
                                   std::pair{PG_DIAG_CONSTRAINT_NAME, "constraint"}})
            if (auto value = field(code); !value.empty()) message += std::string(", ") + label + " " + value;
        message += "; the server's detail is not shown: it quotes row values)";
        throw Error::runtime("source \"" + m_source + "\": PostgreSQL: " + message,
                             "check the data map against the database, and the role's privileges");
    }
    std::string last_error() const {
        std::string message = m_connection ? PQerrorMessage(m_connection.get()) : "out of memory";
        while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
        return message;
    }
    [[noreturn]] void fail() {
        throw Error::runtime("source \"" + m_source + "\": PostgreSQL: " + last_error(),
                             "check the data map against the database, and the role's privileges");
    }

    std::string m_source;
    // Closed also when the constructor throws (a failed connection is still to be freed).
    std::unique_ptr<PGconn, decltype(&PQfinish)> m_connection{nullptr, &PQfinish};
};

// A transaction on a session: rolled back when it goes without commit(), so that a failure
// leaves neither half a batch nor a session stuck in a failed transaction.
class Transaction {
public:
    explicit Transaction(Session& session, const char* begin = "BEGIN") : m_session(session) {
        m_session.execute(begin);
    }
    ~Transaction() {
        if (m_open) try {
                m_session.execute("ROLLBACK");
            } catch (const Error&) {
            }
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit() {
        m_session.execute("COMMIT");
        m_open = false;
    }

private:
    Session& m_session;
    bool m_open = true;
};

// Positional parameters of one statement: add() returns the placeholder ("$3").
struct Parameters {
    std::vector<std::string> values;
    std::string add(std::string value) {
        values.push_back(std::move(value));
        return "$" + std::to_string(values.size());
    }
};

// A record's time in Unix seconds, for a timestamp column of any SQL type.
std::string time_expression(const config::TimestampSpec& spec) {
    std::string column = "t0." + quote(spec.field);
    switch (spec.format) {
        case config::TimeFormat::unix_seconds:
            return "(" + column + ")::bigint";
        case config::TimeFormat::unix_millis:
            return "((" + column + ")::bigint / 1000)";
        default:
            return "floor(extract(epoch from (" + column + ")::timestamptz))::bigint";
    }
}

// The cut-off test, written so that an index on a timestamptz or integer column serves it.
std::string older_than_test(const config::TimestampSpec& spec, const std::string& cutoff) {
    std::string column = "t0." + quote(spec.field);
    switch (spec.format) {
        case config::TimeFormat::unix_seconds:
            return "(" + column + ")::bigint < " + cutoff + "::bigint";
        case config::TimeFormat::unix_millis:
            return "(" + column + ")::bigint < " + cutoff + "::bigint * 1000";
        default:
            return "(" + column + ")::timestamptz < to_timestamp(" + cutoff + "::bigint)";
    }
}

// FROM clause and expressions of a dataset: t0 is its table, j1..jN the joins to its tenant.
struct QueryParts {
    std::string from;
    std::string tenant = "''";
    std::string time = "NULL::bigint";
    std::string bytes = "0";
};

QueryParts query_parts(const config::Dataset& dataset) {
    QueryParts parts;
    parts.from = quote_table(dataset.locator) + " AS t0";
    if (dataset.tenant) {
        std::string previous = "t0";
        int n = 0;
        for (const auto& step : dataset.tenant->via) {
            std::string alias = "j" + std::to_string(++n);
            parts.from += " LEFT JOIN " + quote_table(step.table) + " AS " + alias + " ON " + previous + "." +
                          quote(step.from) + " = " + alias + "." + quote(step.to);
            previous = alias;
        }
        parts.tenant = "COALESCE((" + previous + "." + quote(dataset.tenant->field) + ")::text, '')";
    }
    if (dataset.timestamp) parts.time = time_expression(*dataset.timestamp);
    std::string bytes;
    for (const auto& column : dataset.personal)
        bytes += (bytes.empty() ? "" : " + ") + ("COALESCE(octet_length((t0." + quote(column) + ")::text), 0)");
    if (!bytes.empty()) parts.bytes = bytes;
    return parts;
}

class PostgresConnector final : public Connector {
public:
    PostgresConnector(const config::Source& source, const config::Workspace& workspace) : m_source(source) {
        auto reader = source_reader(source);
        m_connection = reader.required_string("connection");
        refuse_password_in(reader, m_connection);
        if (auto file = reader.optional_string("password_file"))
            m_password_file = util::resolve(workspace.base_dir, *file);
        m_sample_override = reader.optional_integer("sample");
        m_batch_rows = reader.optional_integer("batch_rows").value_or(k_default_batch_rows);
        if (m_batch_rows < 1) reader.fail("batch_rows", "must be at least 1", "e.g. 50000");
        auto map = read_sql_data_map(reader, source, workspace);
        m_datasets = std::move(map.datasets);
        m_tenant_tables = std::move(map.tenant_tables);
        m_declared_links = std::move(map.links);
        reader.finish();
    }

    const config::Source& source() const override { return m_source; }
    const std::vector<config::Dataset>& datasets() const override { return m_datasets; }

    void validate() override {
        for (const auto& dataset : m_datasets) validate_dataset(dataset);
        for (const auto& table : m_tenant_tables) validate_dataset(table);
        check_link_columns(m_declared_links,
                           [&](const std::string& table, const std::string& column, const std::string& pointer) {
                               require_column(table, column, pointer);
                           });
        ownership().check(m_source);
        for (const auto& dataset : m_datasets)
            if (dataset.timestamp) check_timestamp(dataset);
    }

    // A time column read as Unix seconds must hold numbers; text must read in its format.
    void check_timestamp(const config::Dataset& dataset) {
        const auto& spec = *dataset.timestamp;
        const auto& type = column_types(dataset.locator).at(spec.field);
        bool time_type = type.rfind("timestamp", 0) == 0 || type == "date";
        if (time_type && spec.format == config::TimeFormat::iso8601) return;
        std::vector<std::string> samples;
        if (time_type) {
            samples.push_back(type);  // a time type read as a number: never right
        } else {
            auto rows =
                session().query("SELECT (" + quote(spec.field) + ")::text FROM " + quote_table(dataset.locator) +
                                " WHERE " + quote(spec.field) + " IS NOT NULL LIMIT 100");
            for (int i = 0; i < rows.rows(); ++i) samples.emplace_back(rows.text(i, 0));
        }
        check_timestamp_samples(dataset, m_source, samples);
    }

    SourceInventory inventory(const Selector& selector, const InventoryOptions& options) override {
        SourceInventory result;
        for (const auto& dataset : m_datasets) {
            if (!selects(dataset, selector)) continue;
            auto parts = query_parts(dataset);
            Parameters parameters;
            auto where = filter(dataset, parts, selector, parameters);
            // Grouped by day as well, for the audit report's age histograms; the rows of one
            // tenant come together and are folded into one InventoryRow.
            auto rows = session().query("SELECT " + parts.tenant + ", count(*), COALESCE(sum(" + parts.bytes +
                                            "), 0)::bigint, min(" + parts.time + "), max(" + parts.time + "), floor((" +
                                            parts.time + ") / 86400.0)::bigint FROM " + parts.from + " WHERE " + where +
                                            " GROUP BY 1, 6 ORDER BY 1, 6",
                                        parameters.values);
            for (int i = 0; i < rows.rows(); ++i) {
                std::string tenant(rows.text(i, 0));
                if (result.rows.empty() || result.rows.back().dataset != dataset.name ||
                    result.rows.back().tenant != tenant)
                    result.rows.push_back(InventoryRow{dataset.name, dataset.category, tenant, 0, 0, {}, {}, {}});
                auto& row = result.rows.back();
                auto records = static_cast<std::uint64_t>(rows.integer(i, 1));
                auto bytes = static_cast<std::uint64_t>(rows.integer(i, 2));
                row.records += records;
                row.bytes += bytes;
                result.bytes_read += bytes;
                if (auto oldest = rows.optional_integer(i, 3)) {
                    auto newest = rows.integer(i, 4);
                    row.oldest = std::min(row.oldest.value_or(*oldest), *oldest);
                    row.newest = std::max(row.newest.value_or(newest), newest);
                    row.records_per_day[rows.integer(i, 5)] += records;
                }
            }
        }
        result.undeclared =
            find_undeclared(m_sample_override ? static_cast<std::size_t>(*m_sample_override) : options.sample_size);
        return result;
    }

    void collect(const Selector& selector, RecordSink& sink) override {
        // One snapshot for every table: an export is consistent while the platform writes.
        auto& db = session();
        Transaction snapshot(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        for (const auto& dataset : m_datasets) {
            if (!selects(dataset, selector)) continue;
            auto parts = query_parts(dataset);
            Parameters parameters;
            auto where = filter(dataset, parts, selector, parameters);
            for_each_row("SELECT " + parts.tenant + ", row_to_json(t0)::text FROM " + parts.from + " WHERE " + where +
                             " ORDER BY t0.ctid",
                         parameters, [&](const Result& rows, int i) {
                             sink.record(dataset, std::string(rows.text(i, 0)), nlohmann::json::parse(rows.text(i, 1)));
                         });
        }
    }

    Plan plan(const Selector& selector, const Action& action) override {
        Plan plan{m_source.name, action, selector, {}, 0, {}};
        for (const auto* in_order : in_change_order(m_datasets, m_tenant_tables, selector, action,
                                                    [&](const std::string& table) { return parent_tables(table); })) {
            const auto& dataset = *in_order;
            if (!selects(dataset, selector)) continue;
            auto change = record_change(dataset, action, selector);
            if (!change.remove && change.columns.empty()) continue;
            auto parts = query_parts(dataset);
            auto total = session().query("SELECT count(*), max(" + parts.time + ") FROM " + parts.from);
            plan.source_records += static_cast<std::uint64_t>(total.integer(0, 0));
            if (auto newest = total.optional_integer(0, 1)) plan.newest = std::max(plan.newest.value_or(0), *newest);
            Parameters parameters;
            auto where = filter(dataset, parts, selector, parameters);
            if (change.remove) {
                // Whole expired partitions go first, dropped; the delete covers the other rows.
                auto dropped = plan_partition_drops(dataset, parts, selector, plan);
                if (!dropped.empty())
                    where += " AND t0.tableoid <> ALL(" + parameters.add("{" + dropped + "}") + "::oid[])";
            }
            auto tally = change.remove ? tally_selected(parts, where, parameters)
                                       : tally_still_to_change(dataset, parts, where, parameters, change);
            if (!tally.records) continue;
            PlanItem item;
            item.dataset = dataset.name;
            item.what = change.remove ? "delete" : "anonymise " + column_names(change);
            item.records = tally.records;
            item.bytes = tally.bytes;
            item.oldest = tally.oldest;
            item.snapshot = {{"records", tally.records}};
            if (erases_people(selector, action)) plan_for_others(dataset, selector, action, item, plan);
            if (purges(selector, action)) check_purge_effects(dataset, selector, action, item);
            plan.items.push_back(std::move(item));
        }
        if (erases_people(selector, action)) plan_redactions(selector, action, plan);
        return plan;
    }

    // Deletes in batches, each its own transaction: a run killed in between has deleted whole
    // batches, and a second run with the same plan deletes the rest.
    ApplyReport apply(const Plan& plan, ApplyProgress& progress) override {
        ApplyReport report;
        if (erases_people(plan.selector, plan.action)) {
            apply_in_one_transaction(plan, progress, report);
            return report;
        }
        for (const auto& item : plan.items) {
            const auto& dataset = dataset_named(item.dataset);
            if (item.snapshot.contains("partition")) {
                report.records_changed += drop_partition(item, progress);
                report.bytes_changed += item.bytes;
                continue;
            }
            auto change = record_change(dataset, plan.action, plan.selector);
            auto parts = query_parts(dataset);
            Parameters parameters;
            auto where = filter(dataset, parts, plan.selector, parameters);
            auto left = [&] {
                return change.remove ? count_where(parts, where, parameters)
                                     : tally_still_to_change(dataset, parts, where, parameters, change).records;
            };
            auto now = left();
            if (now > item.records)
                throw Error::findings("source \"" + m_source.name + "\": " + item.dataset + " now has " +
                                          std::to_string(now) + " records to change, the plan covered " +
                                          std::to_string(item.records),
                                      "the store changed since the plan was made: make a new plan");
            if (change.remove)
                delete_in_batches(dataset, parts, where, parameters, item, progress);
            else
                anonymise_in_batches(dataset, parts, where, parameters, change, item, progress);
            auto after = left();
            report.records_changed += item.records - std::min(item.records, after);
            report.bytes_changed += after ? 0 : item.bytes;
        }
        return report;
    }

    // Retention at scale: the partitions of a table partitioned by range on its time column
    // whose upper bound is at or before the cut-off hold only expired rows, and can never be
    // given a younger one: each is planned as one "drop partition" item. Only for a plain
    // cut-off (no tenant scope, no people). Returns their oids, comma-separated.
    std::string plan_partition_drops(const config::Dataset& dataset, const QueryParts& parts, const Selector& selector,
                                     Plan& plan) {
        std::string oids;
        if (!selector.older_than || selector.tenant || !selector.exclude_tenants.empty() ||
            !selector.subjects.empty() || !dataset.timestamp)
            return oids;
        auto cutoff = partition_cutoff(dataset);
        if (cutoff.empty()) return oids;
        auto partitions = session().query(
            "SELECT c.oid::text, c.oid::regclass::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1) AND c.relkind = 'r' "
            "ORDER BY 2",
            {regclass_text(dataset.locator)});
        for (int i = 0; i < partitions.rows(); ++i) {
            std::string bound(partitions.text(i, 2));
            auto to = bound.rfind(" TO (");
            if (to == std::string::npos || bound.back() != ')') continue;  // DEFAULT, or not a range
            auto upper = bound.substr(to + 5, bound.size() - to - 6);
            if (upper == "MAXVALUE") continue;
            // The bound is the server's own rendering of a literal, compared on the server.
            auto expired = session().query("SELECT (" + upper +
                                               ")::" + column_types(dataset.locator).at(dataset.timestamp->field) +
                                               " <= " + cutoff,
                                           {std::to_string(*selector.older_than)});
            if (expired.text(0, 0) != "t") continue;
            std::string oid(partitions.text(i, 0)), name(partitions.text(i, 1));
            auto tally = session().query("SELECT count(*), COALESCE(sum(" + parts.bytes + "), 0)::bigint, min(" +
                                             parts.time + ") FROM " + parts.from + " WHERE t0.tableoid = $1::oid",
                                         {oid});
            oids += (oids.empty() ? "" : ",") + oid;
            auto records = static_cast<std::uint64_t>(tally.integer(0, 0));
            PlanItem item;
            item.dataset = dataset.name;
            item.what = "drop partition " + name;
            item.records = records;
            item.bytes = static_cast<std::uint64_t>(tally.integer(0, 1));
            item.oldest = tally.optional_integer(0, 2);
            item.snapshot = {{"records", records}, {"partition", name}};
            plan.items.push_back(std::move(item));
        }
        return oids;
    }

    // The cut-off ($1, Unix seconds) as a value of the partitioned time column's type; empty
    // when the table is not partitioned by range on that column alone.
    std::string partition_cutoff(const config::Dataset& dataset) {
        auto key = session().query(
            "SELECT a.attname FROM pg_partitioned_table p JOIN pg_attribute a ON a.attrelid = p.partrelid AND "
            "a.attnum = p.partattrs[0] WHERE p.partrelid = to_regclass($1) AND p.partstrat = 'r' AND p.partnatts = 1",
            {regclass_text(dataset.locator)});
        if (key.rows() != 1 || key.text(0, 0) != dataset.timestamp->field) return "";
        const auto& type = column_types(dataset.locator).at(dataset.timestamp->field);
        bool integer = type == "bigint" || type == "integer" || type == "smallint";
        bool time = type == "timestamp with time zone" || type == "timestamp without time zone" || type == "date";
        switch (dataset.timestamp->format) {
            case config::TimeFormat::unix_seconds:
                return integer ? "$1::bigint" : "";
            case config::TimeFormat::unix_millis:
                return integer ? "$1::bigint * 1000" : "";
            default:
                return time ? "to_timestamp($1::bigint)" : "";
        }
    }

    // Drops a planned partition in one transaction; one the plan no longer matches is refused.
    // Returns the records it held (0 when an earlier run dropped it).
    std::uint64_t drop_partition(const PlanItem& item, ApplyProgress& progress) {
        auto name = item.snapshot.at("partition").get<std::string>();
        auto exists = session().query("SELECT to_regclass($1) IS NOT NULL", {name});
        if (exists.text(0, 0) != "t") return item.records;
        Transaction drop(session());
        auto now = session().query("SELECT count(*) FROM " + name);
        if (static_cast<std::uint64_t>(now.integer(0, 0)) > item.records)
            throw Error::findings("source \"" + m_source.name + "\": partition " + name + " now holds " +
                                      std::string(now.text(0, 0)) + " records, the plan covered " +
                                      std::to_string(item.records),
                                  "the store changed since the plan was made: make a new plan");
        session().execute("DROP TABLE " + name);
        drop.commit();
        progress.mark_done(item.dataset + " " + item.what);
        return item.records;
    }

    struct Tally {
        std::uint64_t records = 0;
        std::uint64_t bytes = 0;
        std::optional<util::UnixTime> oldest;
    };

    Tally tally_selected(const QueryParts& parts, const std::string& where, const Parameters& parameters) {
        auto rows = session().query("SELECT count(*), COALESCE(sum(" + parts.bytes + "), 0)::bigint, min(" +
                                        parts.time + ") FROM " + parts.from + " WHERE " + where,
                                    parameters.values);
        return {static_cast<std::uint64_t>(rows.integer(0, 0)), static_cast<std::uint64_t>(rows.integer(0, 1)),
                rows.optional_integer(0, 2)};
    }

    static std::string column_names(const RecordChange& change) {
        std::string names;
        for (const auto& column : change.columns) names += (names.empty() ? "" : ", ") + column.name;
        return names;
    }

    // SELECT list of a row's address (its table, for a partition, and its ctid, unique only
    // within one table) and the columns a change rewrites, as text.
    std::string changed_columns(const config::Dataset& dataset, const RecordChange& change) {
        std::string list = "t0.tableoid, t0.ctid";
        for (const auto& column : change.columns) list += ", " + as_text(dataset, column.name);
        return list;
    }

    // A column of t0 as text: an address in an inet or cidr column without its "/32".
    std::string as_text(const config::Dataset& dataset, const std::string& column, const std::string& alias = "t0") {
        const auto& types = column_types(dataset.locator);
        auto type = types.find(column);
        bool inet = type != types.end() && (type->second == "inet" || type->second == "cidr");
        std::string qualified = alias + "." + quote(column);
        return inet ? "host(" + qualified + ")" : "(" + qualified + ")::text";
    }

    // True when a change would rewrite row i (its columns from index 1 on, as changed_columns()).
    static bool row_needs_change(const Result& rows, int i, const RecordChange& change, int first_column) {
        for (std::size_t c = 0; c < change.columns.size(); ++c) {
            int at = first_column + static_cast<int>(c);
            std::optional<std::string_view> value;
            if (!rows.null(i, at)) value = rows.text(i, at);
            if (change.changes(change.columns[c], value)) return true;
        }
        return false;
    }

    // The selected rows an anonymisation would still change: the method's test runs here (an
    // HMAC key never goes to the server), over a cursor.
    Tally tally_still_to_change(const config::Dataset& dataset, const QueryParts& parts, const std::string& where,
                                const Parameters& parameters, const RecordChange& change) {
        Tally tally;
        auto& db = session();
        Transaction snapshot(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        for_each_row("SELECT " + parts.time + ", " + parts.bytes + ", " + changed_columns(dataset, change) + " FROM " +
                         parts.from + " WHERE " + where,
                     parameters, [&](const Result& rows, int i) {
                         if (!row_needs_change(rows, i, change, 4)) return;
                         ++tally.records;
                         tally.bytes += static_cast<std::uint64_t>(rows.integer(i, 1));
                         if (auto time = rows.optional_integer(i, 0))
                             tally.oldest = std::min(tally.oldest.value_or(*time), *time);
                     });
        return tally;
    }

    // Deletes in batches, each its own transaction. The batch's rows are found by their
    // physical address: a TID scan, no join back to the table.
    void delete_in_batches(const config::Dataset& dataset, const QueryParts& parts, const std::string& where,
                           const Parameters& parameters, const PlanItem& item, ApplyProgress& progress) {
        // A ctid is unique only within one table: a partitioned table's rows are addressed with
        // their partition's oid as well (no TID scan then).
        std::string limit = " LIMIT " + std::to_string(m_batch_rows);
        std::string batch = has_children(dataset.locator)
                                ? "DELETE FROM " + quote_table(dataset.locator) +
                                      " WHERE (tableoid, ctid) IN (SELECT t0.tableoid, t0.ctid FROM " + parts.from +
                                      " WHERE " + where + limit + ")"
                                : "DELETE FROM " + quote_table(dataset.locator) +
                                      " WHERE ctid = ANY(ARRAY(SELECT t0.ctid FROM " + parts.from + " WHERE " + where +
                                      limit + "))";
        for (int n = 1;; ++n) {
            if (session().changed(batch, parameters.values) == 0) break;
            progress.mark_done(item.dataset + "#" + std::to_string(n));
        }
    }

    // Rewrites the selected rows' columns in batches of batch_rows, walking the table in ctid
    // order; each batch is one transaction. The new values are computed here and sent back in
    // UPDATE ... FROM (VALUES ...) statements. A rewritten row that the walk meets again needs
    // no change any more (anonymisation is idempotent), so a resumed run finishes the rest.
    void anonymise_in_batches(const config::Dataset& dataset, const QueryParts& parts, const std::string& where,
                              const Parameters& parameters, const RecordChange& change, const PlanItem& item,
                              ApplyProgress& progress) {
        std::string last_table = "0", last_row = "(0,0)";
        for (int n = 1;; ++n) {
            auto select = parameters;
            auto after = "(" + select.add(last_table) + "::oid, " + select.add(last_row) + "::tid)";
            auto rows = session().query("SELECT " + changed_columns(dataset, change) + " FROM " + parts.from +
                                            " WHERE " + where + " AND (t0.tableoid, t0.ctid) > " + after +
                                            " ORDER BY t0.tableoid, t0.ctid LIMIT " + std::to_string(m_batch_rows),
                                        select.values);
            if (rows.rows() == 0) break;
            last_table = std::string(rows.text(rows.rows() - 1, 0));
            last_row = std::string(rows.text(rows.rows() - 1, 1));
            Transaction batch(session());
            constexpr int k_rows_per_statement = 1000;
            std::vector<int> pending;
            for (int i = 0; i < rows.rows(); ++i) {
                if (row_needs_change(rows, i, change, 2)) pending.push_back(i);
                if (pending.size() == k_rows_per_statement || (i + 1 == rows.rows() && !pending.empty())) {
                    update_rows(dataset, rows, pending, change);
                    pending.clear();
                }
            }
            batch.commit();
            progress.mark_done(item.dataset + "#" + std::to_string(n));
        }
    }

    void update_rows(const config::Dataset& dataset, const Result& rows, const std::vector<int>& which,
                     const RecordChange& change) {
        const auto& types = column_types(dataset.locator);
        std::vector<std::optional<std::string>> values;
        std::string tuples;
        for (int i : which) {
            tuples += std::string(tuples.empty() ? "" : ", ") + "($" + std::to_string(values.size() + 1) + "::oid, $" +
                      std::to_string(values.size() + 2) + "::tid";
            values.emplace_back(std::string(rows.text(i, 0)));
            values.emplace_back(std::string(rows.text(i, 1)));
            for (std::size_t c = 0; c < change.columns.size(); ++c) {
                int at = 2 + static_cast<int>(c);
                std::optional<std::string> value;
                if (!rows.null(i, at)) value = change.rewritten(change.columns[c], rows.text(i, at));
                tuples += ", $" + std::to_string(values.size() + 1) + "::text";
                values.push_back(std::move(value));
            }
            tuples += ")";
        }
        std::string names = "table_id, row_id", assignments;
        for (std::size_t c = 0; c < change.columns.size(); ++c) {
            const auto& column = change.columns[c].name;
            names += ", c" + std::to_string(c);
            auto type = types.find(column);
            assignments += std::string(assignments.empty() ? "" : ", ") + quote(column) + " = v.c" + std::to_string(c) +
                           "::" + (type != types.end() ? type->second : "text");
        }
        session().query_nullable("UPDATE " + quote_table(dataset.locator) + " AS u SET " + assignments +
                                     " FROM (VALUES " + tuples + ") AS v(" + names +
                                     ") WHERE u.tableoid = v.table_id AND u.ctid = v.row_id",
                                 values);
    }

    VerifyReport verify(const Selector& selector, const pii::IdentifierMatcher& identifiers) override {
        VerifyReport report;
        auto& db = session();
        Transaction snapshot(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        std::vector<const config::Dataset*> scanned;
        for (const auto& dataset : m_datasets) scanned.push_back(&dataset);
        if (selector.is_whole_tenant())
            for (const auto& table : m_tenant_tables) scanned.push_back(&table);
        for (const auto* scanning : scanned) {
            const auto& dataset = *scanning;
            if (!selector.wants_category(dataset.category) && !dataset.category.empty()) continue;
            auto parts = query_parts(dataset);
            bool by_selector = selects(dataset, selector);
            Parameters parameters;
            auto where = by_selector ? filter(dataset, parts, selector, parameters) : std::string("false");
            std::string personal;
            auto columns = text_columns_of(dataset);
            for (const auto& column : columns) personal += ", " + as_text(dataset, column);
            RowResidue selected({""}), occurrences(columns);
            for_each_row(
                "SELECT (" + where + "), " + parts.tenant + ", t0.ctid::text" + personal + " FROM " + parts.from,
                parameters, [&](const Result& rows, int i) {
                    ++report.records_scanned;
                    auto row = rows.text(i, 2);
                    if (rows.text(i, 0) == "t") selected.add(0, row, 1);
                    if (!selector.text_counts_in(rows.text(i, 1))) return;
                    for (int c = 3; c < rows.columns(); ++c) {
                        if (rows.null(i, c)) continue;
                        auto text = rows.text(i, c);
                        report.bytes_scanned += text.size();
                        if (!identifiers.empty())
                            occurrences.add(static_cast<std::size_t>(c - 3), row, identifiers.count(text));
                    }
                });
            selected.report(dataset.name, "records of the selector", report);
            occurrences.report(dataset.name, "identifier occurrences", report);
        }
        if (!identifiers.empty() && selector.text_counts_everywhere()) scan_undeclared_text(identifiers, report);
        return report;
    }

    std::vector<std::string> tenant_markers(const std::string& tenant) override {
        std::set<std::string> markers;
        auto add_values = [&](const config::Dataset& dataset, const std::string& column) {
            auto parts = query_parts(dataset);
            auto rows = session().query("SELECT DISTINCT (t0." + quote(column) + ")::text FROM " + parts.from +
                                            " WHERE " + parts.tenant + " = $1",
                                        {tenant});
            for (int i = 0; i < rows.rows(); ++i)
                if (!rows.null(i, 0) && !rows.text(i, 0).empty()) markers.emplace(rows.text(i, 0));
        };
        for (const auto& table : m_tenant_tables)
            for (const auto& column : table.personal) add_values(table, column);
        for (const auto& dataset : m_datasets) {
            if (!dataset.tenant) continue;
            for (const auto& subject : dataset.subjects)
                if (subject.kind == "stream_key") add_values(dataset, subject.field);
        }
        return {markers.begin(), markers.end()};
    }

private:
    // ---- A person's erasure: other people's rows, one transaction ----

    // SQL selecting `what` of the rows of dataset the selector picks; binds into parameters.
    std::string selected_rows(const config::Dataset& dataset, const Selector& selector, const std::string& what,
                              Parameters& parameters) {
        auto parts = query_parts(dataset);
        auto where = filter(dataset, parts, selector, parameters);
        return "SELECT " + what + " FROM " + parts.from + " WHERE " + where;
    }

    EffectQueries effect_queries(const Selector& selector, const Action& action, Parameters& parameters) {
        EffectQueries queries;
        queries.deleted_values = [&, this](const std::string& table, const std::string& column) {
            return selected_rows(*ownership().dataset_of(table), selector, "t0." + quote(column), parameters);
        };
        queries.released = [&, this](const std::string& table, const std::string& column,
                                     const std::string& alias) -> std::string {
            const auto* dataset = ownership().dataset_of(table);
            if (!dataset || !selects(*dataset, selector) || !releases(*dataset, action, selector, column)) return "";
            return "(" + alias + ".tableoid, " + alias + ".ctid) IN (" +
                   selected_rows(*dataset, selector, "t0.tableoid, t0.ctid", parameters) + ")";
        };
        queries.not_null = [this](const std::string& table, const std::string& column) {
            return column_not_null(table, column);
        };
        return queries;
    }

    bool column_not_null(const std::string& table, const std::string& column) {
        auto rows = session().query(
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT "
            "attisdropped",
            {regclass_text(table), column});
        return rows.rows() == 1 && rows.text(0, 0) == "t";
    }

    // The statement an effect runs (head, then the rows it reaches), with its parameters.
    std::pair<std::string, Parameters> effect_statement(const LinkEffect& effect, const Selector& selector,
                                                        const Action& action, const std::string& head) {
        Parameters parameters;
        auto queries = effect_queries(selector, action, parameters);
        auto where = effect_rows(effect.path, "e", ownership(), queries);
        return {head + " WHERE " + where, parameters};
    }

    // Counts the rows a link path reaches from the rows the selector deletes.
    std::function<std::uint64_t(const std::vector<TableLink>&)> effect_counter(const Selector& selector,
                                                                               const Action& action) {
        return [&selector, &action, this](const std::vector<TableLink>& path) {
            LinkEffect probe;
            probe.path = path;
            auto [sql, parameters] = effect_statement(
                probe, selector, action, "SELECT count(*) FROM " + quote_table(path.back().table) + " AS e");
            return static_cast<std::uint64_t>(session().query(sql, parameters.values).integer(0, 0));
        };
    }

    // Before a dataset's rows of the person go: what becomes of other people's rows that point at
    // them (items placed before the dataset's own); before they are rewritten: whether every
    // column emptied may be.
    void plan_for_others(const config::Dataset& dataset, const Selector& selector, const Action& action, PlanItem& item,
                         Plan& plan) {
        auto change = record_change(dataset, action, selector);
        if (!change.remove) {
            item.blocked = not_null_conflict(dataset, change, [&](const std::string& table, const std::string& column) {
                return column_not_null(table, column);
            });
            return;
        }
        Parameters unbound;
        auto queries = effect_queries(selector, action, unbound);
        auto effects = plan_link_effects(dataset.locator, ownership(), queries, effect_counter(selector, action));
        for (const auto& effect : effects)
            plan.items.push_back(effect_item(effect, dataset.name, ownership(), m_source.name));
    }

    // A purge's deletion of expired rows must not take, through a key, rows no rule expires.
    void check_purge_effects(const config::Dataset& dataset, const Selector& selector, const Action& action,
                             PlanItem& item) {
        auto effects = plan_purge_effects(dataset.locator, ownership(), effect_counter(selector, action));
        item.blocked = effects.blocked;
        for (const auto& note : effects.notes) item.note += (item.note.empty() ? "" : "; ") + note;
    }

    // A text column a redaction may rewrite: its table (as the data map or the search path
    // names it), name, type, and the characters it holds at most (0: no limit).
    struct TextColumn {
        std::string table, column, type;
        std::size_t max_characters = 0;
    };

    // The text columns of every table gdprctl may read and update.
    std::vector<TextColumn> text_columns() {
        auto rows = session().query(
            "SELECT CASE WHEN pg_table_is_visible(c.oid) THEN c.relname ELSE n.nspname || '.' || c.relname END, "
            "c.oid::text, a.attname, format_type(a.atttypid, NULL), "
            "CASE WHEN a.atttypid = 'varchar'::regtype AND a.atttypmod > 4 THEN a.atttypmod - 4 ELSE 0 END "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' "
            "AND has_table_privilege(c.oid, 'SELECT, UPDATE') AND format_type(a.atttypid, NULL) IN "
            "('text', 'character varying', 'json', 'jsonb') ORDER BY 1, a.attnum");
        auto name = table_namer();
        std::vector<TextColumn> columns;
        for (int i = 0; i < rows.rows(); ++i) {
            columns.push_back({name(rows.text(i, 1), rows.text(i, 0)), std::string(rows.text(i, 2)),
                               std::string(rows.text(i, 3)), static_cast<std::size_t>(rows.integer(i, 4))});
        }
        return columns;
    }

    static std::size_t characters(std::string_view utf8) {
        return static_cast<std::size_t>(std::count_if(
            utf8.begin(), utf8.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
    }

    // The rows of table whose column mentions the person and may be redacted, as a query of
    // (tableoid, ctid, the column's text); before the plan is carried out, without the rows it
    // deletes or rewrites. For people within one tenant, only that tenant's rows of mapped tables.
    std::optional<std::string> redaction_rows(const std::string& table, const std::string& column,
                                              const Selector& selector, const Action& action, const Plan* planning,
                                              const std::vector<std::string>& patterns, Parameters& parameters) {
        std::string like;
        for (const auto& pattern : patterns) {
            std::string escaped;
            for (char c : pattern)
                escaped += (c == '%' || c == '_' || c == '\\') ? std::string("\\") + c : std::string(1, c);
            like += (like.empty() ? "" : ", ") + parameters.add("%" + escaped + "%");
        }
        std::string where = "(t0." + quote(column) + ")::text ILIKE ANY(ARRAY[" + like + "]::text[])";
        const auto* dataset = ownership().dataset_of(table);
        if (!selector.text_counts_everywhere()) {
            if (!dataset || !dataset->tenant) return std::nullopt;
            auto parts = query_parts(*dataset);
            where += " AND (t0.tableoid, t0.ctid) IN (SELECT t0.tableoid, t0.ctid FROM " + parts.from + " WHERE " +
                     parts.tenant + " = " + parameters.add(*selector.tenant) + ")";
        }
        if (planning) {
            auto queries = effect_queries(selector, action, parameters);
            std::string rewritten = "false";
            auto own = queries.released(table, column, "t0");
            if (!own.empty()) rewritten += " OR " + own;
            for (const auto& item : planning->items) {
                if (!item.snapshot.contains("effect")) continue;
                auto effect = LinkEffect::from_json(item.snapshot.at("effect"));
                if (effect.kind != LinkEffect::Kind::remove || effect.link().table != table) continue;
                rewritten += " OR (" + effect_rows(effect.path, "t0", ownership(), queries) + ")";
            }
            where += " AND NOT COALESCE((" + rewritten + "), false)";
        }
        return "SELECT t0.tableoid, t0.ctid, (t0." + quote(column) + ")::text FROM " + quote_table(table) +
               " AS t0 WHERE " + where;
    }

    // Mentions of the person in rows that are not theirs and stay: a reply quoting their address,
    // a follow of their actor, a queued job addressed to them. Each column with any is one item.
    void plan_redactions(const Selector& selector, const Action& action, Plan& plan) {
        auto patterns = text_patterns(selector.subjects);
        if (patterns.empty()) return;
        pii::IdentifierMatcher matcher(patterns);
        auto& db = session();
        Transaction snapshot(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        for (const auto& text : text_columns()) {
            Parameters parameters;
            auto query = redaction_rows(text.table, text.column, selector, action, &plan, patterns, parameters);
            if (!query) continue;
            std::uint64_t rows = 0;
            bool fits = true;
            for_each_row(*query, parameters, [&](const Result& result, int i) {
                if (!matcher.contains(result.text(i, 2))) return;
                ++rows;
                if (text.max_characters &&
                    characters(matcher.replace(result.text(i, 2), k_redacted)) > text.max_characters)
                    fits = false;
            });
            if (!rows) continue;
            auto item = redaction_item(text.table, text.column, rows, ownership(), m_source.name);
            item.snapshot["redact"]["type"] = text.type;
            if (!fits)
                item.blocked = text.table + "." + text.column + " is character varying(" +
                               std::to_string(text.max_characters) + "): a mention of the person replaced by \"" +
                               k_redacted + "\" would not fit. Widen the column, or delete those rows with the " +
                               "person's (a link with \"on_erase\": \"delete\")";
            plan.items.push_back(std::move(item));
        }
    }

    // Every item of a person's erasure in one transaction, at one snapshot: either all of it is
    // done or none. A table that loses rows the plan does not account for (a trigger, a key it
    // did not see) rolls it all back.
    void apply_in_one_transaction(const Plan& plan, ApplyProgress& progress, ApplyReport& report) {
        const std::string step = m_source.name + ": the erasure's transaction";
        if (!plan.blocked().empty())
            throw Error::findings("source \"" + m_source.name + "\": the plan is blocked: " + plan.blocked().front());
        if (!progress.is_done(step)) {
            Transaction transaction(session(), "BEGIN ISOLATION LEVEL REPEATABLE READ");
            auto watched = watched_tables(plan);
            apply_items_checked(
                m_source.name, plan, [&](const PlanItem& item) { return apply_person_item(plan, item); },
                [&] { return row_counts(watched); }, [&](const PlanItem& item) { return item_table(item); });
            transaction.commit();
            progress.mark_done(step);
        }
        report.records_changed = plan.records();
        for (const auto& item : plan.items) report.bytes_changed += item.bytes;
    }

    std::string item_table(const PlanItem& item) {
        return table_of(item, [&](const std::string& name) { return dataset_named(name).locator; });
    }

    // The tables a person's erasure changes, and every table a key leads to them from: the rows a
    // cascade could take are counted before and after.
    std::set<std::string> watched_tables(const Plan& plan) {
        std::set<std::string> watched;
        std::vector<std::string> pending;
        for (const auto& item : plan.items) pending.push_back(item_table(item));
        while (!pending.empty()) {
            auto table = pending.back();
            pending.pop_back();
            if (!watched.insert(table).second) continue;
            for (const auto* link : ownership().links_into(table)) pending.push_back(link->table);
        }
        return watched;
    }

    std::map<std::string, std::uint64_t> row_counts(const std::set<std::string>& tables) {
        std::map<std::string, std::uint64_t> counts;
        for (const auto& table : tables)
            counts[table] =
                static_cast<std::uint64_t>(session().query("SELECT count(*) FROM " + quote_table(table)).integer(0, 0));
        return counts;
    }

    // Carries out one item of a person's erasure; the rows it changed.
    std::uint64_t apply_person_item(const Plan& plan, const PlanItem& item) {
        const auto& snapshot = item.snapshot;
        if (snapshot.contains("effect")) {
            auto effect = LinkEffect::from_json(snapshot.at("effect"));
            auto head = effect_statement_head(effect, ownership().dialect());
            if (!head) return 0;
            auto [sql, parameters] = effect_statement(effect, plan.selector, plan.action, *head);
            return session().changed(sql, parameters.values);
        }
        if (snapshot.contains("redact")) return redact(plan, snapshot.at("redact"));
        const auto& dataset = dataset_named(item.dataset);
        auto change = record_change(dataset, plan.action, plan.selector);
        auto parts = query_parts(dataset);
        Parameters parameters;
        auto where = filter(dataset, parts, plan.selector, parameters);
        if (change.remove)
            return session().changed("DELETE FROM " + quote_table(dataset.locator) +
                                         " AS d WHERE (d.tableoid, d.ctid) IN (SELECT t0.tableoid, t0.ctid FROM " +
                                         parts.from + " WHERE " + where + ")",
                                     parameters.values);
        auto rows =
            session().query("SELECT " + changed_columns(dataset, change) + " FROM " + parts.from + " WHERE " + where,
                            parameters.values);
        std::vector<int> pending;
        std::uint64_t changed = 0;
        for (int i = 0; i < rows.rows(); ++i) {
            if (row_needs_change(rows, i, change, 2)) pending.push_back(i);
            if (pending.size() == 1000 || (i + 1 == rows.rows() && !pending.empty())) {
                update_rows(dataset, rows, pending, change);
                changed += pending.size();
                pending.clear();
            }
        }
        return changed;
    }

    // Replaces the person's identifiers in one column of other people's rows.
    std::uint64_t redact(const Plan& plan, const nlohmann::json& target) {
        auto table = target.at("table").get<std::string>(), column = target.at("column").get<std::string>();
        auto type = target.at("type").get<std::string>();
        auto patterns = text_patterns(plan.selector.subjects);
        pii::IdentifierMatcher matcher(patterns);
        Parameters parameters;
        auto query = redaction_rows(table, column, plan.selector, plan.action, nullptr, patterns, parameters);
        if (!query) return 0;
        auto rows = session().query(*query, parameters.values);
        std::uint64_t changed = 0;
        for (int i = 0; i < rows.rows(); ++i) {
            if (!matcher.contains(rows.text(i, 2))) continue;
            session().query("UPDATE " + quote_table(table) + " SET " + quote(column) + " = $3::" + type +
                                " WHERE tableoid = $1::oid AND ctid = $2::tid",
                            {std::string(rows.text(i, 0)), std::string(rows.text(i, 1)),
                             matcher.replace(rows.text(i, 2), k_redacted)});
            ++changed;
        }
        return changed;
    }

    // Streams the rows of a query through a server-side cursor, k_fetch_rows a round trip, to
    // on_row(rows, index): memory does not grow with the table. Run inside a transaction.
    void for_each_row(const std::string& select, const Parameters& parameters,
                      const std::function<void(const Result& rows, int row)>& on_row) {
        auto& db = session();
        db.query("DECLARE gdprctl_rows NO SCROLL CURSOR FOR " + select, parameters.values);
        while (true) {
            auto rows = db.query("FETCH " + std::to_string(k_fetch_rows) + " FROM gdprctl_rows");
            for (int i = 0; i < rows.rows(); ++i) on_row(rows, i);
            if (rows.rows() < k_fetch_rows) break;
        }
        db.execute("CLOSE gdprctl_rows");
    }

    Session& session() {
        if (!m_session) m_session = std::make_unique<Session>(m_source.name, m_connection, password());
        return *m_session;
    }

    std::optional<std::string> password() const {
        if (m_password_file.empty()) return std::nullopt;
        std::string text;
        try {
            text = util::read_file(m_password_file);
        } catch (const Error&) {
            throw Error::config(
                m_source.file + ": " + m_source.pointer + "/password_file: cannot read " + m_password_file.string(),
                "create the file (mode 0600) with the role's password on its first line");
        }
        return text.substr(0, text.find_first_of("\r\n"));
    }

    // A password written into the config would end up in repositories and backups.
    void refuse_password_in(config::JsonReader& reader, const std::string& connection) const {
        char* error = nullptr;
        PQconninfoOption* options = PQconninfoParse(connection.c_str(), &error);
        if (!options) {
            std::string why = error ? error : "cannot be parsed";
            PQfreemem(error);
            while (!why.empty() && why.back() == '\n') why.pop_back();
            reader.fail("connection", "not a libpq connection string or URI: " + why,
                        "e.g. \"host=127.0.0.1 port=5432 dbname=platform user=gdprctl\" or "
                        "\"postgresql://gdprctl@127.0.0.1/platform\"");
        }
        bool has_password = false;
        for (auto* option = options; option->keyword; ++option)
            if (std::string(option->keyword) == "password" && option->val && *option->val) has_password = true;
        PQconninfoFree(options);
        if (has_password)
            reader.fail("connection", "the connection string holds a password",
                        "remove it; give it in PGPASSWORD, a PGPASSFILE, or a file named by \"password_file\"");
    }

    // The WHERE clause of a selector over a dataset; its values are added to parameters.
    std::string filter(const config::Dataset& dataset, const QueryParts& parts, const Selector& selector,
                       Parameters& parameters) {
        std::string where = "true";
        if (selector.tenant) where += " AND " + parts.tenant + " = " + parameters.add(*selector.tenant);
        for (const auto& excluded : selector.exclude_tenants)
            where += " AND " + parts.tenant + " <> " + parameters.add(excluded);
        if (!selector.subjects.empty()) where += " AND " + subject_match(dataset, "t0", selector, parameters);
        if (selector.older_than) {
            // A record without a timestamp is never expired.
            where += dataset.timestamp ? " AND " + older_than_test(*dataset.timestamp,
                                                                   parameters.add(std::to_string(*selector.older_than)))
                                       : " AND false";
        }
        return where;
    }

    // Rows (of dataset, as alias) that are a selector's subjects' (SqlOwnership::owned): e-mail
    // addresses compared without case, addresses in inet columns by their host part.
    std::string subject_match(const config::Dataset& dataset, const std::string& alias, const Selector& selector,
                              Parameters& parameters) {
        return ownership().owned(dataset, alias, selector,
                                 [&](const config::Dataset& owner, const config::SubjectField& field,
                                     const Identifier& subject, const std::string& at) {
                                     auto value = as_text(owner, field.field, at);
                                     if (subject.kind == "email") value = "lower(" + value + ")";
                                     return value + " = " + parameters.add(subject.value);
                                 });
    }

    // Like Selector::may_match, but a table without identifier columns of its own is matched
    // through the link to its owner too.
    bool selects(const config::Dataset& dataset, const Selector& selector) {
        if (selector.may_match(dataset)) return true;
        if (selector.subjects.empty() || dataset.category.empty()) return false;
        const auto& wanted = selector.datasets;
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), dataset.name) == wanted.end()) return false;
        if (!selector.wants_category(dataset.category)) return false;
        return ownership().can_own(dataset, selector);
    }

    // name(oid, fallback): a table as the data map names it, or fallback for one it does not map.
    std::function<std::string(std::string_view oid, std::string_view fallback)> table_namer() {
        std::map<std::string, std::string, std::less<>> mapped;
        for (const auto* table : mapped_tables()) mapped[oid_of(table->locator)] = table->locator;
        return [mapped](std::string_view oid, std::string_view fallback) {
            auto found = mapped.find(oid);
            return found != mapped.end() ? found->second : std::string(fallback);
        };
    }

    // Every single-column foreign key between tables gdprctl may read, tables outside the data
    // map included, with what it does ON DELETE, and the data map's links laid over them. A table
    // is named as the data map names it, else as the search path finds it.
    std::vector<TableLink> database_links() {
        auto rows = session().query(
            "SELECT c.conrelid::text, c.confrelid::text, a.attname, f.attname, c.confdeltype::text, "
            "CASE WHEN pg_table_is_visible(c.conrelid) THEN r.relname ELSE rn.nspname || '.' || r.relname END, "
            "CASE WHEN pg_table_is_visible(c.confrelid) THEN p.relname ELSE pn.nspname || '.' || p.relname END "
            "FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace rn ON rn.oid = "
            "r.relnamespace JOIN pg_class p ON p.oid = c.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = c.confkey[1] "
            "WHERE c.contype = 'f' AND cardinality(c.conkey) = 1 AND rn.nspname NOT IN ('pg_catalog', "
            "'information_schema') ORDER BY 6, 3");
        auto name = table_namer();
        std::vector<TableLink> keys;
        for (int i = 0; i < rows.rows(); ++i) {
            TableLink key;
            key.table = name(rows.text(i, 0), rows.text(i, 5));
            key.parent = name(rows.text(i, 1), rows.text(i, 6));
            key.column = rows.text(i, 2);
            key.parent_column = rows.text(i, 3);
            auto action = rows.text(i, 4);
            key.on_delete = action == "c"   ? OnDelete::cascade
                            : action == "n" ? OnDelete::set_null
                            : action == "d" ? OnDelete::set_null
                                            : OnDelete::restrict;
            keys.push_back(std::move(key));
        }
        return merge_links(std::move(keys), m_declared_links);
    }

    const SqlOwnership& ownership() {
        if (!m_ownership_ready) {
            m_ownership =
                SqlOwnership(&m_datasets, database_links(),
                             SqlDialect{[](const std::string& table) { return quote_table(table); }, "false"});
            m_ownership_ready = true;
        }
        return m_ownership;
    }

    std::vector<std::string> parent_tables(const std::string& locator) {
        std::vector<std::string> parents;
        for (const auto& link : ownership().links())
            if (link.table == locator) parents.push_back(link.parent);
        return parents;
    }

    std::vector<const config::Dataset*> mapped_tables() const {
        std::vector<const config::Dataset*> tables;
        for (const auto& dataset : m_datasets) tables.push_back(&dataset);
        for (const auto& table : m_tenant_tables) tables.push_back(&table);
        return tables;
    }

    // True for a partitioned table, or one other tables inherit from.
    bool has_children(const std::string& locator) {
        auto rows = session().query("SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = to_regclass($1))",
                                    {regclass_text(locator)});
        return rows.text(0, 0) == "t";
    }

    static std::string regclass_text(const std::string& locator) {
        auto [schema, name] = schema_and_name(locator);
        return schema.empty() ? quote(name) : quote(schema) + "." + quote(name);
    }

    const std::string& oid_of(const std::string& locator) {
        auto known = m_oids.find(locator);
        if (known != m_oids.end()) return known->second;
        auto rows = session().query("SELECT to_regclass($1)::oid::text", {regclass_text(locator)});
        return m_oids[locator] = rows.null(0, 0) ? "" : std::string(rows.text(0, 0));
    }

    std::uint64_t count_where(const QueryParts& parts, const std::string& where, const Parameters& parameters) {
        auto rows = session().query("SELECT count(*) FROM " + parts.from + " WHERE " + where, parameters.values);
        return static_cast<std::uint64_t>(rows.integer(0, 0));
    }

    const config::Dataset& dataset_named(const std::string& name) const {
        for (const auto* dataset : mapped_tables())
            if (dataset->name == name) return *dataset;
        throw Error::findings("source \"" + m_source.name + "\" has no dataset \"" + name + "\"",
                              "the data map changed since the plan was made: make a new plan");
    }

    // Column name -> type (as SQL spells it: "inet", "character varying") of a table; empty
    // when there is no such table.
    const std::map<std::string, std::string>& column_types(const std::string& locator) {
        auto found = m_column_types.find(locator);
        if (found != m_column_types.end()) return found->second;
        auto rows = session().query(
            "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
            "WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
            {regclass_text(locator)});
        auto& types = m_column_types[locator];
        for (int i = 0; i < rows.rows(); ++i) types.emplace(rows.text(i, 0), rows.text(i, 1));
        return types;
    }

    // The columns a rescan reads as text: the identifier and personal columns.
    static std::vector<std::string> text_columns_of(const config::Dataset& dataset) {
        std::vector<std::string> columns;
        for (const auto& subject : dataset.subjects)
            if (std::find(columns.begin(), columns.end(), subject.field) == columns.end())
                columns.push_back(subject.field);
        for (const auto& column : dataset.personal)
            if (std::find(columns.begin(), columns.end(), column) == columns.end()) columns.push_back(column);
        return columns;
    }

    void require_column(const std::string& table, const std::string& column, const std::string& pointer) {
        const auto& types = column_types(table);
        if (types.count(column)) return;
        std::vector<std::string> names;
        for (const auto& [name, type] : types) names.push_back(name);
        auto near = config::closest_match(column, names);
        throw Error::config(
            m_source.file + ": " + pointer + ": column \"" + column + "\" not found in table \"" + table + "\"",
            near ? "did you mean \"" + *near + "\"?" : "check the data map against the database");
    }

    void validate_dataset(const config::Dataset& dataset) {
        if (column_types(dataset.locator).empty())
            throw Error::config(m_source.file + ": " + dataset.pointer + "/table: table \"" + dataset.locator +
                                    "\" not found in the database of source \"" + m_source.name + "\"",
                                "check \"table\" (schema.table for a table outside the search path)");
        check_dataset_columns(dataset, [&](const std::string& table, const std::string& column,
                                           const std::string& pointer) { require_column(table, column, pointer); });
    }

    // PostgreSQL's own files are its server's, so where the SQLite connector reads the bytes on
    // disk, this one reads every text column of every table it may read that the data map does
    // not declare: a copy of an address in a support-notes table, a JSON blob, a column added
    // after the map was written.
    void scan_undeclared_text(const pii::IdentifierMatcher& identifiers, VerifyReport& report) {
        std::set<std::pair<std::string, std::string>> declared;  // (table oid, column)
        for (const auto* dataset : mapped_tables())
            for (const auto& column : text_columns_of(*dataset)) declared.emplace(oid_of(dataset->locator), column);
        auto columns = session().query(
            "SELECT c.oid::text, format('%I.%I', n.nspname, c.relname), a.attname, "
            "format_type(a.atttypid, NULL) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' "
            "AND has_table_privilege(c.oid, 'SELECT') AND format_type(a.atttypid, NULL) IN "
            "('text', 'character varying', 'character', 'json', 'jsonb', 'inet', 'cidr', 'xml', 'text[]', "
            "'character varying[]', 'bytea') ORDER BY 2, a.attnum");
        struct Columns {
            std::vector<std::string> names, texts;  // a column's name and the expression reading it as text
        };
        std::map<std::string, Columns> tables;
        for (int i = 0; i < columns.rows(); ++i) {
            std::string column(columns.text(i, 2));
            if (declared.count({std::string(columns.text(i, 0)), column})) continue;
            // Bytes as they are where printable (an e-mail inside a file kept in a column).
            auto type = columns.text(i, 3);
            auto& table = tables[std::string(columns.text(i, 1))];
            table.names.push_back(column);
            table.texts.push_back(type == "inet" || type == "cidr" ? "host(" + quote(column) + ")"
                                  : type == "bytea"                ? "encode(" + quote(column) + ", 'escape')"
                                                                   : "(" + quote(column) + ")::text");
        }
        for (const auto& [table, read] : tables) {
            std::string select;
            for (const auto& text : read.texts) select += ", " + text;
            RowResidue found(read.names);
            for_each_row("SELECT ctid::text" + select + " FROM " + table, {}, [&](const Result& rows, int i) {
                for (int c = 1; c < rows.columns(); ++c) {
                    if (rows.null(i, c)) continue;
                    auto text = rows.text(i, c);
                    report.bytes_scanned += text.size();
                    found.add(static_cast<std::size_t>(c - 1), rows.text(i, 0), identifiers.count(text));
                }
            });
            found.report(m_source.name + ":" + table, "text the data map does not declare", report);
        }
    }

    // Text columns the data map does not declare, in the mapped tables, sampled for personal
    // data (an e-mail address in a notes column).
    std::vector<UndeclaredFinding> find_undeclared(std::size_t sample_size) {
        std::vector<UndeclaredFinding> findings;
        for (const auto& [table, known] : declared_columns(m_datasets)) {
            for (const auto& [column, type] : column_types(table)) {
                if (known.count(column) || (type != "text" && type != "character varying" && type != "character" &&
                                            type != "json" && type != "jsonb"))
                    continue;
                auto rows = session().query("SELECT (" + quote(column) + ")::text FROM " + quote_table(table) +
                                                " WHERE " + quote(column) + " IS NOT NULL LIMIT $1",
                                            {std::to_string(sample_size)});
                ColumnSample sample(table + "." + column);
                for (int i = 0; i < rows.rows(); ++i) sample.add(rows.text(i, 0));
                if (auto finding = sample.finding(); finding.hits) findings.push_back(std::move(finding));
            }
        }
        return findings;
    }

    config::Source m_source;
    std::string m_connection;
    std::filesystem::path m_password_file;
    std::optional<std::int64_t> m_sample_override;
    std::int64_t m_batch_rows = k_default_batch_rows;
    std::vector<config::Dataset> m_datasets;
    // Rows that belong to a tenant and hold no personal data (the tenant's own record, its
    // settings): removed when the whole tenant is erased, never otherwise.
    std::vector<config::Dataset> m_tenant_tables;
    std::vector<TableLink> m_declared_links;
    SqlOwnership m_ownership;
    bool m_ownership_ready = false;
    std::map<std::string, std::string> m_oids;
    std::map<std::string, std::map<std::string, std::string>> m_column_types;
    std::unique_ptr<Session> m_session;
};

}  // namespace

std::unique_ptr<Connector> open(const config::Source& source, const config::Workspace& workspace) {
    return std::make_unique<PostgresConnector>(source, workspace);
}

}  // namespace gdprctl::connectors::postgres
