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

// Certificate text whose "verification" object is written out by hand after the signed rest.
std::string with_verification(const nlohmann::json& document, const std::string& verification) {
    auto text = document.dump();
    auto at = text.find("\"verification\":");
    auto end = text.find('}', at) + 1;
    return text.substr(0, at) + "\"verification\":" + verification + text.substr(end);
}

TEST(Certificate, ADuplicateMemberNameIsRefusedWhereverItIs) {
    TempDir dir;
    auto document = sign_certificate(body(), SigningKey::load_or_create(dir.path()));
    EXPECT_NO_THROW(parse_certificate(document.dump(2)));
    // The first "result" is what a first-wins reader shows; the signature covers the last.
    auto forged =
        with_verification(document, R"({"bytes_scanned":2097720,"result":"RESIDUE FOUND","result":"no residue"})");
    auto parsed = nlohmann::json::parse(forged);
    ASSERT_TRUE(check_certificate(parsed, std::nullopt).valid) << "the forgery must be one nlohmann accepts";
    try {
        parse_certificate(forged);
        FAIL() << "a certificate with a duplicate member was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::integrity);
        EXPECT_NE(std::string(e.what()).find("\"result\" appears twice"), std::string::npos) << e.what();
    }
    auto top = document.dump();
    top.insert(top.size() - 1, ",\"signature\":{}");
    EXPECT_THROW(parse_certificate(top), Error);
}

TEST(Certificate, TextThatDoesNotReserialiseToTheSignedBytesIsRefused) {
    TempDir dir;
    auto document = sign_certificate(body(), SigningKey::load_or_create(dir.path()));
    for (const char* verification : {R"({"bytes_scanned":2097720.0,"result":"no residue"})",
                                     R"({"bytes_scanned":2.09772e6,"result":"no residue"})"})
        EXPECT_THROW(parse_certificate(with_verification(document, verification)), Error) << verification;
    auto unsigned_member = document;
    unsigned_member["result"] = "RESIDUE FOUND";
    EXPECT_THROW(parse_certificate(unsigned_member.dump()), Error) << "a member outside the signature";
    auto unsigned_signature_member = document;
    unsigned_signature_member["signature"]["note"] = "checked by the auditor";
    EXPECT_THROW(parse_certificate(unsigned_signature_member.dump()), Error);
    EXPECT_THROW(parse_certificate("{\"certificate\": "), Error);
    EXPECT_THROW(parse_certificate("[]"), Error);
}

TEST(Certificate, IdentifierHashesAreKeyedAndTheKeyIsPrivateAndKept) {
    TempDir dir;
    auto key = IdentifierHashKey::load_or_create(dir.path());
    auto again = IdentifierHashKey::load_or_create(dir.path());
    EXPECT_EQ(key.hash("00ff", "ip:203.0.113.7"), again.hash("00ff", "ip:203.0.113.7"));
    EXPECT_EQ(key.id(), again.id());
    EXPECT_EQ(key.id().size(), 16u);
    EXPECT_NE(key.hash("00ff", "ip:203.0.113.7"), key.hash("00fe", "ip:203.0.113.7")) << "the salt counts";
    auto mode = std::filesystem::status(IdentifierHashKey::path_in(dir.path())).permissions();
    EXPECT_EQ(mode & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    // HMAC-SHA256(key, salt || text), as OpenSSL computes it from the key file.
    std::string out;
    ASSERT_EQ(
        testing::run_command("printf %s 00ffip:203.0.113.7 | openssl dgst -sha256 -mac HMAC -macopt hexkey:$(cat " +
                                 testing::shell_quote(IdentifierHashKey::path_in(dir.path()).string()) + ") -r",
                             &out),
        0);
    EXPECT_EQ(out.substr(0, 64), key.hash("00ff", "ip:203.0.113.7"));
    TempDir other;
    EXPECT_NE(IdentifierHashKey::load_or_create(other.path()).hash("00ff", "ip:203.0.113.7"),
              key.hash("00ff", "ip:203.0.113.7"));
}

TEST(IpTextForms, AnIpv6AddressIsLookedForInEveryCommonSpelling) {
    auto forms = pii::ip_text_forms("2001:DB8:0:0:0:0:0:1");
    EXPECT_EQ(forms, (std::vector<std::string>{"2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001",
                                               "2001:db8:0:0:0:0:0:1"}));
    EXPECT_EQ(pii::ip_text_forms("10.1.2.3"), std::vector<std::string>{"10.1.2.3"});
}

}  // namespace
}  // namespace gdprctl::erase
