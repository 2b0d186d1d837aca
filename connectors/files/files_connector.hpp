#pragma once

#include <memory>

#include "connectors/connector.hpp"

namespace gdprctl::connectors::files {

// Kind "files": a directory tree of objects (recordings, HLS segments, captions, thumbnails).
// The tenant comes from a regex on the path relative to the root, the time from the file's
// mtime or from a date in its name. Symbolic links are never followed.
std::unique_ptr<Connector> open(const config::Source& source, const config::Workspace& workspace);

}  // namespace gdprctl::connectors::files
