// The keystore against a real state database: keys survive reopening and rotation, a wrong
// secret is refused, rows cannot be swapped between tenants, and destruction is final.
#include "core/crypto/keystore.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/util/hex.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::crypto {
namespace {

class KeystoreTest : public ::testing::Test {
protected:
    testing::TempDir dir;
    std::filesystem::path state_dir() const { return dir / "state"; }
    std::filesystem::path key_file() const { return dir / "master.key"; }
};

std::string hex_of(const SecretBytes& key) { return util::to_hex(key.data(), key.size()); }

TEST_F(KeystoreTest, DataKeysAreCreatedOnceAndSurviveReopening) {
    std::string id, key;
    {
        state::StateDb state(state_dir());
        Keystore keystore(state);
        keystore.init_with_key_file(key_file());
        auto created = keystore.data_key("acme");
        id = created.first;
        key = hex_of(created.second);
        EXPECT_NE(keystore.data_key("bluebird").first, id);
    }
    EXPECT_EQ(std::filesystem::status(key_file()).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    state::StateDb state(state_dir());
    Keystore keystore(state);
    keystore.unlock({});
    auto again = keystore.data_key("acme");
    EXPECT_EQ(again.first, id);
    EXPECT_EQ(hex_of(again.second), key);
    EXPECT_EQ(hex_of(*keystore.key_by_id(id)), key);
}

TEST_F(KeystoreTest, AnotherKeyFileOrAWrongPassphraseIsRefused) {
    {
        state::StateDb state(state_dir());
        Keystore keystore(state);
        keystore.init_with_key_file(key_file());
    }
    testing::write_text(dir / "other.key", std::string(64, 'a') + "\n");
    state::StateDb state(state_dir());
    Keystore keystore(state);
    try {
        keystore.unlock({std::nullopt, dir / "other.key"});
        FAIL() << "another key file unlocked the keystore";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
    }
    EXPECT_THROW(keystore.init_with_passphrase("long enough passphrase"), Error) << "a second master key";

    testing::TempDir other;
    state::StateDb second(other / "state");
    Keystore with_passphrase(second);
    with_passphrase.init_with_passphrase("the right passphrase", {10, 8, 1});
    Keystore reopened(second);
    EXPECT_THROW(reopened.unlock({std::string("the wrong passphrase"), std::nullopt}), Error);
    reopened.unlock({std::string("the right passphrase"), std::nullopt});
    EXPECT_TRUE(reopened.unlocked());
}

TEST_F(KeystoreTest, RotationReWrapsEveryKeyAndChangesNoDataKey) {
    state::StateDb state(state_dir());
    Keystore keystore(state);
    keystore.init_with_key_file(key_file());
    auto before = hex_of(keystore.data_key("acme").second);
    auto recipient = keystore.recipient_public_key("acme");
    keystore.rotate({std::string("a new passphrase"), std::nullopt}, {10, 8, 1});
    EXPECT_EQ(keystore.mode(), "passphrase");

    Keystore reopened(state);
    EXPECT_THROW(reopened.unlock({std::nullopt, key_file()}), Error) << "the old key file still works";
    reopened.unlock({std::string("a new passphrase"), std::nullopt});
    EXPECT_EQ(hex_of(reopened.data_key("acme").second), before);
    EXPECT_EQ(reopened.recipient_public_key("acme"), recipient);
}

TEST_F(KeystoreTest, AWrappedKeyMovedToAnotherTenantDoesNotUnwrap) {
    state::StateDb state(state_dir());
    Keystore keystore(state);
    keystore.init_with_key_file(key_file());
    keystore.data_key("acme");
    keystore.data_key("bluebird");
    state.db().exec(
        "UPDATE keys SET wrapped = (SELECT wrapped FROM keys WHERE tenant = 'acme') WHERE tenant = 'bluebird'");
    try {
        keystore.data_key("bluebird");
        FAIL() << "a key copied from another tenant was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::integrity);
    }
}

TEST_F(KeystoreTest, DestroyedKeysAreGoneAndSaySo) {
    state::StateDb state(state_dir());
    Keystore keystore(state);
    keystore.init_with_key_file(key_file());
    auto [id, key] = keystore.data_key("acme");
    keystore.recipient_public_key("acme");
    auto bluebird = keystore.data_key("bluebird").first;

    auto dry = keystore.destroy_tenant("acme", true);
    EXPECT_EQ(dry.keys.size(), 2u);
    EXPECT_TRUE(keystore.key_exists(id)) << "a dry run destroyed the key";

    auto report = keystore.destroy_tenant("acme", false);
    EXPECT_EQ(report.keys.size(), 2u);
    EXPECT_FALSE(keystore.key_exists(id));
    EXPECT_TRUE(keystore.key_exists(bluebird));
    EXPECT_TRUE(keystore.destroyed_key(id).has_value());
    try {
        keystore.key_by_id(id);
        FAIL() << "a destroyed key was returned";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::integrity);
        EXPECT_NE(std::string(e.what()).find("shredded"), std::string::npos);
    }
    EXPECT_THROW(keystore.data_key("acme"), Error) << "a destroyed tenant got a fresh key";
    EXPECT_THROW(keystore.destroy_tenant("acme", false), Error) << "destroyed twice";
    EXPECT_THROW(keystore.destroy_tenant("nobody", false), Error);
}

TEST(Recipients, TextFormRoundTripsAndRejectsNearMisses) {
    auto pair = x25519_generate();
    auto text = format_recipient(pair.public_key);
    EXPECT_EQ(parse_recipient(text), pair.public_key);
    EXPECT_THROW(parse_recipient(text.substr(0, text.size() - 2)), Error);
    EXPECT_THROW(parse_recipient("age1qqqq"), Error);
    EXPECT_EQ(x25519_public_from_private(pair.private_key), pair.public_key);
}

}  // namespace
}  // namespace gdprctl::crypto
