#include "connectors/sql_links.hpp"

#include <algorithm>

#include "connectors/sql_data_map.hpp"
#include "core/error.hpp"

namespace gdprctl::connectors {

namespace {

constexpr std::size_t k_deepest_effect = 6;

std::pair<std::string, std::string> table_and_column(config::JsonReader& reader, const std::string& key) {
    auto text = reader.required_string(key);
    auto dot = text.rfind('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == text.size())
        reader.fail(key, "\"" + text + "\" is not TABLE.COLUMN", "e.g. \"videoComment.accountId\"");
    return {text.substr(0, dot), text.substr(dot + 1)};
}

OnErase on_erase_from(config::JsonReader& reader) {
    auto text = reader.optional_string("on_erase");
    if (!text) return OnErase::unset;
    if (*text == "delete") return OnErase::remove;
    if (*text == "detach") return OnErase::detach;
    reader.fail("on_erase", "unknown on_erase \"" + *text + "\"",
                "use \"delete\" (other people's rows that point at the person's go too) or \"detach\" (they stay, "
                "their reference emptied)");
}

const char* kind_text(LinkEffect::Kind kind) {
    switch (kind) {
        case LinkEffect::Kind::remove:
            return "delete";
        case LinkEffect::Kind::detach:
            return "detach";
        case LinkEffect::Kind::keep:
            return "keep";
        default:
            return "blocked";
    }
}

std::string blocked_why(const TableLink& link, std::uint64_t rows, const std::string& what) {
    auto count = std::to_string(rows) + " row" + (rows == 1 ? "" : "s");
    return link.table + ": " + count + " of other people point at the person's rows of " + link.parent + " (" +
           link.text() + ", " + on_delete_text(link.on_delete) + "): " + what +
           ". Say what becomes of them in the data map's \"links\": {\"from\": \"" + link.from_text() +
           "\", \"to\": \"" + link.parent + "." + link.parent_column +
           "\", \"on_erase\": \"delete\"} (they go too, counted) or \"detach\" (they stay, the reference emptied), "
           "or keep the person's rows with \"erase\": \"anonymise\"";
}

}  // namespace

std::vector<TableLink> read_declared_links(config::JsonReader& reader) {
    std::vector<TableLink> links;
    for (auto& entry : reader.object_list("links", false)) {
        TableLink link;
        link.pointer = entry.pointer();
        std::tie(link.table, link.column) = table_and_column(entry, "from");
        std::tie(link.parent, link.parent_column) = table_and_column(entry, "to");
        link.on_erase = on_erase_from(entry);
        entry.finish();
        links.push_back(std::move(link));
    }
    return links;
}

std::vector<TableLink> merge_links(std::vector<TableLink> keys, const std::vector<TableLink>& declared) {
    for (const auto& link : declared) {
        auto same = std::find_if(keys.begin(), keys.end(), [&](const TableLink& key) {
            return key.table == link.table && key.column == link.column && key.parent == link.parent;
        });
        if (same == keys.end()) {
            keys.push_back(link);
            continue;
        }
        same->on_erase = link.on_erase;
        same->pointer = link.pointer;
    }
    return keys;
}

std::string on_delete_text(OnDelete action) {
    switch (action) {
        case OnDelete::cascade:
            return "ON DELETE CASCADE";
        case OnDelete::set_null:
            return "ON DELETE SET NULL";
        case OnDelete::restrict:
            return "ON DELETE NO ACTION";
        default:
            return "no foreign key";
    }
}

SqlOwnership::SqlOwnership(const std::vector<config::Dataset>* datasets, std::vector<TableLink> links,
                           SqlDialect dialect)
    : m_datasets(datasets), m_links(std::move(links)), m_dialect(std::move(dialect)) {}

const config::Dataset* SqlOwnership::dataset_of(const std::string& table) const {
    for (const auto& dataset : *m_datasets)
        if (dataset.locator == table) return &dataset;
    return nullptr;
}

std::vector<const TableLink*> SqlOwnership::links_into(const std::string& table) const {
    std::vector<const TableLink*> into;
    for (const auto& link : m_links)
        if (link.parent == table) into.push_back(&link);
    return into;
}

std::vector<const TableLink*> SqlOwnership::owner_links(const config::Dataset& dataset) const {
    std::vector<const TableLink*> owners;
    if (!dataset.owner.empty() || dataset.subjects.empty())
        for (const auto& link : m_links)
            if (link.table == dataset.locator && dataset_of(link.parent) &&
                (dataset.owner.empty() || link.column == dataset.owner))
                owners.push_back(&link);
    return owners;
}

void SqlOwnership::check(const config::Source& source) const {
    for (const auto& dataset : *m_datasets) {
        auto owners = owner_links(dataset);
        if (!dataset.owner.empty() && owners.empty())
            throw Error::config(source.file + ": " + dataset.pointer + "/owner: " + dataset.locator + "." +
                                    dataset.owner + " has no foreign key or link to a table of the data map",
                                "declare it in the source's \"links\": {\"from\": \"" + dataset.locator + "." +
                                    dataset.owner + "\", \"to\": \"TABLE.COLUMN\"}");
        if (dataset.owner.empty() && dataset.subjects.empty() && owners.size() > 1) {
            std::string list;
            for (const auto* link : owners) list += (list.empty() ? "" : ", ") + link->text();
            throw Error::config(
                source.file + ": " + dataset.pointer + ": the rows of " + dataset.locator +
                    " point at several tables of the data map (" + list +
                    "), and it has no identifier column to say whose they are",
                "name the column that leads to their owner: \"owner\": \"" + owners.front()->column + "\"");
        }
    }
}

std::string SqlOwnership::owned(const config::Dataset& dataset, const std::string& alias, const Selector& selector,
                                const SubjectTest& test) const {
    std::vector<std::string> path;
    return owned(dataset, alias, selector, test, path);
}

std::string SqlOwnership::owned(const config::Dataset& dataset, const std::string& alias, const Selector& selector,
                                const SubjectTest& test, std::vector<std::string>& path) const {
    std::string any;
    for (const auto& subject : selector.subjects)
        for (const auto& field : dataset.subjects)
            if (field.kind == subject.kind) any += (any.empty() ? "" : " OR ") + test(dataset, field, subject, alias);
    path.push_back(dataset.locator);
    for (const auto* link : owner_links(dataset)) {
        const auto* parent = dataset_of(link->parent);
        if (std::find(path.begin(), path.end(), parent->locator) != path.end()) continue;
        std::string parent_alias = "o" + std::to_string(path.size());
        auto prefix = alias + "." + quote_identifier(link->column) + " IN (SELECT " + parent_alias + "." +
                      quote_identifier(link->parent_column) + " FROM " + m_dialect.table(parent->locator) + " AS " +
                      parent_alias + " WHERE ";
        auto parent_owned = owned(*parent, parent_alias, selector, test, path);
        if (parent_owned == m_dialect.false_sql) continue;
        any += (any.empty() ? "" : " OR ") + prefix + parent_owned + ")";
    }
    path.pop_back();
    return any.empty() ? m_dialect.false_sql : "(" + any + ")";
}

bool SqlOwnership::can_own(const config::Dataset& dataset, const Selector& selector) const {
    return owned(dataset, "t0", selector,
                 [](const config::Dataset&, const config::SubjectField&, const Identifier&, const std::string&) {
                     return std::string("1");
                 }) != m_dialect.false_sql;
}

std::string LinkEffect::what() const {
    const auto& last = link();
    std::string through =
        " (they point at " + last.parent + "." + last.parent_column + " through " + last.from_text() + ")";
    switch (kind) {
        case Kind::remove:
            return "delete" + through;
        case Kind::detach:
            return "detach " + last.column + through;
        case Kind::keep:
            return "keep" + through;
        default:
            return "blocked" + through;
    }
}

nlohmann::json LinkEffect::to_json() const {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& step : path)
        steps.push_back({{"table", step.table},
                         {"column", step.column},
                         {"parent", step.parent},
                         {"parent_column", step.parent_column}});
    return {{"path", steps}, {"kind", kind_text(kind)}, {"rows", rows}};
}

LinkEffect LinkEffect::from_json(const nlohmann::json& json) {
    LinkEffect effect;
    for (const auto& step : json.at("path")) {
        TableLink link;
        link.table = step.at("table");
        link.column = step.at("column");
        link.parent = step.at("parent");
        link.parent_column = step.at("parent_column");
        effect.path.push_back(std::move(link));
    }
    auto kind = json.at("kind").get<std::string>();
    effect.kind = kind == "delete"   ? Kind::remove
                  : kind == "detach" ? Kind::detach
                  : kind == "keep"   ? Kind::keep
                                     : Kind::blocked;
    effect.rows = json.at("rows");
    return effect;
}

std::string not_null_conflict(
    const config::Dataset& dataset, const RecordChange& change,
    const std::function<bool(const std::string& table, const std::string& column)>& not_null) {
    std::string columns;
    for (const auto& column : change.columns)
        if (!column.anonymised && not_null(dataset.locator, column.name))
            columns += (columns.empty() ? "" : ", ") + dataset.locator + "." + column.name;
    if (columns.empty()) return "";
    return columns + (columns.find(',') == std::string::npos ? " is" : " are") +
           " NOT NULL: anonymising the person's rows would empty them. Erase the rows instead (\"erase\": "
           "\"delete\"), or drop from \"personal\" a column that holds nothing of the person";
}

std::string effect_rows(const std::vector<TableLink>& path, const std::string& alias, const SqlOwnership& ownership,
                        const EffectQueries& queries) {
    const auto& link = path.back();
    std::string sql = alias + "." + quote_identifier(link.column) + " IN (";
    if (path.size() == 1) {
        sql += queries.deleted_values(link.parent, link.parent_column);
    } else {
        std::string parent_alias = "e" + std::to_string(path.size() - 1);
        sql += "SELECT " + parent_alias + "." + quote_identifier(link.parent_column) + " FROM " +
               ownership.dialect().table(link.parent) + " AS " + parent_alias + " WHERE " +
               effect_rows({path.begin(), path.end() - 1}, parent_alias, ownership, queries);
    }
    sql += ")";
    auto released = queries.released(link.table, link.column, alias);
    if (!released.empty()) sql += " AND NOT COALESCE((" + released + "), " + ownership.dialect().false_sql + ")";
    return sql;
}

namespace {

void walk_effects(const std::vector<TableLink>& above, const std::string& table, const SqlOwnership& ownership,
                  const EffectQueries& queries,
                  const std::function<std::uint64_t(const std::vector<TableLink>&)>& count,
                  std::vector<LinkEffect>& effects) {
    for (const auto* link : ownership.links_into(table)) {
        LinkEffect effect;
        effect.path = above;
        effect.path.push_back(*link);
        effect.rows = count(effect.path);
        if (!effect.rows) continue;
        if (link->on_erase == OnErase::remove ||
            (link->on_erase == OnErase::unset && link->on_delete == OnDelete::none)) {
            effect.kind = link->on_erase == OnErase::remove ? LinkEffect::Kind::remove : LinkEffect::Kind::keep;
            if (effect.kind == LinkEffect::Kind::remove && effect.path.size() >= k_deepest_effect) {
                effect.kind = LinkEffect::Kind::blocked;
                effect.why = link->table + ": rows of other people that go with the person's, through " +
                             std::to_string(effect.path.size()) +
                             " links or more; gdprctl follows at most that many. Detach them at some level "
                             "(\"on_erase\": \"detach\")";
            } else if (effect.kind == LinkEffect::Kind::remove) {
                walk_effects(effect.path, link->table, ownership, queries, count, effects);
            }
        } else if (link->on_erase == OnErase::detach || link->on_delete == OnDelete::set_null) {
            effect.kind = LinkEffect::Kind::detach;
            if (queries.not_null(link->table, link->column)) {
                effect.kind = LinkEffect::Kind::blocked;
                effect.why = blocked_why(*link, effect.rows,
                                         link->from_text() + " is NOT NULL, so it cannot be detached; use \"delete\"");
            }
        } else {
            effect.kind = LinkEffect::Kind::blocked;
            effect.why = blocked_why(*link, effect.rows,
                                     link->on_delete == OnDelete::cascade
                                         ? "the database would delete them with the person's rows, unreported"
                                         : "the database refuses to delete the person's rows while they do");
        }
        // Deepest first: a row's dependants are dealt with while it still exists.
        effects.push_back(std::move(effect));
    }
}

}  // namespace

std::vector<LinkEffect> plan_link_effects(const std::string& table, const SqlOwnership& ownership,
                                          const EffectQueries& queries,
                                          const std::function<std::uint64_t(const std::vector<TableLink>&)>& count) {
    std::vector<LinkEffect> effects;
    walk_effects({}, table, ownership, queries, count, effects);
    // walk_effects appends a row's dependants after it when following removals; apply wants
    // them before, so that each still finds the rows it points at.
    std::stable_sort(effects.begin(), effects.end(),
                     [](const LinkEffect& a, const LinkEffect& b) { return a.path.size() > b.path.size(); });
    return effects;
}

PurgeEffects plan_purge_effects(const std::string& table, const SqlOwnership& ownership,
                                const std::function<std::uint64_t(const std::vector<TableLink>&)>& count) {
    PurgeEffects effects;
    for (const auto* link : ownership.links_into(table)) {
        if (link->on_delete == OnDelete::none) continue;
        auto rows = count({*link});
        if (!rows) continue;
        auto what = std::to_string(rows) + " row" + (rows == 1 ? "" : "s") + " of " + link->table +
                    " that this purge does not delete point at rows it deletes (" + link->text() + ", " +
                    on_delete_text(link->on_delete) + ")";
        if (link->on_delete == OnDelete::set_null) {
            effects.notes.push_back(what + ": the database sets " + link->from_text() + " to NULL in them");
            continue;
        }
        effects.blocked += (effects.blocked.empty() ? "" : "; ") + what +
                           (link->on_delete == OnDelete::cascade
                                ? ": the database would delete them too, unreported"
                                : ": the database refuses the deletion, and the purge would stop part way");
    }
    if (!effects.blocked.empty())
        effects.blocked +=
            ". Expire them with the same rule (add their category or dataset to it), or have the "
            "schema detach them (ON DELETE SET NULL)";
    return effects;
}

bool releases(const config::Dataset& dataset, const Action& action, const Selector& selector,
              const std::string& column) {
    auto change = record_change(dataset, action, selector);
    return change.remove || std::any_of(change.columns.begin(), change.columns.end(),
                                        [&](const RecordChange::Column& c) { return c.name == column; });
}

namespace {

std::string dataset_name(const std::string& table, const SqlOwnership& ownership, const std::string& source) {
    const auto* mapped = ownership.dataset_of(table);
    return mapped ? mapped->name : source + ":" + table;
}

}  // namespace

std::optional<std::string> effect_statement_head(const LinkEffect& effect, const SqlDialect& dialect) {
    const auto& link = effect.link();
    if (effect.kind == LinkEffect::Kind::remove) return "DELETE FROM " + dialect.table(link.table) + " AS e";
    if (effect.kind == LinkEffect::Kind::detach)
        return "UPDATE " + dialect.table(link.table) + " AS e SET " + quote_identifier(link.column) + " = NULL";
    return std::nullopt;
}

PlanItem effect_item(const LinkEffect& effect, const std::string& of, const SqlOwnership& ownership,
                     const std::string& source) {
    PlanItem item;
    item.dataset = dataset_name(effect.link().table, ownership, source);
    item.what = effect.what();
    item.records = effect.rows;
    item.other_people = true;
    item.blocked = effect.why;
    item.snapshot = {{"effect", effect.to_json()}, {"of", of}};
    return item;
}

PlanItem redaction_item(const std::string& table, const std::string& column, std::uint64_t rows,
                        const SqlOwnership& ownership, const std::string& source) {
    PlanItem item;
    item.dataset = dataset_name(table, ownership, source);
    item.what = "redact " + column;
    item.records = rows;
    item.other_people = true;
    item.snapshot = {{"redact", {{"table", table}, {"column", column}}}};
    return item;
}

std::string table_of(const PlanItem& item, const std::function<std::string(const std::string& dataset)>& locator) {
    if (item.snapshot.contains("effect")) return LinkEffect::from_json(item.snapshot.at("effect")).link().table;
    if (item.snapshot.contains("redact")) return item.snapshot.at("redact").at("table");
    return locator(item.dataset);
}

void apply_items_checked(const std::string& source, const Plan& plan,
                         const std::function<std::uint64_t(const PlanItem&)>& apply,
                         const std::function<std::map<std::string, std::uint64_t>()>& counts,
                         const std::function<std::string(const PlanItem&)>& table) {
    auto before = counts();
    std::map<std::string, std::uint64_t> deleted;
    for (const auto& item : plan.items) {
        auto changed = apply(item);
        if (changed > item.records)
            throw Error::findings("source \"" + source + "\": " + item.dataset + " (" + item.what + ") now has " +
                                      std::to_string(changed) + " records to change, the plan covered " +
                                      std::to_string(item.records) + ": nothing was changed",
                                  "the store changed since the plan was made: run the erasure again");
        if (item.what.rfind("delete", 0) == 0) deleted[table(item)] += changed;
    }
    for (const auto& [name, rows] : counts()) {
        auto lost = before.at(name) - rows;
        if (lost != deleted[name])
            throw Error::findings(
                "source \"" + source + "\": table " + name + " would lose " + std::to_string(lost) +
                    " rows, the plan deletes " + std::to_string(deleted[name]) + ": nothing was changed",
                "a trigger or a key gdprctl does not see deletes rows there: declare it in \"links\"");
    }
}

}  // namespace gdprctl::connectors
