#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/connector.hpp"
#include "connectors/sql_links.hpp"
#include "core/pii/detect.hpp"

// What the SQL connectors (sqlite, postgres) share of the data map: reading it, checking its
// columns against a database, and finding personal data in the columns it does not declare.
namespace gdprctl::connectors {

// An SQL identifier in double quotes, inner quotes doubled: "a""b".
std::string quote_identifier(const std::string& identifier);

struct SqlDataMap {
    std::vector<config::Dataset> datasets;  // "tables": tenant and timestamp by "column"
    // "tenant_tables": rows that belong to a tenant and hold no personal data (the tenant's own
    // record, its settings), removed only with the whole tenant; their "names" columns name it.
    std::vector<config::Dataset> tenant_tables;
    std::vector<TableLink> links;  // "links": what references what, where the database does not say
};
SqlDataMap read_sql_data_map(config::JsonReader& reader, const config::Source& source,
                             const config::Workspace& workspace);

// Checks every column a dataset names: require(table, column, pointer) throws when the table or
// column is missing. Identifier columns come first: they are personal too, and their own key
// is the one to name.
using RequireColumn =
    std::function<void(const std::string& table, const std::string& column, const std::string& pointer)>;
void check_dataset_columns(const config::Dataset& dataset, const RequireColumn& require);

// Checks the columns every declared link names, as check_dataset_columns does.
void check_link_columns(const std::vector<TableLink>& links, const RequireColumn& require);

// Throws Error::config at the timestamp's "format" when sampled values of its column do not
// read in that format: dates written as text, read as Unix seconds, would all be 1970's and a
// retention plan would delete every row.
void check_timestamp_samples(const config::Dataset& dataset, const config::Source& source,
                             const std::vector<std::string>& samples);

// What a rescan finds in the rows of one table, column by column, with the first rows it is in
// (by their address: a rowid, a ctid), so that a residue names its place and never its value.
class RowResidue {
public:
    explicit RowResidue(std::vector<std::string> columns) : m_columns(std::move(columns)), m_found(m_columns.size()) {}
    // matches of identifiers in column (an index into the columns given) of row.
    void add(std::size_t column, std::string_view row, std::uint64_t matches);
    // One residue per column with any: "<table>.<column> (<what>, rows 3 17)".
    void report(const std::string& table, const std::string& what, VerifyReport& report) const;

private:
    struct Found {
        std::uint64_t matches = 0;
        std::uint64_t rows = 0;
        std::string first_rows;
    };
    std::vector<std::string> m_columns;
    std::vector<Found> m_found;
};

// The columns the data map accounts for, per table: the rest are sampled for personal data.
std::map<std::string, std::set<std::string>> declared_columns(const std::vector<config::Dataset>& datasets);

// Sampled values of one undeclared column, tallied by the personal-data detectors.
class ColumnSample {
public:
    explicit ColumnSample(std::string location) : m_finding{std::move(location), "", 0, 0} {}
    void add(std::string_view value);
    // With the detector that matched most; hits is 0 when none matched.
    UndeclaredFinding finding() const;

private:
    UndeclaredFinding m_finding;
    std::map<pii::Detector, std::uint64_t> m_by_detector;
};

}  // namespace gdprctl::connectors
