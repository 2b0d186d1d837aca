#include "core/pii/anonymise.hpp"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>

#include "core/error.hpp"
#include "core/util/hex.hpp"

namespace gdprctl::pii {

namespace {

std::string truncate_ip(std::string_view value) {
    if (value.size() > 45) return std::string(value);
    char text[64];
    std::memcpy(text, value.data(), value.size());
    text[value.size()] = '\0';
    unsigned char bytes[16];
    char out[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, text, bytes) == 1) {
        bytes[3] = 0;
        return inet_ntop(AF_INET, bytes, out, sizeof out);
    }
    if (inet_pton(AF_INET6, text, bytes) == 1) {
        std::memset(bytes + 6, 0, 10);
        return inet_ntop(AF_INET6, bytes, out, sizeof out);
    }
    return std::string(value);
}

std::string hmac_token(std::string_view value, const std::string& key) {
    if (value.rfind("hmac:", 0) == 0) return std::string(value);
    if (key.empty()) throw Error::runtime("hmac anonymisation needs the workspace's secret key");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(value.data()), value.size(), digest, &length))
        throw Error::runtime("HMAC-SHA256 failed in OpenSSL");
    return "hmac:" + util::to_hex(digest, 16);
}

}  // namespace

std::optional<AnonymiseMethod> anonymise_method(std::string_view name) {
    if (name == "ip-truncate") return AnonymiseMethod::ip_truncate;
    if (name == "hmac") return AnonymiseMethod::hmac;
    if (name == "null") return AnonymiseMethod::null;
    return std::nullopt;
}

std::optional<std::string> anonymise(std::string_view value, AnonymiseMethod method, const std::string& key) {
    switch (method) {
        case AnonymiseMethod::ip_truncate:
            return truncate_ip(value);
        case AnonymiseMethod::hmac:
            return hmac_token(value, key);
        case AnonymiseMethod::null:
            return std::nullopt;
    }
    return std::nullopt;
}

bool needs_anonymising(std::string_view value, AnonymiseMethod method, const std::string& key) {
    auto result = anonymise(value, method, key);
    return !result || *result != value;
}

}  // namespace gdprctl::pii
