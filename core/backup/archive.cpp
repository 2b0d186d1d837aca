#include "core/backup/archive.hpp"

#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "core/util/escape.hpp"
#include "core/util/fs.hpp"

namespace gdprctl::backup {

namespace {

constexpr std::size_t k_io_block = 1 << 16;

la_ssize_t write_to_sink(struct archive*, void* client, const void* buffer, size_t length) {
    auto* sink = static_cast<crypto::ByteSink*>(client);
    (*sink)(static_cast<const unsigned char*>(buffer), length);
    return static_cast<la_ssize_t>(length);
}

std::string errno_text() { return std::strerror(errno); }

void make_directories(const std::filesystem::path& root, const std::filesystem::path& relative) {
    auto current = root;
    for (const auto& part : relative) {
        current /= part;
        struct stat st {};
        if (::lstat(current.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                throw Error::integrity("archive entry " + relative.string() + " goes through " + part.string() +
                                       ", which is not a directory");
            continue;
        }
        if (::mkdir(current.c_str(), 0700) != 0)
            throw Error::runtime("cannot create directory " + current.string() + ": " + errno_text());
    }
}

const char* refused_type(struct archive_entry* entry) {
    if (archive_entry_hardlink(entry)) return "a hard link";
    switch (archive_entry_filetype(entry)) {
        case AE_IFREG:
            return nullptr;
        case AE_IFDIR:
            // A file whose name ends in "/" is read as a directory that has content.
            return archive_entry_size(entry) > 0 ? "a file whose name ends in \"/\"" : nullptr;
        case AE_IFLNK:
            return "a symbolic link";
        case AE_IFCHR:
        case AE_IFBLK:
            return "a device file";
        case AE_IFIFO:
            return "a FIFO";
        case AE_IFSOCK:
            return "a socket";
        default:
            return "of an unknown file type";
    }
}

// Copies the entry's data to fd, passing whole lines through filter when one applies.
std::uint64_t copy_entry_data(struct archive* archive, int fd, const std::filesystem::path& path,
                              const std::string& entry_path, const LineFilter* filter, ExtractStats& stats) {
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    std::uint64_t written = 0;
    std::string pending;
    bool filtering = filter && filter->applies(entry_path);
    auto emit_lines = [&](bool flush_all) {
        std::size_t start = 0;
        for (;;) {
            auto end = pending.find('\n', start);
            if (end == std::string::npos) break;
            std::string_view line(pending.data() + start, end - start);
            if (filter->keep(entry_path, line)) {
                util::write_fully(fd, std::string_view(pending).substr(start, end - start + 1), path);
                written += end - start + 1;
            } else {
                ++stats.lines_dropped;
            }
            start = end + 1;
        }
        pending.erase(0, start);
        if (flush_all && !pending.empty()) {
            if (filter->keep(entry_path, pending)) {
                util::write_fully(fd, pending, path);
                written += pending.size();
            } else {
                ++stats.lines_dropped;
            }
            pending.clear();
        }
    };
    for (;;) {
        int result = archive_read_data_block(archive, &block, &size, &offset);
        if (result == ARCHIVE_EOF) break;
        if (result != ARCHIVE_OK)
            throw Error::integrity("archive entry " + util::printable(entry_path) + ": " +
                                   archive_error_string(archive));
        if (!filtering) {
            util::write_fully(fd, std::string_view(static_cast<const char*>(block), size), path);
            written += size;
            continue;
        }
        pending.append(static_cast<const char*>(block), size);
        emit_lines(false);
    }
    if (filtering) emit_lines(true);
    return written;
}

}  // namespace

la_ssize_t ArchiveSourceClient::read(struct archive* archive, void* client, const void** buffer) {
    auto* self = static_cast<ArchiveSourceClient*>(client);
    try {
        auto n = (*self->m_source)(self->m_buffer.data(), self->m_buffer.size());
        *buffer = self->m_buffer.data();
        return static_cast<la_ssize_t>(n);
    } catch (...) {
        self->m_error = std::current_exception();
        archive_set_error(archive, EIO, "source failed");
        return -1;
    }
}

// A zstd stream on one thread (libzstd's workers would add ~50 MiB of buffers for little speed
// here, as producing the records is the slower part) whose level can change between entries:
// each change ends a frame and starts the next, and a .zst file may hold any number of frames.
class ZstdStream {
public:
    static constexpr int k_default_level = 3;  // what zstd and tar --zstd use
    static constexpr int k_fastest_level = 1;

    explicit ZstdStream(const crypto::ByteSink& sink)
        : m_sink(sink), m_context(ZSTD_createCCtx()), m_out(ZSTD_CStreamOutSize()) {
        if (!m_context) throw Error::runtime("zstd: out of memory");
        check(ZSTD_CCtx_setParameter(m_context, ZSTD_c_compressionLevel, m_level));
    }
    ~ZstdStream() { ZSTD_freeCCtx(m_context); }
    ZstdStream(const ZstdStream&) = delete;
    ZstdStream& operator=(const ZstdStream&) = delete;

    void write(const unsigned char* data, std::size_t size) {
        ZSTD_inBuffer in{data, size, 0};
        while (in.pos < in.size) compress(in, ZSTD_e_continue);
        if (size) m_frame_open = true;
    }
    void use_level(int level) {
        if (level == m_level) return;
        end_frame();
        check(ZSTD_CCtx_setParameter(m_context, ZSTD_c_compressionLevel, level));
        m_level = level;
    }
    void end_frame() {
        if (!m_frame_open) return;
        ZSTD_inBuffer none{nullptr, 0, 0};
        while (compress(none, ZSTD_e_end) != 0) {
        }
        m_frame_open = false;
    }

private:
    static std::size_t check(std::size_t result) {
        if (ZSTD_isError(result)) throw Error::runtime(std::string("zstd: ") + ZSTD_getErrorName(result));
        return result;
    }
    // Returns what zstd still holds to flush (ZSTD_e_end: 0 once the frame is complete).
    std::size_t compress(ZSTD_inBuffer& in, ZSTD_EndDirective mode) {
        ZSTD_outBuffer out{m_out.data(), m_out.size(), 0};
        auto left = check(ZSTD_compressStream2(m_context, &out, &in, mode));
        if (out.pos) m_sink(m_out.data(), out.pos);
        return left;
    }

    const crypto::ByteSink& m_sink;
    ZSTD_CCtx* m_context;
    std::vector<unsigned char> m_out;
    int m_level = k_default_level;
    bool m_frame_open = false;
};

ArchiveWriter::ArchiveWriter(crypto::ByteSink sink, ArchiveFormat format)
    : m_archive(archive_write_new()), m_sink(std::move(sink)), m_format(format) {
    if (!m_archive) throw Error::runtime("libarchive: out of memory");
    m_archive_output = m_sink;
    if (format == ArchiveFormat::zip) {
        check(archive_write_set_format_zip(m_archive), "set format");
    } else {
        check(archive_write_set_format_pax_restricted(m_archive), "set format");
        if (format == ArchiveFormat::tar_gz) check(archive_write_add_filter_gzip(m_archive), "gzip filter");
        if (format == ArchiveFormat::tar_zst) {
            m_zstd = std::make_unique<ZstdStream>(m_sink);
            m_archive_output = [this](const unsigned char* data, std::size_t size) { m_zstd->write(data, size); };
            // Unblocked, so that an entry's last bytes reach zstd before the level changes.
            check(archive_write_set_bytes_per_block(m_archive, 0), "set block size");
        }
    }
    // A container or a compressor does its own framing; tar blocking would only add padding.
    check(archive_write_set_bytes_in_last_block(m_archive, 1), "set block size");
    check(archive_write_open(m_archive, &m_archive_output, nullptr, write_to_sink, nullptr), "open");
}

ArchiveWriter::~ArchiveWriter() { archive_write_free(m_archive); }

void ArchiveWriter::check(int result, const std::string& what) {
    if (result < ARCHIVE_WARN) {
        const char* message = archive_error_string(m_archive);
        throw Error::runtime("libarchive: " + what + ": " + (message ? message : "failed"));
    }
}

void ArchiveWriter::write_header(const std::string& path, std::int64_t size, std::int64_t mtime, bool stored) {
    if (m_zstd) m_zstd->use_level(stored ? ZstdStream::k_fastest_level : ZstdStream::k_default_level);
    if (m_format == ArchiveFormat::zip)
        check(stored ? archive_write_zip_set_compression_store(m_archive)
                     : archive_write_zip_set_compression_deflate(m_archive),
              "zip compression");
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, path.c_str());
    archive_entry_set_size(entry, size);
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0600);
    archive_entry_set_mtime(entry, mtime, 0);
    int result = archive_write_header(m_archive, entry);
    archive_entry_free(entry);
    check(result, "header of " + path);
}

void ArchiveWriter::write_data(const std::string& path, const void* data, std::size_t size) {
    if (m_observer) m_observer(static_cast<const unsigned char*>(data), size);
    if (size && archive_write_data(m_archive, data, size) < 0) check(ARCHIVE_FATAL, "data of " + path);
}

void ArchiveWriter::add(const std::string& path, std::string_view content, std::int64_t mtime) {
    write_header(path, static_cast<std::int64_t>(content.size()), mtime, false);
    write_data(path, content.data(), content.size());
}

void ArchiveWriter::copy_from(int fd, std::int64_t remaining, const std::string& path, const std::string& shown) {
    std::vector<char> buffer(k_io_block);
    while (remaining > 0) {
        auto n = ::read(fd, buffer.data(), static_cast<std::size_t>(std::min<std::int64_t>(remaining, k_io_block)));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw Error::runtime("cannot archive " + shown + ": it shrank while being read", "run it again");
        write_data(path, buffer.data(), static_cast<std::size_t>(n));
        remaining -= n;
    }
}

void ArchiveWriter::add_file(const std::string& path, const std::filesystem::path& file, std::int64_t mtime,
                             bool stored) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) throw Error::runtime("cannot read " + file.string() + ": " + errno_text());
    struct stat st {};
    ::fstat(fd, &st);
    // The size is fixed in the header before the data: a file that grows while it is read is
    // archived as it was when opened; one that shrinks is an error.
    try {
        write_header(path, st.st_size, mtime, stored);
        copy_from(fd, st.st_size, path, file.string());
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
}

void ArchiveWriter::add_descriptor(const std::string& path, int fd, std::int64_t size, std::int64_t mtime) {
    if (::lseek(fd, 0, SEEK_SET) != 0) throw Error::runtime("cannot rewind the spool of " + path);
    write_header(path, size, mtime, false);
    copy_from(fd, size, path, path);
}

void ArchiveWriter::add_stream(const std::string& path, std::uint64_t size, std::int64_t mtime, bool stored,
                               const StreamReader& read) {
    write_header(path, static_cast<std::int64_t>(size), mtime, stored);
    std::uint64_t written = 0;
    read([&](std::string_view bytes) {
        // The header fixed the size: an object that changed since it was listed is an error,
        // not an entry whose bytes run into the next one's.
        if (written + bytes.size() > size)
            throw Error::runtime("cannot archive " + util::printable(path) + ": it grew since it was listed",
                                 "run it again");
        write_data(path, bytes.data(), bytes.size());
        written += bytes.size();
    });
    if (written != size)
        throw Error::runtime("cannot archive " + util::printable(path) + ": it shrank since it was listed",
                             "run it again");
}

void ArchiveWriter::finish() {
    if (m_finished) return;
    check(archive_write_close(m_archive), "close");
    if (m_zstd) m_zstd->end_frame();
    m_finished = true;
}

std::filesystem::path safe_relative_path(const std::string& path) {
    if (path.empty()) throw Error::integrity("archive entry with an empty name: refused");
    auto shown = util::printable(path);
    if (path.front() == '/') throw Error::integrity("archive entry " + shown + " has an absolute path: refused");
    std::filesystem::path relative;
    std::size_t start = 0;
    while (start <= path.size()) {
        auto end = path.find('/', start);
        if (end == std::string::npos) end = path.size();
        auto part = path.substr(start, end - start);
        if (part == "..") throw Error::integrity("archive entry " + shown + " climbs out with \"..\": refused");
        if (!part.empty() && part != ".") relative /= part;
        start = end + 1;
    }
    if (relative.empty()) throw Error::integrity("archive entry \"" + shown + "\" names no file: refused");
    return relative;
}

void drain(const crypto::ByteSource& source) {
    std::vector<unsigned char> buffer(1 << 16);
    while (source(buffer.data(), buffer.size()) != 0) {
    }
    OPENSSL_cleanse(buffer.data(), buffer.size());
}

// A tar stream read with libarchive from a ByteSource: entry by entry, every failure an
// Error::integrity naming what could not be read (or the source's own error, rethrown).
class TarStream {
public:
    explicit TarStream(const crypto::ByteSource& source)
        : m_client(source), m_archive(archive_read_new(), archive_read_free) {
        archive_read_support_format_tar(m_archive.get());
        if (archive_read_open(m_archive.get(), &m_client, nullptr, ArchiveSourceClient::read, nullptr) != ARCHIVE_OK)
            fail("cannot open");
    }
    // The next entry's header; nullptr at the end of the archive.
    struct archive_entry* next() {
        struct archive_entry* entry = nullptr;
        int result = archive_read_next_header(m_archive.get(), &entry);
        if (result == ARCHIVE_EOF) return nullptr;
        if (result < ARCHIVE_WARN) fail("bad entry header");
        return entry;
    }
    struct archive* get() {
        return m_archive.get();
    }
    void rethrow_source_error() const { m_client.rethrow_source_error(); }
    [[noreturn]] void fail(const std::string& what) {
        m_client.rethrow_source_error();
        const char* message = archive_error_string(m_archive.get());
        throw Error::integrity("not a valid backup archive: " + what + (message ? std::string(": ") + message : ""));
    }

private:
    ArchiveSourceClient m_client;
    std::unique_ptr<struct archive, int (*)(struct archive*)> m_archive;
};

std::optional<std::string> read_tar_entry(const crypto::ByteSource& source, const std::string& name) {
    TarStream tar(source);
    std::optional<std::string> content;
    while (auto* entry = tar.next()) {
        const char* path = archive_entry_pathname(entry);
        if (!path || name != path) {
            if (archive_read_data_skip(tar.get()) < ARCHIVE_WARN) tar.fail("cannot read an entry");
            continue;
        }
        std::string data;
        char buffer[1 << 14];
        la_ssize_t n;
        while ((n = archive_read_data(tar.get(), buffer, sizeof buffer)) > 0)
            data.append(buffer, static_cast<std::size_t>(n));
        if (n < 0) tar.fail("cannot read " + name);
        content = std::move(data);
    }
    tar.rethrow_source_error();
    drain(source);
    return content;
}

ExtractStats extract_tar(const crypto::ByteSource& source, const std::filesystem::path& dir, const LineFilter* filter) {
    ExtractStats stats;
    TarStream tar(source);
    while (auto* entry = tar.next()) {
        const char* name = archive_entry_pathname(entry);
        std::string entry_path = name ? name : "";
        auto relative = safe_relative_path(entry_path);
        if (const char* refused = refused_type(entry))
            throw Error::integrity("archive entry " + util::printable(entry_path) + " is " + refused + ": refused",
                                   "backups hold only plain files; this archive was not written by gdprctl");
        auto target = dir / relative;
        if (archive_entry_filetype(entry) == AE_IFDIR) {
            make_directories(dir, relative);
            continue;
        }
        if (relative.has_parent_path()) make_directories(dir, relative.parent_path());
        int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            if (errno == EEXIST)
                throw Error::integrity("archive entry " + util::printable(entry_path) + " appears twice: refused");
            throw Error::runtime("cannot create " + target.string() + ": " + errno_text());
        }
        try {
            stats.bytes += copy_entry_data(tar.get(), fd, target, entry_path, filter, stats);
        } catch (...) {
            ::close(fd);
            tar.rethrow_source_error();
            throw;
        }
        if (::fsync(fd) != 0 || ::close(fd) != 0)
            throw Error::runtime("cannot write " + target.string() + ": " + errno_text());
        ++stats.files;
    }
    return stats;
}

}  // namespace gdprctl::backup
