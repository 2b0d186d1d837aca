// The helper-thread sink keeps bytes in order across batches, delivers everything by finish(),
// and reports a failure of its downstream to the writer.
#include <gtest/gtest.h>

#include <numeric>
#include <stdexcept>

#include "core/crypto/workers.hpp"

namespace gdprctl::crypto {
namespace {

TEST(BackgroundSink, DeliversEveryByteInOrderWhateverTheWriteSizes) {
    std::vector<unsigned char> input(1000003);
    std::iota(input.begin(), input.end(), static_cast<unsigned char>(0));
    for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<unsigned char>(i * 7919 >> 3);
    std::vector<unsigned char> output;
    std::size_t calls = 0;
    BackgroundSink sink(
        [&](const unsigned char* data, std::size_t size) {
            output.insert(output.end(), data, data + size);
            ++calls;
        },
        4096);
    std::size_t offset = 0;
    for (std::size_t step = 1; offset < input.size(); step = step * 3 % 10007 + 1) {
        std::size_t size = std::min(step, input.size() - offset);
        sink.write(input.data() + offset, size);
        offset += size;
    }
    sink.finish();
    EXPECT_EQ(output, input);
    EXPECT_GE(calls, input.size() / 4096);
    sink.write(input.data(), 10);
    sink.finish();
    EXPECT_EQ(output.size(), input.size() + 10);
}

TEST(BackgroundSink, ADownstreamFailureReachesTheWriter) {
    BackgroundSink sink([](const unsigned char*, std::size_t) { throw std::runtime_error("disk full"); }, 16);
    std::vector<unsigned char> data(64, 1);
    EXPECT_THROW(
        {
            sink.write(data.data(), data.size());
            sink.finish();
        },
        std::runtime_error);
}

}  // namespace
}  // namespace gdprctl::crypto
