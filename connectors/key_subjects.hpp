#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/connector.hpp"
#include "core/config/reader.hpp"
#include "core/util/regex.hpp"

namespace gdprctl::connectors {

// A person's files or objects known by their names: for the files and s3 kinds, each of a
// dataset's "subjects" is a regex on the path below the source's root (the key below the
// prefix) whose first group is the identifier ("^[^/]+/users/([0-9]+)/" for user ids).
// Without them, a person's selector takes no file by its name alone.
class KeySubjects {
public:
    KeySubjects() = default;
    // Compiles dataset.subjects; a pattern that does not compile fails at its JSON pointer.
    KeySubjects(const config::JsonReader& reader, const std::vector<config::SubjectField>& subjects);

    // True when one of the patterns takes from relative an identifier selector names.
    bool name_a_subject_of(const Selector& selector, std::string_view relative) const;

private:
    std::vector<std::pair<std::string, util::Regex>> m_patterns;  // kind, pattern
};

}  // namespace gdprctl::connectors
