#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "connectors/connector.hpp"

// Who owns which rows of a SQL database, and what an erasure's deletions do to the rows that
// point at them: shared by the sqlite and postgres connectors, so that scan --subject, export
// and erase give the same rows for the same person on either.
namespace gdprctl::connectors {

// True for the erasure of people (not of a whole tenant, not retention): the erasures whose
// deletions may reach other people's rows, and which each SQL source does in one transaction.
inline bool erases_people(const Selector& selector, const Action& action) {
    return action.kind == Action::Kind::erase && !selector.subjects.empty() && !selector.is_whole_tenant();
}

// The text a mention of an erased person is replaced with in other people's rows.
inline constexpr const char* k_redacted = "[erased]";

// What the database does to the rows pointing at a row it deletes (its key's ON DELETE).
enum class OnDelete { none, cascade, set_null, restrict };  // none: a link without a key
// What the data map says an erasure does to other people's rows that point at the person's.
enum class OnErase { unset, remove, detach };

// One column of a table that holds values of another table's column: a foreign key the
// database declares, or a link the data map declares (for a schema without keys, or to say
// what to do with the rows that point), or both.
struct TableLink {
    std::string table, column;          // the rows that point
    std::string parent, parent_column;  // at these
    OnDelete on_delete = OnDelete::none;
    OnErase on_erase = OnErase::unset;
    std::string pointer;  // of the data map's link, when it declares one
    std::string from_text() const { return table + "." + column; }
    std::string text() const { return from_text() + " -> " + parent + "." + parent_column; }
};

// The data map's "links": [{"from": "table.column", "to": "table.column", "on_erase": ...}].
std::vector<TableLink> read_declared_links(config::JsonReader& reader);
// The database's keys with the declared links laid over them: a link on the same columns as a
// key adds its on_erase to the key.
std::vector<TableLink> merge_links(std::vector<TableLink> keys, const std::vector<TableLink>& declared);
// "ON DELETE CASCADE" and so on, or "no foreign key".
std::string on_delete_text(OnDelete action);

// How SQL is spelled for one kind of database.
struct SqlDialect {
    std::function<std::string(const std::string& table)> table;  // a quoted table reference
    std::string false_sql;                                       // "0", "false"
};

// SQL true when row `alias` of dataset holds one of the selector's identifiers of `field`;
// the connector binds the value in the order the calls come.
using SubjectTest = std::function<std::string(const config::Dataset& dataset, const config::SubjectField& field,
                                              const Identifier& subject, const std::string& alias)>;

class SqlOwnership {
public:
    SqlOwnership() = default;
    SqlOwnership(const std::vector<config::Dataset>* datasets, std::vector<TableLink> links, SqlDialect dialect);

    // Throws Error::config for an owner column with no link to a mapped table, or a dataset
    // without identifiers whose rows point at several mapped tables and names no owner.
    void check(const config::Source& source) const;

    // The links through which a dataset's rows are a person's: its owner column's; for a
    // dataset with neither identifier columns nor an owner, its one link to a mapped table
    // (chat messages are their registration's). None for a dataset with identifier columns.
    std::vector<const TableLink*> owner_links(const config::Dataset& dataset) const;
    std::vector<const TableLink*> links_into(const std::string& table) const;
    const config::Dataset* dataset_of(const std::string& table) const;

    // SQL true for the rows of dataset (as alias) that are a selector's subjects': one of its
    // identifier columns holds theirs, or its owner link points at a row that is theirs.
    // false_sql when no row can be. Rows that only point at theirs (a reply to their comment, a
    // moderator's message on their report) are not.
    std::string owned(const config::Dataset& dataset, const std::string& alias, const Selector& selector,
                      const SubjectTest& test) const;
    bool can_own(const config::Dataset& dataset, const Selector& selector) const;

    const std::vector<TableLink>& links() const { return m_links; }
    const SqlDialect& dialect() const { return m_dialect; }

private:
    std::string owned(const config::Dataset& dataset, const std::string& alias, const Selector& selector,
                      const SubjectTest& test, std::vector<std::string>& path) const;

    const std::vector<config::Dataset>* m_datasets = nullptr;
    std::vector<TableLink> m_links;
    SqlDialect m_dialect;
};

// Other people's rows that an erasure's deletions reach, found link by link: rows that point at
// a deleted row of the person's, and, where those go too, the rows that point at them.
struct LinkEffect {
    std::vector<TableLink> path;  // from the deleted dataset's table down to these rows
    enum class Kind { remove, detach, keep, blocked } kind = Kind::keep;
    std::string why;  // blocked: what stops the erasure, and the fix
    std::uint64_t rows = 0;
    const TableLink& link() const { return path.back(); }
    // The plan item's text: "delete (they point at video.id through videoComment.videoId)".
    std::string what() const;
    nlohmann::json to_json() const;
    static LinkEffect from_json(const nlohmann::json& json);
};

// What the connector tells the effect planner about its plan and its database.
struct EffectQueries {
    // SQL selecting column of the rows of the dataset (of table) the plan deletes; binds.
    std::function<std::string(const std::string& table, const std::string& column)> deleted_values;
    // SQL true for rows (as alias) of table that the plan itself deletes, or rewrites so that
    // column no longer points anywhere; empty when it does neither. Binds.
    std::function<std::string(const std::string& table, const std::string& column, const std::string& alias)> released;
    std::function<bool(const std::string& table, const std::string& column)> not_null;
};

// Why a dataset's rows cannot be anonymised as change says: the columns it empties that are
// NOT NULL, and the fix; empty when there are none.
std::string not_null_conflict(const config::Dataset& dataset, const RecordChange& change,
                              const std::function<bool(const std::string& table, const std::string& column)>& not_null);

// SQL true for the rows (as alias) an effect's path reaches; binds through the queries.
std::string effect_rows(const std::vector<TableLink>& path, const std::string& alias, const SqlOwnership& ownership,
                        const EffectQueries& queries);

// Walks the links into table from the rows of it the plan deletes; count(path) counts the rows an
// effect reaches (through effect_rows). Effects with no rows are left out; rows that go with a
// deleted row are followed further, up to a depth where the walk gives up (blocked).
std::vector<LinkEffect> plan_link_effects(const std::string& table, const SqlOwnership& ownership,
                                          const EffectQueries& queries,
                                          const std::function<std::uint64_t(const std::vector<TableLink>&)>& count);

// True for a retention rule that deletes: its deletions may reach rows no rule expires.
inline bool purges(const Selector& selector, const Action& action) {
    return action.kind == Action::Kind::remove && selector.older_than.has_value();
}

// What a purge's deletion of expired rows of table does, through the database's own keys, to
// rows that point at them and that the purge does not delete: why it must not run (a key would
// delete them unreported, or refuse part way through the batches), and notes (a key that sets
// them NULL). Data map links without a key change nothing and are left out.
struct PurgeEffects {
    std::string blocked;
    std::vector<std::string> notes;
};
PurgeEffects plan_purge_effects(const std::string& table, const SqlOwnership& ownership,
                                const std::function<std::uint64_t(const std::vector<TableLink>&)>& count);

// True when the change an action makes to a dataset's selected rows leaves column pointing
// nowhere: the rows go, or the column is emptied.
bool releases(const config::Dataset& dataset, const Action& action, const Selector& selector,
              const std::string& column);

// What carrying out an effect starts with, its rows (as e) still to follow in a WHERE clause:
// "DELETE FROM t AS e", "UPDATE t AS e SET c = NULL"; nullopt for rows that are kept as they are.
std::optional<std::string> effect_statement_head(const LinkEffect& effect, const SqlDialect& dialect);

// The plan item of an effect reached from the person's rows of dataset `of`.
PlanItem effect_item(const LinkEffect& effect, const std::string& of, const SqlOwnership& ownership,
                     const std::string& source);
// The plan item that redacts the person from rows rows of table.column.
PlanItem redaction_item(const std::string& table, const std::string& column, std::uint64_t rows,
                        const SqlOwnership& ownership, const std::string& source);
// The table an item of a person's erasure changes; locator names a dataset's table.
std::string table_of(const PlanItem& item, const std::function<std::string(const std::string& dataset)>& locator);

// Carries out the items of a person's erasure inside a transaction the caller opened (and
// commits on return): apply(item) returns the rows it changed, counts() the rows of each table
// to watch. Throws Error::findings, for the caller's transaction to roll back, when an item
// changes more than planned or a table loses rows no item deleted.
void apply_items_checked(const std::string& source, const Plan& plan,
                         const std::function<std::uint64_t(const PlanItem&)>& apply,
                         const std::function<std::map<std::string, std::uint64_t>()>& counts,
                         const std::function<std::string(const PlanItem&)>& table);

}  // namespace gdprctl::connectors
