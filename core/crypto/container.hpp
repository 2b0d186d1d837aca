#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/crypto/primitives.hpp"
#include "core/crypto/workers.hpp"

// The gdprctl container (man/gdprctl-container.5): a header that wraps a fresh random data key
// for one or more recipients and is authenticated with HMAC-SHA256, then the payload as a
// STREAM of AEAD chunks whose nonces carry a chunk counter and a last-chunk flag.
namespace gdprctl::crypto {

constexpr unsigned k_chunk_log2 = 16;
constexpr std::size_t k_chunk_size = std::size_t{1} << k_chunk_log2;
constexpr std::size_t k_key_id_size = 16;
constexpr unsigned char k_magic[8] = {'g', 'd', 'p', 'r', 'c', 't', 'l', 0x01};

enum class StanzaType : unsigned char { key = 0x01, x25519 = 0x02, scrypt = 0x03 };

// Who can open a container: the holder of a symmetric key (a tenant or platform key from the
// keystore, named by its 16-byte id), the holder of an X25519 private key, or whoever knows a
// passphrase (scrypt; then the only recipient).
struct Recipient {
    StanzaType type = StanzaType::key;
    Bytes key_id;            // key: 16 bytes
    SecretBytes key;         // key: 32 bytes
    Bytes public_key;        // x25519: 32 bytes
    std::string passphrase;  // scrypt
    unsigned scrypt_log2n = 18;
    static Recipient symmetric(Bytes key_id, const SecretBytes& key);
    static Recipient x25519(Bytes public_key);
    static Recipient with_passphrase(std::string passphrase, unsigned log2n = 18);
};

struct Stanza {
    StanzaType type;
    Bytes body;
};

struct ContainerHeader {
    Suite suite = Suite::aes256gcm;
    std::uint8_t flags = 0;
    Bytes object_id;           // 16 random bytes, unique per container
    std::int64_t created = 0;  // unix seconds, UTC
    std::string tenant;        // "" for platform-wide data or a plain file
    Bytes salt;                // 32 bytes, HKDF salt of the payload key
    std::vector<Stanza> stanzas;
    Bytes mac;                     // HMAC-SHA256 over `encoded`
    Bytes encoded;                 // the header bytes from the magic through the last stanza
    Bytes preamble_bytes() const;  // magic..salt: the associated data of every key wrap

    std::vector<std::string> key_ids() const;  // hex ids of the symmetric-key stanzas
    std::size_t x25519_recipients() const;
    bool passphrase_sealed() const;
    std::size_t size() const { return encoded.size() + mac.size(); }
};

// What opens containers: symmetric keys looked up by hex id, and X25519 identities.
// key_for may throw (e.g. Error::integrity "key destroyed") to say why a key is unavailable.
struct Keyring {
    std::function<std::optional<SecretBytes>(const std::string& key_id_hex)> key_for;
    std::vector<SecretBytes> identities;  // X25519 private keys
    // More X25519 private keys (a keystore's tenant recipient keys), asked for only when a
    // container has an X25519 stanza that the identities above do not open.
    std::function<std::vector<SecretBytes>()> stored_identities;
    std::vector<std::string> passphrases;  // for scrypt stanzas
};

// Randomness for the data key, salt, object id, nonces and ephemeral keys. Only test vectors
// replace the default (OpenSSL's CSPRNG).
using RandomFill = std::function<void(unsigned char*, std::size_t)>;

struct WriterOptions {
    Suite suite = preferred_suite();
    std::string tenant;
    std::optional<std::int64_t> created;  // default: now
    unsigned threads = 0;                 // sealing threads; 0: one per core, plus one
    std::size_t batch_chunks = 64;        // chunks encrypted per parallel step (memory: 2 x 64 KiB each)
    RandomFill random;                    // default: random_bytes
};

// A page-aligned byte buffer. Reads from the page cache into a buffer whose address is not
// page-aligned (what malloc returns for large blocks: page + 16) run several times slower.
class AlignedBuffer {
public:
    AlignedBuffer() = default;
    explicit AlignedBuffer(std::size_t size);
    ~AlignedBuffer();
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
    AlignedBuffer(AlignedBuffer&& other) noexcept { swap(other); }
    AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
        swap(other);
        return *this;
    }
    unsigned char* data() { return m_data; }
    const unsigned char* data() const { return m_data; }
    std::size_t size() const { return m_size; }
    bool empty() const { return m_size == 0; }

private:
    void swap(AlignedBuffer& other) noexcept {
        std::swap(m_data, other.m_data);
        std::swap(m_size, other.m_size);
    }
    unsigned char* m_data = nullptr;
    std::size_t m_size = 0;
};

using ByteSink = std::function<void(const unsigned char*, std::size_t)>;
// Fills up to size bytes; returns how many, 0 only at the end of the input.
using ByteSource = std::function<std::size_t(unsigned char*, std::size_t)>;

class ContainerWriter {
public:
    ContainerWriter(ByteSink sink, const std::vector<Recipient>& recipients, WriterOptions options = {});
    ~ContainerWriter();
    void write(const unsigned char* data, std::size_t size);
    // Reads source to its end straight into the chunk buffer: one copy less than write().
    void write_from(const ByteSource& source);
    // Seals the last chunk (flagged final). Nothing written after finish() is accepted.
    void finish();

    const ContainerHeader& header() const { return m_header; }
    std::uint64_t plaintext_bytes() const { return m_plaintext_bytes; }

private:
    void seal_full_batch();
    // Starts sealing the current buffer's first `bytes` on the worker threads, then passes the
    // previously sealed batch to the sink while they work.
    void start_sealing(std::size_t bytes, bool final);
    void finish_sealing();

    ByteSink m_sink;
    ContainerHeader m_header;
    Suite m_suite;
    std::size_t m_batch_chunks;
    std::unique_ptr<WorkerPool> m_pool;
    std::vector<std::unique_ptr<Aead>> m_aeads;  // one per worker part
    // Two plaintext and two ciphertext buffers: one batch is sealed while the next is filled.
    AlignedBuffer m_plain[2];
    AlignedBuffer m_cipher[2];
    int m_current = 0;
    std::size_t m_plain_used = 0;  // of m_plain[m_current]
    WorkerPool::Job m_job;
    bool m_sealing = false;  // a job runs on m_plain[m_sealing_index]
    int m_sealing_index = 0;
    std::size_t m_sealing_output = 0;  // bytes of m_cipher[m_sealing_index] it produces
    std::uint64_t m_next_chunk = 0;
    std::uint64_t m_plaintext_bytes = 0;
    bool m_finished = false;
};

// Reads just the header (no key needed). Throws Error::integrity when it is malformed.
ContainerHeader read_header(const ByteSource& source);

class ContainerReader {
public:
    // Reads and authenticates the header with a key from keyring. Throws Error::integrity when
    // no key opens it or the header was modified.
    ContainerReader(ByteSource source, const Keyring& keyring, unsigned threads = 0, std::size_t batch_chunks = 64);
    ~ContainerReader();

    const ContainerHeader& header() const { return m_header; }
    // Authenticated plaintext only: a batch of chunks is released after all of its tags verify.
    // Returns 0 once the final chunk has verified and nothing follows it. Throws
    // Error::integrity on a modified, truncated, reordered, duplicated or extended payload.
    std::size_t read(unsigned char* out, std::size_t size);
    // Passes all remaining authenticated plaintext to sink, batch by batch, without a copy.
    // Returns the number of bytes.
    std::uint64_t read_all(const ByteSink& sink);

private:
    void open_batch();

    ByteSource m_source;
    ContainerHeader m_header;
    std::unique_ptr<WorkerPool> m_pool;
    std::vector<std::unique_ptr<Aead>> m_aeads;
    std::size_t m_batch_chunks;
    AlignedBuffer m_cipher;
    std::size_t m_cipher_start = 0;  // where the unread ciphertext begins
    std::size_t m_cipher_used = 0;   // bytes of it, from m_cipher_start
    bool m_source_ended = false;
    AlignedBuffer m_plain;
    std::size_t m_plain_pos = 0;
    std::size_t m_plain_used = 0;
    std::uint64_t m_next_chunk = 0;
    bool m_final_seen = false;
};

// The 12-byte nonce of chunk index: 11-byte big-endian counter, then 1 if last else 0.
void chunk_nonce(std::uint64_t index, bool last, unsigned char* nonce);

}  // namespace gdprctl::crypto
