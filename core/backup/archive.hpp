#pragma once

#include <archive.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "core/crypto/container.hpp"

// Tar streams through libarchive: written to a byte sink (the container), read from a byte
// source, and extracted only where that is safe.
namespace gdprctl::backup {

// Writes a POSIX (pax) tar stream to sink, entry by entry; nothing is buffered beyond what
// libarchive holds for one block.
class TarWriter {
public:
    explicit TarWriter(crypto::ByteSink sink);
    ~TarWriter();
    TarWriter(const TarWriter&) = delete;
    TarWriter& operator=(const TarWriter&) = delete;

    void add(const std::string& path, std::string_view content, std::int64_t mtime);
    // Streams size bytes of file (opened by the caller's path) as entry path.
    void add_file(const std::string& path, const std::filesystem::path& file, std::int64_t mtime);
    void finish();

private:
    void write_header(const std::string& path, std::int64_t size, std::int64_t mtime);
    void check(int result, const std::string& what);

    struct archive* m_archive;
    crypto::ByteSink m_sink;
    bool m_finished = false;
};

struct ExtractStats {
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
    std::uint64_t lines_dropped = 0;
};

// Decides, line by line, what is kept of an entry (true: keep). Called only for entries whose
// path filter_paths accepts.
struct LineFilter {
    std::function<bool(const std::string& path)> applies;
    std::function<bool(const std::string& path, std::string_view line)> keep;
};

// Extracts the tar stream read from source into dir (which must exist and be empty). Refuses,
// with Error::integrity and before writing the entry, anything that could land outside dir or
// is not a plain file or directory: absolute paths, "..", symbolic and hard links, devices,
// FIFOs, duplicate entries. Files are created 0600 and directories 0700.
ExtractStats extract_tar(const crypto::ByteSource& source, const std::filesystem::path& dir,
                         const LineFilter* filter = nullptr);

// Each component of path checked: not empty, not ".", not "..". Throws Error::integrity.
std::filesystem::path safe_relative_path(const std::string& path);

}  // namespace gdprctl::backup
