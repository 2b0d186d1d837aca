#include "core/erase/certificate.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/pii/detect.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::erase {
namespace {

using testing::TempDir;

nlohmann::json body() {
    return {{"request", "er-20261124-091006-f474c1"},
            {"erased", {{"kind", "tenant"}, {"tenant", "café-müller"}}},
            {"sources", {{{"source", "platform-db"}, {"records", 484}}}},
            {"verification", {{"result", "no residue"}, {"bytes_scanned", 2097720}}}};
}

TEST(Certificate, ASignedCertificateVerifiesAndAnyChangedValueDoesNot) {
    TempDir dir;
    auto key = SigningKey::load_or_create(dir.path());
    auto document = sign_certificate(body(), key);
    EXPECT_TRUE(check_certificate(document, std::nullopt).valid);
    EXPECT_TRUE(check_certificate(document, key.public_key()).valid);

    auto changed = document;
    changed["certificate"]["sources"][0]["records"] = 483;
    auto check = check_certificate(changed, std::nullopt);
    EXPECT_FALSE(check.valid);
    EXPECT_NE(check.problem.find("changed after signing"), std::string::npos);

    auto added = document;
    added["certificate"]["note"] = "nothing";
    EXPECT_FALSE(check_certificate(added, std::nullopt).valid);
}

TEST(Certificate, AnotherKeyOrAMalformedSignatureIsRejected) {
    TempDir mine, theirs;
    auto document = sign_certificate(body(), SigningKey::load_or_create(mine.path()));
    EXPECT_FALSE(check_certificate(document, SigningKey::load_or_create(theirs.path()).public_key()).valid);
    auto cut = document;
    cut["signature"]["value"] = "AAAA";
    EXPECT_FALSE(check_certificate(cut, std::nullopt).valid);
    EXPECT_FALSE(check_certificate(nlohmann::json::array(), std::nullopt).valid);
}

TEST(Certificate, TheSigningKeyIsKeptPrivateAndReusedAcrossRuns) {
    TempDir dir;
    auto first = SigningKey::load_or_create(dir.path());
    auto again = SigningKey::load_or_create(dir.path());
    EXPECT_EQ(first.public_key(), again.public_key());
    auto mode = std::filesystem::status(dir / "signing.key").permissions();
    EXPECT_EQ(mode & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    // The PEM forms round-trip, as OpenSSL's tools read them.
    EXPECT_EQ(crypto::ed25519_public_from_pem(first.public_pem()), first.public_key());
    EXPECT_THROW(crypto::ed25519_public_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
                 Error);
}

TEST(Certificate, SignedBytesAreCompactSortedAndKeepUtf8AsItIs) {
    EXPECT_EQ(signed_bytes({{"b", 1}, {"a", "café"}, {"c", {{"z", nullptr}, {"y", true}}}}),
              "{\"a\":\"café\",\"b\":1,\"c\":{\"y\":true,\"z\":null}}");
}

TEST(IpTextForms, AnIpv6AddressIsLookedForInEveryCommonSpelling) {
    auto forms = pii::ip_text_forms("2001:DB8:0:0:0:0:0:1");
    EXPECT_EQ(forms, (std::vector<std::string>{"2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001",
                                               "2001:db8:0:0:0:0:0:1"}));
    EXPECT_EQ(pii::ip_text_forms("10.1.2.3"), std::vector<std::string>{"10.1.2.3"});
}

}  // namespace
}  // namespace gdprctl::erase
