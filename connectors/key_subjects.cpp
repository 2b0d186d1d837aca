#include "connectors/key_subjects.hpp"

#include <stdexcept>

namespace gdprctl::connectors {

KeySubjects::KeySubjects(const config::JsonReader& reader, const std::vector<config::SubjectField>& subjects) {
    for (const auto& subject : subjects) {
        try {
            m_patterns.emplace_back(subject.kind, util::Regex(subject.field));
        } catch (const std::invalid_argument& e) {
            reader.fail_path("subjects/" + subject.kind, "\"" + subject.field + "\" is not a regex: " + e.what(),
                             "for files and objects, a subject is a regex on the path whose first group is the "
                             "identifier, e.g. \"^[^/]+/users/([0-9]+)/\"");
        }
    }
}

bool KeySubjects::name_a_subject_of(const Selector& selector, std::string_view relative) const {
    for (const auto& [kind, pattern] : m_patterns) {
        auto value = pattern.first_group(relative);
        if (value && selector.matches_subject(kind, *value)) return true;
    }
    return false;
}

}  // namespace gdprctl::connectors
