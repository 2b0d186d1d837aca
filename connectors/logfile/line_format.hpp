#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gdprctl::connectors::logfile {

// An nginx log_format string compiled for parsing: literals and $variables alternate, and
// each variable's value runs up to the next literal. nginx escapes '"' inside values as \x22,
// so a quoted value never contains its closing literal.
class LineFormat {
public:
    // Throws std::invalid_argument when two variables touch (their border is unknowable) or
    // the format holds no variable.
    explicit LineFormat(const std::string& format);

    static std::optional<std::string> named_format(const std::string& name);  // "combined", "rtmp"

    const std::vector<std::string>& variables() const { return m_variables; }
    std::optional<std::size_t> variable_index(std::string_view name) const;

    // Splits line into fields[variable index]; parses only up to variable `last_needed`.
    // Returns false when the line does not have the format's shape.
    bool parse(std::string_view line, std::vector<std::string_view>& fields, std::size_t last_needed) const;

private:
    struct Part {
        bool variable;
        std::string text;       // literal text, or the variable name
        std::size_t index = 0;  // variable index
    };
    std::vector<Part> m_parts;
    std::vector<std::string> m_variables;
};

}  // namespace gdprctl::connectors::logfile
