#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>

#include "core/pii/matcher.hpp"

namespace gdprctl::connectors::logfile {

// Streams the lines of a plain or gzip-compressed file (by its ".gz" suffix) through a fixed
// buffer: memory does not depend on the file's size. The callback gets each line without its
// "\n" (and "\r") and its 1-based number; returning false stops early. Returns the bytes read.
// Throws Error::runtime naming the file when it cannot be read or the gzip data is truncated
// or corrupt.
std::uint64_t for_each_line(const std::filesystem::path& file,
                            const std::function<bool(std::string_view line, std::uint64_t number)>& on_line);

// The lines of a plain (uncompressed) file that start in [begin, end): a line straddling
// begin belongs to the range before, one straddling end to this one. Together, ranges that
// tile the file see every line exactly once. Line numbers count from 1 within the range.
std::uint64_t for_each_line_in_range(const std::filesystem::path& file, std::uint64_t begin, std::uint64_t end,
                                     const std::function<bool(std::string_view line, std::uint64_t number)>& on_line);

// Like for_each_line, and tells each line whether it holds one of identifiers (a bounded
// match). The matcher runs over each buffer of whole lines at once, several times faster than
// line by line, so a caller can skip parsing the lines that hold none.
std::uint64_t for_each_line_marked(
    const std::filesystem::path& file, const pii::IdentifierMatcher& identifiers,
    const std::function<bool(std::string_view line, std::uint64_t number, bool holds_identifier)>& on_line);

}  // namespace gdprctl::connectors::logfile
