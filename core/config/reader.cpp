#include "core/config/reader.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace gdprctl::config {

namespace {

std::string escape_pointer_token(const std::string& key) {
    std::string out;
    for (char c : key) {
        if (c == '~')
            out += "~0";
        else if (c == '/')
            out += "~1";
        else
            out += c;
    }
    return out;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

const char* type_name(const nlohmann::json& value) { return value.type_name(); }

}  // namespace

JsonReader::JsonReader(const nlohmann::json& object, std::string pointer, std::string file)
    : m_object(object), m_pointer(std::move(pointer)), m_file(std::move(file)) {
    if (!m_object.is_object())
        throw Error::config(m_file + ": " + (m_pointer.empty() ? "/" : m_pointer) + ": expected an object, found " +
                            type_name(m_object));
}

std::string JsonReader::pointer_of(const std::string& key) const { return m_pointer + "/" + escape_pointer_token(key); }

void JsonReader::fail(const std::string& key, const std::string& message, const std::string& hint) const {
    throw Error::config(m_file + ": " + pointer_of(key) + ": " + message, hint);
}

void JsonReader::fail_path(const std::string& path, const std::string& message, const std::string& hint) const {
    throw Error::config(m_file + ": " + m_pointer + "/" + path + ": " + message, hint);
}

void JsonReader::fail_here(const std::string& message, const std::string& hint) const {
    throw Error::config(m_file + ": " + (m_pointer.empty() ? "/" : m_pointer) + ": " + message, hint);
}

bool JsonReader::has(const std::string& key) const { return m_object.contains(key); }

const nlohmann::json* JsonReader::take(const std::string& key) {
    m_taken.insert(key);
    auto it = m_object.find(key);
    return it == m_object.end() ? nullptr : &*it;
}

std::string JsonReader::required_string(const std::string& key) {
    auto value = optional_string(key);
    if (!value) fail(key, "missing required key \"" + key + "\"");
    return *value;
}

std::optional<std::string> JsonReader::optional_string(const std::string& key) {
    const auto* value = take(key);
    if (!value) return std::nullopt;
    if (!value->is_string()) fail(key, std::string("expected a string, found ") + type_name(*value));
    auto text = value->get<std::string>();
    if (text.empty()) fail(key, "must not be empty");
    return text;
}

std::vector<std::string> JsonReader::string_list(const std::string& key) {
    const auto* value = take(key);
    if (!value) return {};
    if (value->is_string()) return {value->get<std::string>()};
    if (!value->is_array())
        fail(key, std::string("expected a string or an array of strings, found ") + type_name(*value));
    std::vector<std::string> items;
    for (std::size_t i = 0; i < value->size(); ++i) {
        const auto& item = (*value)[i];
        if (!item.is_string() || item.get<std::string>().empty())
            fail_path(escape_pointer_token(key) + "/" + std::to_string(i),
                      std::string("expected a non-empty string, found ") + type_name(item));
        items.push_back(item.get<std::string>());
    }
    return items;
}

std::optional<std::int64_t> JsonReader::optional_integer(const std::string& key) {
    const auto* value = take(key);
    if (!value) return std::nullopt;
    if (!value->is_number_integer()) fail(key, std::string("expected an integer, found ") + type_name(*value));
    return value->get<std::int64_t>();
}

std::optional<JsonReader> JsonReader::optional_object(const std::string& key) {
    const auto* value = take(key);
    if (!value) return std::nullopt;
    if (!value->is_object()) fail(key, std::string("expected an object, found ") + type_name(*value));
    return JsonReader(*value, pointer_of(key), m_file);
}

std::vector<JsonReader> JsonReader::object_list(const std::string& key, bool required) {
    const auto* value = take(key);
    if (!value) {
        if (required) fail(key, "missing required key \"" + key + "\"");
        return {};
    }
    if (!value->is_array()) fail(key, std::string("expected an array, found ") + type_name(*value));
    if (required && value->empty()) fail(key, "must list at least one entry");
    std::vector<JsonReader> items;
    for (std::size_t i = 0; i < value->size(); ++i)
        items.emplace_back((*value)[i], pointer_of(key) + "/" + std::to_string(i), m_file);
    return items;
}

std::optional<nlohmann::json> JsonReader::optional_value(const std::string& key) {
    const auto* value = take(key);
    if (!value) return std::nullopt;
    return *value;
}

void JsonReader::finish() const {
    std::vector<std::string> known(m_taken.begin(), m_taken.end());
    for (const auto& [key, value] : m_object.items()) {
        if (m_taken.count(key)) continue;
        std::string hint = "remove it, or check its spelling";
        if (auto near = closest_match(key, known)) hint = "did you mean \"" + *near + "\"?";
        fail(key, "unknown key \"" + key + "\"", hint);
    }
}

nlohmann::json parse_json_text(const std::string& text, const std::string& file) {
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        std::size_t offset = std::min<std::size_t>(e.byte, text.size());
        std::size_t line = 1, column = 1;
        for (std::size_t i = 0; i + 1 < offset; ++i) {
            if (text[i] == '\n') {
                ++line;
                column = 1;
            } else {
                ++column;
            }
        }
        std::string what = e.what();
        auto pos = what.find("parse error");
        throw Error::config(
            file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": not valid JSON (" +
                (pos == std::string::npos ? what : what.substr(pos)) + ")",
            "fix the syntax at that line; a JSON validator such as 'python3 -m json.tool' shows it too");
    }
}

std::optional<std::string> closest_match(const std::string& word, const std::vector<std::string>& candidates) {
    std::optional<std::string> best;
    std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
    for (const auto& candidate : candidates) {
        std::size_t d = edit_distance(word, candidate);
        if (d < best_distance) {
            best_distance = d;
            best = candidate;
        }
    }
    return best;
}

}  // namespace gdprctl::config

namespace gdprctl::config {

namespace {

// A minimal JSON walker that knows only where values start: enough to map a pointer to a line
// without a second full parser. The text was already accepted by nlohmann::json.
class PointerLocator {
public:
    PointerLocator(const std::string& text, const std::string& pointer) : m_text(text), m_target(pointer) {}

    std::size_t find() {
        try {
            value("");
        } catch (const std::out_of_range&) {
            return 0;
        }
        return m_found;
    }

private:
    void skip_space() {
        while (m_pos < m_text.size() && std::isspace(static_cast<unsigned char>(m_text[m_pos]))) {
            if (m_text[m_pos] == '\n') ++m_line;
            ++m_pos;
        }
    }
    char peek() {
        skip_space();
        if (m_pos >= m_text.size()) throw std::out_of_range("end of text");
        return m_text[m_pos];
    }
    std::string string_token() {
        std::string out;
        ++m_pos;  // opening quote
        while (m_pos < m_text.size() && m_text[m_pos] != '"') {
            if (m_text[m_pos] == '\\') ++m_pos;
            if (m_pos < m_text.size()) out += m_text[m_pos++];
        }
        ++m_pos;
        return out;
    }
    void value(const std::string& pointer) {
        char c = peek();
        if (pointer == m_target && m_found == 0) m_found = m_line;
        if (c == '{') {
            ++m_pos;
            if (peek() == '}') return void(++m_pos);
            while (true) {
                peek();
                auto key = string_token();
                peek();
                ++m_pos;  // colon
                value(pointer + "/" + escape_pointer_token(key));
                if (peek() == ',') {
                    ++m_pos;
                    continue;
                }
                ++m_pos;  // closing brace
                return;
            }
        }
        if (c == '[') {
            ++m_pos;
            if (peek() == ']') return void(++m_pos);
            for (std::size_t index = 0;; ++index) {
                value(pointer + "/" + std::to_string(index));
                if (peek() == ',') {
                    ++m_pos;
                    continue;
                }
                ++m_pos;
                return;
            }
        }
        if (c == '"') return void(string_token());
        while (m_pos < m_text.size() && std::string_view(",]} \t\r\n").find(m_text[m_pos]) == std::string_view::npos)
            ++m_pos;
    }

    const std::string& m_text;
    std::string m_target;
    std::size_t m_pos = 0;
    std::size_t m_line = 1;
    std::size_t m_found = 0;
};

}  // namespace

std::size_t line_of_pointer(const std::string& text, const std::string& pointer) {
    return PointerLocator(text, pointer).find();
}

}  // namespace gdprctl::config
