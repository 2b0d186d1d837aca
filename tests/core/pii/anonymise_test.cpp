#include "core/pii/anonymise.hpp"

#include <gtest/gtest.h>

namespace gdprctl::pii {
namespace {

TEST(Anonymise, IpTruncateKeepsTheNetworkAndIsIdempotent) {
    EXPECT_EQ(anonymise("192.0.2.77", AnonymiseMethod::ip_truncate, ""), "192.0.2.0");
    EXPECT_EQ(anonymise("2001:db8:1:2:3:4:5:6", AnonymiseMethod::ip_truncate, ""), "2001:db8:1::");
    EXPECT_EQ(anonymise("192.0.2.0", AnonymiseMethod::ip_truncate, ""), "192.0.2.0");
    EXPECT_FALSE(needs_anonymising("192.0.2.0", AnonymiseMethod::ip_truncate, ""));
    EXPECT_TRUE(needs_anonymising("192.0.2.1", AnonymiseMethod::ip_truncate, ""));
    EXPECT_EQ(anonymise("not an address", AnonymiseMethod::ip_truncate, ""), "not an address");
}

TEST(Anonymise, HmacIsStablePerKeyAndIdempotent) {
    auto token = anonymise("ann@example.org", AnonymiseMethod::hmac, "k1");
    ASSERT_TRUE(token);
    EXPECT_EQ(token->rfind("hmac:", 0), 0u);
    EXPECT_EQ(token->size(), 5u + 32u);
    EXPECT_EQ(anonymise("ann@example.org", AnonymiseMethod::hmac, "k1"), token);
    EXPECT_NE(anonymise("ann@example.org", AnonymiseMethod::hmac, "k2"), token);
    EXPECT_EQ(anonymise(*token, AnonymiseMethod::hmac, "k1"), token);
    EXPECT_FALSE(needs_anonymising(*token, AnonymiseMethod::hmac, "k1"));
}

TEST(Anonymise, NullRemovesTheValue) {
    EXPECT_FALSE(anonymise("192.0.2.77", AnonymiseMethod::null, ""));
    EXPECT_TRUE(needs_anonymising("192.0.2.77", AnonymiseMethod::null, ""));
    EXPECT_EQ(anonymise_method("ip-truncate"), AnonymiseMethod::ip_truncate);
    EXPECT_FALSE(anonymise_method("shred"));
}

}  // namespace
}  // namespace gdprctl::pii
