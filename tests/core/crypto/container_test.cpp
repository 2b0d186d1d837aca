// The container's promises, each as a test: what goes in comes out, and any change to the file
// (a flipped bit anywhere, a cut at a chunk boundary, reordered, duplicated or appended chunks,
// a wrong key) is an integrity error before the affected plaintext is released.
#include "core/crypto/container.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "core/error.hpp"
#include "core/util/hex.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::crypto {
namespace {

constexpr std::size_t k_sealed = k_chunk_size + k_tag_size;

Bytes pattern(std::size_t size, unsigned seed = 7) {
    Bytes bytes(size);
    for (std::size_t i = 0; i < size; ++i)
        bytes[i] = static_cast<unsigned char>((i * 131 + seed * 17 + (i >> 9)) & 0xff);
    return bytes;
}

struct Sealed {
    Bytes file;
    std::size_t header_size = 0;
};

Bytes key_id() { return Bytes(k_key_id_size, 0xab); }

SecretBytes test_key(unsigned char fill = 0x42) {
    SecretBytes key(k_key_size);
    std::memset(key.data(), fill, key.size());
    return key;
}

Sealed seal(const Bytes& plain, WriterOptions options = {}, std::size_t piece = 10007) {
    Sealed sealed;
    std::vector<Recipient> recipients;
    recipients.push_back(Recipient::symmetric(key_id(), test_key()));
    ContainerWriter writer(
        [&](const unsigned char* data, std::size_t size) { sealed.file.insert(sealed.file.end(), data, data + size); },
        recipients, std::move(options));
    for (std::size_t at = 0; at < plain.size(); at += piece)
        writer.write(plain.data() + at, std::min(piece, plain.size() - at));
    writer.finish();
    sealed.header_size = writer.header().size();
    return sealed;
}

Keyring keyring_with(SecretBytes key) {
    auto shared = std::make_shared<SecretBytes>(std::move(key));
    Keyring ring;
    ring.key_for = [shared](const std::string& id) -> std::optional<SecretBytes> {
        if (id != util::to_hex(key_id().data(), key_id().size())) return std::nullopt;
        return shared->copy();
    };
    return ring;
}

ByteSource source_of(const Bytes& file) {
    auto position = std::make_shared<std::size_t>(0);
    return [&file, position](unsigned char* out, std::size_t size) {
        std::size_t n = std::min(size, file.size() - *position);
        if (n) std::memcpy(out, file.data() + *position, n);
        *position += n;
        return n;
    };
}

Bytes open_all(const Bytes& file, const Keyring& ring, unsigned threads = 2, std::size_t batch = 3) {
    ContainerReader reader(source_of(file), ring, threads, batch);
    Bytes plain;
    unsigned char buffer[50000];
    while (auto n = reader.read(buffer, sizeof buffer)) plain.insert(plain.end(), buffer, buffer + n);
    return plain;
}

void expect_integrity_error(const Bytes& file, const std::string& what) {
    try {
        open_all(file, keyring_with(test_key()));
        ADD_FAILURE() << what << ": opened without an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::integrity) << what << ": " << e.what();
    }
}

TEST(Container, RoundTripsEverySizeAroundChunkBoundaries) {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, k_chunk_size - 1, k_chunk_size, k_chunk_size + 1,
                             3 * k_chunk_size, 5 * k_chunk_size + 7, (std::size_t{5} << 20) + 3}) {
        auto plain = pattern(size);
        for (unsigned threads : {1u, 2u}) {
            WriterOptions options;
            options.threads = threads;
            options.batch_chunks = 2;
            auto sealed = seal(plain, options);
            std::size_t chunks = std::max<std::size_t>(1, (size + k_chunk_size - 1) / k_chunk_size);
            EXPECT_EQ(sealed.file.size(), sealed.header_size + size + chunks * k_tag_size) << size;
            EXPECT_EQ(open_all(sealed.file, keyring_with(test_key()), threads, 1), plain) << size;
            EXPECT_EQ(open_all(sealed.file, keyring_with(test_key()), threads, 64), plain) << size;
        }
    }
}

TEST(Container, BothSuitesWork) {
    auto plain = pattern(300000);
    for (auto suite : {Suite::aes256gcm, Suite::chacha20poly1305}) {
        WriterOptions options;
        options.suite = suite;
        auto sealed = seal(plain, options);
        EXPECT_EQ(read_header(source_of(sealed.file)).suite, suite);
        EXPECT_EQ(open_all(sealed.file, keyring_with(test_key())), plain);
    }
}

TEST(Container, AFlippedBitAnywhereIsCaught) {
    auto plain = pattern(3 * k_chunk_size + 100);
    auto sealed = seal(plain);
    // Every header byte, then a sample through the payload including tags.
    std::vector<std::size_t> positions;
    for (std::size_t i = 0; i < sealed.header_size; ++i) positions.push_back(i);
    for (std::size_t i = sealed.header_size; i < sealed.file.size(); i += 4099) positions.push_back(i);
    positions.push_back(sealed.file.size() - 1);
    for (auto position : positions) {
        auto tampered = sealed.file;
        tampered[position] ^= 0x10;
        expect_integrity_error(tampered, "bit flipped at byte " + std::to_string(position));
    }
}

TEST(Container, TruncationAtEveryChunkBoundaryIsCaught) {
    auto plain = pattern(4 * k_chunk_size);  // the final chunk is a full one
    auto sealed = seal(plain);
    for (std::size_t chunks = 0; chunks < 4; ++chunks) {
        Bytes cut(sealed.file.begin(), sealed.file.begin() + static_cast<long>(sealed.header_size + chunks * k_sealed));
        expect_integrity_error(cut, "cut after " + std::to_string(chunks) + " chunks");
    }
    Bytes inside_header(sealed.file.begin(), sealed.file.begin() + 40);
    expect_integrity_error(inside_header, "cut inside the header");
}

TEST(Container, ReorderedDuplicatedAndAppendedChunksAreCaught) {
    auto plain = pattern(3 * k_chunk_size + 5);
    auto sealed = seal(plain);
    auto chunk = [&](std::size_t i) {
        auto begin = sealed.file.begin() + static_cast<long>(sealed.header_size + i * k_sealed);
        auto end = std::min(begin + static_cast<long>(k_sealed), sealed.file.end());
        return Bytes(begin, end);
    };
    Bytes header(sealed.file.begin(), sealed.file.begin() + static_cast<long>(sealed.header_size));
    auto assemble = [&](std::initializer_list<std::size_t> order) {
        auto file = header;
        for (auto i : order) {
            auto c = chunk(i);
            file.insert(file.end(), c.begin(), c.end());
        }
        return file;
    };
    expect_integrity_error(assemble({1, 0, 2, 3}), "chunks 0 and 1 swapped");
    expect_integrity_error(assemble({0, 0, 1, 2, 3}), "chunk 0 duplicated");
    expect_integrity_error(assemble({0, 1, 2, 3, 3}), "final chunk duplicated");
    expect_integrity_error(assemble({0, 1, 3}), "chunk 2 dropped");
    auto appended = sealed.file;
    appended.insert(appended.end(), 100, 0x00);
    expect_integrity_error(appended, "bytes appended");
}

TEST(Container, NothingOfATamperedBatchIsReleased) {
    auto plain = pattern(6 * k_chunk_size);
    auto sealed = seal(plain);
    sealed.file[sealed.header_size + 4 * k_sealed + 10] ^= 1;  // chunk 4
    ContainerReader reader(source_of(sealed.file), keyring_with(test_key()), 1, 2);
    Bytes released;
    unsigned char buffer[k_chunk_size];
    EXPECT_THROW(
        {
            while (auto n = reader.read(buffer, sizeof buffer)) released.insert(released.end(), buffer, buffer + n);
        },
        Error);
    // Batches of two: chunks 0-3 verified and were released, the batch holding chunk 4 was not.
    EXPECT_EQ(released.size(), 4 * k_chunk_size);
    EXPECT_TRUE(std::equal(released.begin(), released.end(), plain.begin()));
}

TEST(Container, AWrongKeyOrUnknownKeyIsAnIntegrityErrorNamingTheKey) {
    auto sealed = seal(pattern(1000));
    try {
        open_all(sealed.file, keyring_with(test_key(0x43)));
        FAIL() << "a wrong key opened the container";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::integrity);
    }
    Keyring empty;
    try {
        open_all(sealed.file, empty);
        FAIL() << "no key opened the container";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::integrity);
        EXPECT_NE(std::string(e.what()).find(util::to_hex(key_id().data(), key_id().size())), std::string::npos)
            << e.what();
    }
}

TEST(Container, X25519RecipientsAndKeysOpenTheSameFile) {
    auto alice = x25519_generate();
    auto bob = x25519_generate();
    auto plain = pattern(200000);
    std::vector<Recipient> recipients;
    recipients.push_back(Recipient::x25519(alice.public_key));
    recipients.push_back(Recipient::symmetric(key_id(), test_key()));
    Bytes file;
    ContainerWriter writer([&](const unsigned char* d, std::size_t n) { file.insert(file.end(), d, d + n); },
                           recipients);
    writer.write(plain.data(), plain.size());
    writer.finish();

    Keyring with_alice;
    with_alice.identities.push_back(alice.private_key.copy());
    EXPECT_EQ(open_all(file, with_alice), plain);
    EXPECT_EQ(open_all(file, keyring_with(test_key())), plain);
    Keyring with_bob;
    with_bob.identities.push_back(bob.private_key.copy());
    EXPECT_THROW(open_all(file, with_bob), Error);
    auto header = read_header(source_of(file));
    EXPECT_EQ(header.x25519_recipients(), 1u);
    EXPECT_EQ(header.key_ids().size(), 1u);
}

TEST(Container, StoredIdentitiesAreAskedForOnlyWhenAnX25519StanzaIsNotOpenedOtherwise) {
    auto tenant = x25519_generate();
    auto plain = pattern(70000);
    std::vector<Recipient> recipients;
    recipients.push_back(Recipient::x25519(tenant.public_key));
    Bytes file;
    ContainerWriter writer([&](const unsigned char* d, std::size_t n) { file.insert(file.end(), d, d + n); },
                           recipients);
    writer.write(plain.data(), plain.size());
    writer.finish();

    int asked = 0;
    Keyring store;
    store.stored_identities = [&] {
        ++asked;
        std::vector<SecretBytes> identities;
        identities.push_back(x25519_generate().private_key.copy());  // another tenant's, tried first
        identities.push_back(tenant.private_key.copy());
        return identities;
    };
    EXPECT_EQ(open_all(file, store), plain);
    EXPECT_EQ(asked, 1);
    EXPECT_EQ(open_all(seal(plain).file,
                       [&] {
                           auto ring = keyring_with(test_key());
                           ring.stored_identities = store.stored_identities;
                           return ring;
                       }()),
              plain);
    EXPECT_EQ(asked, 1) << "a container without an X25519 stanza needs no private key unwrapped";
}

TEST(Container, APassphraseOpensItAndIsTheOnlyRecipient) {
    auto plain = pattern(100000);
    std::vector<Recipient> recipients;
    recipients.push_back(Recipient::with_passphrase("correct horse", 10));
    Bytes file;
    ContainerWriter writer([&](const unsigned char* d, std::size_t n) { file.insert(file.end(), d, d + n); },
                           recipients);
    writer.write(plain.data(), plain.size());
    writer.finish();
    Keyring right;
    right.passphrases = {"correct horse"};
    EXPECT_EQ(open_all(file, right), plain);
    Keyring wrong;
    wrong.passphrases = {"battery staple"};
    try {
        open_all(file, wrong);
        FAIL() << "a wrong passphrase opened the container";
    } catch (const Error& e) {
        // gdprctl-container(1): exit 4 when no key given opens it, whatever kind of key.
        EXPECT_EQ(e.kind(), ErrorKind::integrity) << e.what();
    }
    // A cost beyond what gdprctl accepts is refused before any scrypt runs (the header MAC
    // cannot be checked first: it needs the key).
    auto header = read_header(source_of(file));
    auto costly = file;
    costly[header.preamble_bytes().size() + 1 + 3 + 16] = 30;
    EXPECT_THROW(open_all(costly, right), Error);

    recipients.push_back(Recipient::symmetric(key_id(), test_key()));
    EXPECT_THROW(ContainerWriter([](const unsigned char*, std::size_t) {}, recipients), Error);
}

TEST(Container, MalformedHeadersAreRejectedBeforeAnyKeyIsTried) {
    auto sealed = seal(pattern(10));
    auto with = [&](std::size_t offset, unsigned char value) {
        auto file = sealed.file;
        file[offset] = value;
        return file;
    };
    for (auto [file, what] : std::vector<std::pair<Bytes, std::string>>{
             {with(7, 2), "format version 2"},
             {with(8, 9), "unknown suite"},
             {with(9, 15), "chunk size 2^15"},
             {with(10, 1), "unknown flags"},
             {Bytes{'n', 'o', 't', ' ', 'o', 'u', 'r', 's'}, "not a container"}}) {
        try {
            read_header(source_of(file));
            ADD_FAILURE() << what << " was accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::integrity) << what;
        }
    }
}

// Deterministic randomness for the published test vector: byte i of the stream is i mod 251.
RandomFill counting_random() {
    auto next = std::make_shared<unsigned>(0);
    return [next](unsigned char* out, std::size_t size) {
        for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<unsigned char>((*next)++ % 251);
    };
}

std::filesystem::path vector_dir() { return std::filesystem::path(GDPRCTL_SOURCE_DIR) / "tests/data/container"; }

Bytes read_bytes(const std::filesystem::path& path) {
    auto text = testing::read_text(path);
    return Bytes(text.begin(), text.end());
}

TEST(ContainerVector, TheShippedVectorDecryptsAndIsReproducedByteForByte) {
    auto key_hex = testing::read_text(vector_dir() / "key.hex");
    auto key_id_hex = testing::read_text(vector_dir() / "key-id.hex");
    auto key_bytes = *util::from_hex(key_hex.substr(0, 64));
    auto id_bytes = *util::from_hex(key_id_hex.substr(0, 32));
    auto plain = read_bytes(vector_dir() / "plaintext.bin");
    auto expected = read_bytes(vector_dir() / "plaintext.bin.gdpc");

    std::vector<Recipient> recipients;
    recipients.push_back(Recipient::symmetric(id_bytes, SecretBytes(key_bytes.data(), key_bytes.size())));
    WriterOptions options;
    options.suite = Suite::aes256gcm;
    options.tenant = "acme";
    options.created = 1795392000;  // 2026-11-23T00:00:00Z
    options.random = counting_random();
    Bytes produced;
    ContainerWriter writer([&](const unsigned char* d, std::size_t n) { produced.insert(produced.end(), d, d + n); },
                           recipients, options);
    writer.write(plain.data(), plain.size());
    writer.finish();
    EXPECT_EQ(produced, expected) << "the format changed: a shipped vector must never change";

    Keyring ring;
    auto key = std::make_shared<SecretBytes>(key_bytes.data(), key_bytes.size());
    ring.key_for = [key](const std::string&) -> std::optional<SecretBytes> { return key->copy(); };
    EXPECT_EQ(open_all(expected, ring), plain);
}

SecretBytes vector_identity() {
    auto text = testing::read_text(vector_dir() / "identity.txt");
    auto hex = text.substr(text.rfind('\n', text.size() - 2) + 1, 64);
    auto bytes = *util::from_hex(hex);
    return SecretBytes(bytes.data(), bytes.size());
}

// gdprctl-container(5): "A reader tries the stanzas in order with the keys it holds and uses the
// first DEK that unwraps." A low-order ephemeral key (an all-zero X25519 result) unwraps nothing.
TEST(ContainerVector, AnX25519StanzaWithALowOrderKeyIsPassedOverAndTheNextOneOpens) {
    Keyring ring;
    ring.identities.push_back(vector_identity());
    EXPECT_EQ(open_all(read_bytes(vector_dir() / "low-order-first.gdpc"), ring),
              read_bytes(vector_dir() / "plaintext.bin"));
}

// "exactly 1 when it is a passphrase stanza": the header is malformed, whatever key is held.
TEST(ContainerVector, APassphraseStanzaBesideAnotherIsAMalformedHeader) {
    auto file = read_bytes(vector_dir() / "passphrase-beside-x25519.gdpc");
    try {
        read_header(source_of(file));
        FAIL() << "a passphrase stanza beside an X25519 stanza was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::integrity);
        EXPECT_NE(std::string(e.what()).find("passphrase stanza beside"), std::string::npos) << e.what();
    }
    Keyring ring;
    ring.identities.push_back(vector_identity());
    ring.passphrases = {"correct horse battery staple"};
    EXPECT_THROW(open_all(file, ring), Error);
}

}  // namespace
}  // namespace gdprctl::crypto
