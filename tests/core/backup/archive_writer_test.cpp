#include "core/backup/archive.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "tests/support/temp_dir.hpp"

namespace gdprctl::backup {
namespace {

using testing::read_text;
using testing::run_command;
using testing::TempDir;
using testing::write_text;

std::string random_bytes(std::size_t size, unsigned seed) {
    std::mt19937 random(seed);
    std::string bytes(size, '\0');
    for (auto& byte : bytes) byte = static_cast<char>(random());
    return bytes;
}

std::string repeated_lines(std::size_t count) {
    std::string text;
    for (std::size_t i = 0; i < count; ++i)
        text += "{\"id\":" + std::to_string(i) + ",\"email\":\"viewer" + std::to_string(i % 50) + "@example.org\"}\n";
    return text;
}

// tar.zst changes zstd's level between records and media, in separate frames: what the tools a
// recipient has (zstd, GNU tar) must read as one archive, every entry whole, in order.
TEST(ArchiveWriter, TarZstWithMediaBetweenRecordsOpensWithZstdAndGnuTar) {
    TempDir dir;
    auto records = repeated_lines(20000);
    auto media = random_bytes(3 << 20, 7);
    write_text(dir / "media.flv", media);
    std::ofstream out(dir / "export.tar.zst", std::ios::binary);
    {
        ArchiveWriter archive(
            [&](const unsigned char* data, std::size_t size) {
                out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
            },
            ArchiveFormat::tar_zst);
        archive.add("records/a.jsonl", records, 1795000000);
        archive.add_file("files/media.flv", dir / "media.flv", 1795000000, true);
        archive.add("records/b.jsonl", records.substr(0, 1000), 1795000000);
        archive.finish();
    }
    out.close();

    std::string listing, err;
    ASSERT_EQ(run_command("zstd -t " + (dir / "export.tar.zst").string(), nullptr, &err), 0) << err;
    ASSERT_EQ(run_command("zstd -l " + (dir / "export.tar.zst").string() + " | awk 'NR == 2 {print $1}'", &listing), 0);
    EXPECT_EQ(listing, "3\n") << "one frame per level change: records, media, records";
    ASSERT_EQ(run_command("tar --zstd -tf " + (dir / "export.tar.zst").string(), &listing), 0);
    EXPECT_EQ(listing, "records/a.jsonl\nfiles/media.flv\nrecords/b.jsonl\n");
    ASSERT_EQ(run_command("mkdir " + (dir / "x").string() + " && tar --zstd -xf " + (dir / "export.tar.zst").string() +
                              " -C " + (dir / "x").string(),
                          nullptr, &err),
              0)
        << err;
    EXPECT_EQ(read_text(dir / "x/records/a.jsonl"), records);
    EXPECT_EQ(read_text(dir / "x/files/media.flv"), media);
    EXPECT_EQ(read_text(dir / "x/records/b.jsonl"), records.substr(0, 1000));
}

TEST(ArchiveWriter, TarZstOfOnlyRecordsIsOneFrame) {
    TempDir dir;
    std::ofstream out(dir / "only.tar.zst", std::ios::binary);
    {
        ArchiveWriter archive(
            [&](const unsigned char* data, std::size_t size) {
                out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
            },
            ArchiveFormat::tar_zst);
        archive.add("manifest.json", "{}\n", 1795000000);
        archive.finish();
    }
    out.close();
    std::string listing;
    ASSERT_EQ(run_command("zstd -l " + (dir / "only.tar.zst").string() + " | awk 'NR == 2 {print $1}'", &listing), 0);
    EXPECT_EQ(listing, "1\n");
    ASSERT_EQ(run_command("tar --zstd -xOf " + (dir / "only.tar.zst").string() + " manifest.json", &listing), 0);
    EXPECT_EQ(listing, "{}\n");
}

}  // namespace
}  // namespace gdprctl::backup
