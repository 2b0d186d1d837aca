#include "core/util/fs.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "core/error.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::util {
namespace {

std::string pattern(std::size_t size) {
    std::string text(size, '\0');
    for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + (i * 7 + i / 4099) % 26);
    return text;
}

// write_fully splits what it is given into several write() calls: every byte must still land,
// once, in order, whether the file takes it all or a pipe takes it a little at a time.
TEST(WriteFully, WritesEveryByteInOrderToAFileAndThroughAPipe) {
    testing::TempDir dir;
    auto content = pattern((3u << 20) + 12345);
    int fd = ::open((dir / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    write_fully(fd, content, dir / "out");
    ::close(fd);
    EXPECT_EQ(testing::read_text(dir / "out"), content);

    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    std::string received;
    std::thread reader([&] {
        char buffer[1000];
        for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) received.append(buffer, n);
    });
    write_fully(pipe_fds[1], content, "a pipe");
    ::close(pipe_fds[1]);
    reader.join();
    ::close(pipe_fds[0]);
    EXPECT_EQ(received, content);
}

TEST(WriteFully, NamesWhatItCouldNotWrite) {
    int fd = ::open("/dev/full", O_WRONLY);
    ASSERT_GE(fd, 0);
    try {
        write_fully(fd, "data", "the export");
        FAIL() << "a full device took the bytes";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find("cannot write the export"), std::string::npos) << error.what();
    }
    ::close(fd);
}

std::size_t entries_in(const std::filesystem::path& dir) {
    return static_cast<std::size_t>(
        std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()));
}

// The race "never overwritten" must survive: the name is free when the write starts and taken
// when it ends. What took it stays as it was, and the temporary file goes.
TEST(AtomicFile, NeverReplacesAFileThatAppearedWhileItWasWritten) {
    testing::TempDir dir;
    auto path = dir / "export.tar";
    AtomicFile file(path, 0600, Replace::never);
    file.write("new", 3);
    testing::write_text(path, "someone else's");
    try {
        file.commit();
        FAIL() << "commit replaced a file";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
    }
    EXPECT_EQ(testing::read_text(path), "someone else's");
    EXPECT_EQ(entries_in(dir.path()), 1u) << "the temporary file was left behind";
}

TEST(AtomicFile, NeverWritesThroughOrOverASymbolicLinkDanglingOrNot) {
    testing::TempDir dir;
    std::filesystem::create_symlink(dir / "nowhere", dir / "dangling");
    testing::write_text(dir / "target", "kept");
    std::filesystem::create_symlink(dir / "target", dir / "link");
    for (const char* name : {"dangling", "link"}) {
        try {
            AtomicFile file(dir / name, 0600, Replace::never);
            FAIL() << name << " was accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("symbolic link"), std::string::npos) << e.what();
        }
        EXPECT_THROW(write_file_atomically(dir / name, "x", 0600, Replace::never), Error) << name;
        EXPECT_TRUE(std::filesystem::is_symlink(dir / name)) << name;
    }
    EXPECT_FALSE(std::filesystem::exists(dir / "nowhere"));
    EXPECT_EQ(testing::read_text(dir / "target"), "kept");
    EXPECT_EQ(entries_in(dir.path()), 3u);
    // Where replacing is the point (a report rewritten each run), it still replaces.
    write_file_atomically(dir / "target", "new", 0600, Replace::allowed);
    EXPECT_EQ(testing::read_text(dir / "target"), "new");
}

}  // namespace
}  // namespace gdprctl::util
