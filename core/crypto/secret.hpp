#pragma once

#include <openssl/crypto.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gdprctl::crypto {

// A byte buffer for key material: zeroised with OPENSSL_cleanse when it goes away or is
// reassigned, so keys do not linger in freed memory. Copies are deliberate and explicit.
class SecretBytes {
public:
    SecretBytes() = default;
    explicit SecretBytes(std::size_t size) : m_bytes(size, 0) {}
    SecretBytes(const unsigned char* bytes, std::size_t size) : m_bytes(bytes, bytes + size) {}
    ~SecretBytes() { wipe(); }

    SecretBytes(const SecretBytes&) = delete;
    SecretBytes& operator=(const SecretBytes&) = delete;
    SecretBytes(SecretBytes&& other) noexcept : m_bytes(std::move(other.m_bytes)) { other.m_bytes.clear(); }
    SecretBytes& operator=(SecretBytes&& other) noexcept {
        if (this != &other) {
            wipe();
            m_bytes = std::move(other.m_bytes);
            other.m_bytes.clear();
        }
        return *this;
    }

    SecretBytes copy() const { return SecretBytes(data(), size()); }
    unsigned char* data() { return m_bytes.data(); }
    const unsigned char* data() const { return m_bytes.data(); }
    std::size_t size() const { return m_bytes.size(); }
    bool empty() const { return m_bytes.empty(); }

private:
    void wipe() {
        if (!m_bytes.empty()) OPENSSL_cleanse(m_bytes.data(), m_bytes.size());
    }
    std::vector<unsigned char> m_bytes;
};

using Bytes = std::vector<unsigned char>;

}  // namespace gdprctl::crypto
