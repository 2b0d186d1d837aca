#include "core/util/fs.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.hpp"

namespace gdprctl::util {

namespace {

std::string errno_text() { return std::strerror(errno); }

std::string random_suffix() {
    std::random_device device;
    std::uniform_int_distribution<unsigned> dist(0, 0xffffff);
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "%06x", dist(device));
    return buffer;
}

std::string already_there(const std::filesystem::path& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) == 0 && S_ISLNK(info.st_mode))
        return path.string() + " is a symbolic link; gdprctl neither writes through links nor replaces them";
    return path.string() + " exists; gdprctl does not overwrite files";
}

// rename(2) that fails with EEXIST instead of replacing what is at to.
int rename_without_replacing(const std::filesystem::path& from, const std::filesystem::path& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    // A file system without RENAME_NOREPLACE: link(2) never replaces either.
    if (::link(from.c_str(), to.c_str()) != 0) return -1;
    ::unlink(from.c_str());
    return 0;
}

// Moves temp to path; on failure temp is removed and the error names path.
void publish(const std::filesystem::path& temp, const std::filesystem::path& path, Replace replace) {
    int result =
        replace == Replace::never ? rename_without_replacing(temp, path) : ::rename(temp.c_str(), path.c_str());
    if (result == 0) return;
    int saved = errno;
    ::unlink(temp.c_str());
    if (saved == EEXIST) throw Error::usage(already_there(path), "remove it or choose another name");
    throw Error::runtime("cannot rename into " + path.string() + ": " + std::strerror(saved));
}

}  // namespace

void refuse_symbolic_link(const std::filesystem::path& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) == 0 && S_ISLNK(info.st_mode))
        throw Error::usage(already_there(path), "give the file or directory itself, or a new path");
}

void refuse_existing(const std::filesystem::path& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) == 0) throw Error::usage(already_there(path), "remove it or choose another name");
}

void write_fully(int fd, std::string_view content, const std::filesystem::path& shown) {
    constexpr std::size_t k_largest_write = 128u << 10;
    while (!content.empty()) {
        ssize_t n = ::write(fd, content.data(), std::min(content.size(), k_largest_write));
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error::runtime("cannot write " + shown.string() + ": " + errno_text());
        }
        content.remove_prefix(static_cast<std::size_t>(n));
    }
}

void write_file_atomically(const std::filesystem::path& path, std::string_view content, unsigned mode,
                           Replace replace) {
    if (replace == Replace::never) refuse_existing(path);
    auto temp = path;
    temp += ".tmp-" + random_suffix();
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) throw Error::runtime("cannot create " + temp.string() + ": " + errno_text());
    try {
        write_fully(fd, content, temp);
        if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0)
            throw Error::runtime("cannot finish " + temp.string() + ": " + errno_text());
    } catch (...) {
        ::close(fd);
        ::unlink(temp.c_str());
        throw;
    }
    ::close(fd);
    publish(temp, path, replace);
}

AtomicFile::AtomicFile(const std::filesystem::path& path, unsigned mode, Replace replace)
    : m_path(path), m_replace(replace) {
    if (replace == Replace::never) refuse_existing(path);
    m_temp = path;
    m_temp += ".tmp-" + random_suffix();
    m_fd = ::open(m_temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (m_fd < 0) throw Error::runtime("cannot create " + m_temp.string() + ": " + errno_text());
    ::fchmod(m_fd, mode);
}

AtomicFile::~AtomicFile() {
    if (m_fd < 0) return;
    ::close(m_fd);
    ::unlink(m_temp.c_str());
}

void AtomicFile::write(const void* data, std::size_t size) {
    write_fully(m_fd, std::string_view(static_cast<const char*>(data), size), m_temp);
    m_written += size;
    // Start writeback of what is written while the rest is still being produced, so that the
    // fsync in commit() finds little left to do (a large file is otherwise written to disk
    // only then, all at once, after the work).
    constexpr std::uint64_t k_writeback_step = 8u << 20;
    if (m_written - m_flushing >= k_writeback_step) {
        ::sync_file_range(m_fd, static_cast<off_t>(m_flushing), static_cast<off_t>(m_written - m_flushing),
                          SYNC_FILE_RANGE_WRITE);
        m_flushing = m_written;
    }
}

void AtomicFile::commit() {
    if (::fsync(m_fd) != 0) throw Error::runtime("cannot flush " + m_temp.string() + ": " + errno_text());
    ::close(m_fd);
    m_fd = -1;
    publish(m_temp, m_path, m_replace);
}

void ensure_private_directory(const std::filesystem::path& dir) {
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec)) return;
    if (dir.has_parent_path() && !dir.parent_path().empty()) std::filesystem::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw Error::runtime("cannot create directory " + dir.string() + ": " + errno_text(),
                             "check that the parent directory exists and is writable");
}

std::vector<std::filesystem::path> expand_glob(const std::filesystem::path& base, const std::string& pattern) {
    std::filesystem::path full =
        std::filesystem::path(pattern).is_absolute() ? std::filesystem::path(pattern) : base / pattern;
    glob_t found{};
    int rc = ::glob(full.c_str(), GLOB_NOSORT, nullptr, &found);
    std::vector<std::filesystem::path> paths;
    if (rc == 0)
        for (std::size_t i = 0; i < found.gl_pathc; ++i) paths.emplace_back(found.gl_pathv[i]);
    ::globfree(&found);
    std::sort(paths.begin(), paths.end());
    return paths;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error::runtime("cannot read " + path.string() + ": " + errno_text());
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

ReadOnlyFile::ReadOnlyFile(const std::filesystem::path& path, bool missing_ok) {
    m_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (m_fd < 0) {
        if (missing_ok && errno == ENOENT) return;
        throw Error::runtime("cannot read " + path.string() + ": " + std::strerror(errno));
    }
    struct stat info {};
    if (::fstat(m_fd, &info) != 0) {
        int saved = errno;
        ::close(m_fd);
        throw Error::runtime("cannot stat " + path.string() + ": " + std::strerror(saved));
    }
    m_size = static_cast<std::uint64_t>(info.st_size);
}

ReadOnlyFile::~ReadOnlyFile() {
    if (m_fd >= 0) ::close(m_fd);
}

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& path) {
    std::filesystem::path p(path);
    return p.is_absolute() ? p : (base / p).lexically_normal();
}

StoreLock::StoreLock(const std::filesystem::path& state_dir, bool wait) {
    ensure_private_directory(state_dir);
    auto path = state_dir / "retention.lock";
    m_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (m_fd < 0) throw Error::runtime("cannot open " + path.string() + ": " + std::strerror(errno));
    if (::flock(m_fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
        ::close(m_fd);
        throw Error::runtime("another retention or erasure run holds the lock " + path.string(),
                             "wait for it to finish, or pass --wait to queue behind it");
    }
}

StoreLock::~StoreLock() { ::close(m_fd); }

}  // namespace gdprctl::util
