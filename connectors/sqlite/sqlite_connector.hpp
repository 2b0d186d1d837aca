#pragma once

#include <memory>

#include "connectors/connector.hpp"

namespace gdprctl::connectors::sqlite {

// Kind "sqlite": a SQLite database file. Opened read-only for inventory, collect and verify;
// rows are streamed with prepared statements, the tenant reached through the data map's joins.
std::unique_ptr<Connector> open(const config::Source& source, const config::Workspace& workspace);

}  // namespace gdprctl::connectors::sqlite
