#pragma once

#include <memory>

#include "connectors/connector.hpp"

namespace gdprctl::connectors::logfile {

// Kind "logfile": a glob of log files, rotated (".1") and gzipped (".gz") ones included, in
// nginx "combined", nginx-rtmp ("rtmp"), a custom nginx log_format string, or JSON lines
// ("jsonl"). Malformed lines are counted and reported, never fatal.
std::unique_ptr<Connector> open(const config::Source& source, const config::Workspace& workspace);

}  // namespace gdprctl::connectors::logfile
