#include "connectors/files/files_connector.hpp"
#include "connectors/logfile/logfile_connector.hpp"
#include "connectors/postgres/postgres_connector.hpp"
#include "connectors/s3/s3_connector.hpp"
#include "connectors/sqlite/sqlite_connector.hpp"
#include "core/error.hpp"

namespace gdprctl::connectors {

namespace {

using OpenFunction = std::unique_ptr<Connector> (*)(const config::Source&, const config::Workspace&);

struct Kind {
    const char* name;
    OpenFunction open;
};

// One explicit table: a new store kind is one folder and one line here.
constexpr Kind k_kinds[] = {
    {"sqlite", &sqlite::open},     {"logfile", &logfile::open}, {"files", &files::open},
    {"postgres", &postgres::open}, {"s3", &s3::open},
};

}  // namespace

std::vector<std::string> connector_kinds() {
    std::vector<std::string> names;
    for (const auto& kind : k_kinds) names.emplace_back(kind.name);
    return names;
}

std::unique_ptr<Connector> open_connector(const config::Source& source, const config::Workspace& workspace) {
    for (const auto& kind : k_kinds)
        if (source.kind == kind.name) return kind.open(source, workspace);
    auto near = config::closest_match(source.kind, connector_kinds());
    std::string known;
    for (const auto& name : connector_kinds()) known += (known.empty() ? "" : ", ") + name;
    throw Error::config(source.file + ": " + source.pointer + "/kind: unknown connector kind \"" + source.kind + "\"",
                        near ? "did you mean \"" + *near + "\"?" : "known kinds: " + known);
}

std::vector<std::unique_ptr<Connector>> open_all_connectors(const config::Workspace& workspace) {
    std::vector<std::unique_ptr<Connector>> opened;
    for (const auto& source : workspace.sources) opened.push_back(open_connector(source, workspace));
    for (auto& connector : opened) connector->validate();
    return opened;
}

}  // namespace gdprctl::connectors
