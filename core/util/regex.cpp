#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/util/regex.hpp"

#include <pcre2.h>

#include <stdexcept>

namespace gdprctl::util {

struct Regex::Impl {
    pcre2_code* code = nullptr;
    pcre2_match_data* data = nullptr;  // used only by the thread that owns this Regex via match()
    ~Impl() {
        if (data) pcre2_match_data_free(data);
        if (code) pcre2_code_free(code);
    }
};

Regex::Regex(const std::string& pattern) : m_impl(std::make_unique<Impl>()), m_pattern(pattern) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    m_impl->code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0, &error, &offset, nullptr);
    if (!m_impl->code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        throw std::invalid_argument(std::string(reinterpret_cast<char*>(message)) + " at offset " +
                                    std::to_string(offset));
    }
    pcre2_jit_compile(m_impl->code, PCRE2_JIT_COMPLETE);  // best effort: the interpreter is the fallback
    m_impl->data = pcre2_match_data_create_from_pattern(m_impl->code, nullptr);
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

std::optional<std::string_view> Regex::first_group(std::string_view text) const {
    // Byte mode (no PCRE2_UTF): log lines may hold invalid UTF-8, and validating every subject
    // cost more than the match itself. Non-ASCII literals in a pattern still match byte for byte.
    int rc =
        pcre2_match(m_impl->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, m_impl->data, nullptr);
    if (rc < 0) return std::nullopt;
    PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(m_impl->data);
    int group = rc > 1 ? 1 : 0;
    if (ovector[2 * group] == PCRE2_UNSET) return std::nullopt;
    return text.substr(ovector[2 * group], ovector[2 * group + 1] - ovector[2 * group]);
}

bool Regex::matches(std::string_view text) const { return first_group(text).has_value(); }

}  // namespace gdprctl::util
