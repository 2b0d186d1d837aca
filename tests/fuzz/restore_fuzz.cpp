// libFuzzer target: archive extraction must refuse or extract any tar stream without a crash
// and without writing outside its destination directory.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/backup/archive.hpp"
#include "core/error.hpp"

using namespace gdprctl;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::filesystem::path root = [] {
        char pattern[] = "/tmp/gdprctl-fuzz-XXXXXX";
        return std::filesystem::path(::mkdtemp(pattern));
    }();
    auto destination = root / "out";
    std::filesystem::remove_all(destination);
    std::filesystem::create_directory(destination);
    std::size_t position = 0;
    crypto::ByteSource source = [&](unsigned char* out, std::size_t want) {
        std::size_t n = std::min(want, size - position);
        if (n) std::memcpy(out, data + position, n);
        position += n;
        return n;
    };
    backup::LineFilter filter;
    filter.applies = [](const std::string& path) { return path.size() % 2 == 0; };
    filter.keep = [](const std::string&, std::string_view line) { return line.size() % 3 != 0; };
    try {
        backup::extract_tar(source, destination, &filter);
    } catch (const Error&) {
    }
    // Nothing may appear beside the destination.
    for (const auto& entry : std::filesystem::directory_iterator(root))
        if (entry.path() != destination) std::abort();
    return 0;
}
