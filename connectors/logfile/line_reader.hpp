#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>
#include <vector>

#include "core/pii/matcher.hpp"

namespace gdprctl::connectors::logfile {

// Streams the lines of a plain or gzip-compressed file (by its ".gz" suffix) through a fixed
// buffer: memory does not depend on the file's size. The callback gets each line without its
// "\n" (and "\r") and its 1-based number; returning false stops early. Returns the bytes read.
// Throws Error::runtime naming the file when it cannot be read or the gzip data is truncated
// or corrupt.
// line without the "\r" of a CRLF ending.
inline std::string_view without_cr(std::string_view line) {
    return !line.empty() && line.back() == '\r' ? line.substr(0, line.size() - 1) : line;
}

// With Ending::as_written a line keeps its "\r", for a caller that writes lines back.
enum class Ending { without_cr, as_written };
std::uint64_t for_each_line(const std::filesystem::path& file,
                            const std::function<bool(std::string_view line, std::uint64_t number)>& on_line,
                            Ending ending = Ending::without_cr);

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
    const std::function<bool(std::string_view line, std::uint64_t number, bool holds_identifier)>& on_line,
    Ending ending = Ending::without_cr);

// The lines of a plain file that hold the byte just before each of match_ends (offsets in
// increasing order, as find_in_raw_bytes gives them), each line once, read with pread: after a
// scan of the raw bytes, only the lines around its matches are read. The callback gets the line
// without its "\n" (and "\r"), its offset, and its length in the file with the newline.
void for_each_line_around(
    const std::filesystem::path& file, const std::vector<std::uint64_t>& match_ends,
    const std::function<void(std::string_view line, std::uint64_t offset, std::uint64_t length)>& on_line);

// Reads exactly size bytes at offset of the file open at fd; Error::runtime naming file when it
// cannot, or when the file is shorter than that now.
void read_exactly(int fd, const std::filesystem::path& file, char* buffer, std::size_t size, std::uint64_t offset);

}  // namespace gdprctl::connectors::logfile
