#include "core/policy/policy.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::policy {
namespace {

using gdprctl::testing::TempDir;
using gdprctl::testing::write_text;

std::string error_of(const std::vector<std::filesystem::path>& dirs, const std::vector<std::string>& disabled = {}) {
    try {
        load_policies(dirs, disabled);
    } catch (const Error& e) {
        EXPECT_EQ(e.exit_code(), 2);
        return e.what();
    }
    return "";
}

TEST(Policies, TheShippedPackLoadsWithRationaleAndArticle) {
    auto set = load_policies({shipped_policy_dir()}, {});
    ASSERT_GE(set.retention.size(), 4u);
    for (const auto& rule : set.retention) {
        EXPECT_FALSE(rule.rationale.empty()) << rule.id;
        EXPECT_NE(rule.article.find("Art."), std::string::npos) << rule.id;
    }
    auto logs = std::find_if(set.retention.begin(), set.retention.end(),
                             [](const auto& r) { return r.id == "retention.usage-logs-90d"; });
    ASSERT_NE(logs, set.retention.end());
    EXPECT_EQ(logs->max_age_seconds, 90 * 86400);
}

TEST(Policies, RulesMatchDatasetsByCategoryAndNameGlob) {
    auto set = load_policies({shipped_policy_dir()}, {});
    auto chat = std::find_if(set.retention.begin(), set.retention.end(),
                             [](const auto& r) { return r.id == "retention.chat-90d"; });
    config::Dataset messages;
    messages.name = "platform-db:chat_messages";
    messages.category = "webinar-participants";
    config::Dataset registrations = messages;
    registrations.name = "platform-db:registrations";
    EXPECT_TRUE(chat->applies_to(messages));
    EXPECT_FALSE(chat->applies_to(registrations));
}

TEST(Policies, ADisabledIdIsDroppedAndAnUnknownOneIsAnError) {
    auto set = load_policies({shipped_policy_dir()}, {"retention.chat-90d"});
    for (const auto& rule : set.retention) EXPECT_NE(rule.id, "retention.chat-90d");
    EXPECT_NE(error_of({shipped_policy_dir()}, {"retention.chat-09d"}).find("unknown policy id"), std::string::npos);
}

TEST(Policies, TenantOverridesAndBadValuesNameTheirPointer) {
    TempDir dir;
    write_text(dir / "mine.json", R"({"id": "mine.logs-30d", "kind": "retention", "rationale": "r", "article": "Art. 5",
      "categories": ["usage-data"], "max_age_days": 90, "action": "delete", "tenants": {"acme": {"max_age_days": 30}}})");
    auto set = load_policies({dir.path()}, {});
    ASSERT_EQ(set.retention.size(), 1u);
    ASSERT_EQ(set.retention[0].tenant_max_age.size(), 1u);
    EXPECT_EQ(set.retention[0].tenant_max_age[0].second, 30 * 86400);

    write_text(dir / "mine.json", R"({"id": "x", "kind": "retention", "rationale": "r", "article": "a",
      "categories": ["usage-data"], "max_age_days": 0, "action": "delete"})");
    EXPECT_NE(error_of({dir.path()}).find("mine.json: /max_age_days"), std::string::npos);
    write_text(dir / "mine.json", R"({"id": "x", "kind": "retention", "rationale": "r", "article": "a",
      "categories": ["usage-data"], "max_age_days": 9, "action": "shred"})");
    EXPECT_NE(error_of({dir.path()}).find("/action: unknown action"), std::string::npos);
    write_text(dir / "mine.json", R"({"id": "x", "kind": "retention", "rationale": "r", "article": "a", "max_age": 3,
      "categories": ["usage-data"], "max_age_days": 9, "action": "delete"})");
    EXPECT_NE(error_of({dir.path()}).find("/max_age: unknown key"), std::string::npos);
}

TEST(Policies, InvalidJsonNamesFileAndLineAndDuplicateIdsAreRejected) {
    TempDir dir;
    write_text(dir / "broken.json", "{\n  \"id\": \"x\",\n  oops\n}\n");
    EXPECT_NE(error_of({dir.path()}).find("broken.json:3:"), std::string::npos);
    write_text(dir / "broken.json", R"([{"id": "retention.usage-logs-90d", "kind": "retention", "rationale": "r",
      "article": "a", "categories": ["usage-data"], "max_age_days": 9, "action": "delete"}])");
    EXPECT_NE(error_of({shipped_policy_dir(), dir.path()}).find("duplicate policy id"), std::string::npos);
}

}  // namespace
}  // namespace gdprctl::policy
