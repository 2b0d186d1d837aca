#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace gdprctl::util {

// Whether publishing a file may replace what is at its path. never: nothing there is touched,
// not a file, not a symbolic link (dangling or not): the check is the kernel's own, made at
// the rename (renameat2 RENAME_NOREPLACE, or link(2) where the file system lacks it), so no
// file that appears meanwhile is lost.
enum class Replace { allowed, never };

// Writes content to a temporary file beside path (created with mode), fsyncs it and renames
// it over path, so readers see either the old file or the whole new one. Throws Error::runtime;
// Error::usage when replace is never and path exists.
void write_file_atomically(const std::filesystem::path& path, std::string_view content, unsigned mode = 0600,
                           Replace replace = Replace::allowed);

// Error::usage, naming path, when something (a symbolic link included) is at path.
void refuse_existing(const std::filesystem::path& path);
// Error::usage, naming path, when path is a symbolic link, dangling or not: for outputs that
// may replace a file (export --force, an empty restore directory) but never through a link.
void refuse_symbolic_link(const std::filesystem::path& path);

// Creates dir (and parents) with mode when missing; tightens nothing that exists.
void ensure_private_directory(const std::filesystem::path& dir);

// Expands a glob (fnmatch syntax, '*' does not cross '/'), sorted. Relative patterns are taken
// from base. No match is an empty list, not an error.
std::vector<std::filesystem::path> expand_glob(const std::filesystem::path& base, const std::string& pattern);

std::string read_file(const std::filesystem::path& path);

// Writes every byte to fd (retrying short writes and EINTR), at most 128 KiB per write():
// on the 6.x kernels we run on, a larger write() into the page cache takes large folios whose
// memory, fresh from the allocator, a VM's host must first fault in; writing a GiB cost up to
// twice the time in 1 MiB writes (dd, measured: 2.2-2.5 s against 1.0 s). Throws
// Error::runtime naming shown.
void write_fully(int fd, std::string_view content, const std::filesystem::path& shown);

// A file written in pieces and published atomically: bytes go to a temporary name beside
// path (created with mode); commit() fsyncs and renames it into place. Destroyed without
// commit(), the temporary file is removed, so a failed or interrupted write leaves nothing.
// With Replace::never, a path already taken is refused at once and again at commit().
class AtomicFile {
public:
    explicit AtomicFile(const std::filesystem::path& path, unsigned mode = 0600, Replace replace = Replace::allowed);
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write(const void* data, std::size_t size);
    void commit();
    const std::filesystem::path& path() const { return m_path; }

private:
    std::filesystem::path m_path;
    std::filesystem::path m_temp;
    Replace m_replace;
    int m_fd = -1;
    std::uint64_t m_written = 0;
    std::uint64_t m_flushing = 0;  // bytes handed to the kernel's writeback so far
};

// The workspace's lock for runs that change the stores (retention, erasure): an flock on
// <state dir>/retention.lock held while the object lives, so two never rewrite the same log at
// once. Error::runtime when another run holds it and wait is false.
class StoreLock {
public:
    StoreLock(const std::filesystem::path& state_dir, bool wait);
    ~StoreLock();
    StoreLock(const StoreLock&) = delete;
    StoreLock& operator=(const StoreLock&) = delete;

private:
    int m_fd = -1;
};

// A file open for reading, closed when this goes. Error::runtime naming the file when it cannot
// be opened; a missing file is no error when missing_ok, and is then !is_open().
class ReadOnlyFile {
public:
    explicit ReadOnlyFile(const std::filesystem::path& path, bool missing_ok = false);
    ~ReadOnlyFile();
    ReadOnlyFile(const ReadOnlyFile&) = delete;
    ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

    bool is_open() const { return m_fd >= 0; }
    int fd() const { return m_fd; }
    std::uint64_t size() const { return m_size; }  // when it was opened

private:
    int m_fd = -1;
    std::uint64_t m_size = 0;
};

// path relative to base when it lies below base, else as given.
std::filesystem::path resolve(const std::filesystem::path& base, const std::string& path);

}  // namespace gdprctl::util
