#include "connectors/logfile/line_format.hpp"

#include <stdexcept>

namespace gdprctl::connectors::logfile {

namespace {

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

std::optional<std::string> LineFormat::named_format(const std::string& name) {
    if (name == "combined")
        return "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" "
               "\"$http_user_agent\"";
    if (name == "rtmp")  // nginx-rtmp's default access log format
        return "$remote_addr [$time_local] $command \"$app\" \"$name\" \"$args\" - $bytes_received $bytes_sent "
               "\"$pageurl\" \"$flashver\" ($session_readable_time)";
    return std::nullopt;
}

LineFormat::LineFormat(const std::string& format) {
    std::size_t i = 0;
    std::string literal;
    while (i < format.size()) {
        if (format[i] == '$' && i + 1 < format.size() && (is_name_char(format[i + 1]) || format[i + 1] == '{')) {
            if (!literal.empty())
                m_parts.push_back({false, literal});
            else if (!m_parts.empty() && m_parts.back().variable)
                throw std::invalid_argument("variables $" + m_parts.back().text + " and the next one touch");
            literal.clear();
            bool braced = format[i + 1] == '{';
            std::size_t start = i + (braced ? 2 : 1), end = start;
            while (end < format.size() && is_name_char(format[end])) ++end;
            std::string name = format.substr(start, end - start);
            if (braced) {
                if (end >= format.size() || format[end] != '}') throw std::invalid_argument("unclosed ${");
                ++end;
            }
            m_parts.push_back({true, name, m_variables.size()});
            m_variables.push_back(name);
            i = end;
        } else {
            literal += format[i++];
        }
    }
    if (!literal.empty()) m_parts.push_back({false, literal});
    if (m_variables.empty()) throw std::invalid_argument("the format has no $variable");
}

std::optional<std::size_t> LineFormat::variable_index(std::string_view name) const {
    for (std::size_t i = 0; i < m_variables.size(); ++i)
        if (m_variables[i] == name) return i;
    return std::nullopt;
}

bool LineFormat::parse(std::string_view line, std::vector<std::string_view>& fields, std::size_t last_needed) const {
    fields.resize(m_variables.size());
    std::size_t pos = 0;
    for (std::size_t p = 0; p < m_parts.size(); ++p) {
        const auto& part = m_parts[p];
        if (!part.variable) {
            if (line.compare(pos, part.text.size(), part.text) != 0) return false;
            pos += part.text.size();
            continue;
        }
        std::size_t end = line.size();
        if (p + 1 < m_parts.size()) {
            end = line.find(m_parts[p + 1].text, pos);
            if (end == std::string_view::npos) return false;
        }
        fields[part.index] = line.substr(pos, end - pos);
        if (part.index >= last_needed) return true;
        pos = end;
    }
    return true;
}

}  // namespace gdprctl::connectors::logfile
