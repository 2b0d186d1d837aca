#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace gdprctl::config {

// Reads one JSON object of a config file while remembering which keys were taken, so that
// finish() can reject every key nobody asked for: a typo must never silently leave data
// unprotected. Every error names the file and the JSON pointer of the offending value.
class JsonReader {
public:
    JsonReader(const nlohmann::json& object, std::string pointer, std::string file);

    std::string required_string(const std::string& key);
    std::optional<std::string> optional_string(const std::string& key);
    // A string or an array of strings; a missing key is an empty list.
    std::vector<std::string> string_list(const std::string& key);
    std::optional<std::int64_t> optional_integer(const std::string& key);
    std::optional<JsonReader> optional_object(const std::string& key);
    std::vector<JsonReader> object_list(const std::string& key, bool required);
    // The raw value, for keys whose shape depends on context; nullopt when absent.
    std::optional<nlohmann::json> optional_value(const std::string& key);
    bool has(const std::string& key) const;

    // Throws Error::config for the first key that was never taken.
    void finish() const;
    [[noreturn]] void fail(const std::string& key, const std::string& message, const std::string& hint = {}) const;
    // Like fail(), for a value below a key: path is a JSON pointer suffix such as "tenant/regex".
    [[noreturn]] void fail_path(const std::string& path, const std::string& message,
                                const std::string& hint = {}) const;
    [[noreturn]] void fail_here(const std::string& message, const std::string& hint = {}) const;

    std::string pointer_of(const std::string& key) const;
    const std::string& pointer() const { return m_pointer; }
    const std::string& file() const { return m_file; }

private:
    const nlohmann::json* take(const std::string& key);

    const nlohmann::json& m_object;
    std::string m_pointer;
    std::string m_file;
    std::set<std::string> m_taken;
};

// Parses text as JSON, turning a syntax error into Error::config naming file, line and column.
nlohmann::json parse_json_text(const std::string& text, const std::string& file);

// The closest candidate within a small edit distance, for "did you mean" hints.
std::optional<std::string> closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace gdprctl::config

namespace gdprctl::config {

// The 1-based line on which the value at pointer starts in the JSON text, or 0 when the text
// is not valid JSON or has no such value. Lets reports point an editor at the offending line.
std::size_t line_of_pointer(const std::string& text, const std::string& pointer);

}  // namespace gdprctl::config
