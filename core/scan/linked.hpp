#pragma once

#include <vector>

#include "connectors/connector.hpp"
#include "core/scan/scan.hpp"

namespace gdprctl::scan {

struct ResolvedSubjects {
    connectors::Selector selector;  // the identifiers given and those linked to them
    std::size_t linked = 0;         // how many were added by following links
    // Addresses linked to the person that other people used too (a NAT, a café): left out, so
    // that neither an export nor an erasure reaches another person's records through them.
    std::vector<connectors::Identifier> shared;
};

// Adds to selector the identifiers the data map links to its strong identifiers (e-mail, user
// id, phone, stream key): the viewers row that holds an e-mail names the user id, the sessions
// of that user name the IPs whose access-log lines are theirs too. Strong identifiers are
// followed until nothing new appears, never onwards from an IP. Identifiers given in selector
// are kept as given, even a shared address: the caller asked for exactly that one.
ResolvedSubjects resolve_subjects(const connectors::Selector& selector, const Connectors& connectors);

}  // namespace gdprctl::scan
