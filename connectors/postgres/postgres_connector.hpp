#pragma once

#include <memory>

#include "connectors/connector.hpp"

namespace gdprctl::connectors::postgres {

// Kind "postgres": tables of a PostgreSQL database, reached through libpq with a connection
// string or URI ("connection"). The password never sits in the config: libpq reads it from
// PGPASSWORD or PGPASSFILE, or "password_file" names a file that holds it. Rows are streamed
// through server-side cursors, deleted in batches of their own transactions.
std::unique_ptr<Connector> open(const config::Source& source, const config::Workspace& workspace);

}  // namespace gdprctl::connectors::postgres
