#pragma once

#include <memory>

#include "connectors/connector.hpp"

namespace gdprctl::connectors::s3 {

// Kind "s3": the objects under a prefix of an S3-compatible bucket (recordings, HLS segments,
// exports, archived logs), as "files" does for a directory. The tenant comes from a regex on
// the key below the prefix, the time from the object's Last-Modified or from a date in its
// key. Where the bucket keeps versions, purges and erasures delete every version and delete
// marker of what they select, and the rescan lists versions too.
std::unique_ptr<Connector> open(const config::Source& source, const config::Workspace& workspace);

}  // namespace gdprctl::connectors::s3
