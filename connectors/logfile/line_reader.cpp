#include "connectors/logfile/line_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/error.hpp"
#include "core/util/fs.hpp"

namespace gdprctl::connectors::logfile {

namespace {

constexpr std::size_t k_buffer_size = 1 << 20;

// Reads raw or gzip bytes into a buffer; returns 0 at the end.
class ByteSource {
public:
    explicit ByteSource(const std::filesystem::path& file) : m_file(file) {
        if (file.extension() == ".gz") {
            m_gz = gzopen(file.c_str(), "rb");
            if (!m_gz) fail(errno ? std::strerror(errno) : "cannot open");
            gzbuffer(m_gz, 256 * 1024);
        } else {
            m_fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
            if (m_fd < 0) fail(std::strerror(errno));
            ::posix_fadvise(m_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        }
    }
    ~ByteSource() {
        if (m_gz) gzclose(m_gz);
        if (m_fd >= 0) ::close(m_fd);
    }
    ByteSource(const ByteSource&) = delete;
    ByteSource& operator=(const ByteSource&) = delete;

    // Plain files only: continue reading at offset.
    void seek(std::uint64_t offset) {
        if (::lseek(m_fd, static_cast<off_t>(offset), SEEK_SET) < 0) fail(std::strerror(errno));
    }

    std::size_t read(char* buffer, std::size_t size) {
        if (m_gz) {
            int n = gzread(m_gz, buffer, static_cast<unsigned>(size));
            int code = Z_OK;
            const char* message = gzerror(m_gz, &code);
            if (n < 0 || (code != Z_OK && code != Z_STREAM_END))
                fail(std::string(code == Z_BUF_ERROR ? "gzip data is truncated" : "gzip data is corrupt") + " (" +
                     message + ")");
            return static_cast<std::size_t>(n);
        }
        while (true) {
            ssize_t n = ::read(m_fd, buffer, size);
            if (n >= 0) return static_cast<std::size_t>(n);
            if (errno != EINTR) fail(std::strerror(errno));
        }
    }

private:
    [[noreturn]] void fail(const std::string& why) {
        throw Error::runtime("cannot read " + m_file.string() + ": " + why,
                             "check the file; a truncated rotated log can be restored from backup or removed");
    }

    std::filesystem::path m_file;
    gzFile m_gz = nullptr;
    int m_fd = -1;
};

// Splits the bytes of source into lines; stops after the line that starts at or beyond
// `limit` bytes into the stream (counted from where source stands now).
using MarkedLine = std::function<bool(std::string_view, std::uint64_t, bool)>;

// Which lines of a buffer hold a match: the match ends, found over the whole run of complete
// lines at once, walked in step with the lines.
class LineMarks {
public:
    explicit LineMarks(const pii::IdentifierMatcher* identifiers) : m_identifiers(identifiers) {}
    void find(std::string_view whole_lines) {
        if (m_identifiers) m_identifiers->match_ends(whole_lines, m_ends);
        m_next = 0;
    }
    // For lines in increasing order: true when a match ends in (start, stop].
    bool holds_match(std::size_t start, std::size_t stop) {
        if (!m_identifiers) return false;
        while (m_next < m_ends.size() && m_ends[m_next] <= start) ++m_next;
        return m_next < m_ends.size() && m_ends[m_next] <= stop;
    }
    bool last_line_holds_match(std::string_view line) const { return m_identifiers && m_identifiers->contains(line); }

private:
    const pii::IdentifierMatcher* m_identifiers;
    std::vector<std::size_t> m_ends;
    std::size_t m_next = 0;
};

std::uint64_t split_lines(ByteSource& source, std::uint64_t limit, bool skip_first_partial,
                          const pii::IdentifierMatcher* identifiers, const MarkedLine& on_line,
                          Ending ending = Ending::without_cr) {
    LineMarks marks(identifiers);
    std::vector<char> buffer(k_buffer_size);
    std::size_t kept = 0;  // bytes of an unfinished line at the start of buffer
    std::uint64_t number = 0, total = 0;
    std::uint64_t line_start = 0;  // stream offset of the line at buffer[0]
    bool skipping = skip_first_partial;
    while (true) {
        if (kept == buffer.size()) buffer.resize(buffer.size() * 2);  // a line longer than the buffer
        std::size_t n = source.read(buffer.data() + kept, buffer.size() - kept);
        total += n;
        std::size_t end = kept + n;
        const char* data = buffer.data();
        std::size_t start = 0;
        if (identifiers) {
            const void* last_newline = ::memrchr(data, '\n', end);
            marks.find(std::string_view(
                data, last_newline ? static_cast<std::size_t>(static_cast<const char*>(last_newline) - data) + 1 : 0));
        }
        while (start < end) {
            const void* newline = std::memchr(data + start, '\n', end - start);
            if (!newline) break;
            std::size_t stop = static_cast<std::size_t>(static_cast<const char*>(newline) - data);
            std::uint64_t offset = line_start + start;
            if (skipping) {
                skipping = false;
            } else {
                if (offset >= limit) return total;
                std::string_view line(data + start, stop - start);
                if (ending == Ending::without_cr) line = without_cr(line);
                if (!on_line(line, ++number, marks.holds_match(start, stop))) return total;
            }
            start = stop + 1;
        }
        if (n == 0) {
            if (start < end && !skipping && line_start + start < limit) {
                std::string_view line(data + start, end - start);
                on_line(line, ++number, marks.last_line_holds_match(line));
            }
            return total;
        }
        kept = end - start;
        line_start += start;
        std::memmove(buffer.data(), data + start, kept);
    }
}

}  // namespace

std::uint64_t for_each_line_in_range(const std::filesystem::path& file, std::uint64_t begin, std::uint64_t end,
                                     const std::function<bool(std::string_view, std::uint64_t)>& on_line) {
    ByteSource source(file);
    auto unmarked = [&](std::string_view line, std::uint64_t number, bool) { return on_line(line, number); };
    if (begin == 0) return split_lines(source, end, false, nullptr, unmarked);
    // Start one byte early: if that byte ends a line, the "partial" line skipped is empty and
    // the range starts exactly at begin; otherwise the line straddling begin is skipped.
    source.seek(begin - 1);
    return split_lines(source, end - (begin - 1), true, nullptr, unmarked);
}

std::uint64_t for_each_line(const std::filesystem::path& file,
                            const std::function<bool(std::string_view, std::uint64_t)>& on_line, Ending ending) {
    ByteSource source(file);
    return split_lines(
        source, std::numeric_limits<std::uint64_t>::max(), false, nullptr,
        [&](std::string_view line, std::uint64_t number, bool) { return on_line(line, number); }, ending);
}

void read_exactly(int fd, const std::filesystem::path& file, char* buffer, std::size_t size, std::uint64_t offset) {
    while (size > 0) {
        ssize_t got = ::pread(fd, buffer, size, static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            throw Error::runtime("cannot read " + file.string() + ": " +
                                 (got < 0 ? std::strerror(errno) : "the file shrank while it was read"));
        buffer += got;
        size -= static_cast<std::size_t>(got);
        offset += static_cast<std::uint64_t>(got);
    }
}

namespace {

constexpr std::size_t k_probe = 4096;

// Where the line holding byte `at` starts: just after the newline before it, or at 0.
std::uint64_t line_start_before(int fd, const std::filesystem::path& file, std::uint64_t at) {
    char chunk[k_probe];
    std::uint64_t start = at;
    while (start > 0) {
        std::uint64_t from = start > k_probe ? start - k_probe : 0;
        auto size = static_cast<std::size_t>(start - from);
        read_exactly(fd, file, chunk, size, from);
        if (const void* newline = ::memrchr(chunk, '\n', size))
            return from + static_cast<std::uint64_t>(static_cast<const char*>(newline) - chunk) + 1;
        start = from;
    }
    return 0;
}

// Where the line holding byte `at` ends: the offset of its newline, or the file's size.
std::uint64_t line_stop_after(int fd, const std::filesystem::path& file, std::uint64_t at, std::uint64_t file_size) {
    char chunk[k_probe];
    std::uint64_t stop = at;
    while (stop < file_size) {
        auto size = static_cast<std::size_t>(std::min<std::uint64_t>(k_probe, file_size - stop));
        read_exactly(fd, file, chunk, size, stop);
        if (const void* newline = std::memchr(chunk, '\n', size))
            return stop + static_cast<std::uint64_t>(static_cast<const char*>(newline) - chunk);
        stop += size;
    }
    return file_size;
}

}  // namespace

void for_each_line_around(
    const std::filesystem::path& file, const std::vector<std::uint64_t>& match_ends,
    const std::function<void(std::string_view line, std::uint64_t offset, std::uint64_t length)>& on_line) {
    if (match_ends.empty()) return;
    util::ReadOnlyFile in(file);
    int fd = in.fd();
    auto file_size = in.size();
    std::string text;
    std::uint64_t done = 0;  // the lines before this offset were given
    for (auto match_end : match_ends) {
        if (match_end == 0 || match_end - 1 < done) continue;
        std::uint64_t at = match_end - 1;
        std::uint64_t start = line_start_before(fd, file, at);
        std::uint64_t stop = line_stop_after(fd, file, at, file_size);
        text.resize(static_cast<std::size_t>(stop - start));
        read_exactly(fd, file, text.data(), text.size(), start);
        auto line = without_cr(text);
        done = stop < file_size ? stop + 1 : file_size;
        on_line(line, start, done - start);
    }
}

std::uint64_t for_each_line_marked(
    const std::filesystem::path& file, const pii::IdentifierMatcher& identifiers,
    const std::function<bool(std::string_view line, std::uint64_t number, bool holds_identifier)>& on_line,
    Ending ending) {
    ByteSource source(file);
    return split_lines(source, std::numeric_limits<std::uint64_t>::max(), false, &identifiers, on_line, ending);
}

}  // namespace gdprctl::connectors::logfile
