// libFuzzer target: the container decoder must turn any input into plaintext or an Error, never
// a crash, hang or out-of-bounds access. The first byte picks the mode: a whole file, or a
// valid header (so the MAC passes) followed by the fuzzed bytes as the chunk stream.
#include <cstring>
#include <optional>

#include "core/crypto/container.hpp"
#include "core/error.hpp"

using namespace gdprctl;

namespace {

crypto::SecretBytes fixed_key() {
    crypto::SecretBytes key(crypto::k_key_size);
    std::memset(key.data(), 0x5c, key.size());
    return key;
}

const crypto::Bytes& valid_header() {
    static const crypto::Bytes header = [] {
        crypto::Bytes file;
        std::vector<crypto::Recipient> recipients;
        recipients.push_back(crypto::Recipient::symmetric(crypto::Bytes(16, 1), fixed_key()));
        crypto::WriterOptions options;
        options.threads = 1;
        crypto::ContainerWriter writer(
            [&](const unsigned char* data, std::size_t size) { file.insert(file.end(), data, data + size); },
            recipients, options);
        file.resize(writer.header().size());  // the header only: no chunk
        return file;
    }();
    return header;
}

void decode(const crypto::Bytes& file) {
    crypto::Keyring keyring;
    keyring.key_for = [](const std::string&) -> std::optional<crypto::SecretBytes> { return fixed_key(); };
    std::size_t position = 0;
    crypto::ByteSource source = [&](unsigned char* out, std::size_t size) {
        std::size_t n = std::min(size, file.size() - position);
        if (n) std::memcpy(out, file.data() + position, n);
        position += n;
        return n;
    };
    try {
        crypto::ContainerReader reader(source, keyring, 1, 2);
        unsigned char buffer[4096];
        while (reader.read(buffer, sizeof buffer)) {
        }
    } catch (const Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    crypto::Bytes file;
    if (data[0] & 1) file = valid_header();
    file.insert(file.end(), data + 1, data + size);
    decode(file);
    return 0;
}
