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

}  // namespace
}  // namespace gdprctl::util
