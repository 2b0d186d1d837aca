#pragma once

#include <archive.h>

#include <cstdint>
#include <exception>
#include <vector>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/crypto/container.hpp"

// Tar streams through libarchive: written to a byte sink (the container), read from a byte
// source, and extracted only where that is safe.
namespace gdprctl::backup {

enum class ArchiveFormat { tar, tar_gz, tar_zst, zip };

class ZstdStream;

// Writes an archive stream to sink, entry by entry; nothing is buffered beyond what libarchive
// holds for one block. tar is POSIX pax, uncompressed; zip deflates each entry unless
// add_file() is told the file is already compressed.
class ArchiveWriter {
public:
    explicit ArchiveWriter(crypto::ByteSink sink, ArchiveFormat format = ArchiveFormat::tar);
    ~ArchiveWriter();
    ArchiveWriter(const ArchiveWriter&) = delete;
    ArchiveWriter& operator=(const ArchiveWriter&) = delete;

    // Called with every byte of every entry's content as it is written (e.g. to hash it).
    using ContentObserver = std::function<void(const unsigned char*, std::size_t)>;
    void observe(ContentObserver observer) { m_observer = std::move(observer); }

    void add(const std::string& path, std::string_view content, std::int64_t mtime);
    // Streams the file (opened without following symlinks) as entry path. stored: the file is
    // compressed already (media): zip keeps its bytes as they are, tar.zst passes them through
    // zstd's fastest level, which costs a third of the default's time on such data.
    void add_file(const std::string& path, const std::filesystem::path& file, std::int64_t mtime, bool stored = false);
    // Streams size bytes read from an open file descriptor, from its start.
    void add_descriptor(const std::string& path, int fd, std::int64_t size, std::int64_t mtime);
    // Streams size bytes that read() passes to the writer it is given (an object in a remote
    // store). Error::runtime when read() passes more or fewer bytes than size.
    using StreamReader = std::function<void(const std::function<void(std::string_view)>& write)>;
    void add_stream(const std::string& path, std::uint64_t size, std::int64_t mtime, bool stored,
                    const StreamReader& read);
    void finish();

private:
    void write_header(const std::string& path, std::int64_t size, std::int64_t mtime, bool stored);
    void write_data(const std::string& path, const void* data, std::size_t size);
    void copy_from(int fd, std::int64_t size, const std::string& path, const std::string& shown);
    void check(int result, const std::string& what);

    struct archive* m_archive;
    crypto::ByteSink m_sink;
    ArchiveFormat m_format;
    std::unique_ptr<ZstdStream> m_zstd;  // tar.zst: compresses what libarchive writes
    crypto::ByteSink m_archive_output;   // where libarchive writes: m_sink, or m_zstd
    ContentObserver m_observer;
    bool m_finished = false;
};

// Feeds a libarchive reader from a ByteSource. An exception the source throws cannot cross
// libarchive's C frames: it is kept in error and rethrown by rethrow_source_error().
class ArchiveSourceClient {
public:
    explicit ArchiveSourceClient(const crypto::ByteSource& source) : m_source(&source) {}
    // archive_read_open(archive, &client, nullptr, ArchiveSourceClient::read, nullptr)
    static la_ssize_t read(struct archive* archive, void* client, const void** buffer);
    void rethrow_source_error() const {
        if (m_error) std::rethrow_exception(m_error);
    }

private:
    const crypto::ByteSource* m_source;
    std::vector<unsigned char> m_buffer = std::vector<unsigned char>(1 << 16);
    std::exception_ptr m_error;
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

// Reads the tar stream from source to its end and returns the content of its last entry named
// name (nullopt when there is none). Error::integrity when it is not a tar stream.
std::optional<std::string> read_tar_entry(const crypto::ByteSource& source, const std::string& name);

// Reads source to its end: what follows a tar stream's end marker is authenticated too.
void drain(const crypto::ByteSource& source);

// Each component of path checked: not empty, not ".", not "..". Throws Error::integrity.
std::filesystem::path safe_relative_path(const std::string& path);

}  // namespace gdprctl::backup
